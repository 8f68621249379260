"""Parked requests: Fetch long polls, and the requests a coordinator answers later.

Kafka keeps these in purgatories (``DelayedFetch``, ``DelayedJoin``...). The coordinators are
sans-IO: a parked JoinGroup/SyncGroup hands them an asyncio future as an opaque waiter, and every
``Completion`` they return (from a request or from ``tick``) is resolved by ``deliver``.

A Fetch that found fewer than ``min_bytes`` parks with ``wait_for_data(keys, deadline_ms)``.
It is woken when a produce or a transaction marker lands on one of its partitions
(``data_arrived``), when its deadline passes on the broker's ``Clock``, or when that clock is
changed (``clock_changed``: a frozen clock has no timers, so every parked poll is woken to
re-check its deadline against the new time and park again if it is not due).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from kafkaish.clock import Clock
from kafkaish.coordinator.group_results import Completion

TopicPartition = tuple[str, int]


class LongPolls:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._by_partition: dict[TopicPartition, set[asyncio.Future[None]]] = {}
        self._parked: set[asyncio.Future[None]] = set()

    @property
    def parked(self) -> int:
        """How many Fetch long polls are parked (Kafka's Fetch purgatory size)."""
        return len(self._parked)

    def data_arrived(self, topic: str, partition: int) -> None:
        """Wake every long poll parked on (topic, partition)."""
        for fut in self._by_partition.pop((topic, partition), ()):
            _wake(fut)

    def clock_changed(self) -> None:
        """Wake every parked long poll to re-check its deadline."""
        for fut in list(self._parked):
            _wake(fut)

    async def wait_for_data(self, keys: Iterable[TopicPartition], deadline_ms: int) -> None:
        """Return when data arrives on any of ``keys``, at ``deadline_ms``, or when the clock changes."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        keys = list(keys)
        for k in keys:
            self._by_partition.setdefault(k, set()).add(fut)
        self._parked.add(fut)
        # A frozen clock fires no timer: only data, or a change of the clock, ends the wait.
        timeout = None if self.clock.frozen else max(deadline_ms - self.clock.now_ms(), 1) / 1000
        try:
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            self._parked.discard(fut)
            for k in keys:
                s = self._by_partition.get(k)
                if s is not None:
                    s.discard(fut)
                    if not s:
                        del self._by_partition[k]


def deliver(completions: Iterable[Completion]) -> None:
    """Resolve the futures of parked requests (a future whose client went away may be cancelled)."""
    for completion in completions:
        future = completion.waiter
        if isinstance(future, asyncio.Future) and not future.done():
            future.set_result(completion.result)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
