"""The broker: owns storage, coordinators, the handler registry and fault controls.

``Broker.dispatch(request)`` turns one decoded request into a response (or None for
acks=0 produce). It knows nothing of sockets; ``kafkaish.server`` feeds it.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import kafkaish.handlers as handlers_pkg
from kafkaish.config import Settings
from kafkaish.registry import REGISTRY, FaultAction, HandlerRegistry, RequestContext
from kafkaish.storage.engine import StorageEngine, open_engine
from kafkaish.wire.codec import Request
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages import API_NAMES
from kafkaish.wire.messages.api_versions import ApiVersionsResponse

log = logging.getLogger("kafkaish.broker")

__all__ = ["Broker", "FaultAction", "load_handlers"]


@dataclass(slots=True)
class _Control:
    fn: Callable[[Request], Any]
    api_key: int | None
    keep: bool


def load_handlers() -> HandlerRegistry:
    """Import every module of kafkaish.handlers so each registers its APIs."""
    for info in pkgutil.iter_modules(handlers_pkg.__path__):
        importlib.import_module(f"{handlers_pkg.__name__}.{info.name}")
    return REGISTRY


class Broker:
    def __init__(self, config: Settings | None = None, storage: StorageEngine | None = None) -> None:
        self.config = config or Settings()
        if storage is None:
            url = "memory://" if self.config.in_memory else str(self.config.data_dir)
            options: dict[str, Any] = {}
            if not self.config.in_memory:
                options["zero_copy"] = True  # fetches sendfile() segment bytes, never copying them
            storage = open_engine(url, fsync=self.config.fsync, fsync_interval_ms=self.config.fsync_interval_ms,
                                  message_max_bytes=self.config.message_max_bytes,
                                  cluster_id=self.config.cluster_id, **options)
        self.storage = storage
        self.registry = load_handlers()
        self.node_id = self.config.node_id
        self.cluster_id = self._cluster_id()
        self.advertised_host = self.config.public_host
        self.advertised_port = self.config.advertised_port or self.config.port
        self.version_caps: dict[int, int] = {}  # api_key -> max version, to imitate an older Kafka
        self._supported: dict[int, tuple[int, int]] = {}
        self._supported_key: tuple[tuple[int, int], ...] | None = None
        self.groups: Any = None
        self.txns: Any = None
        self._tickers: list[Callable[[int], None]] = []
        self._controls: list[_Control] = []
        self._waiters: dict[tuple[str, int], set[asyncio.Future[None]]] = {}
        self._connections: dict[int, dict[str, Any]] = {}
        from kafkaish.config_admin import apply_topic_defaults

        apply_topic_defaults(self)
        for info in pkgutil.iter_modules(handlers_pkg.__path__):
            setup = getattr(importlib.import_module(f"{handlers_pkg.__name__}.{info.name}"), "setup", None)
            if setup is not None:
                setup(self)

    def _cluster_id(self) -> str:
        """A data directory keeps the cluster id it was created with (meta.properties)."""
        stored = getattr(self.storage, "cluster_id", None)
        wanted = self.config.cluster_id
        if self.config.in_memory or stored is None:
            return wanted or stored or "kafkaish-cluster"
        if wanted and wanted != stored:
            log.warning("cluster_id %r differs from %r in %s/meta.properties; using the stored one",
                        wanted, stored, self.config.data_dir)
        return str(stored)

    # ------------------------------------------------------------------ time, tickers
    @staticmethod
    def now_ms() -> int:
        return int(time.time() * 1000)

    def add_ticker(self, fn: Callable[[int], None]) -> None:
        """``fn(now_ms)`` is called every ~50 ms by the server loop (coordinator timers)."""
        self._tickers.append(fn)

    def tick(self) -> None:
        now = self.now_ms()
        for fn in self._tickers:
            try:
                fn(now)
            except Exception:  # a broken ticker must not stop the others
                log.exception("ticker %r failed", fn)

    # ------------------------------------------------------------------ topics
    @property
    def topic_ids(self) -> dict[str, uuid.UUID]:
        return {name: meta.topic_id for name, meta in self.storage.topics().items()}

    def topic_name(self, topic_id: uuid.UUID) -> str | None:
        for name, meta in self.storage.topics().items():
            if meta.topic_id == topic_id:
                return name
        return None

    # ------------------------------------------------------------------ connections
    def connection_state(self, connection_id: int) -> dict[str, Any]:
        """Per-connection state for handlers (e.g. the SASL exchange); dropped on close."""
        return self._connections.setdefault(connection_id, {})

    def connection_closed(self, connection_id: int) -> None:
        self._connections.pop(connection_id, None)

    # ------------------------------------------------------------------ fetch wake-ups
    def data_arrived(self, topic: str, partition: int) -> None:
        """Wake every fetch long-poll parked on (topic, partition)."""
        for fut in self._waiters.pop((topic, partition), ()):
            if not fut.done():
                fut.set_result(None)

    async def wait_for_data(self, keys: Iterable[tuple[str, int]], timeout_s: float) -> None:
        """Return when data arrives on any of ``keys`` or after ``timeout_s``."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        keys = list(keys)
        for k in keys:
            self._waiters.setdefault(k, set()).add(fut)
        try:
            await asyncio.wait_for(fut, timeout_s)
        except asyncio.TimeoutError:
            pass
        finally:
            for k in keys:
                s = self._waiters.get(k)
                if s is not None:
                    s.discard(fut)
                    if not s:
                        del self._waiters[k]

    # ------------------------------------------------------------------ fault injection
    def control(self, fn: Callable[[Request], Any], api_key: int | None = None, *, keep: bool = False) -> None:
        """Intercept requests (franz-go kfake's ``ControlKey``).

        ``fn(request)`` returns None to pass the request on, a response message to answer
        with, or a ``FaultAction`` to drop the request or close the connection. A control
        that acts is removed unless ``keep``.
        """
        self._controls.append(_Control(fn, api_key, keep))

    def _run_controls(self, request: Request) -> Any:
        for c in list(self._controls):
            if c.api_key is not None and c.api_key != request.api_key:
                continue
            result = c.fn(request)
            if result is not None:
                if not c.keep:
                    self._controls.remove(c)
                return result
        return None

    # ------------------------------------------------------------------ dispatch
    def supported_versions(self) -> dict[int, tuple[int, int]]:
        """What ApiVersions advertises; cached, recomputed when ``version_caps`` changes."""
        key = tuple(sorted(self.version_caps.items()))
        if self._supported_key != key:
            self._supported = self.registry.supported(self.version_caps)
            self._supported_key = key
        return self._supported

    async def dispatch(self, request: Request, client_host: str = "", connection_id: int = 0) -> Any:
        """Answer one request: a response message, None (no response) or a FaultAction."""
        if self._controls:
            injected = self._run_controls(request)
            if injected is not None:
                return injected
        if request.trailing_bytes:
            log.debug("%s v%d from %s: ignoring %d bytes after the body", self.api_name(request.api_key),
                      request.api_version, request.client_id, request.trailing_bytes)
        if request.unsupported_version:
            log.info("ApiVersions v%d from %s unsupported: answering error 35 with a v0 body",
                     request.api_version, request.client_id)
            lo, hi = self.supported_versions()[request.api_key]
            return ApiVersionsResponse(error_code=ErrorCode.UNSUPPORTED_VERSION, api_keys=[
                ApiVersionsResponse.ApiVersion(api_key=request.api_key, min_version=lo, max_version=hi)])
        spec = self.registry.get(request.api_key)
        assert spec is not None  # the codec only yields supported keys
        ctx = RequestContext(request.api_version, request.correlation_id, request.client_id,
                             client_host, self, connection_id)
        return await spec.fn(ctx, request.body)

    def api_name(self, api_key: int) -> str:
        return API_NAMES.get(api_key, str(api_key))

    def close(self) -> None:
        self.storage.close()
