"""PartitionLog: one partition's log (Kafka's UnifiedLog over LocalLog), engine-independent.

It owns validation of produced batches (through ``validator``, Kafka's LogValidator), offset
assignment, producer state (idempotence and
transactions through ``ProducerStateManager``), segment rolling, reads and offset lookups. Where the
segments live is the ``SegmentStore``'s business (RAM for the memory engine, a partition directory
for the file engine), so both engines share every rule here.

Theory of operation
-------------------
* Offsets: the log end offset (LEO) is the active segment's ``next_offset``. A produced batch gets
  offsets by rewriting its base offset to the LEO (records carry deltas; the CRC does not cover
  the base offset). The high watermark equals the LEO (there is no replication), except with
  fsync=always: there it is the recovery point, so reads never return what a machine crash could
  still lose (as Kafka with flush.messages=1 advances the high watermark only after the flush);
  the fsync itself may then run on another thread while appends go on (``sync``).
* The last stable offset (LSO) is the first offset of the earliest open transaction, else the
  high watermark. read_committed reads stop before it.
* The log start offset only moves forward: DeleteRecords moves it (and persists it at once);
  retention moves it to the first remaining segment. Segments wholly below it are deleted by the
  next ``run_maintenance``.
* Locking: every public method holds ``self._lock`` (an RLock) for its whole, short, duration,
  except that ``sync`` runs the fsync itself outside it. The cleaner reads sealed segments without
  it (they are immutable) and takes it only to swap or drop segments, so a read never sees a
  closed file descriptor (a zero-copy FileRegion holds its own dup of the descriptor).
* Recovery point: offsets below ``recovery_point`` were fsynced; the file engine checkpoints it
  and, after a crash, re-verifies only the segments from the one holding it.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Protocol

from kafkaish.storage.producer_state import NO_PRODUCER_ID, ProducerInfo, ProducerStateManager
from kafkaish.storage.segment import Segment
from kafkaish.storage.sync import SyncPolicy
from kafkaish.storage.types import AppendResult, LogConfig, OffsetAndTimestamp, ReadResult
from kafkaish.storage.validator import recompress, validate
from kafkaish.wire.constants import LOG_OVERHEAD, OffsetSpec
from kafkaish.wire.errors import ErrorCode, KafkaError
from kafkaish.wire.records import (
    BatchHeader,
    ControlType,
    build_control_batch,
    decode_records,
    iter_batches,
    parse_control_record,
    parse_header,
    set_base_offset,
    set_log_append_time,
    set_partition_leader_epoch,
    stored_header,
)

_MAX_RELATIVE_OFFSET = 2**31 - 1  # OffsetIndex stores int32 relative offsets
_CONTROL_BATCH_SIZE = 78  # 61-byte header + one marker record
LEADER_EPOCH = 0  # a single broker that never changes leader: Metadata answers epoch 0 too


class SegmentStore(Protocol):
    """Where one log's segments and checkpoints live."""

    def new_segment(self, base_offset: int, config: LogConfig) -> Segment: ...
    def new_cleaned(self, base_offset: int, config: LogConfig) -> Segment: ...
    def install_cleaned(self, old: Segment, new: Segment) -> Segment: ...
    def delete_segment(self, segment: Segment) -> None: ...
    def save_log_start(self, offset: int) -> None: ...
    def save_recovery_point(self, offset: int) -> None: ...
    def save_producer_snapshot(self, offset: int, data: bytes) -> None: ...
    def drop(self) -> None: ...


