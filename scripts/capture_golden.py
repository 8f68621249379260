#!/usr/bin/env python3
"""Capture golden request frames from real clients into tests/wire/golden/.

Runs an embedded kafkaish behind a recording TCP proxy on 127.0.0.1, drives kafka-python,
aiokafka and confluent-kafka through produce (with a known record), consume and
consumer-group flows, and saves the first frame of every (api key, version) each client
sent as ``tests/wire/golden/<client>/<ApiName>-v<version>.bin``. tests/wire/test_golden.py
decodes them and checks they re-encode byte for byte.

    python scripts/capture_golden.py
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from pathlib import Path

from kafkaish.testing import run_broker
from kafkaish.wire.messages import API_NAMES

OUT = Path(__file__).resolve().parent.parent / "tests" / "wire" / "golden"
TOPIC = "golden"
KEY, VALUE, HEADER = b"golden-key", b"golden-value", ("golden-header", b"hv")


class RecordingProxy:
    """Forwards 127.0.0.1:<port> to the broker, keeping each client's request frames."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.frames: list[bytes] = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        buf = b""
        try:
            while data := src.recv(65536):
                dst.sendall(data)
                if record:
                    buf += data
                    while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">i", buf[:4])[0]:
                        n = struct.unpack(">i", buf[:4])[0]
                        with self.lock:
                            self.frames.append(buf[4 : 4 + n])
                        buf = buf[4 + n :]
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def kafka_python_flow(bootstrap: str) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    p = KafkaProducer(bootstrap_servers=bootstrap)
    p.send(TOPIC, key=KEY, value=VALUE, headers=[HEADER], partition=0).get(30)
    p.close()
    c = KafkaConsumer(TOPIC, bootstrap_servers=bootstrap, group_id="golden-kp", auto_offset_reset="earliest",
                      consumer_timeout_ms=3000)
    next(iter(c))
    c.commit()
    c.close()


def aiokafka_flow(bootstrap: str) -> None:
    async def run() -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        p = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await p.start()
        await p.send_and_wait(TOPIC, key=KEY, value=VALUE, headers=[HEADER], partition=0)
        await p.stop()
        c = AIOKafkaConsumer(TOPIC, bootstrap_servers=bootstrap, group_id="golden-aio", auto_offset_reset="earliest")
        await c.start()
        await asyncio.wait_for(c.getone(), 30)
        await c.commit()
        await c.stop()

    asyncio.run(run())


def confluent_flow(bootstrap: str) -> None:
    from confluent_kafka import Consumer, Producer

    p = Producer({"bootstrap.servers": bootstrap})
    p.produce(TOPIC, key=KEY, value=VALUE, headers=[HEADER], partition=0)
    p.flush(30)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "golden-ck", "auto.offset.reset": "earliest"})
    c.subscribe([TOPIC])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            c.commit(m, asynchronous=False)
            break
    c.close()


FLOWS = {"kafka-python": kafka_python_flow, "aiokafka": aiokafka_flow, "confluent-kafka": confluent_flow}


def main() -> None:
    for client, flow in FLOWS.items():
        proxy = RecordingProxy(0)
        # clients must reconnect through the proxy after Metadata, so it is what is advertised
        with run_broker(advertised_port=proxy.port) as kb:
            proxy.upstream_port = kb.port
            flow(f"127.0.0.1:{proxy.port}")
            time.sleep(0.2)
            target = OUT / client
            target.mkdir(parents=True, exist_ok=True)
            for old in target.glob("*.bin"):
                old.unlink()
            seen = set()
            for frame in proxy.frames:
                key, version = struct.unpack(">hh", frame[:4])
                if (key, version) in seen:
                    continue
                seen.add((key, version))
                (target / f"{API_NAMES.get(key, key)}-v{version}.bin").write_bytes(frame)
            print(client, sorted(f"{API_NAMES.get(k, k)}-v{v}" for k, v in seen))


if __name__ == "__main__":
    main()
