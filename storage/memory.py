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
from kafkaish.wire.records import BatchHeader


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
        self._batches: list[bytes | memoryview] = []
        self._headers: list[BatchHeader] = []
        self._lasts: list[int] = []

    def append(self, data: bytes | bytearray | memoryview, header: BatchHeader) -> None:
        # A view is kept as is: PartitionLog hands over buffers it owns (a big Produce request's
        # frame, wire.codec.FrameBuffer, or its own copy), so the batch is stored without a copy.
        # Views never leave the segment: read() joins, batches() gives bytes.
        self._batches.append(data if type(data) is memoryview else bytes(data))
        self._headers.append(header)
        self._lasts.append(header.last_offset)
        self.size += header.size
        self.next_offset = header.last_offset + 1
        self.last_modified_ms = int(time.time() * 1000)
        if self.rolling_timestamp is None:
            self.rolling_timestamp = header.max_timestamp
        if header.max_timestamp > self.max_timestamp:
            self.max_timestamp = header.max_timestamp
            self.offset_of_max_timestamp = header.base_offset

    def read(self, offset: int, max_bytes: int, max_offset: int) -> tuple[bytes, int] | None:
        i = bisect.bisect_left(self._lasts, offset)
        if i >= len(self._batches) or self._headers[i].base_offset >= max_offset:
            return None
        chunks, total = [self._batches[i]], self._headers[i].size
        j = i + 1
        while j < len(self._batches):
            header = self._headers[j]
            if header.base_offset >= max_offset or total + header.size > max_bytes:
                break
            chunks.append(self._batches[j])
            total += header.size
            j += 1
        return b"".join(chunks), self._headers[j - 1].last_offset + 1

    def find_timestamp(self, timestamp: int, start_offset: int) -> tuple[int, int] | None:
        for header, data in zip(self._headers, self._batches):
            if header.max_timestamp >= timestamp and header.last_offset >= start_offset:
                found = first_record_at(bytes(data), header, timestamp, start_offset)
                if found is not None:
                    return found
        return None

    def batches(self) -> Iterator[tuple[BatchHeader, bytes]]:
        return zip(list(self._headers), [bytes(b) for b in self._batches])

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