class PartitionLog:
    """One partition's log (UnifiedLog). See the module docstring for the invariants."""

    def __init__(self, topic: str, partition: int, config: LogConfig, store: SegmentStore,
                 sync_policy: SyncPolicy, segments: list[Segment], log_start_offset: int,
                 producers: ProducerStateManager | None = None) -> None:
        self.topic = topic
        self.partition = partition
        self.config = config
        self._segment_store = store
        self._sync_policy = sync_policy
        self._lock = threading.RLock()
        self.closed = False
        self._segments = segments or [store.new_segment(log_start_offset, config)]
        self._log_start = max(log_start_offset, self._segments[0].base_offset)
        self._producers = producers if producers is not None else ProducerStateManager()
        self._failed: str | None = None  # set after a failed fsync (Kafka takes the log dir offline)
        self.recovery_point = self.log_end_offset  # offsets below are known to be on disk
        self._durable_hw = sync_policy.mode == "always"  # the high watermark waits for the fsync
        self._active_created_ms: int | None = None  # wall clock of the active segment's first append
        self._maintenance = LogMaintenance(self)

    # ----------------------------------------------------------------------------- offsets
    @property
    def log_start_offset(self) -> int:
        return self._log_start

    @property
    def log_end_offset(self) -> int:
        return self._segments[-1].next_offset

    @property
    def high_watermark(self) -> int:
        leo = self._segments[-1].next_offset
        if self._durable_hw:
            return min(leo, self.recovery_point)
        return leo

    @property
    def last_stable_offset(self) -> int:
        first_unstable = self._producers.first_unstable_offset()
        hw = self.high_watermark
        return hw if first_unstable is None else min(first_unstable, hw)

    @property
    def active_segment(self) -> Segment:
        return self._segments[-1]

    def segments(self) -> list[Segment]:
        with self._lock:
            return list(self._segments)

    def size_bytes(self) -> int:
        with self._lock:
            return sum(s.size for s in self._segments)

    # ------------------------------------------------------------------------------ append
    def append(self, records: bytes | bytearray | memoryview, *, now_ms: int) -> AppendResult:
        """Validate and store produced batches (UnifiedLog.appendAsLeader).

        Each batch's header is parsed once (by ``validate``) and handed down: storing it rewrites
        the base offset and leader epoch in the bytes and in a copy of the parsed header."""
        # A writable view (a big request's own frame buffer, wire.codec.FrameBuffer) is rewritten
        # in place (base offsets, leader epoch): stored without a copy. Anything else is copied once.
        buf = records if type(records) is memoryview and not records.readonly else bytearray(records)
        config = self.config
        batches = validate(buf, config, now_ms, self.topic, self.partition)
        if config.compression is not None:
            buf, batches = recompress(buf, batches, config)
        with self._lock:
            if self.closed or self._failed:
                self._check_writable()
            first = last = -1
            producers = self._producers
            for pos, header in batches:
                tracked = header.producer_id != NO_PRODUCER_ID  # producer state is idempotence's
                if tracked:
                    dup = producers.check_append(header)
                    if dup is not None:
                        if len(batches) == 1:
                            return AppendResult(dup[0], dup[1], dup[2], self._log_start, True)
                        continue  # a retried batch among new ones: skip it, store the rest
                stored = self._store_batch(buf, pos, header, now_ms)
                last = stored.last_offset
                if tracked:
                    producers.on_append(stored, stored.base_offset, last, stored.max_timestamp)
                if first < 0:
                    first = stored.base_offset
            self._sync_policy.wrote(self)
            return AppendResult(first, last, now_ms if config.log_append_time else -1, self._log_start, False)

    def _check_writable(self) -> None:
        if self.closed:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"{self.topic}-{self.partition} is closed")
        if self._failed:
            raise KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, self._failed)

    def _store_batch(self, buf: bytearray | memoryview, pos: int, header: BatchHeader, now_ms: int) -> BatchHeader:
        """Assign offsets (and LogAppendTime) in place and append one batch; returns its new header."""
        log_append_time = self.config.log_append_time
        size = header.batch_length + LOG_OVERHEAD
        self._maybe_roll(size, header.last_offset_delta, now_ms if log_append_time else header.max_timestamp, now_ms)
        active = self._segments[-1]
        offset = active.next_offset  # the log end offset
        set_base_offset(buf, pos, offset)
        set_partition_leader_epoch(buf, pos, LEADER_EPOCH)
        if log_append_time:  # attributes, max timestamp and CRC change too: read them back
            set_log_append_time(buf, pos, now_ms)
            stored = parse_header(buf, pos)
        else:
            stored = stored_header(header, offset, LEADER_EPOCH)
        if active.size == 0:  # as _append_to_active
            self._active_created_ms = now_ms
        active.append(memoryview(buf)[pos:pos + size], stored)
        return stored

    def _append_to_active(self, data: bytes | memoryview, header: BatchHeader, now_ms: int) -> None:
        active = self._segments[-1]
        if active.size == 0:
            self._active_created_ms = now_ms
        active.append(data, header)

    def append_control(self, *, producer_id: int, producer_epoch: int, commit: bool,
                       coordinator_epoch: int, now_ms: int) -> int:
        """Write a COMMIT/ABORT marker and complete the producer's transaction; returns its offset."""
        with self._lock:
            self._check_writable()
            self._maybe_roll(_CONTROL_BATCH_SIZE, 0, now_ms, now_ms)
            offset = self.log_end_offset
            batch = build_control_batch(producer_id=producer_id, producer_epoch=producer_epoch, commit=commit,
                                        coordinator_epoch=coordinator_epoch, base_offset=offset, timestamp_ms=now_ms,
                                        partition_leader_epoch=LEADER_EPOCH)
            header = parse_header(batch)
            self._producers.check_append(header)  # fences a marker from an older epoch
            self._append_to_active(batch, header, now_ms)
            self._producers.on_control(producer_id, producer_epoch, commit, offset)
            self._sync_policy.wrote(self)
            return offset

    def append_as_follower(self, records: bytes | bytearray | memoryview, *, now_ms: int) -> int:
        """Store batches that already carry their offsets (UnifiedLog.appendAsFollower), rebuilding
        producer state from them; used to restore a snapshot. Returns the new log end offset."""
        buf = bytearray(records)
        with self._lock:
            self._check_writable()
            for pos, header in iter_batches(buf):
                if header.base_offset < self.log_end_offset:
                    raise KafkaError(ErrorCode.INVALID_RECORD, f"batch at {header.base_offset} is below the "
                                     f"log end offset {self.log_end_offset} of {self.topic}-{self.partition}")
                self._maybe_roll(header.size, header.last_offset_delta, header.max_timestamp, now_ms)
                data = memoryview(buf)[pos:pos + header.size]
                self._append_to_active(data, header, now_ms)
                replay_batch(self._producers, header, data)
            self._sync_policy.wrote(self)
            return self.log_end_offset

    # ------------------------------------------------------------------------------- rolls
    def _maybe_roll(self, incoming_size: int, incoming_delta: int, incoming_max_ts: int, now_ms: int) -> None:
        """Start a new segment when the active one is full or old (UnifiedLog.maybeRoll).

        Age is LogSegment.timeWaitedForRoll: the incoming batch's max timestamp minus the first
        batch's, so replaying old data does not roll on every batch; without timestamps, wall time
        since the segment's first append."""
        active = self._segments[-1]
        if active.size == 0:
            return
        too_big = active.size + incoming_size > self.config.segment_bytes
        first_ts = active.rolling_timestamp
        if first_ts is not None and first_ts >= 0:
            too_old = incoming_max_ts - first_ts > self.config.segment_ms
        else:
            too_old = self._active_created_ms is not None and now_ms - self._active_created_ms > self.config.segment_ms
        too_far = self.log_end_offset + incoming_delta - active.base_offset > _MAX_RELATIVE_OFFSET
        if too_big or too_old or too_far:
            self._roll()

    def _roll(self) -> Segment:
        with self._lock:
            active = self._segments[-1]
            if active.size == 0:
                return active
            segment = self._segment_store.new_segment(self.log_end_offset, self.config)  # may raise: log unchanged
            try:
                active.seal()
            except OSError:  # indexes are derived data: keep serving from memory, rebuilt on restart
                logging.getLogger(__name__).warning("cannot write the indexes of %s-%d at %d", self.topic,
                                                    self.partition, active.base_offset, exc_info=True)
            if self._sync_policy.mode != "never":
                active.sync()  # Kafka flushes a segment when it rolls
            self._segments.append(segment)
            self._active_created_ms = None
            self._segment_store.save_producer_snapshot(segment.base_offset, self._producers.snapshot())
            return segment

    # -------------------------------------------------------------------------------- read
    def read(self, offset: int, max_bytes: int, *, read_committed: bool = False) -> ReadResult:
        """Whole batches from ``offset``: at least one, up to ``max_bytes`` (LocalLog.read)."""
        with self._lock:
            leo, start, hw = self.log_end_offset, self._log_start, self.high_watermark
            if offset < start or offset > leo:
                raise KafkaError(ErrorCode.OFFSET_OUT_OF_RANGE,
                                 f"offset {offset} outside [{start}, {leo}] of {self.topic}-{self.partition}")
            lso = self.last_stable_offset
            upper = lso if read_committed else hw  # offsets up to the LEO are in range, shown up to the HW
            data, end = self._read_segments(offset, max_bytes, upper) if offset < upper else (b"", offset)
            aborted = None
            if read_committed:
                aborted = self._producers.aborted_transactions(offset, end) if data else []
            return ReadResult(data, hw, lso, start, aborted)

    def _read_segments(self, offset: int, max_bytes: int, upper: int) -> tuple[bytes, int]:
        i = max(0, bisect.bisect_right(self._segments, offset, key=lambda s: s.base_offset) - 1)
        for segment in self._segments[i:]:
            if segment.base_offset >= upper:
                break
            found = segment.read(offset, max_bytes, upper)
            if found is not None:
                return found
        return b"", offset

    def offset_for_timestamp(self, timestamp_ms: int) -> OffsetAndTimestamp | None:
        """The first record with timestamp >= ``timestamp_ms`` at or after the log start offset
        (UnifiedLog.fetchOffsetByTimestamp); the ``OffsetSpec`` sentinels -1/-2/-3 are
        latest/earliest/max timestamp."""
        with self._lock:
            if timestamp_ms == OffsetSpec.EARLIEST:
                return OffsetAndTimestamp(self._log_start, -1)
            if timestamp_ms == OffsetSpec.LATEST:
                return OffsetAndTimestamp(self.high_watermark, -1)
            if timestamp_ms == OffsetSpec.MAX_TIMESTAMP:
                return self._max_timestamp_offset()
            for segment in self._segments:
                if segment.next_offset <= self._log_start or segment.max_timestamp < timestamp_ms:
                    continue
                found = segment.find_timestamp(timestamp_ms, self._log_start)
                if found is not None:
                    return OffsetAndTimestamp(*found)
            return None

    def max_timestamp_offset(self) -> OffsetAndTimestamp | None:
        """The record with the largest timestamp (ListOffsets MAX_TIMESTAMP, KIP-734)."""
        with self._lock:
            return self._max_timestamp_offset()

    def _max_timestamp_offset(self) -> OffsetAndTimestamp | None:
        live = [s for s in self._segments if s.next_offset > self._log_start and s.size]
        if not live:
            return None
        best = max(live, key=lambda s: s.max_timestamp)
        start = max(best.offset_of_max_timestamp, self._log_start)
        # KAFKA-16310 (3.7.1+): the offset of the record itself, not of its batch
        found = best.find_timestamp(best.max_timestamp, start)
        return OffsetAndTimestamp(*found) if found is not None else OffsetAndTimestamp(start, best.max_timestamp)

    def has_ongoing_transaction(self, producer_id: int) -> bool:
        """Whether ``producer_id`` has an open transaction in this partition (UnifiedLog)."""
        with self._lock:
            return self._producers.has_ongoing_transaction(producer_id)

    def active_producers(self) -> list[ProducerInfo]:
        """Every producer with state in this partition (DescribeProducers, KIP-664)."""
        with self._lock:
            return self._producers.active_producers()

    def maintenance(self) -> LogMaintenance:
        """The housekeeping surface (rolls, segment drops and swaps): for ``cleaner.py`` and the
        engines' checkpoints, not for request handlers."""
        return self._maintenance

    # ----------------------------------------------------------------------- log start offset
    def delete_records(self, before_offset: int) -> int:
        """Move the log start offset to ``before_offset`` (-1: high watermark); returns it."""
        with self._lock:
            target = self.high_watermark if before_offset == -1 else before_offset
            if target < 0 or target > self.high_watermark:
                raise KafkaError(ErrorCode.OFFSET_OUT_OF_RANGE,
                                 f"cannot delete records before {before_offset}: high watermark is {self.high_watermark}")
            if target > self._log_start:
                self._set_log_start(target)
            return self._log_start

    def _set_log_start(self, offset: int) -> None:
        self._log_start = offset
        self._producers.on_log_start_offset(offset)
        self._segment_store.save_log_start(offset)

    def _drop_segments(self, doomed: Callable[[Segment, int], bool]) -> list[Segment]:
        """Remove leading sealed segments while ``doomed(segment, index)``; advance the log start
        offset past them. Returns the removed segments (the caller deletes their files)."""
        with self._lock:
            n = 0
            while n < len(self._segments) - 1 and doomed(self._segments[n], n):
                n += 1
            removed, self._segments = self._segments[:n], self._segments[n:]
            if removed and self._segments[0].base_offset > self._log_start:
                self._set_log_start(self._segments[0].base_offset)
            return removed

    def _replace_segment(self, old: Segment, new: Segment) -> bool:
        """Swap a compacted copy in for a sealed segment (LocalLog.replaceSegments)."""
        with self._lock:
            if self.closed or old not in self._segments[:-1]:
                return False
            installed = self._segment_store.install_cleaned(old, new)
            self._segments[self._segments.index(old)] = installed
            return True

    # ---------------------------------------------------------------------------- lifecycle
    def sync(self) -> None:
        """fdatasync the active segment (sealed ones were synced when they rolled). The fsync runs
        outside the lock, so an interval sync on the maintenance thread does not stall appends."""
        with self._lock:
            if self.closed:
                return
            segment, end = self._segments[-1], self.log_end_offset
        try:
            segment.sync()
        except KafkaError as exc:
            # After a failed fsync the page cache may have dropped the data ("fsyncgate"):
            # refuse appends until a restart re-reads what is really on disk.
            with self._lock:
                self._failed = exc.message or "fsync failed"
            raise
        with self._lock:
            self.recovery_point = max(self.recovery_point, end)

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self._sync_policy.forget(self)
            self._segment_store.save_producer_snapshot(self.log_end_offset, self._producers.snapshot())
            for segment in self._segments:
                segment.sync()
                segment.close()
            self._segment_store.save_recovery_point(self.log_end_offset)
            self.closed = True

    def drop(self) -> None:
        """Close and delete everything (topic deletion)."""
        with self._lock:
            self._sync_policy.forget(self)
            for segment in self._segments:
                segment.close()
            self.closed = True
            self._segment_store.drop()


