"""Consumer-group members driven by each real client library in a background thread.

Every member polls until stopped, records what it consumed as (partition, offset, value) and
exposes its current assignment, so tests can assert on sharing and exactly-once delivery
without timed assertions: they wait for conditions with a deadline instead.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

Consumed = tuple[int, int, bytes]


def wait_until(pred: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


class Member(threading.Thread):
    """Base: `records` consumed so far, `assignment` (partitions) as last seen by the client."""

    def __init__(self, bootstrap: str, topic: str, group: str, name: str, **conf: Any) -> None:
        super().__init__(name=name, daemon=True)
        self.bootstrap, self.topic, self.group, self.conf = bootstrap, topic, group, conf
        self.records: list[Consumed] = []
        self.assignment: frozenset[int] = frozenset()
        self.error: BaseException | None = None
        self._stop_event = threading.Event()
        self.closed = threading.Event()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop_event.set()
        self.join(timeout)
        assert not self.is_alive(), f"{self.name} did not stop"
        if self.error is not None:
            raise AssertionError(f"{self.name} failed") from self.error

    def run(self) -> None:
        try:
            self.consume()
        except BaseException as e:  # noqa: BLE001 - surfaced by stop()
            self.error = e
        finally:
            self.closed.set()

    def consume(self) -> None:
        raise NotImplementedError


class KafkaPythonMember(Member):
    def consume(self) -> None:
        from kafka import KafkaConsumer

        conf = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 300, "auto_offset_reset": "earliest",
                "auto_commit_interval_ms": 500, **self.conf}
        c = KafkaConsumer(self.topic, bootstrap_servers=self.bootstrap, group_id=self.group,
                          client_id=self.name, **conf)
        try:
            while not self._stop_event.is_set():
                for tp, msgs in c.poll(timeout_ms=100).items():
                    self.records += [(m.partition, m.offset, m.value) for m in msgs]
                self.assignment = frozenset(tp.partition for tp in c.assignment())
        finally:
            c.close()


class AiokafkaMember(Member):
    def consume(self) -> None:
        asyncio.run(self._consume())

    async def _consume(self) -> None:
        from aiokafka import AIOKafkaConsumer

        conf = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 300, "auto_offset_reset": "earliest",
                "auto_commit_interval_ms": 500, **self.conf}
        c = AIOKafkaConsumer(self.topic, bootstrap_servers=self.bootstrap, group_id=self.group,
                             client_id=self.name, **conf)
        await c.start()
        try:
            while not self._stop_event.is_set():
                batches = await c.getmany(timeout_ms=100)
                for tp, msgs in batches.items():
                    self.records += [(m.partition, m.offset, m.value) for m in msgs]
                self.assignment = frozenset(tp.partition for tp in c.assignment())
        finally:
            await c.stop()


class ConfluentMember(Member):
    """`protocol="consumer"` selects KIP-848 (`group.protocol=consumer`)."""

    def __init__(self, *args: Any, protocol: str = "classic", **conf: Any) -> None:
        super().__init__(*args, **conf)
        self.protocol = protocol

    def consume(self) -> None:
        from confluent_kafka import Consumer

        conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap, "group.id": self.group, "client.id": self.name,
                                "auto.offset.reset": "earliest", "auto.commit.interval.ms": 500}
        if self.protocol == "consumer":
            conf["group.protocol"] = "consumer"
        else:
            conf.update({"session.timeout.ms": 6000, "heartbeat.interval.ms": 300})
        conf.update(self.conf)
        c = Consumer(conf)
        c.subscribe([self.topic])
        try:
            while not self._stop_event.is_set():
                m = c.poll(0.1)
                if m is not None and m.error() is None:
                    self.records.append((m.partition(), m.offset(), m.value()))
                self.assignment = frozenset(tp.partition for tp in c.assignment())
        finally:
            c.close()


def produce(bootstrap: str, topic: str, partitions: int, count: int, start: int = 0) -> list[bytes]:
    """`count` records spread round-robin over the partitions; returns their values."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    values = [f"v{i}".encode() for i in range(start, start + count)]
    for i, v in enumerate(values):
        p.produce(topic, value=v, partition=(start + i) % partitions)
    assert p.flush(30) == 0
    return values


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        f.result(30)
