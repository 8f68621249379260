"""Committed offsets of every group (Kafka's OffsetMetadataManager), durable through a StateStore.

Owns: committed offsets per (group, topic, partition), pending transactional offsets per
(group, producer id) (KIP-98 TxnOffsetCommit: applied by the COMMIT marker, dropped by ABORT),
offset expiry (KIP-211), and the small persisted record of which groups exist and their type.
It does not validate members or generations: `group.GroupCoordinator` does that first.

Persisted keys are JSON arrays so that any group id round-trips:
  ["o", group, topic, partition]              -> {"o": offset, "e": leader epoch, "m": metadata,
                                                  "t": commit ms, "x": expire ms, "s": commit order}
  ["p", group, producer id, topic, partition] -> the same, for a pending transactional offset
  ["g", group]                                -> {"type": "classic"|"consumer", "protocol_type": str}
Membership is never persisted: clients rejoin after a restart. Pending transactional offsets are
persisted too (Kafka keeps them in __consumer_offsets): a transaction committed after a restart
still applies them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from kafkaish.coordinator.group_results import (
    CommittedOffset,
    FetchedOffset,
    GroupConfig,
    OffsetCommitInput,
    StateStore,
    TopicPartition,
)
from kafkaish.wire.errors import ErrorCode


class OffsetStore:
    """Offsets of all groups; every mutation is written through to the StateStore."""

    def __init__(self, store: StateStore | None, config: GroupConfig) -> None:
        self._store = store
        self._config = config
        self.committed: dict[str, dict[TopicPartition, CommittedOffset]] = {}
        #: (group, producer id) -> offsets waiting for the transaction's end marker
        self.pending: dict[tuple[str, int], dict[TopicPartition, CommittedOffset]] = {}
        #: group -> (group type, protocol type), persisted so empty groups survive a restart
        self.known_groups: dict[str, tuple[str, str]] = {}
        self._sequence = 0
        if store is not None:
            self._load(store)

    # -- persistence -------------------------------------------------------------------

    def _load(self, store: StateStore) -> None:
        for raw_key, raw_value in sorted(store.items().items()):
            try:
                key = json.loads(raw_key)
                value = json.loads(raw_value)
                self._load_entry(key, value)
            except (ValueError, KeyError, TypeError, IndexError):
                continue  # not ours / corrupt entry: ignore rather than refuse to start
        self._sequence = max([self._sequence, *(v.sequence for g in self.committed.values() for v in g.values()),
                              *(v.sequence for p in self.pending.values() for v in p.values())])

    def _load_entry(self, key: list, value: dict) -> None:
        if key[0] == "g" and len(key) == 2:
            self.known_groups[key[1]] = (value["type"], value["protocol_type"])
            return
        if key[0] not in ("o", "p"):
            return
        self._sequence += 1
        offset = CommittedOffset(offset=value["o"], leader_epoch=value["e"], metadata=value["m"],
                                 commit_timestamp_ms=value["t"], expire_timestamp_ms=value.get("x"),
                                 sequence=value.get("s", self._sequence))
        if key[0] == "o" and len(key) == 4:
            self.committed.setdefault(key[1], {})[(key[2], int(key[3]))] = offset
        elif key[0] == "p" and len(key) == 5:
            self.pending.setdefault((key[1], int(key[2])), {})[(key[3], int(key[4]))] = offset

    def _persist(self, group_id: str, tp: TopicPartition, value: CommittedOffset | None,
                 producer_id: int | None = None) -> None:
        """Write one committed (or, with `producer_id`, pending transactional) offset."""
        if self._store is None:
            return
        if producer_id is None:
            key = json.dumps(["o", group_id, tp[0], tp[1]])
        else:
            key = json.dumps(["p", group_id, producer_id, tp[0], tp[1]])
        if value is None:
            self._store.put(key, None)
            return
        body = {"o": value.offset, "e": value.leader_epoch, "m": value.metadata,
                "t": value.commit_timestamp_ms, "x": value.expire_timestamp_ms, "s": value.sequence}
        self._store.put(key, json.dumps(body, separators=(",", ":")).encode())

    def remember_group(self, group_id: str, group_type: str, protocol_type: str) -> None:
        """Persist that a group exists (written only when its type changes: rare)."""
        if self.known_groups.get(group_id) == (group_type, protocol_type):
            return
        self.known_groups[group_id] = (group_type, protocol_type)
        if self._store is not None:
            body = json.dumps({"type": group_type, "protocol_type": protocol_type})
            self._store.put(json.dumps(["g", group_id]), body.encode())

    # -- commits -------------------------------------------------------------------------

    def _next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    def _validate(self, offsets: Sequence[OffsetCommitInput]) -> dict[TopicPartition, ErrorCode]:
        limit = self._config.offset_metadata_max_bytes
        errors: dict[TopicPartition, ErrorCode] = {}
        for item in offsets:
            too_large = item.metadata is not None and len(item.metadata.encode()) > limit
            errors[(item.topic, item.partition)] = (
                ErrorCode.OFFSET_METADATA_TOO_LARGE if too_large else ErrorCode.NONE)
        return errors

    def commit(self, group_id: str, offsets: Sequence[OffsetCommitInput], now_ms: int,
               expire_timestamp_ms: int | None = None) -> dict[TopicPartition, ErrorCode]:
        """Store offsets (already validated against the group); per-partition errors."""
        errors = self._validate(offsets)
        group = self.committed.setdefault(group_id, {})
        for item in offsets:
            tp = (item.topic, item.partition)
            if errors[tp] != ErrorCode.NONE:
                continue
            old = group.get(tp)
            new = CommittedOffset(item.offset, item.leader_epoch, item.metadata, now_ms,
                                  expire_timestamp_ms, self._next_sequence())
            group[tp] = new
            # Skip the durable write when only the timestamp moved: consumers re-commit
            # unchanged offsets every auto-commit interval.
            if old is None or (old.offset, old.leader_epoch, old.metadata, old.expire_timestamp_ms) != (
                    new.offset, new.leader_epoch, new.metadata, new.expire_timestamp_ms):
                self._persist(group_id, tp, new)
        return errors

    def add_pending(self, group_id: str, producer_id: int, offsets: Sequence[OffsetCommitInput],
                    now_ms: int) -> dict[TopicPartition, ErrorCode]:
        """TxnOffsetCommit: keep offsets aside until the transaction ends."""
        errors = self._validate(offsets)
        pending = self.pending.setdefault((group_id, producer_id), {})
        for item in offsets:
            tp = (item.topic, item.partition)
            if errors[tp] == ErrorCode.NONE:
                pending[tp] = CommittedOffset(item.offset, item.leader_epoch, item.metadata, now_ms,
                                              None, self._next_sequence())
                # Durable like Kafka's log of pending records: the marker may come after a restart.
                self._persist(group_id, tp, pending[tp], producer_id)
        return errors

    def complete_txn(self, producer_id: int, group_ids: Iterable[str], commit: bool, now_ms: int) -> None:
        """COMMIT marker: materialise the producer's pending offsets; ABORT: drop them."""
        for group_id in group_ids:
            pending = self.pending.pop((group_id, producer_id), None)
            for tp in pending or {}:
                self._persist(group_id, tp, None, producer_id)
            if not pending or not commit:
                continue
            group = self.committed.setdefault(group_id, {})
            for tp, value in pending.items():
                current = group.get(tp)
                # A plain commit made after the TxnOffsetCommit wins (Kafka:
                # OffsetMetadataManager.replayEndTransactionMarker keeps the later record).
                if current is not None and current.sequence > value.sequence:
                    continue
                applied = CommittedOffset(value.offset, value.leader_epoch, value.metadata,
                                          now_ms, None, value.sequence)
                group[tp] = applied
                self._persist(group_id, tp, applied)

    def has_pending(self, group_id: str, topic: str, partition: int) -> bool:
        tp = (topic, partition)
        return any(gid == group_id and tp in offsets for (gid, _), offsets in self.pending.items())

    def has_any_pending(self, group_id: str) -> bool:
        return any(gid == group_id and offsets for (gid, _), offsets in self.pending.items())

    # -- reads and deletes ------------------------------------------------------------------

    def fetch(self, group_id: str, topics: Sequence[tuple[str, Sequence[int]]] | None,
              require_stable: bool) -> tuple[FetchedOffset, ...]:
        """OffsetFetch: requested partitions (-1 when absent) or, for `topics=None`, all committed."""
        group = self.committed.get(group_id, {})
        if topics is None:
            wanted: list[TopicPartition] = sorted(group)
        else:
            wanted = [(topic, p) for topic, parts in topics for p in parts]
        out: list[FetchedOffset] = []
        for topic, partition in wanted:
            if require_stable and self.has_pending(group_id, topic, partition):
                # KIP-447: the consumer retries until the transaction's marker arrives. Metadata is
                # the field's default "" as OffsetMetadataManager answers (differential finding D25).
                out.append(FetchedOffset(topic, partition, -1, -1, "", ErrorCode.UNSTABLE_OFFSET_COMMIT))
                continue
            value = group.get((topic, partition))
            if value is None:
                out.append(FetchedOffset(topic, partition, -1, -1, ""))
            else:
                out.append(FetchedOffset(topic, partition, value.offset, value.leader_epoch, value.metadata))
        return tuple(out)

    def delete(self, group_id: str, tps: Iterable[TopicPartition]) -> None:
        group = self.committed.get(group_id)
        if group is None:
            return
        for tp in tps:
            if group.pop(tp, None) is not None:
                self._persist(group_id, tp, None)

    def delete_group(self, group_id: str) -> None:
        """DeleteGroups: drop offsets, pending offsets and the group record."""
        self.delete(group_id, list(self.committed.get(group_id, {})))
        self.committed.pop(group_id, None)
        for key in [k for k in self.pending if k[0] == group_id]:
            for tp in self.pending.pop(key):
                self._persist(group_id, tp, None, key[1])
        if self.known_groups.pop(group_id, None) is not None and self._store is not None:
            self._store.put(json.dumps(["g", group_id]), None)

    def expire(self, group_id: str, now_ms: int, empty_since_ms: int | None) -> int:
        """Drop offsets past retention (KIP-211); returns how many were removed.

        `empty_since_ms` is when a group with a protocol type became Empty: its offsets
        expire `offsets.retention` after that. Standalone groups (no protocol type: admin
        or manual-assignment commits) count from each offset's commit timestamp.
        """
        retention = self._config.offsets_retention_ms
        expired: list[TopicPartition] = []
        for tp, value in self.committed.get(group_id, {}).items():
            if value.expire_timestamp_ms is not None and value.expire_timestamp_ms >= 0:
                due = now_ms >= value.expire_timestamp_ms
            else:
                base = value.commit_timestamp_ms if empty_since_ms is None else empty_since_ms
                due = now_ms - base >= retention
            if due:
                expired.append(tp)
        self.delete(group_id, expired)
        if group_id in self.committed and not self.committed[group_id]:
            del self.committed[group_id]
        return len(expired)

    def topics_of(self, group_id: str) -> set[str]:
        return {topic for topic, _ in self.committed.get(group_id, {})}
