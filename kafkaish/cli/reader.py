"""Reading a topic over the wire: offsets by spec or timestamp (ListOffsets), positions from
the command line, and a fetch loop that yields records partition by partition.

Ranges are half-open per partition: ``[start, end)``; ``end`` None means follow the log.
Transaction markers are skipped; with ``read_committed`` records of aborted transactions are
dropped using the aborted-transaction list of each Fetch response (Kafka's
``CompletedFetch`` logic) and the end of the range is the last stable offset.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from kafkaish.cli.client import RETRIABLE, CliError, Cluster, TopicInfo, error_text
from kafkaish.cli.records import parse_timestamp
from kafkaish.wire.constants import IsolationLevel, OffsetSpec
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.fetch import FetchRequest
from kafkaish.wire.messages.list_offsets import ListOffsetsRequest
from kafkaish.wire.records import (
    CONTROL_FLAG,
    TRANSACTIONAL_FLAG,
    ControlType,
    Record,
    iter_batches,
    iter_records,
)

LATEST, EARLIEST = OffsetSpec.LATEST, OffsetSpec.EARLIEST
READ_UNCOMMITTED, READ_COMMITTED = IsolationLevel.READ_UNCOMMITTED, IsolationLevel.READ_COMMITTED
FETCH_MAX_VERSION = 12  # v13+ names topics by id only; 12 is served by every Kafka since 3.1
PARTITION_MAX_BYTES = 4 * 1024 * 1024
FETCH_MAX_BYTES = 32 * 1024 * 1024


def isolation_level(name: str) -> int:
    return READ_COMMITTED if name == "read_committed" else READ_UNCOMMITTED


def list_offsets(cluster: Cluster, topic: TopicInfo, partitions: Iterable[int], timestamp: int,
                 isolation: int = READ_UNCOMMITTED) -> dict[int, int]:
    """Offset per partition for ``timestamp`` (LATEST, EARLIEST or epoch ms).

    For a timestamp, the first offset whose timestamp is >= it, or -1 when there is none.
    """
    wanted = list(partitions)
    out: dict[int, int] = {}
    for attempt in range(10):
        retry: list[int] = []
        for node, parts in cluster.by_leader(topic, wanted).items():
            conn = cluster.node(node)
            request = ListOffsetsRequest(replica_id=-1, isolation_level=isolation, topics=[
                ListOffsetsRequest.ListOffsetsTopic(name=topic.name, partitions=[
                    ListOffsetsRequest.ListOffsetsPartition(partition_index=p, timestamp=timestamp,
                                                            current_leader_epoch=-1)
                    for p in parts])])
            response = conn.call(request, conn.version(ListOffsetsRequest, lowest=1))
            for t in response.topics:
                for p in t.partitions:
                    if p.error_code in RETRIABLE:
                        retry.append(p.partition_index)
                    elif p.error_code:
                        raise CliError(f"offsets of {topic.name}-{p.partition_index}: " + error_text(p.error_code))
                    else:
                        out[p.partition_index] = p.offset
        if not retry:
            return out
        time.sleep(0.1 * (attempt + 1))
        topic = cluster.topic(topic.name)
        wanted = retry
    raise CliError(f"offsets of {topic.name}: partitions {wanted} have no leader")


@dataclass(frozen=True)
class Position:
    """Where to start (or stop) in a partition, as given on the command line."""

    kind: str  # "offset", "beginning", "end", "last" (N before the end), "timestamp"
    value: int = 0

    @classmethod
    def parse(cls, text: str) -> Position:
        t = text.strip().lower()
        if t in ("beginning", "earliest", "start", "oldest"):
            return cls("beginning")
        if t in ("end", "latest", "newest"):
            return cls("end")
        if re.fullmatch(r"\d+", t):
            return cls("offset", int(t))
        if re.fullmatch(r"-\d+", t):
            return cls("last", -int(t))
        raise CliError(f"bad offset {text!r}: expected N, beginning, end or -N (the last N records)")


def resolve_starts(cluster: Cluster, topic: TopicInfo, partitions: list[int], position: Position,
                   isolation: int) -> dict[int, int]:
    if position.kind == "offset":
        first = list_offsets(cluster, topic, partitions, EARLIEST, isolation)
        last = list_offsets(cluster, topic, partitions, LATEST, isolation)
        for p in partitions:
            if not first[p] <= position.value <= last[p]:
                raise CliError(f"offset {position.value} is out of range for {topic.name}-{p} "
                               f"(log start {first[p]}, end {last[p]})")
        return dict.fromkeys(partitions, position.value)
    if position.kind == "beginning":
        return list_offsets(cluster, topic, partitions, EARLIEST, isolation)
    ends = list_offsets(cluster, topic, partitions, LATEST, isolation)
    if position.kind == "end":
        return ends
    if position.kind == "last":
        starts = list_offsets(cluster, topic, partitions, EARLIEST, isolation)
        return {p: max(starts[p], ends[p] - position.value) for p in partitions}
    by_time = list_offsets(cluster, topic, partitions, position.value, isolation)
    return {p: ends[p] if by_time[p] < 0 else by_time[p] for p in partitions}


def resolve_range(cluster: Cluster, topic: TopicInfo, partitions: list[int], *, start: Position,
                  from_timestamp: str | None = None, to_offset: int | None = None,
                  to_timestamp: str | None = None, follow: bool = False,
                  isolation: int = READ_UNCOMMITTED) -> dict[int, tuple[int, int | None]]:
    """``{partition: (start, end)}`` from the command-line options (end None: follow)."""
    if from_timestamp is not None:
        start = Position("timestamp", parse_timestamp(from_timestamp))
    starts = resolve_starts(cluster, topic, partitions, start, isolation)
    ends: dict[int, int | None] = dict.fromkeys(partitions)
    if not follow:
        ends.update(list_offsets(cluster, topic, partitions, LATEST, isolation))
    if to_timestamp is not None:
        stop = list_offsets(cluster, topic, partitions, parse_timestamp(to_timestamp), isolation)
        latest = list_offsets(cluster, topic, partitions, LATEST, isolation) if follow else ends
        for p in partitions:
            bound = latest[p] if stop[p] < 0 and not follow else stop[p]
            if bound is not None and bound >= 0:
                ends[p] = bound if ends[p] is None else min(ends[p], bound)  # type: ignore[type-var]
    if to_offset is not None:
        for p in partitions:
            ends[p] = to_offset if ends[p] is None else min(ends[p], to_offset)  # type: ignore[type-var]
    return {p: (starts[p], ends[p]) for p in partitions}


def pick_partitions(topic: TopicInfo, wanted: Iterable[int]) -> list[int]:
    chosen = sorted(set(wanted)) or topic.partitions
    missing = [p for p in chosen if p not in topic.leaders]
    if missing:
        raise CliError(f"topic {topic.name!r} has no partition {missing[0]} "
                       f"(it has {len(topic.leaders)})")
    return chosen


class Reader:
    """Fetch records of ``ranges`` from the partition leaders, in offset order per partition."""

    def __init__(self, cluster: Cluster, topic: TopicInfo, ranges: dict[int, tuple[int, int | None]], *,
                 isolation: int = READ_UNCOMMITTED, max_wait_ms: int = 500) -> None:
        self.cluster = cluster
        self.topic = topic
        self.positions = {p: start for p, (start, _) in ranges.items()}
        self.ends = {p: end for p, (_, end) in ranges.items()}
        self.isolation = isolation
        self.max_wait_ms = max_wait_ms
        self.max_bytes = dict.fromkeys(ranges, PARTITION_MAX_BYTES)

    def active(self) -> list[int]:
        return [p for p, pos in self.positions.items() if self.ends[p] is None or pos < self.ends[p]]  # type: ignore

    def __iter__(self) -> Iterator[tuple[int, Record]]:
        while True:
            active = self.active()
            if not active:
                return
            yield from self._fetch_round(active)

    def _fetch_round(self, active: list[int]) -> Iterator[tuple[int, Record]]:
        pending = []
        for node, parts in self.cluster.by_leader(self.topic, active).items():
            conn = self.cluster.node(node)
            version = conn.version(FetchRequest, lowest=4, highest=FETCH_MAX_VERSION)
            request = FetchRequest(
                replica_id=-1, max_wait_ms=self.max_wait_ms, min_bytes=1, max_bytes=FETCH_MAX_BYTES,
                isolation_level=self.isolation, session_id=0, session_epoch=-1,
                topics=[FetchRequest.FetchTopic(topic=self.topic.name, partitions=[
                    FetchRequest.FetchPartition(partition=p, current_leader_epoch=-1, fetch_offset=self.positions[p],
                                                log_start_offset=-1, partition_max_bytes=self.max_bytes[p])
                    for p in parts])],
                forgotten_topics_data=[], rack_id="")
            pending.append((conn, conn.send(request, version)))
        stale = False
        for conn, correlation_id in pending:
            response = conn.receive(correlation_id)
            if response.error_code:
                raise CliError(f"fetch from {conn.address}: " + error_text(response.error_code))
            for t in response.responses:
                for part in t.partitions:
                    stale |= self._check(part)
                    if not part.error_code:
                        yield from self._records(part)
        if stale:
            time.sleep(0.1)
            self.topic = self.cluster.topic(self.topic.name)

    def _check(self, part: object) -> bool:
        code = part.error_code  # type: ignore[attr-defined]
        p = part.partition_index  # type: ignore[attr-defined]
        if code == ErrorCode.OFFSET_OUT_OF_RANGE:
            raise CliError(f"offset {self.positions[p]} is out of range for {self.topic.name}-{p} "
                           f"(log start {part.log_start_offset}, end {part.high_watermark})")  # type: ignore
        if code in RETRIABLE:
            return True
        if code:
            raise CliError(f"fetch {self.topic.name}-{p}: " + error_text(code))
        return False

    def _records(self, part: object) -> Iterator[tuple[int, Record]]:
        p: int = part.partition_index  # type: ignore[attr-defined]
        data = part.records or b""  # type: ignore[attr-defined]
        aborted = sorted((a.first_offset, a.producer_id)  # type: ignore[attr-defined]
                         for a in (part.aborted_transactions or []))  # type: ignore[attr-defined]
        aborting: set[int] = set()
        position, end = self.positions[p], self.ends[p]
        progressed = False
        for pos, header in iter_batches(data, allow_partial=True):
            progressed = True
            if header.last_offset < position:
                continue
            while aborted and aborted[0][0] <= header.last_offset:
                aborting.add(aborted.pop(0)[1])
            if header.attributes & CONTROL_FLAG:
                if header.producer_id in aborting:
                    (marker,) = iter_records(data, pos)
                    if marker.key and len(marker.key) >= 4 and marker.key[3] == ControlType.ABORT:
                        aborting.discard(header.producer_id)
                position = header.last_offset + 1
                continue
            if header.attributes & TRANSACTIONAL_FLAG and header.producer_id in aborting:
                position = header.last_offset + 1
                continue
            for record in iter_records(data, pos):
                if record.offset < position:
                    continue
                if end is not None and record.offset >= end:
                    self.positions[p] = end
                    return
                position = record.offset + 1
                self.positions[p] = position
                yield p, record
            position = header.last_offset + 1
            self.positions[p] = position
        if not progressed and data:
            self.max_bytes[p] *= 2  # one batch larger than the partition budget: ask for more
        if end is not None and position >= end:
            self.positions[p] = end
        else:
            self.positions[p] = position
