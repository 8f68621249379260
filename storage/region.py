"""``FileRegion``: a zero-copy read result (``kafkaish.wire.zerocopy.RecordsView``) over a segment file."""

from __future__ import annotations

import os

from kafkaish.wire.zerocopy import FileSpan


class FileRegion:
    """Whole batches at ``[offset, offset + count)`` of a segment file.

    It holds its own ``os.dup`` of the segment's descriptor, so the region stays valid (the
    kernel keeps an unlinked file's data) if retention deletes or the cleaner replaces the
    segment before the response is sent; the dup is closed when the region is dropped.
    """

    __slots__ = ("fd", "offset", "count")

    def __init__(self, fd: int, offset: int, count: int) -> None:
        self.fd = os.dup(fd)
        self.offset = offset
        self.count = count

    def __len__(self) -> int:
        return self.count

    def write_to(self, chunks: list[bytes | FileSpan]) -> None:
        chunks.append(FileSpan(self.fd, self.offset, self.count))

    def __bytes__(self) -> bytes:
        data = os.pread(self.fd, self.count, self.offset)
        if len(data) != self.count:
            raise OSError(f"short read from fd {self.fd}: {len(data)} of {self.count}")
        return data

    def __del__(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def as_bytes(records: bytes | FileRegion) -> bytes:
    """The bytes of a read result, whichever form it has."""
    return records if isinstance(records, bytes) else bytes(records)
