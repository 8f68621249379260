"""Durable small key-value stores for coordinators (``StorageEngine.state_store(name)``), file engine.

One append-only file per store, ``<data dir>/__state/<name>.kv``; each ``put`` appends a record
and the whole map is rebuilt by replaying the file on open (the maps are small: committed
offsets, transaction metadata). When the file grows past 4x its live size (and 1 MiB) it is
rewritten atomically (write temp, fsync, rename, fsync dir).

Record layout, big-endian: ``uint32 crc32c(rest), uint32 len(rest)``, then rest =
``uint16 key length, utf-8 key, int32 value length (-1 = deleted), value``. A torn or corrupt
tail (crash mid-append) ends the replay and is truncated with a warning.

Durability follows the engine's fsync policy: with ``always`` a put returns after fdatasync
(or at the end of the caller's ``group_commit()`` block).
"""

from __future__ import annotations

import logging
import os
import struct
import threading

from kafkaish.storage.fsutil import atomic_write, storage_error
from kafkaish.storage.sync import SyncPolicy
from kafkaish.storage.types import StateStore
from kafkaish.wire import records  # records.crc32c: the crc32c package, imported on first use

log = logging.getLogger(__name__)

_FRAME = struct.Struct(">II")
_KEY_LEN = struct.Struct(">H")
_VALUE_LEN = struct.Struct(">i")
_COMPACT_MIN_BYTES = 1 << 20


def encode_put(key: str, value: bytes | None) -> bytes:
    k = key.encode("utf-8")
    rest = _KEY_LEN.pack(len(k)) + k + _VALUE_LEN.pack(-1 if value is None else len(value)) + (value or b"")
    return _FRAME.pack(records.crc32c(rest), len(rest)) + rest


def replay(data: bytes) -> tuple[dict[str, bytes], int]:
    """The map stored in ``data`` and the length of its valid prefix."""
    items: dict[str, bytes] = {}
    pos = 0
    while len(data) - pos >= _FRAME.size:
        crc, length = _FRAME.unpack_from(data, pos)
        rest = data[pos + _FRAME.size:pos + _FRAME.size + length]
        if len(rest) != length or records.crc32c(rest) != crc or length < _KEY_LEN.size + _VALUE_LEN.size:
            break
        (klen,) = _KEY_LEN.unpack_from(rest, 0)
        key = rest[2:2 + klen].decode("utf-8", "replace")
        (vlen,) = _VALUE_LEN.unpack_from(rest, 2 + klen)
        if vlen < 0:
            items.pop(key, None)
        else:
            items[key] = bytes(rest[6 + klen:6 + klen + vlen])
        pos += _FRAME.size + length
    return items, pos


class FileStateStore(StateStore):
    def __init__(self, path: str, sync_policy: SyncPolicy) -> None:
        self.path = path
        self.sync_policy = sync_policy
        self._lock = threading.Lock()
        data = b""
        if os.path.exists(path):
            with open(path, "rb") as f:
                data = f.read()
        self._items, valid = replay(data)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        if valid < len(data):
            log.warning("%s: truncating %d bytes of torn or corrupt data", path, len(data) - valid)
            os.ftruncate(self._fd, valid)
        self._size = valid
        self._live = sum(len(encode_put(k, v)) for k, v in self._items.items())

    def put(self, key: str, value: bytes | None) -> None:
        record = encode_put(key, None if value is None else bytes(value))
        with self._lock:
            try:
                os.write(self._fd, record)
            except OSError as exc:
                try:
                    os.ftruncate(self._fd, self._size)
                except OSError:  # replay stops at the torn record on the next open
                    log.exception("cannot truncate %s after a failed write", self.path)
                raise storage_error(exc, f"write {self.path}") from exc
            self._size += len(record)
            old = self._items.pop(key, None)
            if old is not None:
                self._live -= len(encode_put(key, old))
            if value is not None:
                self._items[key] = bytes(value)
                self._live += len(record)
            if self._size > _COMPACT_MIN_BYTES and self._size > 4 * self._live:
                self._compact()
        self.sync_policy.wrote(self)

    def _compact(self) -> None:
        data = b"".join(encode_put(k, v) for k, v in self._items.items())
        atomic_write(self.path, data, fsync=True)
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        self._size = self._live = len(data)

    def items(self) -> dict[str, bytes]:
        with self._lock:
            return dict(self._items)

    def sync(self) -> None:
        with self._lock:
            if self._fd >= 0:
                try:
                    os.fdatasync(self._fd)
                except OSError as exc:
                    raise storage_error(exc, f"fsync {self.path}") from exc

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1
