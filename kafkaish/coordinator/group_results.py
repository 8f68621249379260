"""Value types shared by the group coordinator modules: settings, results, completions.

Results are plain frozen dataclasses (error code + fields), not wire messages: the handler
layer (`kafkaish.handlers.groups`, `.offsets`, `.consumer_group`) converts them per version.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from kafkaish.storage.types import StateStore  # noqa: F401 - the coordinators' store (StorageEngine.state_store)
from kafkaish.wire.errors import ErrorCode

#: topic name -> (topic id, partition count); what KIP-848 assignors and OffsetDelete need.
TopicsView = Callable[[], Mapping[str, tuple[uuid.UUID, int]]]
#: (topic, partition)
TopicPartition = tuple[str, int]


class ClassicState(str, Enum):
    """Kafka's ClassicGroupState names, as DescribeGroups/ListGroups print them."""

    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


_C = ClassicState
#: ClassicGroupState.validPreviousStates: target state -> states it may be entered from.
CLASSIC_VALID_PREVIOUS: dict[ClassicState, frozenset[ClassicState]] = {
    _C.EMPTY: frozenset({_C.PREPARING_REBALANCE}),
    _C.PREPARING_REBALANCE: frozenset({_C.STABLE, _C.COMPLETING_REBALANCE, _C.EMPTY}),
    _C.COMPLETING_REBALANCE: frozenset({_C.PREPARING_REBALANCE}),
    _C.STABLE: frozenset({_C.COMPLETING_REBALANCE}),
    _C.DEAD: frozenset(_C),
}


class ConsumerGroupState(str, Enum):
    """Kafka's ConsumerGroup.ConsumerGroupState names (KIP-848)."""

    EMPTY = "Empty"
    ASSIGNING = "Assigning"
    RECONCILING = "Reconciling"
    STABLE = "Stable"
    DEAD = "Dead"


def _kafka(name: str, default: int, scale: int = 1) -> Any:
    """A config field that is Kafka broker config ``name`` (times ``scale``): see kafkaish.config."""
    return field(default=default, metadata={"kafka": name, "scale": scale})


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """Broker settings of the group coordinator, named after Kafka's group.* / offsets.* configs."""

    #: group.initial.rebalance.delay.ms: Kafka's 3000 ms is what CI users disable; 100 ms
    #: still lets members started together share the first generation (see scripts/bench_groups.py).
    initial_rebalance_delay_ms: int = _kafka("group.initial.rebalance.delay.ms", 100)
    min_session_timeout_ms: int = _kafka("group.min.session.timeout.ms", 6000)
    max_session_timeout_ms: int = _kafka("group.max.session.timeout.ms", 1_800_000)
    #: a member added during a rebalance is kept only this long without rejoining (Kafka's
    #: GroupCoordinator NewMemberJoinTimeoutMs)
    new_member_join_timeout_ms: int = 300_000
    #: offsets.retention.minutes = 7 days
    offsets_retention_ms: int = _kafka("offsets.retention.minutes", 7 * 24 * 3600 * 1000, scale=60_000)
    offsets_retention_check_interval_ms: int = 600_000  # offsets.retention.check.interval.ms
    offset_metadata_max_bytes: int = _kafka("offset.metadata.max.bytes", 4096)
    consumer_session_timeout_ms: int = _kafka("group.consumer.session.timeout.ms", 45_000)  # KIP-848
    consumer_heartbeat_interval_ms: int = _kafka("group.consumer.heartbeat.interval.ms", 5000)  # KIP-848
    consumer_assignors: tuple[str, ...] = ("uniform", "range")  # group.consumer.assignors


@dataclass(frozen=True, slots=True)
class Completion:
    """A parked JoinGroup/SyncGroup request (its opaque `waiter`) and the answer it gets."""

    waiter: object
    result: JoinGroupResult | SyncGroupResult


@dataclass(frozen=True, slots=True)
class JoinGroupMember:
    member_id: str
    group_instance_id: str | None
    metadata: bytes


@dataclass(frozen=True, slots=True)
class JoinGroupResult:
    error: ErrorCode
    member_id: str = ""
    generation_id: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: str = ""
    skip_assignment: bool = False
    members: tuple[JoinGroupMember, ...] = ()


@dataclass(frozen=True, slots=True)
class SyncGroupResult:
    error: ErrorCode
    protocol_type: str | None = None
    protocol_name: str | None = None
    assignment: bytes = b""


@dataclass(frozen=True, slots=True)
class LeaveMember:
    """One member of a LeaveGroup request (v3+ batches them; v0-2 send a single member id)."""

    member_id: str
    group_instance_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class LeaveMemberResult:
    member_id: str
    group_instance_id: str | None
    error: ErrorCode


