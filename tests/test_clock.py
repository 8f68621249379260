"""The broker clock: system time by default, frozen and advanced on demand, changes announced."""

from __future__ import annotations

import time

import pytest

from kafkaish.clock import Clock


def test_system_clock_follows_wall_time() -> None:
    clock = Clock()
    before = int(time.time() * 1000)
    assert before <= clock.now_ms() <= int(time.time() * 1000)
    assert not clock.frozen


def test_frozen_clock_moves_only_when_advanced() -> None:
    clock = Clock()
    at = clock.freeze(1_000)
    assert at == 1_000 and clock.frozen
    time.sleep(0.01)
    assert clock.now_ms() == 1_000
    assert clock.advance(250) == 1_250 == clock.now_ms()


def test_advance_of_a_running_clock_shifts_it_until_system() -> None:
    clock = Clock()
    shifted = clock.advance(3_600_000)
    assert shifted >= int(time.time() * 1000) + 3_599_000
    assert clock.system() < shifted - 3_000_000


def test_every_change_is_announced_to_listeners() -> None:
    clock = Clock()
    seen: list[int] = []

    def listener() -> None:
        seen.append(clock.now_ms())

    clock.add_listener(listener)
    clock.freeze(10)
    clock.advance(5)
    clock.remove_listener(listener)
    clock.advance(5)
    assert seen == [10, 15]


def test_a_clock_never_goes_backwards_by_advance() -> None:
    with pytest.raises(ValueError):
        Clock().advance(-1)
