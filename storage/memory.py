"""The memory engine (``open_engine("memory://")``): every segment is a list of batches in RAM.

Same PartitionLog rules as the file engine (validation, producer state, rolls, retention,
compaction), nothing durable: for tests and throw-away dev servers. ``fsync`` is accepted and
ignored apart from the group-commit bookkeeping (syncing is a no-op).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterator
from typing import Any

from kafkaish.storage.engine import StorageEngine
from kafkaish.storage.log import PartitionLog
from kafkaish.storage.segment import Segment, first_record_at
from kafkaish.storage.types import LogConfig, StateStore
from kafkaish.wire.constants import LOG_OVERHEAD
from kafkaish.wire.records import BatchHeader, parse_header


class MemorySegment:
    """A segment as parallel lists of batches, their base offsets and last offsets."""

    def __init__(self, base_offset: int) -> None:
        self.base_offset = base_offset
        self.next_offset = base_offset
        self.size = 0
        self.max_timestamp = -1
        self.offset_of_max_timestamp = base_offset
        self.rolling_timestamp: int | None = None
        self.last_modified_ms = int(time.time() * 1000)  # LogSegment.largestTimestamp's fallback
        # Per batch: its bytes, base offset, last offset and max timestamp. Nothing here is an object the
        # garbage collector tracks (headers are re-parsed when needed), so full collections do not
        # grow with the log (they paused serving for 20-30 ms, issue #15).
        self._batches: list[bytes | bytearray | memoryview] = []
        self._bases: list[int] = []
        self._lasts: list[int] = []
        self._max_ts: list[int] = []

    def append(self, data: bytes | bytearray | memoryview, header: BatchHeader) -> None:
        # A view is kept as is: PartitionLog hands over buffers it owns (a big Produce request's
        # frame, wire.codec.FrameBuffer, or its own copy), so the batch is stored without a copy.
        # Views never leave the segment: read() joins, batches() gives bytes.
        if type(data) is memoryview:
            # A view of a whole buffer PartitionLog copied for itself: keep the buffer, which the
            # garbage collector does not track (a memoryview it does, one per batch: GC pauses).
            owner = data.obj
            if type(owner) is bytearray and len(owner) == len(data):
                data = owner  # type: ignore[assignment]
        else:
            data = bytes(data)
        base, max_ts = header.base_offset, header.max_timestamp  # each field read once (issue #15)
        last = base + header.last_offset_delta
        self._batches.append(data)
        self._bases.append(base)
        self._lasts.append(last)
        self._max_ts.append(max_ts)
        self.size += header.batch_length + LOG_OVERHEAD
        self.next_offset = last + 1
        self.last_modified_ms = int(time.time() * 1000)
        if self.rolling_timestamp is None:
            self.rolling_timestamp = max_ts
        if max_ts > self.max_timestamp:
            self.max_timestamp = max_ts
            self.offset_of_max_timestamp = base

    def read(self, offset: int, max_bytes: int, max_offset: int) -> tuple[bytes, int] | None:
        i = bisect.bisect_left(self._lasts, offset)
        batches, bases = self._batches, self._bases
        if i >= len(batches) or bases[i] >= max_offset:
            return None
        chunks, total = [batches[i]], len(batches[i])
        j = i + 1
        while j < len(batches):
            size = len(batches[j])
            if bases[j] >= max_offset or total + size > max_bytes:
                break
            chunks.append(batches[j])
            total += size
            j += 1
        return b"".join(chunks), self._lasts[j - 1] + 1

    def find_timestamp(self, timestamp: int, start_offset: int) -> tuple[int, int] | None:
        for max_ts, last, data in zip(self._max_ts, self._lasts, self._batches):
            if max_ts >= timestamp and last >= start_offset:
                found = first_record_at(bytes(data), parse_header(data), timestamp, start_offset)
                if found is not None:
                    return found
        return None

    def batches(self) -> Iterator[tuple[BatchHeader, bytes]]:
        return iter([(parse_header(b), bytes(b)) for b in self._batches])

    def seal(self) -> None:
        pass

    def sync(self) -> None:
        pass

    def close(self) -> None:
        pass


class MemorySegmentStore:
    """SegmentStore for RAM: nothing to persist."""

    def new_segment(self, base_offset: int, config: LogConfig) -> Segment:
        return MemorySegment(base_offset)

    def new_cleaned(self, base_offset: int, config: LogConfig) -> Segment:
        return MemorySegment(base_offset)

    def install_cleaned(self, old: Segment, new: Segment) -> Segment:
        return new

    def delete_segment(self, segment: Segment) -> None:
        pass

    def save_log_start(self, offset: int) -> None:
        pass

    def save_recovery_point(self, offset: int) -> None:
        pass

    def save_producer_snapshot(self, offset: int, data: bytes) -> None:
        pass

    def drop(self) -> None:
        pass


class MemoryStateStore(StateStore):
    def __init__(self) -> None:
        self._items: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, key: str, value: bytes | None) -> None:
        with self._lock:
            if value is None:
                self._items.pop(key, None)
            else:
                self._items[key] = bytes(value)

    def items(self) -> dict[str, bytes]:
        with self._lock:
            return dict(self._items)


class MemoryEngine(StorageEngine):
    """``memory://``: topics and logs in RAM."""

    def __init__(self, *, cluster_id: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.cluster_id = cluster_id or "kafkaish-memory"

    @property
    def log_dir(self) -> str:
        return "memory://"

    def disk_usage(self) -> tuple[int, int]:
        return -1, -1  # Kafka's DescribeLogDirs "unknown"

    def _new_log(self, topic: str, partition: int, config: LogConfig) -> PartitionLog:
        return PartitionLog(topic, partition, config, MemorySegmentStore(), self.sync_policy, [], 0)

    def _save_topics(self) -> None:
        pass

    def _drop_log(self, log: PartitionLog) -> None:
        log.drop()

    def _new_state_store(self, name: str) -> StateStore:
        return MemoryStateStore()
