"""Results and settings of the transaction coordinator (``kafkaish.coordinator.txn``).

Plain frozen values the handler layer reads; the coordinator's logic lives in ``txn``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kafkaish.coordinator.txn_metadata import NO_PRODUCER_EPOCH, NO_PRODUCER_ID, TopicPartition
from kafkaish.storage.types import StateStore  # noqa: F401 - the coordinators' store (StorageEngine.state_store)
from kafkaish.wire.errors import ErrorCode


@dataclass(frozen=True, slots=True)
class TxnConfig:
    """Coordinator settings, named after Kafka's broker configs."""

    max_timeout_ms: int = field(default=900_000, metadata={"kafka": "transaction.max.timeout.ms"})
    id_expiration_ms: int = 604_800_000  # transactional.id.expiration.ms
    marker_retry_ms: int = 5_000  # re-offer a plan whose markers were not completed
    producer_id_block_size: int = 1_000  # ProducerIdManager block (KIP-730)


@dataclass(frozen=True, slots=True)
class MarkerWrite:
    """Markers to write for one finished transaction, then ``complete(plan)``."""

    transactional_id: str
    producer_id: int
    producer_epoch: int
    commit: bool
    coordinator_epoch: int
    partitions: tuple[TopicPartition, ...]
    groups: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class InitProducerIdResult:
    error: ErrorCode
    producer_id: int = NO_PRODUCER_ID
    producer_epoch: int = NO_PRODUCER_EPOCH
    markers: tuple[MarkerWrite, ...] = ()


@dataclass(frozen=True, slots=True)
class EndTxnResult:
    error: ErrorCode
    markers: MarkerWrite | None = None


@dataclass(frozen=True, slots=True)
class TxnDescription:
    """One entry of DescribeTransactions."""

    transactional_id: str
    error: ErrorCode
    state: str = ""
    timeout_ms: int = 0
    start_ms: int = -1
    producer_id: int = NO_PRODUCER_ID
    producer_epoch: int = NO_PRODUCER_EPOCH
    partitions: tuple[TopicPartition, ...] = ()


@dataclass(frozen=True, slots=True)
class TxnListing:
    """One entry of ListTransactions."""

    transactional_id: str
    producer_id: int
    state: str


@dataclass(frozen=True, slots=True)
class ListTransactionsResult:
    transactions: tuple[TxnListing, ...]
    unknown_state_filters: tuple[str, ...]
