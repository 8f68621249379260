"""kafkaish compat shim for kafka-python's ``test.service`` module.

The integration fixtures (``test/integration/fixtures.py``) import ``ExternalService``
and ``SpawnedService``. With ``KAFKA_URI`` set, the broker fixture wraps an already
running broker in an ``ExternalService``; this shim only ever runs that way, against
a kafkaish server started by compat/kafka-python-suite/run.py. Spawning brokers or
ZooKeeper (``SpawnedService``) needs a Kafka distribution and is refused.
"""
from __future__ import annotations

import socket
import time


class ExternalService:
    """A broker someone else runs: reachable at host:port, nothing to start or stop."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def start(self) -> None:
        self.wait_for(timeout=10)

    def stop(self) -> None:
        pass

    def wait_for(self, pattern: str | None = None, timeout: float = 30) -> bool:
        """Readiness = the port accepts connections (there is no log to match ``pattern`` in)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return True
            except OSError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.1)

    def dump_logs(self) -> None:
        print(f"external broker {self.host}:{self.port}: its logs are kept by whoever runs it")


class SpawnedService:
    """Not supported: the compat suite never spawns Kafka or ZooKeeper processes."""

    def __init__(self, args=None, env=None) -> None:
        raise RuntimeError("kafkaish compat shim: spawning a broker/ZooKeeper is not supported; set KAFKA_URI")
