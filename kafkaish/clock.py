"""The one clock every timer of a broker reads (Kafka's ``Time``, with ``MockTime``'s controls).

``Clock.now_ms()`` is wall-clock milliseconds by default. A test or the control plane can
``freeze()`` it, ``advance(ms)`` it and return it to the ``system()`` time; every change is
announced to the listeners (the broker runs its coordinator timers at once and wakes parked
Fetch long polls, which re-check their deadline against the new time). Coordinators, storage
maintenance, LogAppendTime and the Fetch long poll all take their time from here, so a frozen
clock stops every timer and ``advance`` fires exactly what is due.

Not thread-safe by design: like everything a broker owns, change it on the broker's event loop
thread (``EmbeddedBroker.call``), so listeners run where the state they touch lives.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Listener = Callable[[], None]


class Clock:
    """Milliseconds since the epoch: the system's (shifted by any ``advance``), or frozen."""

    def __init__(self) -> None:
        self._frozen_ms: int | None = None
        self._offset_ms = 0
        self._listeners: list[Listener] = []

    def now_ms(self) -> int:
        if self._frozen_ms is not None:
            return self._frozen_ms
        return int(time.time() * 1000) + self._offset_ms

    @property
    def frozen(self) -> bool:
        return self._frozen_ms is not None

    def freeze(self, at_ms: int | None = None) -> int:
        """Stop the clock (at ``at_ms``, or now); returns the frozen time."""
        self._frozen_ms = self.now_ms() if at_ms is None else at_ms
        self._changed()
        return self._frozen_ms

    def advance(self, ms: int) -> int:
        """Move time forward by ``ms`` (frozen or not) and run what became due; returns the new time."""
        if ms < 0:
            raise ValueError(f"a clock only moves forward (advance by {ms} ms)")
        if self._frozen_ms is not None:
            self._frozen_ms += ms
        else:
            self._offset_ms += ms
        self._changed()
        return self.now_ms()

    def system(self) -> int:
        """Follow the system clock again (dropping any advance); returns the time."""
        self._frozen_ms = None
        self._offset_ms = 0
        self._changed()
        return self.now_ms()

    def add_listener(self, fn: Listener) -> None:
        """``fn()`` runs after every freeze, advance and system call."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _changed(self) -> None:
        for fn in list(self._listeners):
            fn()