@dataclass(frozen=True, slots=True)
class LeaveGroupResult:
    error: ErrorCode
    members: tuple[LeaveMemberResult, ...] = ()


@dataclass(frozen=True, slots=True)
class DescribedMember:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    metadata: bytes
    assignment: bytes


@dataclass(frozen=True, slots=True)
class DescribedGroup:
    error: ErrorCode
    group_id: str
    state: str
    protocol_type: str = ""
    protocol_data: str = ""
    members: tuple[DescribedMember, ...] = ()


@dataclass(frozen=True, slots=True)
class ListedGroup:
    group_id: str
    protocol_type: str
    state: str
    group_type: str  # "classic" | "consumer" (ListGroups v5, KIP-848)


@dataclass(frozen=True, slots=True)
class OffsetCommitInput:
    """One partition of an OffsetCommit/TxnOffsetCommit request."""

    topic: str
    partition: int
    offset: int
    leader_epoch: int = -1
    metadata: str | None = ""


@dataclass(frozen=True, slots=True)
class CommittedOffset:
    offset: int
    leader_epoch: int
    metadata: str | None
    commit_timestamp_ms: int
    #: set from OffsetCommit v2-v4 RetentionTimeMs (KIP-211 made it a per-commit override)
    expire_timestamp_ms: int | None = None
    #: commit order; a transactional offset applied by a COMMIT marker must not override a
    #: later plain commit (Kafka's OffsetMetadataManager compares log offsets for this)
    sequence: int = 0


@dataclass(frozen=True, slots=True)
class OffsetCommitResult:
    error: ErrorCode  # group-level validation error applied to every partition
    partitions: dict[TopicPartition, ErrorCode] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FetchedOffset:
    topic: str
    partition: int
    offset: int
    leader_epoch: int
    metadata: str | None
    error: ErrorCode = ErrorCode.NONE


@dataclass(frozen=True, slots=True)
class OffsetFetchResult:
    error: ErrorCode
    partitions: tuple[FetchedOffset, ...] = ()


@dataclass(frozen=True, slots=True)
class OffsetDeleteResult:
    error: ErrorCode
    partitions: dict[TopicPartition, ErrorCode] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConsumerHeartbeatResult:
    """ConsumerGroupHeartbeat answer (KIP-848); `assignment` None means "unchanged, not sent"."""

    error: ErrorCode
    error_message: str | None = None
    member_id: str | None = None
    member_epoch: int = 0
    heartbeat_interval_ms: int = 0
    assignment: tuple[tuple[uuid.UUID, tuple[int, ...]], ...] | None = None


@dataclass(frozen=True, slots=True)
class ConsumerMemberDescription:
    member_id: str
    instance_id: str | None
    rack_id: str | None
    member_epoch: int
    client_id: str
    client_host: str
    subscribed_topic_names: tuple[str, ...]
    subscribed_topic_regex: str | None
    assignment: tuple[tuple[uuid.UUID, str, tuple[int, ...]], ...]
    target_assignment: tuple[tuple[uuid.UUID, str, tuple[int, ...]], ...]


@dataclass(frozen=True, slots=True)
class ConsumerGroupDescription:
    error: ErrorCode
    group_id: str
    state: str = ConsumerGroupState.DEAD.value
    group_epoch: int = 0
    assignment_epoch: int = 0
    assignor_name: str = ""
    members: tuple[ConsumerMemberDescription, ...] = ()
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class JoinGroupInput:
    """A JoinGroup request as the coordinator needs it (handler fills it from any version)."""

    group_id: str
    member_id: str
    protocol_type: str
    protocols: tuple[tuple[str, bytes], ...]
    session_timeout_ms: int
    rebalance_timeout_ms: int = -1  # v0 has none: Kafka uses the session timeout
    group_instance_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    #: KIP-394: v4+ joins with an empty member id get MEMBER_ID_REQUIRED first
    require_known_member_id: bool = False
    #: KIP-814: v9+ lets a static leader rejoin a Stable group without reassigning
    supports_skip_assignment: bool = False
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ConsumerHeartbeatInput:
    """A ConsumerGroupHeartbeat request (KIP-848). None fields mean "unchanged since last time"."""

    group_id: str
    member_id: str
    member_epoch: int
    instance_id: str | None = None
    rack_id: str | None = None
    rebalance_timeout_ms: int = -1
    subscribed_topic_names: tuple[str, ...] | None = None
    subscribed_topic_regex: str | None = None
    server_assignor: str | None = None
    owned: tuple[tuple[uuid.UUID, tuple[int, ...]], ...] | None = None
    client_id: str = ""
    client_host: str = ""
