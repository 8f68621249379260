"""File-system helpers every file-backed storage module shares: crash-safe replace, directory
fsync, and the mapping of an ``OSError`` to Kafka's KAFKA_STORAGE_ERROR."""

from __future__ import annotations

import errno
import os

from kafkaish.wire.errors import ErrorCode, KafkaError


def storage_error(exc: OSError, what: str) -> KafkaError:
    """KAFKA_STORAGE_ERROR naming the failed operation and the OS reason (ENOSPC, EIO...)."""
    return KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, f"{what}: {os.strerror(exc.errno or errno.EIO)}")


def fsync_dir(path: str) -> None:
    """Make a directory's entries (new, renamed or deleted files) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str, data: bytes, *, fsync: bool = True) -> None:
    """Replace ``path`` with ``data`` so a crash leaves the old or the new content, never a mix."""
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if fsync:
            fsync_dir(os.path.dirname(path) or ".")
    except OSError as exc:
        raise storage_error(exc, f"write {path}") from exc
