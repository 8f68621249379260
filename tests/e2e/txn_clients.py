"""Drive transactions and read_committed/read_uncommitted consumption the same way with each client.

A scenario is a list of ``Step(records, commit)``: each step is one transaction writing
``(partition, value)`` records. Consumers read until they have seen a sentinel record on every
partition (written last, outside any transaction), so "never delivered" is decided by offsets,
not by waiting: read_committed delivers in offset order, so a record before the sentinel that
was not delivered never will be.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

SENTINEL = b"--sentinel--"
Got = list[tuple[int, bytes]]  # (partition, value) in delivery order per partition


@dataclass(frozen=True)
class Step:
    records: list[tuple[int, bytes]]
    commit: bool


# ------------------------------------------------------------------------------- producers


def transact_kafka_python(bootstrap: str, topic: str, txn_id: str, steps: list[Step]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=txn_id)
    try:
        producer.init_transactions()
        for step in steps:
            producer.begin_transaction()
            for partition, value in step.records:
                producer.send(topic, value, partition=partition)
            producer.flush()
            if step.commit:
                producer.commit_transaction()
            else:
                producer.abort_transaction()
    finally:
        producer.close()


def transact_aiokafka(bootstrap: str, topic: str, txn_id: str, steps: list[Step]) -> None:
    asyncio.run(_aiokafka(bootstrap, topic, txn_id, steps))


async def _aiokafka(bootstrap: str, topic: str, txn_id: str, steps: list[Step]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=txn_id)
    await producer.start()
    try:
        for step in steps:
            await producer.begin_transaction()
            futures = [await producer.send(topic, value, partition=partition) for partition, value in step.records]
            await asyncio.gather(*futures)
            if step.commit:
                await producer.commit_transaction()
            else:
                await producer.abort_transaction()
    finally:
        await producer.stop()


def transact_confluent(bootstrap: str, topic: str, txn_id: str, steps: list[Step]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id})
    producer.init_transactions(30)
    for step in steps:
        producer.begin_transaction()
        for partition, value in step.records:
            producer.produce(topic, value=value, partition=partition)
        producer.flush(30)  # librdkafka's abort would otherwise purge unsent records
        if step.commit:
            producer.commit_transaction(30)
        else:
            producer.abort_transaction(30)
    producer.flush(30)


TRANSACT: dict[str, Callable[[str, str, str, list[Step]], None]] = {
    "kafka-python": transact_kafka_python,
    "aiokafka": transact_aiokafka,
    "confluent-kafka": transact_confluent,
}


def write_sentinels(bootstrap: str, topic: str, parts: int) -> None:
    """One plain record per partition, after everything else."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for p in range(parts):
        producer.send(topic, SENTINEL, partition=p)
    producer.flush()
    producer.close()


# ------------------------------------------------------------------------------- consumers


def _done(got: Got, parts: int) -> bool:
    return {p for p, v in got if v == SENTINEL} == set(range(parts))


def _strip(got: Got) -> Got:
    return [(p, v) for p, v in got if v != SENTINEL]


def consume_kafka_python(bootstrap: str, topic: str, parts: int, isolation: str) -> Got:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation, enable_auto_commit=False)
    consumer.assign([TopicPartition(topic, p) for p in range(parts)])
    consumer.seek_to_beginning()
    got: Got = []
    deadline = time.monotonic() + 60
    try:
        while not _done(got, parts) and time.monotonic() < deadline:
            for tp, msgs in consumer.poll(timeout_ms=200).items():
                got += [(tp.partition, m.value) for m in msgs]
    finally:
        consumer.close()
    assert _done(got, parts), f"sentinels not reached: {got[-5:]}"
    return _strip(got)


def consume_aiokafka(bootstrap: str, topic: str, parts: int, isolation: str) -> Got:
    return asyncio.run(_aio_consume(bootstrap, topic, parts, isolation))


async def _aio_consume(bootstrap: str, topic: str, parts: int, isolation: str) -> Got:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation, enable_auto_commit=False)
    await consumer.start()
    got: Got = []
    try:
        tps = [TopicPartition(topic, p) for p in range(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + 60
        while not _done(got, parts) and time.monotonic() < deadline:
            for tp, msgs in (await consumer.getmany(timeout_ms=200)).items():
                got += [(tp.partition, m.value) for m in msgs]
    finally:
        await consumer.stop()
    assert _done(got, parts), f"sentinels not reached: {got[-5:]}"
    return _strip(got)


def consume_confluent(bootstrap: str, topic: str, parts: int, isolation: str) -> Got:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"rc-{topic}", "isolation.level": isolation,
                         "enable.auto.commit": False, "enable.partition.eof": False})
    got: Got = []
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(parts)])
        deadline = time.monotonic() + 60
        while not _done(got, parts) and time.monotonic() < deadline:
            for m in consumer.consume(500, timeout=0.2):
                if m.error():
                    raise KafkaException(m.error())
                got.append((m.partition(), m.value()))
    finally:
        consumer.close()
    assert _done(got, parts), f"sentinels not reached: {got[-5:]}"
    return _strip(got)


CONSUME: dict[str, Callable[[str, str, int, str], Got]] = {
    "kafka-python": consume_kafka_python,
    "aiokafka": consume_aiokafka,
    "confluent-kafka": consume_confluent,
}


def by_partition(got: Got) -> dict[int, list[bytes]]:
    out: dict[int, list[bytes]] = {}
    for p, v in got:
        out.setdefault(p, []).append(v)
    return out