class LogMaintenance:
    """What the log cleaner and the engines' checkpointing may do to one ``PartitionLog``
    beyond its public API, plus the cleaner's bookkeeping for it (in memory only: after a
    restart the first pass re-cleans everything)."""

    def __init__(self, log: PartitionLog) -> None:
        self.log = log
        self.first_dirty_offset = 0  # everything below was compacted by an earlier pass
        self.tombstones_due_ms: int | None = None  # when a kept tombstone may be dropped

    @property
    def lock(self) -> threading.RLock:
        """The log's lock: hold it for anything that must not interleave with an append."""
        return self.log._lock

    @property
    def store(self) -> SegmentStore:
        return self.log._segment_store

    @property
    def active_created_ms(self) -> int | None:
        """Wall clock of the active segment's first append (None: empty, or unknown after a restart)."""
        return self.log._active_created_ms

    @active_created_ms.setter
    def active_created_ms(self, value: int | None) -> None:
        self.log._active_created_ms = value

    def roll(self) -> Segment:
        return self.log._roll()

    def drop_segments(self, doomed: Callable[[Segment, int], bool]) -> list[Segment]:
        return self.log._drop_segments(doomed)

    def replace_segment(self, old: Segment, new: Segment) -> bool:
        return self.log._replace_segment(old, new)

    def expire_producers(self, now_ms: int) -> None:
        """Kafka's producer.id.expiration.ms: forget idle producers."""
        with self.log._lock:
            self.log._producers.remove_expired_producers(now_ms)

    def checkpoint_recovery_point(self) -> None:
        """Persist the recovery point (Kafka's recovery-point-offset-checkpoint)."""
        with self.log._lock:
            if not self.log.closed:
                self.log._segment_store.save_recovery_point(self.log.recovery_point)


def replay_producer_state(producers: ProducerStateManager, segments: list[Segment], from_offset: int) -> None:
    """Feed every batch at or after ``from_offset`` to ``producers`` (ProducerStateManager reload)."""
    for header, data in iter_log_batches(segments, from_offset):
        replay_batch(producers, header, data)


def replay_batch(producers: ProducerStateManager, header: BatchHeader, data: bytes | memoryview) -> None:
    """Feed one stored batch to ``producers``."""
    if header.producer_id < 0:
        return
    if header.is_control:
        control_type, _ = parse_control_record(decode_records(data)[0])
        producers.on_control(header.producer_id, header.producer_epoch,
                             control_type == ControlType.COMMIT, header.base_offset)
    else:
        producers.on_append(header, header.base_offset, header.last_offset, header.max_timestamp)


def iter_log_batches(segments: list[Segment], from_offset: int) -> Iterator[tuple[BatchHeader, bytes]]:
    for segment in segments:
        if segment.next_offset <= from_offset:
            continue
        for header, data in segment.batches():
            if header.base_offset >= from_offset:
                yield header, data
