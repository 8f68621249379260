"""Topic lifecycle with Kafka's checks: create, delete, add partitions, delete records.

Shared by the admin handlers and Metadata auto-create. Every function raises
``KafkaError(code, message)`` with the code and a message like the ones Kafka's KRaft
controller answers (``ReplicationControlManager.createTopic`` / ``createPartitions``), in the
same order of checks: topic name, existence, configs, then partitions and replicas.

Single-broker cluster: the only replica is this node, so replication factor 1 (or -1 for the
default, ``default.replication.factor`` = 1) is all that can be satisfied; more is
INVALID_REPLICATION_FACTOR, exactly as a 1-broker Kafka answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kafkaish.broker_configs import ConfigEntry
from kafkaish.config_admin import broker_view
from kafkaish.topic_configs import config_error, validate_configs
from kafkaish.topic_names import check_no_collision, validate_topic_name
from kafkaish.wire.constants import ZERO_UUID
from kafkaish.wire.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kafkaish.broker import Broker
    from kafkaish.storage.engine import TopicMeta

__all__ = [
    "CreateResult", "create_topic", "delete_topic", "create_partitions", "delete_records",
    "validate_topic_name",
]

DEFAULT_REPLICATION_FACTOR = 1


@dataclass(frozen=True, slots=True)
class CreateResult:
    """What CreateTopics v5+ reports for a created (or validated) topic."""

    name: str
    topic_id: uuid.UUID  # the zero uuid when only validated
    num_partitions: int
    replication_factor: int
    configs: list[ConfigEntry]


def _replica_error(message: str) -> KafkaError:
    return KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, message)


def _check_replicas(broker: "Broker", replicas: Sequence[int], expected: int | None) -> int:
    """Validate one manual replica list (``validateManualPartitionAssignment``); return its size."""
    if not replicas:
        raise _replica_error("The manual partition assignment includes an empty replica list.")
    seen: set[int] = set()
    for node in replicas:
        if node in seen:
            raise _replica_error(f"The manual partition assignment includes the broker {node} more than once.")
        seen.add(node)
        if node != broker.node_id:
            raise _replica_error(
                f"The manual partition assignment includes broker {node}, but no such broker is registered."
            )
    if expected is not None and len(replicas) != expected:
        raise _replica_error(
            f"The manual partition assignment includes a partition with {len(replicas)} replica(s), but this "
            f"is not consistent with previous partitions, which have {expected} replica(s)."
        )
    return len(replicas)


def _from_assignments(broker: "Broker", num_partitions: int, replication_factor: int,
                      assignments: Mapping[int, Sequence[int]]) -> tuple[int, int]:
    if replication_factor != -1:
        raise KafkaError(ErrorCode.INVALID_REQUEST,
                         "A manual partition assignment was specified, but replication factor was not set to -1.")
    if num_partitions != -1:
        raise KafkaError(ErrorCode.INVALID_REQUEST,
                         "A manual partition assignment was specified, but numPartitions was not set to -1.")
    size: int | None = None
    for index in sorted(assignments):
        size = _check_replicas(broker, assignments[index], size)
    if sorted(assignments) != list(range(len(assignments))):
        raise _replica_error("Partition indexes of a manual assignment must be 0, 1, 2, ... without gaps.")
    assert size is not None
    return len(assignments), size


def _partitions_and_replicas(broker: "Broker", num_partitions: int, replication_factor: int) -> tuple[int, int]:
    if replication_factor < -1 or replication_factor == 0:
        raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR,
                         "Replication factor must be larger than 0, or -1 to use the default value.")
    if num_partitions < -1 or num_partitions == 0:
        raise KafkaError(ErrorCode.INVALID_PARTITIONS,
                         "Number of partitions was set to an invalid non-positive value.")
    partitions = broker.config.default_partitions if num_partitions == -1 else num_partitions
    replicas = DEFAULT_REPLICATION_FACTOR if replication_factor == -1 else replication_factor
    if replicas > 1:
        raise KafkaError(
            ErrorCode.INVALID_REPLICATION_FACTOR,
            f"Unable to replicate the partition {replicas} time(s): The target replication factor of "
            f"{replicas} cannot be reached because only 1 broker(s) are registered.",
        )
    return partitions, replicas


def create_topic(broker: "Broker", name: str, num_partitions: int = -1, replication_factor: int = -1,
                 configs: Mapping[str, str | None] | None = None, validate_only: bool = False,
                 assignments: Mapping[int, Sequence[int]] | None = None) -> CreateResult:
    """Create ``name`` as a one-broker Kafka would; with ``validate_only`` check everything, create nothing.

    ``num_partitions``/``replication_factor`` -1 take the broker defaults; ``assignments`` maps
    partition index -> replica node ids (then both must be -1). Raises KafkaError.
    """
    validate_topic_name(name)
    existing = broker.storage.topics()
    if name in existing:
        raise KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
    check_no_collision(name, existing)
    view = broker_view(broker)
    nulls = sorted(k for k, v in (configs or {}).items() if v is None)
    if nulls:
        raise config_error(f"Null value not supported for topic configs: {','.join(nulls)}")
    overrides = validate_configs(dict(configs or {}), base=view.topic_defaults())
    if assignments:
        partitions, replicas = _from_assignments(broker, num_partitions, replication_factor, assignments)
    else:
        partitions, replicas = _partitions_and_replicas(broker, num_partitions, replication_factor)
    topic_id = ZERO_UUID
    if not validate_only:
        topic_id = broker.storage.create_topic(name, partitions, overrides, uuid.uuid4()).topic_id
    return CreateResult(name, topic_id, partitions, replicas, view.topic_entries(overrides))


def existing_topic(broker: "Broker", name: str) -> "TopicMeta":
    meta = broker.storage.topics().get(name)
    if meta is None:
        raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{name}' does not exist.")
    return meta


def delete_topic(broker: "Broker", name: str) -> "TopicMeta":
    """Delete ``name`` (and its data and configs); UNKNOWN_TOPIC_OR_PARTITION if there is none."""
    meta = existing_topic(broker, name)
    broker.storage.delete_topic(name)
    if broker.groups is not None:  # Kafka drops committed offsets of a deleted topic
        broker.groups.delete_topic_offsets([name], broker.now_ms())
    return meta


def create_partitions(broker: "Broker", name: str, count: int,
                      assignments: Sequence[Sequence[int]] | None = None,
                      validate_only: bool = False) -> int:
    """Grow ``name`` to ``count`` partitions (never shrink); return the new count. Raises KafkaError."""
    meta = existing_topic(broker, name)
    current = meta.num_partitions
    if count == current:
        raise KafkaError(ErrorCode.INVALID_PARTITIONS, f"Topic already has {current} partition(s).")
    if count < current:
        raise KafkaError(ErrorCode.INVALID_PARTITIONS,
                         f"The topic {name} currently has {current} partition(s); {count} would not be an increase.")
    if assignments is not None:
        added = count - current
        if len(assignments) != added:
            raise _replica_error(f"Attempted to add {added} additional partition(s), but only "
                                 f"{len(assignments)} assignment(s) were specified.")
        for replicas in assignments:
            _check_replicas(broker, replicas, DEFAULT_REPLICATION_FACTOR)
    if not validate_only:
        broker.storage.add_partitions(name, count)
    return count


def delete_records(broker: "Broker", topic: str, partition: int, before_offset: int) -> int:
    """Move the partition's log start offset up to ``before_offset`` (-1: high watermark).

    Returns the new low watermark; OFFSET_OUT_OF_RANGE beyond the high watermark (or below -1),
    UNKNOWN_TOPIC_OR_PARTITION for a partition that does not exist.
    """
    if before_offset < -1:
        raise KafkaError(ErrorCode.OFFSET_OUT_OF_RANGE,
                         f"Cannot delete records before offset {before_offset}: it is negative.")
    log = broker.storage.log(topic, partition)
    return log.delete_records(before_offset)
