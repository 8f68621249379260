"""What a handler sees: its request's ``RequestContext`` and the broker's ``BrokerServices``.

``BrokerServices`` is the whole surface handlers may use of the broker, declared here, below
the broker, so handlers never import ``kafkaish.broker`` (``tests/test_packaging.py`` checks
the direction). ``kafkaish.broker.Broker`` implements it; a handler reaches it as ``ctx.broker``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TYPE_CHECKING

from kafkaish.admin.cluster import ClusterState
from kafkaish.admin.configs import ConfigManager
from kafkaish.admin.topics import TopicManager
from kafkaish.authorizer import Authorizer
from kafkaish.clock import Clock
from kafkaish.coordinator.group import GroupCoordinator
from kafkaish.coordinator.txn import TransactionCoordinator
from kafkaish.credentials import ScramStore
from kafkaish.listeners import Session
from kafkaish.markers import MarkerWriter
from kafkaish.stats import BrokerStats
from kafkaish.storage import StorageEngine

if TYPE_CHECKING:
    from kafkaish.config import Settings

__all__ = ["BrokerServices", "RequestContext", "Session"]


class BrokerServices(Protocol):
    """The broker as handlers see it."""

    settings: Settings
    storage: StorageEngine  # topics, partition logs, state stores
    groups: GroupCoordinator  # classic and KIP-848 groups, committed offsets
    txns: TransactionCoordinator  # producer ids and transactions
    markers: MarkerWriter  # executes the txns' COMMIT/ABORT marker plans
    configs: ConfigManager  # Describe/AlterConfigs of topics, brokers and loggers
    topics: TopicManager  # create/delete topics, add partitions, delete records
    clock: Clock
    cluster: ClusterState  # live brokers, partition leaders and epochs, coordinator placement
    authorizer: Authorizer | None  # ACLs; None unless --authorizer (kafkaish.authorizer.authorized)
    scram: ScramStore  # SCRAM credentials created over the wire (KIP-554)
    node_id: int
    cluster_id: str
    advertised_host: str
    advertised_port: int
    stats: BrokerStats | None  # traffic counters for /metrics (None when metrics are off)

    def now_ms(self) -> int:
        """``clock.now_ms()``."""

    def data_arrived(self, topic: str, partition: int) -> None:
        """Wake the Fetch long polls parked on this partition."""

    async def wait_for_data(self, keys: Iterable[tuple[str, int]], deadline_ms: int) -> None:
        """Park until data arrives on one of ``keys`` or the clock reaches ``deadline_ms``."""

    async def durable(self) -> None:
        """fsync=always: return once every append made before the call is fsynced (on a worker
        thread, ``kafkaish.flusher``); at once otherwise. Raises KafkaError if the fsync failed."""

    def connection_state(self, connection_id: int) -> dict[str, Any]:
        """Per-connection state (the SASL exchange), dropped when the connection closes."""

    def supported_versions(self) -> dict[int, tuple[int, int]]:
        """api_key -> (min, max) as ApiVersions advertises it."""

    def endpoint(self, listener: str) -> tuple[str, int]:
        """(host, port) advertised to clients that connected through ``listener``."""

    def topic_name(self, topic_id: uuid.UUID) -> str | None:
        """The name of the topic with this id, or None."""

    def api_name(self, api_key: int) -> str:
        """"Produce", "Fetch"... for log lines."""


@dataclass(slots=True)
class RequestContext:
    """One request as its handler sees it."""

    version: int
    correlation_id: int
    client_id: str | None
    client_host: str
    broker: BrokerServices
    connection_id: int = 0
    session: Session = field(default_factory=Session)  # listener, principal, SASL stage
