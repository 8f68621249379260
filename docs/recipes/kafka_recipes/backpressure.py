"""Backpressure with aiokafka: pause the partitions while the work queue is full, resume when it drains.

The consumer fetches much faster than slow work can proceed. Buffering everything fetched
grows memory without bound; blocking the poll loop instead stops heartbeats and costs the
group membership. So the fetcher hands records to a queue, pauses every assigned partition
when the queue reaches ``high`` (fetching stops, the group membership stays) and resumes when
the worker brings it down to ``low``. Offsets are committed as records are processed, so the
group's lag (log end minus committed offset) shows the backlog: it grows during a burst and
drains afterwards. ``pause=False`` is the negative check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


@dataclass
class Stats:
    processed: int = 0
    max_buffered: int = 0
    pauses: int = 0
    resumes: int = 0


async def consume(bootstrap: str, topic: str, group: str, process: Callable[[bytes], None], *,
                  limit: int, work_s: float = 0.005, high: int = 20, low: int = 5, fetch_batch: int = 10,
                  pause: bool = True) -> Stats:
    """Process ``limit`` records (a demo stops there) and return what happened."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    queue: asyncio.Queue = asyncio.Queue()  # unbounded on purpose: bounding it is the pause's job
    stats = Stats()

    async def fetch() -> None:
        while True:
            fetched = await consumer.getmany(timeout_ms=100, max_records=fetch_batch)
            for records in fetched.values():
                for r in records:
                    queue.put_nowait(r)
            stats.max_buffered = max(stats.max_buffered, queue.qsize())
            if pause and queue.qsize() >= high and not consumer.paused():
                consumer.pause(*consumer.assignment())  # fetching stops; heartbeats go on
                stats.pauses += 1

    async def work() -> None:
        done: dict[TopicPartition, int] = {}
        while stats.processed < limit:
            r = await queue.get()
            await asyncio.sleep(work_s)  # the slow part
            process(r.value)
            stats.processed += 1
            done[TopicPartition(r.topic, r.partition)] = r.offset + 1
            if consumer.paused() and queue.qsize() <= low:
                consumer.resume(*consumer.paused())
                stats.resumes += 1
            if queue.empty() or stats.processed % 10 == 0 or stats.processed == limit:
                await consumer.commit(done)  # processed offsets only: at-least-once

    fetcher = asyncio.create_task(fetch())
    try:
        await work()
    finally:
        fetcher.cancel()
        await consumer.stop()
    return stats


async def group_lag(bootstrap: str, group: str, topic: str) -> int:
    """Records not yet processed by ``group``: log end offset minus committed offset, summed."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    ends_reader = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await ends_reader.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        [described] = await admin.describe_topics([topic])
        tps = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        ends = await ends_reader.end_offsets(tps)
        starts = await ends_reader.beginning_offsets(tps)
        return sum(ends[tp] - (committed[tp].offset if tp in committed else starts[tp]) for tp in tps)
    finally:
        await ends_reader.stop()
        await admin.close()
