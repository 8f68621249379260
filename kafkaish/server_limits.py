"""What the server bounds per connection and across connections, and its rate-limited log.

- ``RequestMemory`` is Kafka's ``queued.max.request.bytes`` memory pool, as bytes buffered
  for requests not yet handled: a connection holding more than ``SMALL_PENDING`` bytes stops
  being read while the *other* connections fill the pool (Kafka mutes the channel), except the
  one connection admitted to finish its big request, so a few clients sending huge frames
  slowly cannot grow the broker without limit (at most the bound plus one largest request),
  small requests of other clients are never held up by them, and big requests arriving
  together are served one after the other (no deadlock).
- ``ConnectionQuotas`` is Kafka's ``ConnectionQuotas``: ``max.connections`` (the acceptor
  waits for a free slot) and ``max.connections.per.ip`` (a new connection over it is closed).
- ``RateLimitedLog`` writes at most a few lines per interval for a kind of event and then a
  count of the suppressed ones, so a flood of bad frames cannot flood the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

SMALL_PENDING = 64 * 1024  # bytes a connection may buffer whatever the pool holds


class RateLimitedLog:
    """At most ``burst`` lines per ``interval_s`` per key; then one line counting the rest."""

    def __init__(self, logger: logging.Logger, interval_s: float = 10.0, burst: int = 5) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.burst = burst
        self._windows: dict[str, list[float | int]] = {}  # key -> [window start, lines, suppressed]

    def log(self, level: int, key: str, msg: str, *args: object) -> None:
        now = time.monotonic()
        w = self._windows.get(key)
        if w is None or now - w[0] >= self.interval_s:
            if w is not None and w[2]:
                self.logger.log(level, "%d more like %r in the last %.0f s (not logged)", w[2], key,
                                now - w[0])
            w = self._windows[key] = [now, 0, 0]
        if w[1] < self.burst:
            w[1] += 1
            self.logger.log(level, msg, *args)
        else:
            w[2] += 1


class RequestMemory:
    """Bytes buffered for unhandled requests over all connections (``queued.max.request.bytes``)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit  # <= 0: unbounded, as Kafka's -1
        self.used = 0
        self.admitted: object | None = None
        self._waiting: list[Callable[[], None]] = []

    def may_grow(self, holder: object, own: int) -> bool:
        """Whether ``holder`` (holding ``own`` bytes) may read more now: yes while the others'
        bytes stay under the bound; beyond it, one holder at a time is admitted until its big
        request is complete (Kafka's pool hands a whole frame to one channel), so a few big
        requests arriving together are served one after the other instead of all waiting."""
        if not 0 < self.limit <= self.used - own:
            return True
        if self.admitted is None:
            self.admitted = holder
        return self.admitted is holder

    def release(self, holder: object) -> None:
        """``holder`` has no big request in progress any more."""
        if self.admitted is holder:
            self.admitted = None
            self._wake()

    def room(self) -> int:
        """Bytes that may still be taken before the bound (unbounded: a large number)."""
        return self.limit - self.used if self.limit > 0 else 1 << 62

    def change(self, delta: int) -> None:
        self.used += delta
        if delta < 0:
            self._wake()

    def _wake(self) -> None:
        if self._waiting:
            waiting, self._waiting = self._waiting, []
            for resume in waiting:  # each checks again, and waits again if it must
                resume()

    def wait(self, resume: Callable[[], None]) -> None:
        """Call ``resume()`` when the pool shrinks or admission passes on."""
        if resume not in self._waiting:
            self._waiting.append(resume)


class ConnectionQuotas:
    def __init__(self, max_connections: int, max_per_ip: int) -> None:
        self.max_connections = max_connections
        self.max_per_ip = max_per_ip
        self.total = 0
        self.per_ip: dict[str, int] = {}
        self._slot_free = asyncio.Event()

    def try_add(self, host: str) -> bool:
        """Count a new connection from ``host``; False if ``max.connections.per.ip`` is reached."""
        n = self.per_ip.get(host, 0)
        if n >= self.max_per_ip:
            return False
        self.per_ip[host] = n + 1
        self.total += 1
        return True

    def remove(self, host: str) -> None:
        n = self.per_ip.get(host, 0) - 1
        if n > 0:
            self.per_ip[host] = n
        else:
            self.per_ip.pop(host, None)
        self.total -= 1
        if self.total < self.max_connections:
            self._slot_free.set()

    async def wait_for_slot(self) -> None:
        """Return when fewer than ``max.connections`` are open (Kafka's Acceptor waits too)."""
        while self.total >= self.max_connections:
            self._slot_free.clear()
            await self._slot_free.wait()
