"""Log segments: the ``Segment`` protocol both engines implement, and the file ``LogSegment``.

A segment (Kafka's LogSegment) holds whole record batches for a contiguous offset range starting at
``base_offset``. Only the newest segment of a log (the active one) is appended to; older ones are
sealed and immutable until retention deletes them or the cleaner swaps in a compacted copy.

``LogSegment`` is one ``<base>.log`` file plus a sparse ``OffsetIndex`` and ``TimeIndex``
(``kafkaish.storage.index``). Every read is an ``os.pread`` of just the bytes asked for: the
offset index gives a file position at most ``index.interval.bytes`` before the wanted batch, a
short header walk finds it, and one more pread returns the batches. Nothing keeps a whole segment
in memory, so RSS stays flat however large the log grows.

Errors writing (ENOSPC, EIO) truncate the file back to its last good size and raise
KafkaError(KAFKA_STORAGE_ERROR); the log stays usable.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Protocol

from kafkaish.storage.fsutil import storage_error
from kafkaish.storage.index import OffsetIndex, TimeIndex
from kafkaish.storage.latency import FSYNC
from kafkaish.storage.region import FileRegion
from kafkaish.wire.records import (
    HEADER_SIZE,
    BatchHeader,
    CorruptRecordError,
    decode_records,
    parse_header,
    verify_crc,
)

log = logging.getLogger(__name__)

_SCAN_CHUNK = 16 * 1024  # header walks read this much at a time
_RECOVER_CHUNK = 1 << 20  # recovery reads (and CRC-checks) this much at a time


class Segment(Protocol):
    """What PartitionLog needs from a segment, whatever backs it."""

    base_offset: int
    next_offset: int  # one past the last stored offset (base_offset when empty)
    size: int
    max_timestamp: int  # -1 when no batch carries a timestamp
    offset_of_max_timestamp: int
    rolling_timestamp: int | None  # first batch's max timestamp, for segment.ms (Kafka does the same)
    last_modified_ms: int  # wall clock of the last append (creation when empty): the file's mtime

    def append(self, data: bytes | bytearray | memoryview, header: BatchHeader) -> None: ...
    def read(self, offset: int, max_bytes: int, max_offset: int) -> tuple[bytes, int] | None: ...
    def find_timestamp(self, timestamp: int, start_offset: int) -> tuple[int, int] | None: ...
    def batches(self) -> Iterator[tuple[BatchHeader, bytes]]: ...
    def seal(self) -> None: ...
    def sync(self) -> None: ...
    def close(self) -> None: ...


def first_record_at(buf: bytes, header: BatchHeader, timestamp: int, start_offset: int) -> tuple[int, int] | None:
    """(offset, timestamp) of the first record of one batch with ts >= ``timestamp`` and offset >=
    ``start_offset`` (LogSegment.findOffsetByTimestamp scans records inside the batch)."""
    for record in decode_records(buf):
        if record.timestamp >= timestamp and record.offset >= start_offset:
            return record.offset, record.timestamp
    return None


def largest_timestamp(segment: Segment) -> int:
    """The segment's max timestamp, or its last-modified time when no batch carries one
    (Kafka's LogSegment.largestTimestamp): what retention and compaction lag compare with, so
    records produced without a timestamp (-1) are kept ``retention.ms`` after they were written."""
    return segment.max_timestamp if segment.max_timestamp >= 0 else segment.last_modified_ms


class LogSegment:
    """One ``<base>.log`` file with its ``.index`` and ``.timeindex`` (Kafka's LogSegment)."""

    def __init__(self, stem: str, base_offset: int, index_interval: int, *, create: bool = False,
                 zero_copy: bool = False) -> None:
        self.stem = stem  # path without extension: <dir>/<20-digit base offset>
        self.base_offset = base_offset
        self.index_interval = index_interval
        self.zero_copy = zero_copy  # read() returns FileRegion instead of bytes
        flags = os.O_RDWR | os.O_APPEND | (os.O_CREAT | os.O_EXCL if create else 0)
        self.fd = os.open(stem + ".log", flags, 0o644)
        self.size = os.fstat(self.fd).st_size
        self.next_offset = base_offset
        self.max_timestamp = -1
        self.offset_of_max_timestamp = base_offset
        self.rolling_timestamp: int | None = None
        self.offset_index = OffsetIndex(stem + ".index", base_offset)
        self.time_index = TimeIndex(stem + ".timeindex", base_offset)
        self._bytes_since_index = 0
        self._sealed = False

    # ------------------------------------------------------------------------------ loading
    def load_sealed(self) -> bool:
        """Open a segment below the recovery point: trust the data, check the indexes.

        Returns False when an index is missing or fails its sanity check (the caller then runs
        ``recover()``, which rebuilds both, as Kafka's LogLoader does).
        """
        if self.size == 0:
            return self.offset_index.load(0) and self.time_index.load(0)
        if not (self.offset_index.load(self.size) and self.time_index.load(self.size)):
            return False
        last, end = None, 0
        for pos, header in self._headers_from(self.offset_index.last_position()):
            last, end = header, pos + header.size
        if last is None or end != self.size:  # the batches must tile the file exactly
            return False
        self.next_offset = last.last_offset + 1
        self.max_timestamp, self.offset_of_max_timestamp = self.time_index.last_entry()
        self.rolling_timestamp = self._first_header().max_timestamp
        return True

    def recover(self) -> int:
        """Re-read the whole file, CRC-checking every batch; rebuild the indexes and truncate a
        torn or corrupt tail (LogSegment.recover). Returns the number of bytes truncated."""
        self.offset_index.reset()
        self.time_index.reset()
        self.next_offset, self.max_timestamp = self.base_offset, -1
        self.offset_of_max_timestamp, self.rolling_timestamp = self.base_offset, None
        self._bytes_since_index = 0
        pos, valid = 0, 0
        while pos < self.size:
            buf = os.pread(self.fd, min(_RECOVER_CHUNK, self.size - pos), pos)
            off = 0
            for off, header in self._checked_batches(buf, pos):
                self._track(header, pos + off)
                valid = pos + off + header.size
            if valid <= pos:
                break
            pos = valid
        truncated = self.size - valid
        if truncated:
            log.warning("%s.log: truncating %d bytes of torn or corrupt data at position %d",
                        self.stem, truncated, valid)
            os.ftruncate(self.fd, valid)
            self.size = valid
        return truncated

    def _checked_batches(self, buf: bytes, file_pos: int) -> Iterator[tuple[int, BatchHeader]]:
        """Valid batches starting in ``buf`` (a batch larger than the chunk is read on its own)."""
        off = 0
        while len(buf) - off >= HEADER_SIZE:
            try:
                header = parse_header(buf, off)
            except CorruptRecordError:
                return
            if header.base_offset < self.next_offset or header.size > self.size - (file_pos + off):
                return  # offsets must ascend; a batch cannot run past the end of the file
            whole, at = (buf, off) if off + header.size <= len(buf) else (None, 0)
            if whole is None:
                if off > 0:
                    return  # re-read from this batch as the start of the next chunk
                whole = os.pread(self.fd, header.size, file_pos)
            if not verify_crc(whole, at, header):
                return
            yield off, header
            off += header.size

    def _first_header(self) -> BatchHeader:
        return parse_header(os.pread(self.fd, HEADER_SIZE, 0))

    # ------------------------------------------------------------------------------ writing
    def append(self, data: bytes | bytearray | memoryview, header: BatchHeader) -> None:
        start = self.size
        try:
            view = memoryview(data)
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
        except OSError as exc:
            self._undo_partial_write(start)
            raise storage_error(exc, f"append to {self.stem}.log") from exc
        self.size = start + len(data)
        self._track(header, start)

    @property
    def last_modified_ms(self) -> int:
        return os.fstat(self.fd).st_mtime_ns // 1_000_000 if self.fd >= 0 else 0

    @last_modified_ms.setter
    def last_modified_ms(self, ms: int) -> None:
        os.utime(self.fd, ns=(ms * 1_000_000, ms * 1_000_000))

    def _undo_partial_write(self, start: int) -> None:
        try:
            os.ftruncate(self.fd, start)
        except OSError:  # the next recovery truncates the torn batch instead
            log.exception("cannot truncate %s.log back to %d after a failed write", self.stem, start)

    def _track(self, header: BatchHeader, position: int) -> None:
        """Index bookkeeping after a batch lands at ``position`` (LogSegment.append)."""
        if self.rolling_timestamp is None:
            self.rolling_timestamp = header.max_timestamp
        if header.max_timestamp > self.max_timestamp:
            self.max_timestamp = header.max_timestamp
            self.offset_of_max_timestamp = header.base_offset
        if self._bytes_since_index > self.index_interval or position == 0:
            self.offset_index.append(header.base_offset, position)
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
            self._bytes_since_index = 0
        self._bytes_since_index += header.size
        self.next_offset = header.last_offset + 1

    def seal(self) -> None:
        """No more appends: final time-index entry, write both indexes (LogSegment.onBecomeInactiveSegment)."""
        self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
        self.offset_index.write()
        self.time_index.write()
        self._sealed = True

    def sync(self) -> None:
        if self.fd < 0:
            return  # closed (topic deleted or log closed) while a sync was queued
        try:
            start = time.perf_counter()
            os.fdatasync(self.fd)
            FSYNC.observe(time.perf_counter() - start)
            if self._sealed:
                self.offset_index.sync()
                self.time_index.sync()
        except OSError as exc:
            raise storage_error(exc, f"fsync {self.stem}.log") from exc

    def close(self) -> None:
        if self.fd < 0:
            return
        try:
            self.offset_index.write()
            self.time_index.write()
        except OSError:
            log.exception("cannot write the indexes of %s", self.stem)
        self.offset_index.close()
        self.time_index.close()
        os.close(self.fd)
        self.fd = -1

    def delete(self) -> None:
        """Close and remove the files (retention, topic deletion)."""
        self.offset_index.close()
        self.time_index.close()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        for ext in (".log", ".index", ".timeindex"):
            try:
                os.unlink(self.stem + ext)
            except FileNotFoundError:
                pass

    # ------------------------------------------------------------------------------ reading
    def _headers_from(self, pos: int) -> Iterator[tuple[int, BatchHeader]]:
        """(position, header) of every batch from ``pos`` on, reading only small chunks."""
        end = self.size
        while end - pos >= HEADER_SIZE:
            buf = os.pread(self.fd, min(_SCAN_CHUNK, end - pos), pos)
            off = 0
            while len(buf) - off >= HEADER_SIZE:
                header = parse_header(buf, off)
                yield pos + off, header
                off += header.size
            pos += off

    def _locate(self, offset: int) -> tuple[int, BatchHeader] | None:
        """The first batch whose last offset is >= ``offset``."""
        for pos, header in self._headers_from(self.offset_index.lookup(offset)):
            if header.last_offset >= offset:
                return pos, header
        return None

    def read(self, offset: int, max_bytes: int, max_offset: int) -> tuple[bytes | FileRegion, int] | None:
        """Whole batches from the one holding ``offset``: at least one, then while they fit in
        ``max_bytes``, stopping before any batch at or past ``max_offset``. Returns (records, next offset)."""
        found = self._locate(offset)
        if found is None or found[1].base_offset >= max_offset:
            return None
        start, first = found
        if self.zero_copy:
            return self._region(start, max(max_bytes, first.size), max_offset)
        window = os.pread(self.fd, max(first.size, min(max_bytes, self.size - start)), start)
        total, next_offset = first.size, first.last_offset + 1
        while len(window) - total >= HEADER_SIZE:
            header = parse_header(window, total)
            if header.base_offset >= max_offset or total + header.size > max(max_bytes, first.size):
                break
            if total + header.size > len(window):
                break
            total += header.size
            next_offset = header.last_offset + 1
        return window[:total], next_offset

    def _region(self, start: int, max_bytes: int, max_offset: int) -> tuple[FileRegion, int]:
        """Walk headers only (the data goes out with sendfile) to size the region."""
        total, next_offset = 0, -1
        for pos, header in self._headers_from(start):
            if header.base_offset >= max_offset or total + header.size > max_bytes:
                break
            total = pos + header.size - start
            next_offset = header.last_offset + 1
        return FileRegion(self.fd, start, total), next_offset

    def find_timestamp(self, timestamp: int, start_offset: int) -> tuple[int, int] | None:
        """First record with ts >= ``timestamp`` and offset >= ``start_offset`` (TimeIndex, then scan)."""
        if self.max_timestamp < timestamp:
            return None
        from_offset = max(self.time_index.lookup(timestamp), start_offset)
        for pos, header in self._headers_from(self.offset_index.lookup(from_offset)):
            if header.max_timestamp >= timestamp and header.last_offset >= start_offset:
                found = first_record_at(os.pread(self.fd, header.size, pos), header, timestamp, start_offset)
                if found is not None:
                    return found
        return None

    def batches(self) -> Iterator[tuple[BatchHeader, bytes]]:
        """Every batch with its bytes, read sequentially in bounded chunks (for the cleaner)."""
        pos, end = 0, self.size
        while pos < end:
            buf = os.pread(self.fd, min(_RECOVER_CHUNK, end - pos), pos)
            off = 0
            while len(buf) - off >= HEADER_SIZE:
                header = parse_header(buf, off)
                if off + header.size > len(buf):
                    if off == 0:
                        yield header, os.pread(self.fd, header.size, pos)
                        off = header.size
                    break
                yield header, buf[off:off + header.size]
                off += header.size
            if off == 0:
                break  # cannot happen for a recovered segment; avoid spinning
            pos += off
