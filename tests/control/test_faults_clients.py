"""Every fault action against real clients (kafka-python, aiokafka, confluent-kafka): an error the
client retries and one it surfaces, a delay past the client's request timeout, a dropped answer,
a closed connection, broker down and back; counts honoured (hits equal ``times``)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest

from kafkaish.pytest_plugin import create_topic
from kafkaish.testing import EmbeddedBroker

CLIENTS = ["kafka-python", "aiokafka", "confluent-kafka"]


@pytest.fixture(scope="module")
def kb() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as kb:
        yield kb


@pytest.fixture
def topic(kb) -> Iterator[str]:
    name = f"f-{uuid.uuid4().hex[:8]}"
    create_topic(kb.bootstrap, name)
    yield name
    kb.faults.clear()


def produce_one(client: str, bootstrap: str, topic: str, value: bytes, *, timeout_ms: int = 1000,
                retry: bool = True) -> str | None:
    """Produce one record; None on success, else the client's error name."""
    if client == "kafka-python":
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        p = KafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms, retries=5 if retry else 0,
                          retry_backoff_ms=50, reconnect_backoff_ms=50, max_block_ms=10_000,
                          enable_idempotence=False)
        try:
            p.send(topic, value).get(timeout=20)
            return None
        except KafkaError as e:
            return type(e).__name__
        finally:
            p.close(timeout=2)
    if client == "aiokafka":
        from aiokafka import AIOKafkaProducer
        from aiokafka.errors import KafkaError as AioError

        async def run() -> str | None:  # aiokafka retries a batch until request_timeout_ms
            p = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms, retry_backoff_ms=50,
                                 enable_idempotence=False)
            await p.start()
            try:
                await p.send_and_wait(topic, value)
                return None
            except AioError as e:
                return type(e).__name__
            finally:
                await p.stop()

        return asyncio.run(run())
    import confluent_kafka

    errors: list[str] = []
    p = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "request.timeout.ms": timeout_ms,
                                  "message.timeout.ms": 10_000 if retry else timeout_ms + 500,
                                  "retries": 10 if retry else 0, "retry.backoff.ms": 50,
                                  "reconnect.backoff.ms": 50, "enable.idempotence": False, "linger.ms": 0})
    p.produce(topic, value, on_delivery=lambda err, msg: errors.append(err.name() if err else ""))
    p.flush(20)
    return errors[0] or None if errors else "NO_DELIVERY_REPORT"


def values(kb: EmbeddedBroker, topic: str) -> list[str]:
    return [r["value"] for r in kb.inspect.records(topic)]


def hits(kb: EmbeddedBroker, rule_id: int) -> int:
    return next(r["hits"] for r in kb.faults.list() if r["id"] == rule_id)


@pytest.mark.parametrize("client", CLIENTS)
def test_retriable_error_is_retried(kb, topic, client):
    rule = kb.faults.add(api="Produce", topic=topic, error="NOT_LEADER_OR_FOLLOWER", times=2)
    assert produce_one(client, kb.bootstrap, topic, b"v") is None
    assert hits(kb, rule) == 2
    assert values(kb, topic) == ["v"]  # the failed attempts stored nothing


@pytest.mark.parametrize("client", CLIENTS)
def test_non_retriable_error_is_surfaced(kb, topic, client):
    rule = kb.faults.add(api="Produce", topic=topic, error="TOPIC_AUTHORIZATION_FAILED", times=1)
    error = produce_one(client, kb.bootstrap, topic, b"v")
    assert error is not None and "AUTHORIZATION" in error.upper(), error
    assert hits(kb, rule) == 1 and values(kb, topic) == []


@pytest.mark.parametrize("client", CLIENTS)
def test_delay_past_the_request_timeout(kb, topic, client):
    rule = kb.faults.add(api="Produce", topic=topic, delay_ms=4000)
    error = produce_one(client, kb.bootstrap, topic, b"v", timeout_ms=1000, retry=False)
    assert error is not None and "TIME" in error.upper(), error
    assert hits(kb, rule) >= 1


@pytest.mark.parametrize("client", CLIENTS)
def test_dropped_answer_times_out(kb, topic, client):
    rule = kb.faults.add(api="Produce", topic=topic, drop=True, times=1)
    error = produce_one(client, kb.bootstrap, topic, b"lost", timeout_ms=1000, retry=False)
    assert error is not None and "TIME" in error.upper(), error
    assert hits(kb, rule) == 1 and values(kb, topic) == []  # the dropped request was never handled
    assert produce_one(client, kb.bootstrap, topic, b"v") is None  # once only
    assert values(kb, topic) == ["v"]


@pytest.mark.parametrize("client", CLIENTS)
def test_closed_connection_then_retry_succeeds(kb, topic, client):
    rule = kb.faults.add(api="Produce", topic=topic, close=True, times=1)
    assert produce_one(client, kb.bootstrap, topic, b"v") is None
    assert hits(kb, rule) == 1 and values(kb, topic) == ["v"]


@pytest.mark.parametrize("client", CLIENTS)
def test_broker_down_and_back(kb, topic, client):
    rule = kb.faults.add(api="Produce", topic=topic, down_ms=1500, times=1)
    started = time.monotonic()
    assert produce_one(client, kb.bootstrap, topic, b"v", timeout_ms=3000) is None
    assert hits(kb, rule) == 1 and values(kb, topic) == ["v"]
    assert time.monotonic() - started >= 1.4  # delivered only once the broker was back
    assert not kb.call(lambda: kb.broker.listeners[0].down)


@pytest.mark.parametrize("client", CLIENTS)
def test_find_coordinator_not_available_is_retried(kb, topic, client):
    group = f"g-{uuid.uuid4().hex[:6]}"
    rule = kb.faults.add(api="FindCoordinator", group=group, error="COORDINATOR_NOT_AVAILABLE", times=2)
    assert produce_one(client, kb.bootstrap, topic, b"v") is None
    assert consume_in_group(client, kb.bootstrap, topic, group) == [b"v"]
    assert hits(kb, rule) == 2
    assert kb.inspect.group(group)["offsets"][0]["offset"] == 1


def consume_in_group(client: str, bootstrap: str, topic: str, group: str) -> list[bytes]:
    """Join ``group``, read one record, commit it."""
    if client == "kafka-python":
        from kafka import KafkaConsumer

        c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                          enable_auto_commit=False, retry_backoff_ms=50)
        got: list[bytes] = []
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
            for msgs in c.poll(timeout_ms=200).values():
                got += [m.value for m in msgs]
        c.commit()
        c.close()
        return got
    if client == "aiokafka":
        from aiokafka import AIOKafkaConsumer

        async def run() -> list[bytes]:
            c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                                 enable_auto_commit=False, retry_backoff_ms=50)
            await c.start()
            try:
                msg = await asyncio.wait_for(c.getone(), 30)
                await c.commit()
                return [msg.value]
            finally:
                await c.stop()

        return asyncio.run(run())
    import confluent_kafka

    c = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                                  "enable.auto.commit": False, "retry.backoff.ms": 50})
    c.subscribe([topic])
    deadline = time.monotonic() + 30
    msg = None
    while msg is None and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is not None and not m.error():
            msg = m
    assert msg is not None
    c.commit(msg, asynchronous=False)
    c.close()
    return [msg.value()]
