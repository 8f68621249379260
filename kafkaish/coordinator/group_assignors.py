"""Server-side partition assignors for KIP-848 consumer groups: `uniform` (default) and `range`.

Both take each member's subscribed topic names, the topics' (id, partition count) and the previous
target assignment, and return member -> {topic id: partitions}. Kafka's classes of the same job:
org.apache.kafka.coordinator.group.assignor.UniformAssignor (sticky, balanced) and RangeAssignor.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

Assignment = dict[uuid.UUID, frozenset[int]]
Partition = tuple[uuid.UUID, int]


def _partitions_of(topics: Mapping[str, tuple[uuid.UUID, int]], names: frozenset[str]) -> list[Partition]:
    return [(topics[n][0], p) for n in sorted(names) if n in topics for p in range(topics[n][1])]


def _as_assignment(parts: list[Partition]) -> Assignment:
    out: dict[uuid.UUID, set[int]] = {}
    for topic_id, p in parts:
        out.setdefault(topic_id, set()).add(p)
    return {t: frozenset(ps) for t, ps in out.items()}


def uniform_assign(subscriptions: Mapping[str, frozenset[str]], topics: Mapping[str, tuple[uuid.UUID, int]],
                   previous: Mapping[str, Assignment]) -> dict[str, Assignment]:
    """Balanced and sticky: every member ends within one partition of the others among the
    members eligible for the same topics; partitions stay with their previous owner when possible."""
    members = sorted(subscriptions)
    eligible: dict[Partition, list[str]] = {}
    for member in members:
        for part in _partitions_of(topics, subscriptions[member]):
            eligible.setdefault(part, []).append(member)
    owned: dict[str, list[Partition]] = {m: [] for m in members}
    if not members:
        return {}
    total = len(eligible)
    floor_quota, extra = divmod(total, len(members))
    unassigned: list[Partition] = []
    prev_owner = {(t, p): m for m, a in previous.items() for t, ps in a.items() for p in ps}
    for part in sorted(eligible, key=lambda x: (str(x[0]), x[1])):
        keeper = prev_owner.get(part)
        if keeper in owned and keeper in eligible[part]:
            count = len(owned[keeper])
            if count < floor_quota or (count == floor_quota and extra > 0):
                extra -= count == floor_quota
                owned[keeper].append(part)
                continue
        unassigned.append(part)
    for part in unassigned:
        target = min(eligible[part], key=lambda m: (len(owned[m]), m))
        owned[target].append(part)
    _rebalance(owned, eligible)
    return {m: _as_assignment(parts) for m, parts in owned.items()}


def _rebalance(owned: dict[str, list[Partition]], eligible: Mapping[Partition, list[str]]) -> None:
    """Move partitions from the most to the least loaded eligible member until no move helps
    (needed when subscriptions differ between members)."""
    for _ in range(sum(len(p) for p in owned.values()) + 1):
        moved = False
        for donor in sorted(owned, key=lambda m: -len(owned[m])):
            for part in list(owned[donor]):
                receiver = min(eligible[part], key=lambda m: (len(owned[m]), m))
                if len(owned[receiver]) + 1 < len(owned[donor]):
                    owned[donor].remove(part)
                    owned[receiver].append(part)
                    moved = True
                    break
            if moved:
                break
        if not moved:
            return


def range_assign(subscriptions: Mapping[str, frozenset[str]], topics: Mapping[str, tuple[uuid.UUID, int]],
                 previous: Mapping[str, Assignment]) -> dict[str, Assignment]:
    """Per topic, contiguous partition ranges over the subscribed members sorted by id; the first
    `count % members` members get one more (co-partitioned topics line up)."""
    out: dict[str, dict[uuid.UUID, frozenset[int]]] = {m: {} for m in subscriptions}
    all_names = sorted({n for names in subscriptions.values() for n in names if n in topics})
    for name in all_names:
        topic_id, count = topics[name]
        subscribers = sorted(m for m, names in subscriptions.items() if name in names)
        base, extra = divmod(count, len(subscribers))
        start = 0
        for index, member in enumerate(subscribers):
            size = base + (1 if index < extra else 0)
            if size:
                out[member][topic_id] = frozenset(range(start, start + size))
            start += size
    return out


ASSIGNORS = {"uniform": uniform_assign, "range": range_assign}
