"""The chaos script the client tests share: leader moves and a broker stop/start while producing,
then the checks: every acknowledged record read exactly once, in per-partition order, no gaps."""

from __future__ import annotations

import time
from collections import defaultdict

from kafkaish.testing import EmbeddedBroker

PARTITIONS = 3


def create_topic(kb: EmbeddedBroker, name: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": kb.bootstrap})
    topic = NewTopic(name, PARTITIONS, 3, config={"min.insync.replicas": "2"})
    admin.create_topics([topic])[name].result(30)


def leaders(kb: EmbeddedBroker, topic: str) -> list[int]:
    return [p["leader"] for p in kb.inspect.topic(topic)["partitions"]]


def run_chaos(kb: EmbeddedBroker, topic: str, rounds: int = 2, pause: float = 0.4) -> list[list[int]]:
    """Move every partition's leader to its next in-sync replica ``rounds`` times, then stop broker
    2 and start it again; returns the leaders seen after each step."""
    seen = [leaders(kb, topic)]
    for _ in range(rounds):
        for p, part in enumerate(kb.inspect.topic(topic)["partitions"]):
            isr = sorted(part["isr"])
            kb.move_leader(topic, p, isr[(isr.index(part["leader"]) + 1) % len(isr)])
        seen.append(leaders(kb, topic))
        time.sleep(pause)
    kb.stop_broker(2)
    seen.append(leaders(kb, topic))
    time.sleep(pause * 2)
    kb.start_broker(2)
    seen.append(leaders(kb, topic))
    time.sleep(pause)
    return seen


def check_exactly_once(acked: list[tuple[int, int, bytes]], consumed: list[tuple[int, int, bytes]]) -> None:
    """Every acknowledged record consumed once; per partition the offsets run 0, 1, 2... (no gap,
    no duplicate) and each matches what the producer was told."""
    assert acked, "nothing was acknowledged"
    by_partition: dict[int, list[tuple[int, bytes]]] = defaultdict(list)
    for p, offset, value in consumed:
        by_partition[p].append((offset, value))
    for p, records in by_partition.items():
        offsets = [o for o, _ in records]
        assert offsets == list(range(len(offsets))), f"partition {p}: gap or duplicate in {offsets[:50]}..."
    values = [v for _, _, v in consumed]
    assert len(values) == len(set(values)), "a record was written twice (idempotence broken)"
    consumed_at = {(p, o): v for p, o, v in consumed}
    for p, offset, value in acked:
        assert consumed_at.get((p, offset)) == value, f"acknowledged {value!r} at {p}/{offset} not read there"
