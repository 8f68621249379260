"""The control plane's operations on one broker, shared by the HTTP routes and the Python API.

Everything here runs on the broker's event loop thread. Validation errors raise ``BadInput``
naming the field, unknown names raise ``NotFound``; the HTTP app maps them to 400 and 404.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from kafkaish.control import inspect as views
from kafkaish.control import state
from kafkaish.control.inspect import NotFound
from kafkaish.wire.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kafkaish.broker import Broker

__all__ = ["BadInput", "ControlPlane", "NotFound"]


class BadInput(ValueError):
    """A request parameter is wrong; ``field`` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


def _names(spec: dict[str, Any], key: str) -> list[str] | None:
    v = spec.get(key)
    if v is None:
        return None
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise BadInput(key, "must be a list of names")
    return v


class ControlPlane:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    # ------------------------------------------------------------------ inspection
    def health(self) -> dict[str, Any]:
        listeners = [{"host": s.host, "port": s.port, "down": s.down} for s in self.broker.listeners]
        return {"status": "ok", "node_id": self.broker.node_id, "cluster_id": self.broker.cluster_id,
                "listeners": listeners}

    def brokers(self) -> list[dict[str, Any]]:
        """Every broker of the (simulated) cluster, with its listener state."""
        cluster = self.broker.cluster
        out = []
        for node, b in sorted(self.broker.shared.brokers.items()):
            out.append({"node_id": node, "host": b.advertised_host, "port": b.advertised_port,
                        "up": cluster.is_live(node) and any(not s.down for s in b.listeners),
                        "controller": node == cluster.controller()})
        return out

    def _member(self, node_id: int) -> Broker:
        member = self.broker.shared.brokers.get(node_id)
        if member is None:
            raise NotFound(f"broker {node_id} not found")
        return member

    def stop_broker(self, node_id: int, ms: int | None = None) -> dict[str, Any]:
        """Broker down: refuse new connections, close open ones; its leaderships move to live ISR
        replicas (or go offline) and its coordinators to other nodes. Back after ``ms`` if given."""
        member = self._member(node_id)
        if ms is not None and (isinstance(ms, bool) or not isinstance(ms, int) or ms < 0):
            raise BadInput("ms", "must be an integer >= 0")
        if len(self.broker.shared.brokers) > 1:
            self.broker.cluster.stop(node_id)
            if ms is not None:
                asyncio.get_running_loop().call_later(ms / 1000, self.broker.cluster.start, node_id)
        member.faults.down(ms)
        return {"node_id": node_id, "up": False, "back_in_ms": ms}

    def start_broker(self, node_id: int) -> dict[str, Any]:
        member = self._member(node_id)
        if len(self.broker.shared.brokers) > 1:
            self.broker.cluster.start(node_id)
        member.faults.up()
        return {"node_id": node_id, "up": True}

    def move_leader(self, topic: str, partition: int, node_id: Any) -> dict[str, Any]:
        """Make ``node_id`` the leader of the partition (a live replica in its ISR); the epoch grows."""
        if isinstance(node_id, bool) or not isinstance(node_id, int):
            raise BadInput("broker", "must be a node id")
        try:
            st = self.broker.cluster.move_leader(topic, partition, node_id)
        except KafkaError as e:
            if e.code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
                raise NotFound(e.message or "unknown partition") from None
            raise BadInput("broker", e.message or e.code.name) from None
        return {"topic": topic, "partition": partition, "leader": st.leader, "leader_epoch": st.epoch,
                "replicas": list(st.replicas), "isr": list(st.isr)}

    def topics(self) -> list[dict[str, Any]]:
        return views.topics(self.broker)

    def topic(self, name: str) -> dict[str, Any]:
        return views.topic(self.broker, name)

    def records(self, topic: str, partition: int, offset: int | None = None, limit: int = 100,
                encoding: str | None = None) -> dict[str, Any]:
        if not isinstance(limit, int) or not 1 <= limit <= views.MAX_RECORDS:
            raise BadInput("limit", f"must be an integer in [1, {views.MAX_RECORDS}]")
        if offset is not None and (not isinstance(offset, int) or offset < 0):
            raise BadInput("offset", "must be an integer >= 0")
        if encoding not in (None, "auto", "base64"):
            raise BadInput("encoding", "must be 'auto' or 'base64'")
        return views.records(self.broker, topic, partition, offset, limit, encoding == "base64")

    def groups(self) -> list[dict[str, Any]]:
        return views.groups(self.broker)

    def group(self, group_id: str) -> dict[str, Any]:
        return views.group(self.broker, group_id)

    def producers(self) -> list[dict[str, Any]]:
        return views.producers(self.broker)

    def transactions(self) -> list[dict[str, Any]]:
        return views.transactions(self.broker)

    # ------------------------------------------------------------------ state
    async def reset(self, spec: dict[str, Any] | None = None) -> dict[str, Any]:
        spec = spec or {}
        unknown = sorted(set(spec) - {"topics", "groups", "transactional_ids"})
        if unknown:
            raise BadInput(unknown[0], "unknown field (known: topics, groups, transactional_ids)")
        return await state.reset(self.broker, _names(spec, "topics"), _names(spec, "groups"),
                                 _names(spec, "transactional_ids"))

    def snapshot(self, path: Any) -> dict[str, Any]:
        if not isinstance(path, str) or not path:
            raise BadInput("path", "must be a file or directory path")
        try:
            return state.snapshot(self.broker, path)
        except state.SnapshotError as e:
            raise BadInput("path", str(e)) from None

    async def restore(self, path: Any) -> dict[str, Any]:
        if not isinstance(path, str) or not path:
            raise BadInput("path", "must be a file or directory path")
        try:
            return await state.restore(self.broker, path)
        except state.SnapshotError as e:
            raise BadInput("path", str(e)) from None

    # ------------------------------------------------------------------ clock
    @property
    def _clock(self) -> Any:
        clock = getattr(self.broker, "clock", None)
        if clock is None:
            raise NotImplementedError("this broker has no controllable clock")
        return clock

    def clock(self) -> dict[str, Any]:
        c = self._clock
        return {"mode": "frozen" if c.frozen else "system", "now_ms": c.now_ms()}

    def set_clock(self, mode: Any, at_ms: Any = None) -> dict[str, Any]:
        if mode not in ("frozen", "system"):
            raise BadInput("mode", "must be 'frozen' or 'system'")
        if at_ms is not None and (isinstance(at_ms, bool) or not isinstance(at_ms, int) or at_ms < 0):
            raise BadInput("now_ms", "must be an integer >= 0")
        if mode == "frozen":
            self._clock.freeze(at_ms)
        else:
            self._clock.system()
        self._run_due()
        return self.clock()

    def advance(self, ms: Any) -> dict[str, Any]:
        """Move the clock forward and run everything that became due (timers, retention, rolls)."""
        if isinstance(ms, bool) or not isinstance(ms, int) or ms < 0:
            raise BadInput("ms", "must be an integer >= 0")
        self._clock.advance(ms)
        self._run_due()
        return self.clock()

    def _run_due(self) -> None:
        self.broker.tick()
        self.broker.storage.run_maintenance(self.broker.now_ms())
