"""The broker: the composition root, and ``dispatch(request)``.

``Broker(settings, storage=None, clock=None)`` builds everything a broker runs on, the way
franz-go's kfake ``NewCluster`` does, and hands it to handlers as their ``BrokerServices``
(``kafkaish.context``):
- ``SharedState``: what every broker of one (simulated) cluster shares: the storage engine, the
  clock, the group and transaction coordinators, the transaction marker writer, the parked Fetch
  long polls, and the coordinators' timers (``tick``);
- per broker: its Settings and identity (node id, advertised listener), the ``ConfigManager``,
  the ``TopicManager``, per-connection state, fault-injection controls and version caps.

Several brokers over one state: ``Broker(settings_2, shared=first.shared)``; each gets its own
node id and listener, and a record produced through one is fetched through the other.

``Broker.dispatch(request)`` turns one decoded request into a response (or None for acks=0
produce). It knows nothing of sockets; ``kafkaish.server`` feeds it and runs ``tick``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TYPE_CHECKING

import kafkaish.handlers as handlers_pkg
from kafkaish.admin.cluster import ClusterState
from kafkaish.admin.configs import ConfigManager
from kafkaish.admin.group_configs import GroupConfigs
from kafkaish.admin.topics import TopicManager
from kafkaish.authorizer import Authorizer
from kafkaish.clock import Clock
from kafkaish.config_quick import component_config
from kafkaish.context import RequestContext
from kafkaish.coordinator.group import GroupCoordinator
from kafkaish.credentials import ScramStore
from kafkaish.coordinator.group_results import GroupConfig
from kafkaish.coordinator.txn import TransactionCoordinator
from kafkaish.coordinator.txn_results import TxnConfig
from kafkaish.fault_responses import error_answer
from kafkaish.faults import FaultRule, FaultRules
from kafkaish.flusher import Flusher
from kafkaish.listeners import Session, advertised_listeners, configured_listeners, shifted_listeners
from kafkaish.markers import MarkerWriter
from kafkaish.parked import LongPolls, deliver
from kafkaish.registry import REGISTRY, FaultAction, HandlerRegistry
from kafkaish.stats import BrokerStats
from kafkaish.storage import StorageEngine, open_engine
from kafkaish.wire.codec import Request
from kafkaish.wire.constants import CoordinatorType
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages import API_NAMES, ApiKey

if TYPE_CHECKING:
    from kafkaish.config import Settings

log = logging.getLogger("kafkaish.broker")

__all__ = ["Broker", "FaultAction", "SharedState", "handler_registry", "load_handlers", "open_storage"]

# Requests only the coordinator answers (``--brokers N``): api key -> (coordinator type, first
# version that no longer carries one key (OffsetFetch v8+ batches groups, AddPartitionsToTxn v4+
# comes from brokers), the request field holding the key)
_G, _T = CoordinatorType.GROUP, CoordinatorType.TRANSACTION
_COORDINATED: dict[int, tuple[int, int, str]] = {
    ApiKey.JOIN_GROUP: (_G, 99, "group_id"), ApiKey.SYNC_GROUP: (_G, 99, "group_id"),
    ApiKey.HEARTBEAT: (_G, 99, "group_id"), ApiKey.LEAVE_GROUP: (_G, 99, "group_id"),
    ApiKey.OFFSET_COMMIT: (_G, 99, "group_id"), ApiKey.OFFSET_FETCH: (_G, 8, "group_id"),
    ApiKey.TXN_OFFSET_COMMIT: (_G, 99, "group_id"), ApiKey.CONSUMER_GROUP_HEARTBEAT: (_G, 99, "group_id"),
    ApiKey.ADD_OFFSETS_TO_TXN: (_T, 99, "transactional_id"), ApiKey.END_TXN: (_T, 99, "transactional_id"),
    ApiKey.ADD_PARTITIONS_TO_TXN: (_T, 4, "v3_and_below_transactional_id"),
    ApiKey.INIT_PRODUCER_ID: (_T, 99, "transactional_id"),
}
_NOT_COORDINATOR = FaultRule(0, error=ErrorCode.NOT_COORDINATOR)

GROUPS_STATE_STORE = "groups"
TXNS_STATE_STORE = "transactions"


@dataclass(slots=True)
class _Control:
    fn: Callable[[Request], Any]
    api_key: int | None
    keep: bool


def load_handlers() -> HandlerRegistry:
    """Import every module of kafkaish.handlers so each registers its APIs (tests, tools)."""
    for info in pkgutil.iter_modules(handlers_pkg.__path__):
        importlib.import_module(f"{handlers_pkg.__name__}.{info.name}")
    return REGISTRY


def handler_registry() -> HandlerRegistry:
    """The registry a broker dispatches with: handler modules load on their API's first request."""
    REGISTRY.use_index(handlers_pkg.__name__, handlers_pkg.HANDLERS)
    return REGISTRY


