"""Effectively-once with aiokafka and SQLite: at-least-once delivery, an idempotent consumer.

Kafka may deliver an event twice (a producer retry without idempotence, a consumer crash
before its commit). The consumer records each event id in the same SQLite transaction as the
event's effect, and skips ids it has seen: the effect happens once however often the event
arrives. ``dedupe=False`` applies every delivery (the negative check).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3

from aiokafka import AIOKafkaConsumer

from kafka_recipes.crash import crash_point

SCHEMA = """
CREATE TABLE IF NOT EXISTS processed_events (event_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS payments (event_id TEXT NOT NULL, account TEXT NOT NULL, amount INTEGER NOT NULL);
"""


def apply_payment(db: sqlite3.Connection, event: dict, *, dedupe: bool = True) -> bool:
    """Apply one event; False if it was a duplicate. One transaction: the id and the effect."""
    with db:  # BEGIN ... COMMIT (ROLLBACK on an exception)
        if dedupe:
            inserted = db.execute("INSERT OR IGNORE INTO processed_events VALUES (?)", (event["id"],)).rowcount
            if not inserted:
                return False
        db.execute("INSERT INTO payments VALUES (?, ?, ?)", (event["id"], event["account"], event["amount"]))
        return True


async def consume(bootstrap: str, topic: str, group: str, db_path: str, *, dedupe: bool = True,
                  batch: int = 5) -> None:
    db = sqlite3.connect(db_path)
    db.executescript(SCHEMA)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        group_instance_id=f"{group}-worker",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        while True:
            fetched = await consumer.getmany(timeout_ms=500, max_records=batch)
            records = [r for rs in fetched.values() for r in rs]
            if not records:
                if await caught_up(consumer):
                    return
                continue
            for r in records:
                apply_payment(db, json.loads(r.value), dedupe=dedupe)
            crash_point("mid_batch")  # applied, not committed: the batch comes again
            await consumer.commit()  # at-least-once: after the effects
    finally:
        await consumer.stop()
        db.close()


async def caught_up(consumer: AIOKafkaConsumer) -> bool:
    """True once every assigned partition is read up to its log end (so a demo can stop)."""
    assigned = list(consumer.assignment())
    if not assigned:
        return False
    ends = await consumer.end_offsets(assigned)
    return all([await consumer.position(tp) >= ends[tp] for tp in assigned])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--db", required=True, help="SQLite file")
    p.add_argument("--no-dedupe", action="store_true")
    a = p.parse_args()
    asyncio.run(consume(a.bootstrap, a.topic, a.group, a.db, dedupe=not a.no_dedupe))


if __name__ == "__main__":
    main()
