"""The transactional outbox with SQLite and a relay on confluent-kafka.

A service must change its database and tell others about it. Writing to Kafka inside the
database transaction is impossible, and writing after it is lost in a crash. Instead the
service writes its state and an outbox row in one SQLite transaction; a relay publishes
unpublished rows in order with an idempotent producer, and marks them published with the
offsets it reached. A relay killed between publishing and marking would publish those rows
again on restart, so on start it first reads the topic from the offsets it last recorded and
marks the rows it finds there (header ``outbox-id``): nothing is lost or published twice.
``mark_first=True`` (mark, then publish) and ``recover=False`` are the negative checks.
"""

from __future__ import annotations

import argparse
import json
import sqlite3

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from kafka_recipes.crash import crash_point

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, customer TEXT NOT NULL, total INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, key TEXT NOT NULL,
                                   payload TEXT NOT NULL, published INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS relay_offsets (topic TEXT, partition INTEGER, next_offset INTEGER NOT NULL,
                                          PRIMARY KEY (topic, partition));
"""


def place_order(db: sqlite3.Connection, order_id: str, customer: str, total: int, topic: str = "orders") -> None:
    """The service: its own state and the event about it, in one transaction."""
    with db:
        db.execute("INSERT INTO orders VALUES (?, ?, ?)", (order_id, customer, total))
        event = {"type": "OrderPlaced", "order": order_id, "customer": customer, "total": total}
        db.execute("INSERT INTO outbox (topic, key, payload) VALUES (?, ?, ?)", (topic, order_id, json.dumps(event)))


def relay(bootstrap: str, db_path: str, topic: str, *, batch: int = 5, mark_first: bool = False,
          recover: bool = True) -> None:
    """Publish the outbox rows of ``topic`` until none is left."""
    db = sqlite3.connect(db_path)
    db.executescript(SCHEMA)
    if recover:
        recover_published(bootstrap, db, topic)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    while rows := db.execute("SELECT id, key, payload FROM outbox WHERE topic = ? AND published = 0"
                             " ORDER BY id LIMIT ?", (topic, batch)).fetchall():
        delivered: list[Message] = []
        if mark_first:
            mark_published(db, topic, [r[0] for r in rows], delivered)
            crash_point("mid_batch")  # marked, never published: lost
        for row_id, key, payload in rows:
            producer.produce(topic, key=key, value=payload, headers={"outbox-id": str(row_id)},
                             on_delivery=lambda err, msg: delivered.append(msg if err is None else err))
        if producer.flush(30) or any(isinstance(d, KafkaError) for d in delivered):
            raise RuntimeError(f"not all published: {delivered}")  # unmarked: the next run sends them again
        if not mark_first:
            crash_point("mid_batch")  # published, not marked: recover_published finds them
            mark_published(db, topic, [r[0] for r in rows], delivered)


def mark_published(db: sqlite3.Connection, topic: str, ids: list[int], delivered: list[Message]) -> None:
    with db:
        db.executemany("UPDATE outbox SET published = 1 WHERE id = ?", [(i,) for i in ids])
        for m in delivered:  # how far the relay has read its own writes, per partition
            db.execute("INSERT INTO relay_offsets VALUES (?, ?, ?) ON CONFLICT (topic, partition) DO UPDATE SET"
                       " next_offset = max(next_offset, excluded.next_offset)", (topic, m.partition(), m.offset() + 1))


def recover_published(bootstrap: str, db: sqlite3.Connection, topic: str) -> None:
    """Mark the rows a killed relay published but did not mark: read them back from the topic."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "outbox-relay-recovery",
                         "enable.auto.commit": False, "isolation.level": "read_uncommitted"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        start = dict(db.execute("SELECT partition, next_offset FROM relay_offsets WHERE topic = ?", (topic,)))
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        todo = {p for p in partitions if start.get(p, 0) < ends[p]}
        consumer.assign([TopicPartition(topic, p, start.get(p, OFFSET_BEGINNING)) for p in todo])
        found: list[Message] = []
        while todo:
            for m in consumer.consume(100, timeout=1):
                if m.error():
                    raise KafkaException(m.error())
                found.append(m)
                if m.offset() + 1 >= ends[m.partition()]:
                    todo.discard(m.partition())
        ids = [int(v) for m in found for k, v in (m.headers() or []) if k == "outbox-id"]
        mark_published(db, topic, ids, found)
    finally:
        consumer.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--mark-first", action="store_true")
    p.add_argument("--no-recover", action="store_true")
    a = p.parse_args()
    relay(a.bootstrap, a.db, a.topic, mark_first=a.mark_first, recover=not a.no_recover)


if __name__ == "__main__":
    main()
