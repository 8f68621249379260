"""Retries with exponential backoff and jitter through retry topics, then a dead-letter topic (kafka-python).

A record that fails is not retried in place (that would block its partition): it is
forwarded to ``orders.retry.1`` with a due time, then ``orders.retry.2``, each stage waiting
longer, and after the last retry to ``orders.dlt`` with the failure reason in its headers. A
stage commits its input offsets only after the records it forwarded are acknowledged
(``commit_first=True`` is the negative check). After the bug is fixed, ``replay_dlt`` sends
the dead letters back to their original topic.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable

from kafka import KafkaConsumer, KafkaProducer

from kafka_recipes.at_most_once import caught_up
from kafka_recipes.crash import append_line, crash_point

Handler = Callable[[bytes, int], None]  # (value, attempt); raises to fail


def backoff_s(attempt: int, base_s: float, cap_s: float = 30.0) -> float:
    """Exponential backoff with "equal jitter": half of base * 2^(attempt-1) fixed, half random."""
    ceiling = min(cap_s, base_s * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def stage_topics(base: str, attempt: int, retries: int) -> tuple[str, str]:
    """(where attempt N reads, where its failures go)."""
    source = base if attempt == 0 else f"{base}.retry.{attempt}"
    target = f"{base}.retry.{attempt + 1}" if attempt < retries else f"{base}.dlt"
    return source, target


def run_stage(bootstrap: str, base: str, attempt: int, handle: Handler, *, retries: int = 2,
              base_backoff_s: float = 0.2, commit_first: bool = False, batch: int = 4) -> None:
    source, target = stage_topics(base, attempt, retries)
    consumer = KafkaConsumer(source, bootstrap_servers=bootstrap, group_id=f"{source}-handler",
                             group_instance_id=f"{source}-handler-1", enable_auto_commit=False,
                             auto_offset_reset="earliest", max_poll_records=batch)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    try:
        while True:
            records = [r for rs in consumer.poll(timeout_ms=500).values() for r in rs]
            if not records:
                if caught_up(consumer):
                    return
                continue
            if commit_first:
                consumer.commit()
                crash_point("mid_batch")  # committed, not handled: the batch is gone
            for r in records:
                headers = dict(r.headers)
                due_ms = int(headers.get("retry.due-ms", b"0"))
                time.sleep(max(0.0, due_ms / 1000 - time.time()))  # not before its backoff is over
                try:
                    handle(r.value, attempt)
                except Exception as e:  # noqa: BLE001 - any failure is retried, then dead-lettered
                    headers.update({
                        "retry.attempt": str(attempt + 1).encode(),  # attempts made so far
                        "error.class": type(e).__name__.encode(),
                        "error.message": str(e).encode(),
                    })
                    headers.setdefault("original.topic", r.topic.encode())
                    headers.setdefault("original.partition", str(r.partition).encode())
                    headers.setdefault("original.offset", str(r.offset).encode())
                    if attempt < retries:
                        backoff = backoff_s(attempt + 1, base_backoff_s)
                        headers["retry.backoff-ms"] = str(int(backoff * 1000)).encode()
                        headers["retry.due-ms"] = str(int((time.time() + backoff) * 1000)).encode()
                    else:
                        headers.pop("retry.due-ms", None)
                    producer.send(target, r.value, key=r.key, headers=list(headers.items()))
            producer.flush()  # every forwarded record acknowledged...
            if not commit_first:
                crash_point("mid_batch")  # (a crash here handles the batch again: at-least-once)
                consumer.commit()  # ...before the offsets move past its source
    finally:
        producer.close()
        consumer.close()


def replay_dlt(bootstrap: str, base: str) -> int:
    """Send the dead letters not replayed yet back to their original topic; return how many."""
    consumer = KafkaConsumer(f"{base}.dlt", bootstrap_servers=bootstrap, group_id=f"{base}.dlt-replay",
                             enable_auto_commit=False, auto_offset_reset="earliest")
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    replayed = 0
    try:
        while not caught_up(consumer):
            for records in consumer.poll(timeout_ms=500).values():
                for r in records:
                    headers = dict(r.headers)
                    keep = [(k, v) for k, v in headers.items() if k.startswith("original.")]
                    producer.send(headers["original.topic"].decode(), r.value, key=r.key,
                                  headers=keep + [("replayed-from", f"{r.topic}/{r.partition}/{r.offset}".encode())])
                    replayed += 1
            producer.flush()
            consumer.commit()
        return replayed
    finally:
        producer.close()
        consumer.close()


def demo_handler(sink: str, fixed: bool) -> Handler:
    """Orders whose kind is "flaky" fail on the first attempt, "poison" ones until the fix."""
    def handle(value: bytes, attempt: int) -> None:
        order = json.loads(value)
        if order["kind"] == "flaky" and attempt == 0:
            raise TimeoutError("payment gateway timed out")
        if order["kind"] == "poison" and not fixed:
            raise ValueError(f"unknown currency {order['currency']!r}")
        append_line(sink, f"{order['id']} {attempt} {int(time.time() * 1000)}")
    return handle


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--base", required=True, help="main topic; retry topics are BASE.retry.N, the DLT BASE.dlt")
    p.add_argument("--attempt", type=int, default=0, help="0 reads BASE, N reads BASE.retry.N")
    p.add_argument("--sink", required=True, help="file the demo handler appends handled orders to")
    p.add_argument("--fixed", action="store_true", help="the demo handler no longer fails poison orders")
    p.add_argument("--commit-first", action="store_true")
    a = p.parse_args()
    run_stage(a.bootstrap, a.base, a.attempt, demo_handler(a.sink, a.fixed), commit_first=a.commit_first)


if __name__ == "__main__":
    main()
