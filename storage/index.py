"""Sparse per-segment indexes: ``OffsetIndex`` (offset -> file position) and ``TimeIndex``
(timestamp -> offset), Kafka's OffsetIndex / TimeIndex.

File layouts (big-endian, fixed-size entries, ascending):
  ``<base>.index``      int32 relative offset (batch base offset - segment base), int32 position
  ``<base>.timeindex``  int64 max timestamp so far, int32 relative offset of that timestamp's batch

One entry is added every ``index.interval.bytes`` of appended data, so an index is ~1/500 of its
segment. The active segment's index lives in a bytearray and is written out when the segment is
sealed or closed; a sealed index is memory-mapped, so a lookup (a binary search) touches only a
few pages and RSS stays flat. The mapping keeps no file descriptor (Kafka's indexes neither):
Python < 3.13 cannot map without keeping a duplicate fd, so there the sealed index is read into
memory instead (~0.2% of the segment's size), which keeps a restarted broker at one fd per segment. Indexes are derived data: a missing or damaged index file is
rebuilt from its segment on start, so they are never fsynced ahead of their segment data.
"""

from __future__ import annotations

import mmap
import os
import struct
import sys

_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")
_MAP_WITHOUT_FD = sys.version_info >= (3, 13)  # mmap(trackfd=False)


def _read_only_view(path: str) -> mmap.mmap | bytes:
    """The file's bytes, mapped where that holds no fd, else read (issue #16.6)."""
    with open(path, "rb") as f:
        if _MAP_WITHOUT_FD:
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ, trackfd=False)  # type: ignore[call-arg]
        return f.read()


class _SparseIndex:
    """Sorted fixed-size entries in a bytearray (mutable) or an mmap (sealed)."""

    entry: struct.Struct

    def __init__(self, path: str, base_offset: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self._buf: bytearray | bytes | mmap.mmap = bytearray()
        self._dirty = True

    def __len__(self) -> int:
        return len(self._buf) // self.entry.size

    def _get(self, i: int) -> tuple[int, int]:
        return self.entry.unpack_from(self._buf, i * self.entry.size)  # type: ignore[return-value]

    def _append(self, a: int, b: int) -> None:
        if not isinstance(self._buf, bytearray):
            data = bytearray(self._buf)
            self.close()
            self._buf = data
        self._buf += self.entry.pack(a, b)
        self._dirty = True

    def _floor(self, key: int, field: int) -> int:
        """Index of the last entry whose ``field`` is <= key, or -1."""
        lo, hi = 0, len(self)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._get(mid)[field] <= key:
                lo = mid + 1
            else:
                hi = mid
        return lo - 1

    def reset(self) -> None:
        self.close()
        self._buf = bytearray()
        self._dirty = True

    def load(self, segment_size: int) -> bool:
        """Map the index file; False when it is missing or fails the sanity check."""
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return False
        if size % self.entry.size:
            return False
        if size:
            self._buf = _read_only_view(self.path)
        self._dirty = False
        return len(self) == 0 or self._sane(segment_size)

    def _sane(self, segment_size: int) -> bool:
        raise NotImplementedError

    def write(self) -> None:
        """Write the entries out (whole file) and switch to a read-only mapping."""
        if not self._dirty:
            return
        with open(self.path, "wb") as f:
            f.write(self._buf)
        self._dirty = False
        if isinstance(self._buf, bytearray) and self._buf:
            self._buf = _read_only_view(self.path) if _MAP_WITHOUT_FD else bytes(self._buf)

    def sync(self) -> None:
        if os.path.exists(self.path):
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def close(self) -> None:
        if isinstance(self._buf, mmap.mmap):
            self._buf.close()
        if not isinstance(self._buf, bytearray):
            self._buf = bytearray()


class OffsetIndex(_SparseIndex):
    entry = _OFFSET_ENTRY

    def append(self, offset: int, position: int) -> None:
        self._append(offset - self.base_offset, position)

    def lookup(self, offset: int) -> int:
        """File position of the last indexed batch starting at or before ``offset`` (0 if none)."""
        i = self._floor(offset - self.base_offset, 0)
        return 0 if i < 0 else self._get(i)[1]

    def last_position(self) -> int:
        return self._get(len(self) - 1)[1] if len(self) else 0

    def _sane(self, segment_size: int) -> bool:
        first_rel, first_pos = self._get(0)
        last_rel, last_pos = self._get(len(self) - 1)
        return 0 <= first_rel <= last_rel and 0 <= first_pos <= last_pos < segment_size


class TimeIndex(_SparseIndex):
    entry = _TIME_ENTRY

    def maybe_append(self, timestamp: int, offset: int) -> None:
        """Add an entry only when the max timestamp grew (TimeIndex.maybeAppend)."""
        if len(self) and self._get(len(self) - 1)[0] >= timestamp:
            return
        self._append(timestamp, offset - self.base_offset)

    def lookup(self, timestamp: int) -> int:
        """Offset of the last entry with timestamp <= target: every batch before it has a smaller
        max timestamp, so a scan for ``timestamp`` may start there (base offset if none)."""
        i = self._floor(timestamp, 0)
        return self.base_offset if i < 0 else self.base_offset + self._get(i)[1]

    def last_entry(self) -> tuple[int, int]:
        if not len(self):
            return -1, self.base_offset
        ts, rel = self._get(len(self) - 1)
        return ts, self.base_offset + rel

    def _sane(self, segment_size: int) -> bool:
        return self._get(0)[1] >= 0 and self._get(0)[0] <= self._get(len(self) - 1)[0]
