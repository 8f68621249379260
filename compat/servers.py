"""Start and stop kafkaish servers for the compatibility runs.

A compat run uses two servers per client:

* ``main``: auto-creates topics, in memory, default limits;
* ``strict``: ``--no-auto-create-topics``, a small ``--message-max-bytes``
  (``STRICT_MESSAGE_MAX_BYTES``) and a SASL user, for the error and SASL scenarios;

and, for the scenario clients, a third: ``cluster``, ``--brokers 3 --admin-port 0``, for
``cluster_failover`` (leader moves and a broker stop/start through the control plane).

A server is ready when it prints ``kafkaish ready on HOST:PORT`` (``kafkaish.testing.ServerProcess``);
its log goes to a file so that a failing scenario can be matched with what the server said.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from kafkaish.testing import ServerProcess, ServerStartError

REPO = Path(__file__).resolve().parents[1]
STRICT_MESSAGE_MAX_BYTES = 100_000
SASL_USER, SASL_PASSWORD = "compat", "compat-secret"  # the strict server's SASL user (authentication is optional)
STRICT_FLAGS = ("--no-auto-create-topics", "--message-max-bytes", str(STRICT_MESSAGE_MAX_BYTES),
                "--sasl-user", f"{SASL_USER}:{SASL_PASSWORD}")
CLUSTER_FLAGS = ("--brokers", "3", "--admin-port", "0")

# kafka-python's integration tests expect the broker its own CI runs
# (kafka-python servers/resources/default/kafka.properties): node id 0 (CreatePartitions
# assignments name broker 0), num.partitions=4, group.initial.rebalance.delay.ms=0 and
# group.min.session.timeout.ms=1000 (test_group uses a 3 s session timeout).
SUITE_FLAGS = ("--node-id", "0", "--default-partitions", "4", "--group-initial-rebalance-delay-ms", "0")
SUITE_ENV = {"KAFKAISH_GROUP_MIN_SESSION_TIMEOUT_MS": "1000"}


@dataclass
class Server:
    """One running ``python -m kafkaish serve`` process (a ``kafkaish.testing.ServerProcess``)."""

    name: str
    flags: tuple[str, ...]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)  # extra KAFKAISH_* settings
    process: ServerProcess | None = None

    @property
    def bootstrap(self) -> str:
        assert self.process is not None
        return self.process.bootstrap

    def start(self, timeout: float = 30.0) -> "Server":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.process = ServerProcess("--in-memory", *self.flags, env=self.env, log_path=self.log_path, cwd=REPO)
        try:
            self.process.start(timeout)
        except ServerStartError as e:
            raise ServerStartError(f"{self.name}: {str(e).splitlines()[0]} (see {self.log_path}): "
                                   f"{tail(self.log_path)}") from None
        return self

    @property
    def admin_url(self) -> str:
        assert self.process is not None
        return self.process.admin_url

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def stop(self) -> None:
        if self.process is not None and self.process.proc is not None:
            self.process.stop(timeout=5)


def tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def start_pair(log_dir: Path, prefix: str, extra_flags: tuple[str, ...] = (),
               extra_env: dict[str, str] | None = None) -> tuple[Server, Server]:
    """Start the ``main`` and ``strict`` servers a client run needs."""
    env = extra_env or {}
    main = Server(f"{prefix}-main", extra_flags, log_dir / f"{prefix}.server-main.log", env).start()
    try:
        strict = Server(f"{prefix}-strict", STRICT_FLAGS + extra_flags,
                        log_dir / f"{prefix}.server-strict.log", env).start()
    except Exception:
        main.stop()
        raise
    return main, strict


def start_cluster(log_dir: Path, prefix: str) -> Server:
    """The ``cluster`` server: a simulated 3-broker cluster with its control plane (``cluster_failover``)."""
    return Server(f"{prefix}-cluster", CLUSTER_FLAGS, log_dir / f"{prefix}.server-cluster.log").start()


def env_for_servers(main: Server, strict: Server, cluster: Server | None = None) -> dict[str, str]:
    """Environment variables through which a scenario runner finds its servers."""
    env = dict(os.environ)
    if cluster is not None:
        env.update({"COMPAT_CLUSTER_BOOTSTRAP": cluster.bootstrap, "COMPAT_CLUSTER_ADMIN": cluster.admin_url})
    env.update({
        "COMPAT_BOOTSTRAP": main.bootstrap,
        "COMPAT_STRICT_BOOTSTRAP": strict.bootstrap,
        "COMPAT_BROKER_MAX_BYTES": str(STRICT_MESSAGE_MAX_BYTES),
        "COMPAT_SASL_USER": SASL_USER,
        "COMPAT_SASL_PASSWORD": SASL_PASSWORD,
        "PYTHONUNBUFFERED": "1",
        "COMPAT_PYTHON": sys.executable,  # for kafkajs/scenarios.js to run wire_probe.py
    })
    return env
