"""The shared part of the ``cluster_failover`` scenario for the Python runners (and tests/cluster/):
the chaos scripted over a 3-broker kafkaish's control plane (HTTP, so it works against
``serve --brokers 3 --admin-port N`` in another process) and the exactly-once check.

The chaos: every partition's leader moves to its next in-sync replica, ``rounds`` times, then
broker 2 stops and starts again. kafkajs has the same script in ``kafkajs/cluster_chaos.js``.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from typing import Any

PARTITIONS = 3
TOPIC_CONFIG = {"min.insync.replicas": "2"}  # acks=all needs 2 in-sync replicas of 3
STOPPED = 2  # the broker the chaos stops and starts


class ControlPlaneHTTP:
    """The few control-plane routes the chaos uses (kafkaish/control/routes_*.py)."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url.rstrip("/")

    def _call(self, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.admin_url + route, data=data, method=method,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)

    def topic(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/topics/{name}")

    def group(self, group_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/groups/{group_id}")

    def brokers(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/brokers")

    def move_leader(self, topic: str, partition: int, node_id: int) -> dict[str, Any]:
        return self._call("POST", f"/v1/topics/{topic}/partitions/{partition}/leader", {"broker": node_id})

    def stop_broker(self, node_id: int) -> None:
        self._call("POST", f"/v1/brokers/{node_id}/stop", {})

    def start_broker(self, node_id: int) -> None:
        self._call("POST", f"/v1/brokers/{node_id}/start", {})  # answers once it listens again


def leaders(plane: ControlPlaneHTTP, topic: str) -> list[int]:
    return [p["leader"] for p in plane.topic(topic)["partitions"]]


def run_chaos(plane: ControlPlaneHTTP, topic: str, rounds: int = 2, pause: float = 0.4) -> list[list[int]]:
    """Move every partition's leader to its next in-sync replica ``rounds`` times, then stop broker
    2 and start it again; returns the leaders seen after each step."""
    seen = [leaders(plane, topic)]
    for _ in range(rounds):
        for part in plane.topic(topic)["partitions"]:
            isr = sorted(part["isr"])
            plane.move_leader(topic, part["partition"], isr[(isr.index(part["leader"]) + 1) % len(isr)])
        seen.append(leaders(plane, topic))
        time.sleep(pause)
    plane.stop_broker(STOPPED)
    seen.append(leaders(plane, topic))
    time.sleep(pause * 2)
    plane.start_broker(STOPPED)
    seen.append(leaders(plane, topic))
    time.sleep(pause)
    assert len({tuple(s) for s in seen}) > 2, f"the leaders did not move: {seen}"
    assert STOPPED not in seen[-2], f"broker {STOPPED} still leads while stopped: {seen[-2]}"
    return seen


def chaos_while(plane: ControlPlaneHTTP, topic: str, done: threading.Event, *work: Callable[[], None]) -> None:
    """Run the chaos while each of ``work`` runs in its own thread; then set ``done`` and wait for them."""
    threads = [threading.Thread(target=fn, daemon=True) for fn in work]
    for t in threads:
        t.start()
    try:
        run_chaos(plane, topic)
    finally:
        done.set()
        for t in threads:
            t.join(25)


def check_exactly_once(acked: list[tuple[int, int, bytes]], consumed: list[tuple[int, int, bytes]]) -> None:
    """Every acknowledged record consumed once; per partition the offsets run 0, 1, 2... (no gap,
    no duplicate) and each matches what the producer was told."""
    assert acked, "nothing was acknowledged"
    by_partition: dict[int, list[int]] = defaultdict(list)
    for p, offset, _ in consumed:
        by_partition[p].append(offset)
    for p, offsets in by_partition.items():
        bad = next((i for i, o in enumerate(offsets) if o != i), None)
        assert bad is None, f"partition {p}: offset {offsets[bad]} read at position {bad} (gap or duplicate)"
    values = [v for _, _, v in consumed]
    assert len(values) == len(set(values)), "a record was written twice (idempotence broken)"
    consumed_at = {(p, o): v for p, o, v in consumed}
    missing = [(p, o, v) for p, o, v in acked if consumed_at.get((p, o)) != v]
    assert not missing, f"{len(missing)} acknowledged records not read where acknowledged, e.g. {missing[0]}"
