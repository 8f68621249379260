"""Ordering per key with aiokafka: same key, same partition, one consumer at a time.

Kafka orders records within a partition only. The producer keys each event by its entity
(an order id), so all of an entity's events land in one partition, in the order sent; the
idempotent producer keeps that order through retries. In a group each partition has one
consumer at a time; a member that loses partitions in a rebalance commits what it processed
before they move (``on_partitions_revoked``), so the next owner continues where it stopped.
``keyed=False`` sends without keys (the negative check): an entity's events spread over
partitions and are processed out of order.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener

from kafka_recipes.crash import append_line


async def publish(bootstrap: str, topic: str, events: list[tuple[str, str]], *, keyed: bool = True) -> None:
    """Send (entity, payload) events in order."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        sent = [await producer.send(topic, payload.encode(), key=entity.encode() if keyed else None)
                for entity, payload in events]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


class CommitOnRevoke(ConsumerRebalanceListener):
    """aiokafka rebalances in a background task, possibly while a batch is being processed:
    the lock makes the revocation wait for the batch, then commits it, so the next owner of a
    partition starts right after the last processed record (no repeat, no overtaking)."""

    def __init__(self, consumer: AIOKafkaConsumer, lock: asyncio.Lock) -> None:
        self.consumer, self.lock = consumer, lock

    async def on_partitions_revoked(self, revoked: object) -> None:
        if revoked:
            async with self.lock:
                await self.consumer.commit()

    async def on_partitions_assigned(self, assigned: object) -> None:
        pass


async def consume(bootstrap: str, topic: str, group: str, process: Callable[[bytes], None], *,
                  work_s: float = 0.0, client_id: str = "ordered-worker") -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        heartbeat_interval_ms=200,  # learn of a rebalance quickly (default 3 s)
    )
    lock = asyncio.Lock()
    consumer.subscribe([topic], listener=CommitOnRevoke(consumer, lock))
    await consumer.start()
    try:
        idle = 0
        while idle < 3:  # a demo stops after three empty polls in a row while it holds partitions
            fetched = await consumer.getmany(timeout_ms=500, max_records=10)
            idle = 0 if fetched or not consumer.assignment() else idle + 1
            async with lock:
                for records in fetched.values():
                    for r in records:
                        await asyncio.sleep(work_s)  # the work itself
                        process(r.value)
                if fetched:
                    await consumer.commit()
    finally:
        await consumer.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--sink", required=True)
    p.add_argument("--worker", required=True, help="name written before each processed value")
    p.add_argument("--work-s", type=float, default=0.02)
    a = p.parse_args()
    asyncio.run(consume(a.bootstrap, a.topic, a.group, lambda v: append_line(a.sink, f"{a.worker} {v.decode()}"),
                        work_s=a.work_s, client_id=a.worker))


if __name__ == "__main__":
    main()
