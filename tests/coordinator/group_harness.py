"""A fake-clock driver for GroupCoordinator tests: parks waiters, records every completion."""

from __future__ import annotations

import itertools
import struct
import uuid
from collections.abc import Mapping
from typing import Any

from kafkaish.coordinator.group import GroupCoordinator
from kafkaish.coordinator.group_results import (
    Completion,
    ConsumerHeartbeatInput,
    ConsumerHeartbeatResult,
    GroupConfig,
    JoinGroupInput,
    JoinGroupResult,
    SyncGroupResult,
)
from kafkaish.wire.errors import ErrorCode
from tests.fakes import DictStore

E = ErrorCode
RANGE = (("range", b"meta-range"),)


def subscription(*topics: str) -> bytes:
    """ConsumerProtocolSubscription v0: int16 version, [string topics], bytes user_data."""
    out = struct.pack(">hi", 0, len(topics))
    for t in topics:
        out += struct.pack(">h", len(t)) + t.encode()
    return out + struct.pack(">i", -1)




class Harness:
    """Owns a coordinator and a clock; `answers` maps each waiter to the one result it got."""

    def __init__(self, *, delay: int = 0, store: DictStore | None = None,
                 topics: dict[str, tuple[uuid.UUID, int]] | None = None, **config: Any) -> None:
        self.now = 1_000_000
        self.topics = topics if topics is not None else {}
        counter = itertools.count(1)
        self.coord = GroupCoordinator(
            store, topics=lambda: self.topics,
            config=GroupConfig(initial_rebalance_delay_ms=delay, **config),
            member_id_factory=lambda prefix: f"{prefix}-{next(counter)}")
        self.answers: dict[object, JoinGroupResult | SyncGroupResult] = {}
        self._waiters = itertools.count(1)

    def deliver(self, completions: list[Completion]) -> None:
        for c in completions:
            assert c.waiter not in self.answers, f"waiter {c.waiter} answered twice"
            self.answers[c.waiter] = c.result

    def advance(self, ms: int) -> None:
        self.now += ms
        self.deliver(self.coord.tick(self.now))

    def join(self, member_id: str = "", *, group: str = "g", instance: str | None = None,
             protocols: tuple[tuple[str, bytes], ...] = RANGE, session: int = 10_000, rebalance: int = 30_000,
             known: bool = True, client: str = "c", skip: bool = False, ptype: str = "consumer") -> str:
        waiter = f"join-{next(self._waiters)}"
        req = JoinGroupInput(group, member_id, ptype, protocols, session, rebalance, instance, client, "/127.0.0.1",
                             require_known_member_id=known, supports_skip_assignment=skip)
        self.deliver(self.coord.join_group(req, waiter, self.now))
        return waiter

    def join_new(self, **kw: Any) -> tuple[str, str]:
        """KIP-394 dance for a dynamic member: returns (member id, parked/answered waiter)."""
        first = self.join(**kw)
        result = self.answers[first]
        assert isinstance(result, JoinGroupResult) and result.error == E.MEMBER_ID_REQUIRED
        return result.member_id, self.join(result.member_id, **kw)

    def sync(self, member_id: str, generation: int, assignments: Mapping[str, bytes] | None = None, *,
             group: str = "g", instance: str | None = None, ptype: str | None = None, pname: str | None = None) -> str:
        waiter = f"sync-{next(self._waiters)}"
        self.deliver(self.coord.sync_group(group, member_id, generation, instance, ptype, pname,
                                           assignments or {}, waiter, self.now))
        return waiter

    def heartbeat(self, member_id: str, generation: int, *, group: str = "g", instance: str | None = None) -> ErrorCode:
        return self.coord.heartbeat(group, member_id, generation, instance, self.now)

    def result(self, waiter: str) -> Any:
        return self.answers.get(waiter)

    def stable_group(self, n: int, **kw: Any) -> tuple[list[str], int]:
        """n dynamic members joined and synced; returns (member ids, generation)."""
        ids: list[str] = []
        waiters: list[str] = []
        for _ in range(n):
            mid, w = self.join_new(**kw)
            ids.append(mid)
            waiters.append(w)
            for i, other in enumerate(ids[:-1]):  # earlier members learn of the rebalance and rejoin
                if self.heartbeat(other, self.answers[waiters[i]].generation_id) == E.REBALANCE_IN_PROGRESS:
                    waiters[i] = self.join(other, **kw)
        results = [self.answers[w] for w in waiters]
        gen = results[0].generation_id
        assert all(r.error == E.NONE and r.generation_id == gen for r in results)
        leader = results[0].leader
        syncs = [self.sync(mid, gen, {m: m.encode() for m in ids} if mid == leader else None) for mid in ids]
        assert all(self.answers[s].error == E.NONE for s in syncs)
        return ids, gen

    # KIP-848
    def cg(self, member_id: str, epoch: int, *, group: str = "cg", topics: tuple[str, ...] | None = None,
           owned: Mapping[uuid.UUID, tuple[int, ...]] | None = None, instance: str | None = None,
           assignor: str | None = None, regex: str | None = None, rebalance: int = 30_000) -> ConsumerHeartbeatResult:
        hb = ConsumerHeartbeatInput(
            group, member_id, epoch, instance, None, rebalance if epoch == 0 else -1, topics, regex, assignor,
            None if owned is None else tuple(owned.items()), "client", "/127.0.0.1")
        return self.coord.consumer_group_heartbeat(hb, self.now)