def open_storage(settings: Settings) -> StorageEngine:
    """The storage engine ``settings`` ask for."""
    if settings.in_memory:
        return open_engine("memory://", fsync=settings.fsync, fsync_interval_ms=settings.fsync_interval_ms,
                           message_max_bytes=settings.message_max_bytes, cluster_id=settings.cluster_id)
    # zero_copy: fetches sendfile() segment bytes, never copying them
    return open_engine(str(settings.data_dir), fsync=settings.fsync, fsync_interval_ms=settings.fsync_interval_ms,
                       message_max_bytes=settings.message_max_bytes, cluster_id=settings.cluster_id,
                       zero_copy=True)


class SharedState:
    """What every broker of one cluster shares; built from the first broker's Settings."""

    def __init__(self, settings: Settings, storage: StorageEngine | None = None, clock: Clock | None = None) -> None:
        self.storage = open_storage(settings) if storage is None else storage
        self.clock = clock or Clock()
        self.long_polls = LongPolls(self.clock)
        self.flusher = Flusher(self.storage, self.long_polls.data_arrived)  # fsync=always off the loop
        self.groups = GroupCoordinator(self.storage.state_store(GROUPS_STATE_STORE), topics=self._topics_view,
                                       config=component_config(GroupConfig, settings))
        self.txns = TransactionCoordinator.restore(self.storage.state_store(TXNS_STATE_STORE), self.clock.now_ms(),
                                                   component_config(TxnConfig, settings))
        self.markers = MarkerWriter(self.storage, self.groups, self.txns, self.long_polls.data_arrived)
        self.cluster = ClusterState(self.storage)  # brokers, partition leaders, coordinator placement
        self.cluster.leader_changed = self.long_polls.data_arrived
        self.brokers: dict[int, Any] = {}  # node id -> Broker, in start order
        # ACLs are cluster metadata: one authorizer for every broker of the cluster
        self.scram = ScramStore(self.storage)  # SCRAM credentials of the admin APIs (KIP-554)
        self.authorizer = (Authorizer(self.storage, settings.super_users, settings.allow_everyone_if_no_acl_found)
                           if settings.authorizer else None)
        self.topic_changes = asyncio.Lock()  # topic changes are serial across brokers, as one controller's
        self.group_configs = GroupConfigs(settings, self.storage, self.groups)  # KIP-848 group configs
        self._tickers: list[Callable[[int], None]] = [self._tick_groups, self.markers.tick]
        self.clock.add_listener(self._clock_changed)

    def _topics_view(self) -> dict[str, tuple[uuid.UUID, int]]:
        return {name: (meta.topic_id, meta.num_partitions) for name, meta in self.storage.topics().items()}

    def _tick_groups(self, now_ms: int) -> None:
        deadline = self.groups.next_deadline_ms()
        if deadline is not None and deadline <= now_ms:
            deliver(self.groups.tick(now_ms))

    def add_ticker(self, fn: Callable[[int], None]) -> None:
        """``fn(now_ms)`` runs on every tick (every ~50 ms from the server loop, and on clock changes)."""
        self._tickers.append(fn)

    def tick(self) -> None:
        """Run the coordinators' timers at the clock's time."""
        now = self.clock.now_ms()
        for fn in self._tickers:
            try:
                fn(now)
            except Exception:  # a broken ticker must not stop the others
                log.exception("ticker %r failed", fn)

    def _clock_changed(self) -> None:
        # What became due runs at once, and parked long polls re-check their deadlines.
        self.tick()
        self.long_polls.clock_changed()

    def close(self) -> None:
        self.clock.remove_listener(self._clock_changed)
        self.flusher.close()
        self.storage.close()


