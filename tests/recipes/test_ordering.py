"""Per-key order across 3 partitions, retried Produce requests and a rebalance between two processes.

6 entities x 15 events, sent in order with the keys as the entities, while the broker answers
one Produce NOT_LEADER_OR_FOLLOWER and loses the answer of another (the idempotent producer
retries in order). Worker A starts alone on the first half; worker B joins after A has
processed 10 events, so partitions move from A to B mid-stream; the second half is sent once
B is in the group. In the shared sink each entity's events appear once,
in order. Without keys (the negative check) some entity's events are processed out of order.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import defaultdict

import pytest

from kafka_recipes.ordering import publish
from tests.recipes.faults import script_produce_faults
from tests.recipes.helpers import RECIPES_DIR, create_topic, lines

ENTITIES, EVENTS = 6, 15


def start_worker(bootstrap: str, name: str, sink: str, worker: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(RECIPES_DIR)}
    return subprocess.Popen([sys.executable, "-m", "kafka_recipes.ordering", "--bootstrap", bootstrap,
                             "--topic", name, "--group", name, "--sink", sink, "--worker", worker, "--work-s", "0.04"],
                            env=env)


def assigned_members(bootstrap: str, group: str) -> set[str]:
    """Client ids of the members holding partitions once the group is stable."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_groups([group])[group]
        if described["group_state"] != "Stable":
            return set()
        return {m["client_id"] for m in described["members"]
                if any(a["partitions"] for a in m["member_assignment"]["assigned_partitions"])}
    finally:
        admin.close()


def wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("keyed", [True, False])
def test_per_key_order_survives_retries_and_a_rebalance(kb, name, tmp_path, keyed):
    create_topic(kb.bootstrap, name, partitions=3)
    events = [(f"order-{e}", f"order-{e}:{n:02d}") for n in range(EVENTS) for e in range(ENTITIES)]
    first, second = events[:len(events) // 2], events[len(events) // 2:]
    script_produce_faults(kb, name, ["not_leader", "lost_answer"])
    asyncio.run(publish(kb.bootstrap, name, first, keyed=keyed))

    sink = tmp_path / "processed.txt"
    a = start_worker(kb.bootstrap, name, str(sink), "A")
    b = None
    try:
        wait_for(lambda: len(lines(sink)) >= 10, 30, "worker A to process 10 events")
        b = start_worker(kb.bootstrap, name, str(sink), "B")
        wait_for(lambda: "B" in assigned_members(kb.bootstrap, name), 30, "worker B to hold partitions")
        asyncio.run(publish(kb.bootstrap, name, second, keyed=keyed))  # the stream goes on after the rebalance
        assert b.wait(60) == 0 and a.wait(60) == 0
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None:
                p.kill()

    seen: dict[str, list[int]] = defaultdict(list)
    workers: dict[str, set[str]] = defaultdict(set)
    for line in lines(sink):
        worker, value = line.split()
        entity, n = value.split(":")
        seen[entity].append(int(n))
        workers[worker].add(entity)
    out_of_order = sorted(e for e, ns in seen.items() if ns != sorted(ns))
    if keyed:
        assert dict(seen) == {f"order-{e}": list(range(EVENTS)) for e in range(ENTITIES)}  # once each, in order
        assert workers["A"] and workers["B"], "the rebalance moved partitions from A to B"
    else:
        assert sum(map(len, seen.values())) == ENTITIES * EVENTS  # nothing lost or repeated...
        assert out_of_order, "...but without keys some entity's events are out of order"
