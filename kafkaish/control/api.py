"""The control plane from Python, without HTTP: mixed into ``kafkaish.testing.EmbeddedBroker``.

    kb.faults.add(api="Produce", error="NOT_LEADER_OR_FOLLOWER", times=1)  # -> rule id
    kb.inspect.topic("orders")["partitions"][0]["high_watermark"]
    kb.clock.freeze(); kb.clock.advance(61_000)
    kb.reset(); kb.snapshot(path); kb.restore(path)

Every call runs on the broker's event loop thread (``call``), so it is safe while clients run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from kafkaish.control.plane import ControlPlane

T = TypeVar("T")


class _OnLoop:
    def __init__(self, owner: ControlAPI) -> None:
        self._owner = owner

    def _run(self, fn: Callable[[ControlPlane], T]) -> T:
        return self._owner._on_plane(fn)


class Faults(_OnLoop):
    """Fault rules (``kafkaish.faults``): ``add(**rule) -> id``, ``list()``, ``remove(id)``, ``clear()``."""

    def add(self, rule: dict[str, Any] | None = None, **fields: Any) -> int:
        return self._run(lambda p: p.broker.faults.add(rule, **fields).id)

    def list(self) -> list[dict[str, Any]]:
        return self._run(lambda p: p.broker.faults.list())

    def remove(self, rule_id: int) -> bool:
        return self._run(lambda p: p.broker.faults.remove(rule_id))

    def clear(self) -> int:
        return self._run(lambda p: p.broker.faults.clear())


class Inspect(_OnLoop):
    """Read-only views of the broker's state (the same JSON as the GET routes)."""

    def topics(self) -> list[dict[str, Any]]:
        return self._run(lambda p: p.topics())

    def topic(self, name: str) -> dict[str, Any]:
        return self._run(lambda p: p.topic(name))

    def records(self, topic: str, partition: int = 0, offset: int | None = None, limit: int = 100,
                encoding: str | None = None) -> list[dict[str, Any]]:
        return self._run(lambda p: p.records(topic, partition, offset, limit, encoding))["records"]

    def groups(self) -> list[dict[str, Any]]:
        return self._run(lambda p: p.groups())

    def group(self, group_id: str) -> dict[str, Any]:
        return self._run(lambda p: p.group(group_id))

    def producers(self) -> list[dict[str, Any]]:
        return self._run(lambda p: p.producers())

    def transactions(self) -> list[dict[str, Any]]:
        return self._run(lambda p: p.transactions())


class ClockControl(_OnLoop):
    """The broker clock: ``freeze()``, ``advance(ms)`` (runs what became due), ``system()``, ``now_ms()``."""

    def now_ms(self) -> int:
        return self._run(lambda p: p.clock()["now_ms"])

    def state(self) -> dict[str, Any]:
        return self._run(lambda p: p.clock())

    def freeze(self, at_ms: int | None = None) -> int:
        return self._run(lambda p: p.set_clock("frozen", at_ms)["now_ms"])

    def system(self) -> int:
        return self._run(lambda p: p.set_clock("system")["now_ms"])

    def advance(self, ms: int) -> int:
        return self._run(lambda p: p.advance(ms)["now_ms"])


class ControlAPI:
    """Mixin for a broker handle that has ``broker`` and ``call(fn)``."""

    broker: Any
    call: Callable[..., Any]
    _loop: Any
    external = False  # the pytest plugin's ExternalBroker says True

    def _on_plane(self, fn: Callable[[ControlPlane], T]) -> T:
        return self.call(lambda: fn(ControlPlane(self.broker)))

    def _await_on_plane(self, fn: Callable[[ControlPlane], Awaitable[T]], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(fn(ControlPlane(self.broker)), self._loop).result(timeout)

    @property
    def faults(self) -> Faults:
        return Faults(self)

    @property
    def inspect(self) -> Inspect:
        return Inspect(self)

    @property
    def clock(self) -> ClockControl:
        return ClockControl(self)

    def reset(self, *, topics: list[str] | None = None, groups: list[str] | None = None,
              transactional_ids: list[str] | None = None) -> dict[str, list[str]]:
        """Forget every topic, group, transaction and fault rule (or only the named ones)."""
        spec = {k: v for k, v in (("topics", topics), ("groups", groups), ("transactional_ids", transactional_ids))
                if v is not None}
        return self._await_on_plane(lambda p: p.reset(spec))

    def snapshot(self, path: Any) -> dict[str, Any]:
        return self._on_plane(lambda p: p.snapshot(str(path)))

    def restore(self, path: Any) -> dict[str, Any]:
        return self._await_on_plane(lambda p: p.restore(str(path)))

    def brokers(self) -> list[dict[str, Any]]:
        """Every broker of the cluster: node id, host, port, up, controller."""
        return self._on_plane(lambda p: p.brokers())

    def stop_broker(self, node_id: int, ms: int | None = None) -> None:
        """Stop one broker of the cluster: its listener closes, its leaderships and coordinators move."""
        self._on_plane(lambda p: p.stop_broker(node_id, ms))

    def start_broker(self, node_id: int, timeout: float = 10) -> None:
        """Start a stopped broker again: it listens and rejoins the ISR of its partitions."""
        self._on_plane(lambda p: p.start_broker(node_id))
        deadline = time.monotonic() + timeout
        while self.call(lambda: any(s.down for s in self.broker.shared.brokers[node_id].listeners)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"broker {node_id}'s listener did not come back")
            time.sleep(0.01)

    def move_leader(self, topic: str, partition: int, node_id: int) -> dict[str, Any]:
        """Move the partition's leadership to ``node_id`` (a live in-sync replica); returns its state."""
        return self._on_plane(lambda p: p.move_leader(topic, partition, node_id))

    def down(self, ms: int | None = None) -> None:
        """Broker down: listeners refuse connections and close open ones (for ``ms``, or until ``up()``)."""
        self._on_plane(lambda p: p.stop_broker(p.broker.node_id, ms))

    def up(self, timeout: float = 10) -> None:
        self._on_plane(lambda p: p.start_broker(p.broker.node_id))
        deadline = time.monotonic() + timeout
        while self.call(lambda: any(s.down for s in self.broker.listeners)):
            if time.monotonic() > deadline:
                raise TimeoutError("the broker's listeners did not come back")
            time.sleep(0.01)
