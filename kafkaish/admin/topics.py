"""Topic lifecycle with Kafka's checks: create, delete, add partitions, delete records.

``TopicManager`` belongs to one broker (``Broker.topics``); the admin handlers and Metadata
auto-create call it. Every method raises
``KafkaError(code, message)`` with the code and a message like the ones Kafka's KRaft
controller answers (``ReplicationControlManager.createTopic`` / ``createPartitions``), in the
same order of checks: topic name, existence, configs, then partitions and replicas.

Replicas are placed over the brokers of the (simulated) cluster (``kafkaish.admin.cluster``):
a replication factor above the broker count is INVALID_REPLICATION_FACTOR and a manual
assignment naming an unknown broker INVALID_REPLICA_ASSIGNMENT, as Kafka answers.

Creating, growing and deleting run on a worker thread, one at a time (Kafka's controller is
serial): thousands of partitions take seconds on the file engine, and the event loop keeps
serving other clients meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TYPE_CHECKING, TypeVar

from kafkaish.admin.broker_configs import ConfigEntry
from kafkaish.admin.cluster import ClusterState
from kafkaish.admin.configs import ConfigManager
from kafkaish.admin.topic_configs import config_error, validate_configs
from kafkaish.admin.topic_names import check_no_collision, validate_topic_name
from kafkaish.clock import Clock
from kafkaish.coordinator.group import GroupCoordinator
from kafkaish.storage import StorageEngine
from kafkaish.storage.types import TopicMeta
from kafkaish.wire.constants import ZERO_UUID
from kafkaish.wire.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kafkaish.config import Settings

__all__ = ["CreateResult", "TopicManager", "validate_topic_name", "MAX_RECORDS_PER_USER_OP", "TOO_LARGE_BATCH"]

DEFAULT_REPLICATION_FACTOR = 1
# QuorumController.MAX_RECORDS_PER_USER_OP: a CreateTopics or CreatePartitions needing more
# metadata records (one per topic, partition and config) is refused whole.
MAX_RECORDS_PER_USER_OP = 10_000
TOO_LARGE_BATCH = "Unable to perform excessively large batch operation."

T = TypeVar("T")
log = logging.getLogger("kafkaish.admin.topics")


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


class TopicManager:
    """Create, delete and grow topics, and delete records, as one broker of this cluster."""

    def __init__(self, settings: Settings, storage: StorageEngine, groups: GroupCoordinator,
                 configs: ConfigManager, clock: Clock, node_id: int, changes: asyncio.Lock | None = None,
                 cluster: ClusterState | None = None) -> None:
        self.settings = settings
        self.storage = storage
        self.groups = groups
        self.configs = configs
        self.clock = clock
        self.node_id = node_id
        if cluster is None:
            cluster = ClusterState(storage)
            cluster.register(node_id, lambda listener=None: ("", 0))
        self.cluster = cluster
        # One controller: brokers sharing a storage pass one lock (asyncio binds it on first use).
        self._changing = changes if changes is not None else asyncio.Lock()

    async def _storage_op(self, fn: Callable[..., T], *args: Any, after: Callable[[], None] | None = None) -> T:
        """Run a storage topic change on a worker thread, after the previous one finished.

        The change completes even if the requesting client leaves (the shield); ``after()``
        then runs on the loop.
        """
        lock = self._changing

        async def locked() -> T:
            async with lock:
                result = await asyncio.to_thread(fn, *args)
                if after is not None:
                    after()
                return result

        task = asyncio.ensure_future(locked())
        task.add_done_callback(_retrieve)
        return await asyncio.shield(task)

    def _check_replicas(self, replicas: Sequence[int], expected: int | None) -> int:
        """Validate one manual replica list (``validateManualPartitionAssignment``); return its size."""
        if not replicas:
            raise _replica_error("The manual partition assignment includes an empty replica list.")
        seen: set[int] = set()
        for node in replicas:
            if node in seen:
                raise _replica_error(f"The manual partition assignment includes the broker {node} more than once.")
            seen.add(node)
        self.cluster.check_known(replicas)
        if expected is not None and len(replicas) != expected:
            raise _replica_error(
                f"The manual partition assignment includes a partition with {len(replicas)} replica(s), but this "
                f"is not consistent with previous partitions, which have {expected} replica(s)."
            )
        return len(replicas)

    def _from_assignments(self, num_partitions: int, replication_factor: int,
                          assignments: Mapping[int, Sequence[int]]) -> tuple[int, int]:
        if replication_factor != -1:
            raise KafkaError(ErrorCode.INVALID_REQUEST,
                             "A manual partition assignment was specified, but replication factor was not set to -1.")
        if num_partitions != -1:
            raise KafkaError(ErrorCode.INVALID_REQUEST,
                             "A manual partition assignment was specified, but numPartitions was not set to -1.")
        size: int | None = None
        for index in sorted(assignments):
            size = self._check_replicas(assignments[index], size)
        if sorted(assignments) != list(range(len(assignments))):
            raise _replica_error("Partition indexes of a manual assignment must be 0, 1, 2, ... without gaps.")
        assert size is not None
        return len(assignments), size

    def _partitions_and_replicas(self, num_partitions: int, replication_factor: int) -> tuple[int, int]:
        if replication_factor < -1 or replication_factor == 0:
            raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR,
                             "Replication factor must be larger than 0, or -1 to use the default value.")
        if num_partitions < -1 or num_partitions == 0:
            raise KafkaError(ErrorCode.INVALID_PARTITIONS,
                             "Number of partitions was set to an invalid non-positive value.")
        partitions = self.settings.default_partitions if num_partitions == -1 else num_partitions
        replicas = DEFAULT_REPLICATION_FACTOR if replication_factor == -1 else replication_factor
        self.cluster.place("", 0, replicas)  # INVALID_REPLICATION_FACTOR above the broker count
        return partitions, replicas

    async def create_topic(self, name: str, num_partitions: int = -1, replication_factor: int = -1,
                     configs: Mapping[str, str | None] | None = None, validate_only: bool = False,
                     assignments: Mapping[int, Sequence[int]] | None = None) -> CreateResult:
        """Create ``name`` as a one-broker Kafka would; with ``validate_only`` check everything, create nothing.

        ``num_partitions``/``replication_factor`` -1 take the broker defaults; ``assignments`` maps
        partition index -> replica node ids (then both must be -1). Raises KafkaError.
        """
        if name == "__cluster_metadata":  # ControllerApis.createTopics
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Creation of internal topic {name} is prohibited.")
        validate_topic_name(name)
        existing = self.storage.topics()
        if name in existing:
            raise KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
        check_no_collision(name, existing)
        view = self.configs.broker_view()
        nulls = sorted(k for k, v in (configs or {}).items() if v is None)
        if nulls:
            raise config_error(f"Null value not supported for topic configs: {','.join(nulls)}")
        overrides = validate_configs(dict(configs or {}), base=view.topic_defaults())
        if assignments:
            partitions, replicas = self._from_assignments(num_partitions, replication_factor, assignments)
        else:
            partitions, replicas = self._partitions_and_replicas(num_partitions, replication_factor)
        topic_id = ZERO_UUID
        if not validate_only:
            placement = ([list(assignments[i]) for i in sorted(assignments)] if assignments
                         else self.cluster.place(name, partitions, replicas))
            topic_id = uuid.uuid4()
            # placed in the same shielded step as the storage change: a client that leaves mid-request
            # must not leave a topic without its replicas (a later lookup then invented one replica);
            # Kafka's controller writes the topic and its partitions in one batch
            # (ReplicationControlManager.createTopic)
            await self._storage_op(self.storage.create_topic, name, partitions, overrides, topic_id,
                                   after=lambda: self.cluster.set_topic(name, topic_id, placement))
            log.info("topic %s created: %d partitions, id %s%s", name, partitions, topic_id,
                     f", configs {overrides}" if overrides else "")
        return CreateResult(name, topic_id, partitions, replicas, view.topic_entries(overrides))

    def existing_topic(self, name: str) -> TopicMeta:
        meta = self.storage.topics().get(name)
        if meta is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{name}' does not exist.")
        return meta

    async def delete_topic(self, name: str) -> TopicMeta:
        """Delete ``name`` (and its data and configs); UNKNOWN_TOPIC_OR_PARTITION if there is none."""
        meta = self.existing_topic(name)

        def drop_offsets() -> None:  # Kafka drops them with the topic
            self.groups.delete_topic_offsets([name], self.clock.now_ms())
            self.cluster.drop_topic(name)

        await self._storage_op(self.storage.delete_topic, name, after=drop_offsets)
        log.info("topic %s deleted", name)
        return meta

    async def create_partitions(self, name: str, count: int,
                          assignments: Sequence[Sequence[int]] | None = None,
                          validate_only: bool = False) -> int:
        """Grow ``name`` to ``count`` partitions (never shrink); return the new count. Raises KafkaError."""
        meta = self.existing_topic(name)
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
            size = len(self.cluster.partitions(name)[0].replicas) if current else None
            for replicas in assignments:
                size = self._check_replicas(replicas, size)
        if count - current > MAX_RECORDS_PER_USER_OP:  # the reference broker answers -1 here (a Kafka bug)
            raise KafkaError(ErrorCode.POLICY_VIOLATION, TOO_LARGE_BATCH)
        if not validate_only:
            existing = self.cluster.partitions(name)
            rf = len(existing[0].replicas) if existing else DEFAULT_REPLICATION_FACTOR
            placement = ([list(r) for r in assignments] if assignments is not None
                         else self.cluster.place(name, count - current, rf, current))
            await self._storage_op(self.storage.add_partitions, name, count,  # shielded, as in create_topic
                                   after=lambda: self.cluster.set_topic(name, meta.topic_id, placement, current))
        return count

    def delete_records(self, topic: str, partition: int, before_offset: int) -> int:
        """Move the partition's log start offset up to ``before_offset`` (-1: high watermark).

        Returns the new low watermark; OFFSET_OUT_OF_RANGE beyond the high watermark (or below -1),
        UNKNOWN_TOPIC_OR_PARTITION for a partition that does not exist.
        """
        if before_offset < -1:
            raise KafkaError(ErrorCode.OFFSET_OUT_OF_RANGE,
                             f"Cannot delete records before offset {before_offset}: it is negative.")
        log = self.storage.log(topic, partition)
        return log.delete_records(before_offset)


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Consume the outcome of a change whose client left (no 'exception never retrieved')."""
    if not task.cancelled() and task.exception() is not None and not isinstance(task.exception(), KafkaError):
        log.debug("topic change failed: %r", task.exception())
