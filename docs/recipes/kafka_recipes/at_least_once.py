"""At-least-once with confluent-kafka: process, then commit.

A crash after processing and before the commit delivers the same records again; none is
lost. ``commit_first=True`` is the opposite order (at-most-once), kept as a parameter so the
test can show what changes.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException, TopicPartition

from kafka_recipes.crash import append_line, crash_point


def consume(bootstrap: str, topic: str, group: str, process: Callable[[bytes], None], *,
            commit_first: bool = False, batch: int = 5) -> None:
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.instance.id": f"{group}-worker",  # static member: a restarted process takes its partitions back at once
        "enable.auto.commit": False,  # we decide when offsets move
        "auto.offset.reset": "earliest",
    })
    consumer.subscribe([topic])
    try:
        while True:
            records = consumer.consume(num_messages=batch, timeout=0.5)
            for r in records:
                if r.error():
                    raise KafkaException(r.error())
            if not records:
                if caught_up(consumer):
                    return
                continue
            # commit what we hold: the offset after the last record of each partition
            offsets = [TopicPartition(r.topic(), r.partition(), r.offset() + 1) for r in records]
            if commit_first:
                consumer.commit(offsets=offsets, asynchronous=False)
                crash_point("mid_batch")  # committed, not processed: lost
                for r in records:
                    process(r.value())
            else:
                for r in records:
                    process(r.value())
                crash_point("mid_batch")  # processed, not committed: delivered again
                consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


def caught_up(consumer: Consumer) -> bool:
    """True once every assigned partition is read up to its log end (so a demo can stop)."""
    assigned = consumer.assignment()
    if not assigned:
        return False
    committed = {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(assigned, timeout=10)}
    for tp in consumer.position(assigned):
        start, end = consumer.get_watermark_offsets(tp, timeout=10, cached=False)
        offset = tp.offset if tp.offset >= 0 else committed[(tp.topic, tp.partition)]
        if max(offset, start) < end:
            return False
    return True


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--sink", required=True, help="file that processing appends each value to")
    p.add_argument("--commit-first", action="store_true", help="the at-most-once order")
    a = p.parse_args()
    consume(a.bootstrap, a.topic, a.group, lambda v: append_line(a.sink, v.decode()),
            commit_first=a.commit_first)


if __name__ == "__main__":
    main()
