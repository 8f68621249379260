"""At-most-once with kafka-python: commit the offsets, then process.

A crash after the commit and before processing loses the records in hand; they are never
delivered twice. ``commit_first=False`` is the opposite order (at-least-once), kept as a
parameter so the test can show what changes.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from kafka import KafkaConsumer

from kafka_recipes.crash import append_line, crash_point


def consume(bootstrap: str, topic: str, group: str, process: Callable[[bytes], None], *,
            commit_first: bool = True, batch: int = 5) -> None:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        group_instance_id=f"{group}-worker",  # static member: a restarted process takes its partitions back at once
        enable_auto_commit=False,  # we decide when offsets move
        auto_offset_reset="earliest",
        max_poll_records=batch,
    )
    try:
        while True:
            records = [r for rs in consumer.poll(timeout_ms=500).values() for r in rs]
            if not records:
                if caught_up(consumer):
                    return
                continue
            if commit_first:
                consumer.commit()  # the group's offsets now point past this batch...
                crash_point("mid_batch")  # ...so a crash here loses it: at most once
                for r in records:
                    process(r.value)
            else:
                for r in records:
                    process(r.value)
                crash_point("mid_batch")  # processed but not committed: delivered again
                consumer.commit()
    finally:
        consumer.close()


def caught_up(consumer: KafkaConsumer) -> bool:
    """True once every assigned partition is read up to its log end (so a demo can stop)."""
    assigned = consumer.assignment()
    if not assigned:
        return False
    ends = consumer.end_offsets(list(assigned))
    return all(consumer.position(tp) >= ends[tp] for tp in assigned)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--sink", required=True, help="file that processing appends each value to")
    p.add_argument("--process-first", action="store_true", help="the at-least-once order")
    a = p.parse_args()
    consume(a.bootstrap, a.topic, a.group, lambda v: append_line(a.sink, v.decode()),
            commit_first=not a.process_first)


if __name__ == "__main__":
    main()
