"""fsync=always without blocking the event loop: group commit on a worker thread.

Theory of operation. A Produce request appends inside ``storage.group_commit(defer=True)``, so
its appends only queue their logs for an fsync, then awaits ``Flusher.durable()`` before it
answers. One fsync pass runs at a time, on the flusher's own thread: it takes every waiter
registered before it started, fsyncs every log written since the previous pass
(``storage.sync_pending``), then releases those waiters and wakes the Fetch long polls of the
synced partitions. Waiters that arrive during a pass wait for the next one, which starts as
soon as the current one ends, so every request waits for at most two passes, and all requests
that arrive during one fsync share the next (group commit across connections).

Why a waiter must not be released by a pass that started before it registered: that pass may
have taken the list of dirty logs before this request wrote. Passes are serial, so when the
pass after registration ends, everything written before registration is on disk.

Meanwhile the high watermark of each log stays at its recovery point (``PartitionLog``), so a
consumer never reads a record that is not yet durable, as Kafka with ``flush.messages=1``. A
failed fsync fails every request waiting on that pass (they answer KAFKA_STORAGE_ERROR) and the
log refuses appends from then on, as before.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any


class Flusher:
    """The fsync=always group commit of one storage engine (shared by every broker over it)."""

    def __init__(self, storage: Any, data_arrived: Callable[[str, int], None]) -> None:
        self._storage = storage
        self._data_arrived = data_arrived
        self._waiters: list[asyncio.Future[None]] = []
        self._running = False
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    @property
    def active(self) -> bool:
        """Whether acks wait for an fsync (fsync=always)."""
        return bool(self._storage.acks_wait_for_sync)

    async def durable(self) -> None:
        """Return once everything appended before this call is fsynced (at once unless fsync=always).
        Raises the KafkaError of a failed fsync. Cancelling the wait leaves the fsync running."""
        if not self.active:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if not self._running:
            self._start()
        await waiter

    def _start(self) -> None:
        self._running = True
        waiters, self._waiters = self._waiters, []
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kafkaish-fsync")
        done = asyncio.get_running_loop().run_in_executor(self._executor, self._storage.sync_pending)
        done.add_done_callback(lambda f: self._finished(f, waiters))

    def _finished(self, done: asyncio.Future[list[Any]], waiters: list[asyncio.Future[None]]) -> None:
        self._running = False
        error = done.exception() if not done.cancelled() else asyncio.CancelledError()
        if error is None:
            for log in done.result():
                self._data_arrived(log.topic, log.partition)
        for waiter in waiters:
            if not waiter.done():  # a request whose connection went away no longer waits
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)
        if self._waiters:
            self._start()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