class Broker:
    """One broker: implements ``kafkaish.context.BrokerServices`` for the handlers."""

    def __init__(self, settings: Settings | None = None, storage: StorageEngine | None = None,
                 clock: Clock | None = None, *, shared: SharedState | None = None) -> None:
        if settings is None:
            from kafkaish.config import Settings

            settings = Settings()
        self.settings = settings
        if shared is not None and (storage is not None or clock is not None):
            raise ValueError("a broker joining a SharedState takes its storage and clock from it")
        self.owns_shared = shared is None
        self.shared = shared or SharedState(self.settings, storage, clock)
        self.storage = self.shared.storage
        self.clock = self.shared.clock
        self.groups = self.shared.groups
        self.txns = self.shared.txns
        self.markers = self.shared.markers
        self.authorizer = self.shared.authorizer
        self.scram = self.shared.scram
        self.registry = handler_registry()
        self.node_id = self.settings.node_id
        self.cluster = self.shared.cluster
        if self.node_id in self.cluster.endpoints:
            raise ValueError(f"node id {self.node_id} is already a broker of this cluster")
        self.cluster_id = self._cluster_id()
        self.listener_specs = configured_listeners(self.settings)  # what to listen on (kafkaish.listeners)
        self._advertised = advertised_listeners(self.settings)
        self.endpoints: dict[str, tuple[str, int]] = {}  # listener name -> advertised (host, port)
        self._bound: dict[str, int] = {}  # listener name -> bound port
        for spec in self.listener_specs:
            self.listener_bound(spec.name, spec.port)
        self.configs = ConfigManager(self.settings, self.storage, self.node_id, self._listener_texts)
        self.configs.group_configs = self.shared.group_configs
        self.cluster.register(self.node_id, self.endpoint)
        self.shared.brokers[self.node_id] = self
        self.topics = TopicManager(self.settings, self.storage, self.groups, self.configs, self.clock, self.node_id,
                                   self.shared.topic_changes, self.cluster)
        self.version_caps: dict[int, int] = {}  # api_key -> max version, to imitate an older Kafka
        self._supported: dict[int, tuple[int, int]] = {}
        self._supported_key: tuple[tuple[int, int], ...] | None = None
        self._controls: list[_Control] = []
        self._connections: dict[int, dict[str, Any]] = {}
        self.listeners: list[Any] = []  # servers serving this broker (each registers itself on start)
        self.faults = FaultRules(self.listeners)  # declarative fault rules (kafkaish.faults)
        self.admin_url: str | None = None  # the admin HTTP control plane, when serving one
        self.stats: BrokerStats | None = BrokerStats() if self.settings.metrics else None  # for /metrics

    def _cluster_id(self) -> str:
        """A data directory keeps the cluster id it was created with (meta.properties)."""
        stored = self.storage.cluster_id
        wanted = self.settings.cluster_id
        if self.settings.in_memory:
            return wanted or stored
        if wanted and wanted != stored:
            log.warning("cluster_id %r differs from %r in %s/meta.properties; using the stored one",
                        wanted, stored, self.settings.data_dir)
        return stored

    # ------------------------------------------------------------------ listeners
    def listener_bound(self, name: str, port: int) -> None:
        """Listener ``name`` listens on ``port``: what clients that connect through it are told."""
        spec = next(s for s in self.listener_specs if s.name == name)
        self._bound[name] = port
        host, adv_port = self._advertised.get(name, (None, None))
        if spec is self.listener_specs[0]:  # advertised_host/advertised_port are the first listener's
            host = host or self.settings.advertised_host
            adv_port = adv_port or self.settings.advertised_port
        if not host:
            host = "localhost" if spec.host in ("0.0.0.0", "::", "") else spec.host
        self.endpoints[name] = (host, adv_port or port)
        if spec is self.listener_specs[0]:
            self.advertised_host, self.advertised_port = self.endpoints[name]

    def endpoint(self, listener: str | None = None) -> tuple[str, int]:
        """(host, port) advertised to a client that connected through ``listener`` (Kafka's
        Metadata answers with the brokers' endpoints of the request's listener)."""
        found = self.endpoints.get(listener) if listener is not None else None
        return found or (self.advertised_host, self.advertised_port)

    def _listener_texts(self) -> tuple[str, str]:
        """(listeners, advertised.listeners) as Kafka writes them."""
        bound = ",".join(spec.url(self._bound.get(spec.name)) for spec in self.listener_specs)
        advertised = ",".join(f"{spec.name}://{h}:{p}" for spec in self.listener_specs
                              for h, p in [self.endpoints[spec.name]])
        return bound, advertised

    # ------------------------------------------------------------------ time, tickers
    def now_ms(self) -> int:
        return self.clock.now_ms()

    def add_ticker(self, fn: Callable[[int], None]) -> None:
        """``fn(now_ms)`` is called every ~50 ms by the server loop (and when the clock changes)."""
        self.shared.add_ticker(fn)

    def tick(self) -> None:
        self.shared.tick()

    # ------------------------------------------------------------------ topics
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
        """Wake every fetch long-poll parked on (topic, partition), through any broker."""
        self.shared.long_polls.data_arrived(topic, partition)

    async def wait_for_data(self, keys: Iterable[tuple[str, int]], deadline_ms: int) -> None:
        """Return when data arrives on any of ``keys`` or the clock reaches ``deadline_ms``."""
        await self.shared.long_polls.wait_for_data(keys, deadline_ms)

    async def durable(self) -> None:
        """fsync=always: wait for the fsync of what was appended so far (``kafkaish.flusher``)."""
        await self.shared.flusher.durable()

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
        caps = self.version_caps  # usually empty: no sort per request (issue #15)
        key = tuple(sorted(caps.items())) if caps else ()
        if self._supported_key != key:
            self._supported = self.registry.supported(self.version_caps)
            self._supported_key = key
        return self._supported

    async def dispatch(self, request: Request, client_host: str = "", connection_id: int = 0,
                       session: Session | None = None) -> Any:
        """Answer one request: a response message, None (no response) or a FaultAction.

        ``session`` is the connection's listener and principal (default: PLAINTEXT, anonymous)."""
        if self._controls:
            injected = self._run_controls(request)
            if injected is not None:
                return injected
        if session is None:
            session = Session()
        if self.faults.rules:
            answer = await self.faults.apply(request, self.topic_name,
                                             lambda req: self._handle(req, client_host, connection_id, session))
            if answer is not None:
                return answer
        return await self._handle(request, client_host, connection_id, session)

    def _wrong_coordinator(self, request: Request) -> bool:
        """A group or transaction request for a key another node coordinates (Kafka: NOT_COORDINATOR)."""
        kind = _COORDINATED.get(request.api_key)
        if kind is None or request.api_version >= kind[1]:
            return False
        key = getattr(request.body, kind[2])
        if not key:  # InitProducerId of an idempotent producer: any broker
            return False
        return self.cluster.coordinator(key, kind[0]) != self.node_id

    async def _handle(self, request: Request, client_host: str, connection_id: int, session: Session) -> Any:
        if not self.cluster.single and self._wrong_coordinator(request):
            return await error_answer(request, _NOT_COORDINATOR, self.topic_name,
                                      lambda req: self._handle(req, client_host, connection_id, session))
        if request.trailing_bytes:
            log.debug("%s v%d from %s: ignoring %d bytes after the body", self.api_name(request.api_key),
                      request.api_version, request.client_id, request.trailing_bytes)
        spec = self.registry.get(request.api_key)
        assert spec is not None  # the codec only yields supported keys
        ctx = RequestContext(request.api_version, request.correlation_id, request.client_id,
                             client_host, self, connection_id, session)
        return await spec.fn(ctx, request.body)

    def api_name(self, api_key: int) -> str:
        return API_NAMES.get(api_key, str(api_key))

    def cluster_member(self, index: int) -> Broker:
        """Broker ``index`` (1..brokers-1) of ``--brokers N``: node id and ports ``index`` above this one's."""
        s = self.settings
        port = s.port + index if s.port else 0
        if port > 65535:
            raise ValueError(f"--brokers {s.brokers} from port {s.port} runs past port 65535")
        update: dict[str, Any] = {"node_id": s.node_id + index, "port": port, "brokers": 1}
        if s.advertised_port:
            update["advertised_port"] = s.advertised_port + index
        if s.listeners:  # every listener of every node, each port shifted as --port is
            update["listeners"] = shifted_listeners(s.listeners, s.listener_security_protocol_map, index)
            update["advertised_listeners"] = shifted_listeners(s.advertised_listeners,
                                                               s.listener_security_protocol_map, index)
        member = Broker(s.model_copy(update=update), shared=self.shared)
        member.stats = self.stats  # the admin port's /metrics counts the whole cluster's traffic, once
        return member

    def close(self) -> None:
        """Close the shared state (and its storage) if this broker created it."""
        if self.owns_shared:
            self.shared.close()
