"""When written data is fsynced: ``SyncPolicy``, the ``fsync`` option of ``open_engine``
(``always`` | ``interval`` | ``never``; what each mode guarantees is in ``kafkaish.storage.file``)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Protocol

FSYNC_MODES = ("always", "interval", "never")
_NOTHING = contextlib.nullcontext()


class Syncable(Protocol):
    def sync(self) -> None: ...


class SyncPolicy:
    """Decides when written data is fsynced: the ``fsync`` option of ``open_engine``.

    ``always``: ``wrote(obj)`` syncs ``obj`` before returning, unless the calling thread is inside
    ``group_commit()``; then it is queued and synced once when the outermost block exits (one
    fdatasync per touched file for a whole event-loop batch of produce requests), or, with
    ``group_commit(defer=True)``, by the caller's next ``sync_all()``, typically on a worker thread
    (the server's ``kafkaish.flusher``); the high watermark waits for it (``PartitionLog``).
    ``interval``: queued; ``sync_due(now_ms)`` (called by run_maintenance) syncs every
    ``interval_ms``. ``never``: queued and only synced by ``sync_all()`` (flush/close).
    """

    def __init__(self, mode: str = "interval", interval_ms: int = 1000) -> None:
        if mode not in FSYNC_MODES:
            raise ValueError(f"fsync must be one of {FSYNC_MODES}, not {mode!r}")
        self.mode = mode
        self.interval_ms = interval_ms
        self._dirty: dict[int, Syncable] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._last_sync_ms = 0

    def wrote(self, obj: Syncable) -> None:
        if self.mode == "always" and not getattr(self._local, "depth", 0):
            obj.sync()
            return
        with self._lock:
            self._dirty[id(obj)] = obj

    def forget(self, obj: Syncable) -> None:
        with self._lock:
            self._dirty.pop(id(obj), None)

    def group_commit(self, defer: bool = False) -> contextlib.AbstractContextManager[None]:
        if self.mode != "always":  # nothing to group: wrote() only queues (once per Produce request)
            return _NOTHING
        return self._group_commit(defer)

    @contextlib.contextmanager
    def _group_commit(self, defer: bool) -> Iterator[None]:
        self._local.depth = getattr(self._local, "depth", 0) + 1
        try:
            yield
        finally:
            self._local.depth -= 1
            if self._local.depth == 0 and self.mode == "always" and not defer:
                self.sync_all()

    def sync_due(self, now_ms: int) -> None:
        if self.mode == "interval" and now_ms - self._last_sync_ms >= self.interval_ms:
            self._last_sync_ms = now_ms
            self.sync_all()

    def sync_all(self) -> list[Syncable]:
        """Sync everything written since the last sync; returns what was synced. Safe on a worker
        thread while appends go on: what is written meanwhile is queued for the next call."""
        with self._lock:
            pending = list(self._dirty.values())
            self._dirty.clear()
        first_error: Exception | None = None
        for obj in pending:  # sync everything we can, then report the first failure
            try:
                obj.sync()
            except Exception as exc:  # noqa: BLE001 - re-raised below
                first_error = first_error or exc
        if first_error is not None:
            raise first_error
        return pending
