"""A simulated cluster's metadata: live brokers, partition leadership, coordinator placement.

One ``ClusterState`` is shared by every broker of a ``SharedState`` (``kafkaish serve --brokers N``).
All replicas of a partition share the one log, so a leader move never loses a record; what is
simulated is what clients see: who leads (Metadata, KIP-951 current leaders), the leader epoch
(FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH), the ISR, and which node coordinates a group or a
transactional id.

- Replica placement for a new topic follows Kafka's rack-unaware assignment
  (``AdminUtils.assignReplicasToBrokersRackUnaware``): partition p's first replica is broker
  ``(start + p) % n``, the others follow at a shift; ``start`` is derived from the topic name
  (Kafka picks it at random) so placement is reproducible.
- Leadership state (leader, epoch, replicas, isr) of each topic is kept in the state store
  ``cluster.partitions`` with the topic id (durable on the file engine).
- Coordinators: Kafka places group ``g`` on the leader of ``__consumer_offsets`` partition
  ``Utils.abs(g.hashCode()) % 50`` (``offsets.topic.num.partitions``) and a transactional id on
  ``__transaction_state`` (``transaction.state.log.num.partitions`` 50); those topics are created
  on the first FindCoordinator (replication factor min(3, brokers)), and their leaders move like
  any other partition's (-1: COORDINATOR_NOT_AVAILABLE).
- With one broker (``single``) nothing here runs on the hot path: every request is answered by it.
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kafkaish.admin.topic_names import GROUP_METADATA_TOPIC, TRANSACTION_STATE_TOPIC
from kafkaish.storage import StorageEngine
from kafkaish.wire.errors import ErrorCode, KafkaError

__all__ = ["ClusterState", "PartitionState", "java_string_hash", "OFFSETS_TOPIC_PARTITIONS",
           "TXN_TOPIC_PARTITIONS"]

STATE_STORE = "cluster.partitions"
OFFSETS_TOPIC_PARTITIONS = 50  # offsets.topic.num.partitions
TXN_TOPIC_PARTITIONS = 50  # transaction.state.log.num.partitions


def java_string_hash(s: str) -> int:
    """Java's ``String.hashCode`` (UTF-16 code units, 32-bit wrap)."""
    h = 0
    data = s.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def _kafka_abs(n: int) -> int:
    """``Utils.abs``: Integer.MIN_VALUE maps to 0 (``n & 0x7fffffff``)."""
    return n & 0x7FFFFFFF


@dataclass(slots=True)
class PartitionState:
    leader: int  # -1: offline
    epoch: int
    replicas: list[int]
    isr: list[int]

    def as_list(self) -> list[object]:
        return [self.leader, self.epoch, self.replicas, self.isr]


@dataclass(slots=True)
class _Topic:
    topic_id: uuid.UUID
    partitions: list[PartitionState] = field(default_factory=list)


class ClusterState:
    """Which brokers exist and are up, and who leads what."""

    def __init__(self, storage: StorageEngine) -> None:
        self.storage = storage
        self._store = storage.state_store(STATE_STORE)
        # node id -> its advertised (host, port) on a listener (None: its first listener)
        self.endpoints: dict[int, Callable[[str | None], tuple[str, int]]] = {}
        self.live: set[int] = set()
        self.single = True  # one broker: no leader checks at all
        self._topics: dict[str, _Topic] = {}
        # called with (topic, partition) on each leader change: parked Fetches re-check leadership
        # at once (Kafka's DelayedFetch completes when its broker stops leading a partition)
        self.leader_changed: Callable[[str, int], None] = lambda topic, partition: None
        self._load()

    # ------------------------------------------------------------------ persistence
    def _load(self) -> None:
        for name, raw in self._store.items().items():
            try:
                doc = json.loads(raw)
                self._topics[name] = _Topic(uuid.UUID(doc["id"]), [
                    PartitionState(int(leader), int(epoch), list(replicas), list(isr))
                    for leader, epoch, replicas, isr in doc["partitions"]])
            except (ValueError, KeyError, TypeError):
                continue  # a record we cannot read is rebuilt from the default placement

    def _save(self, name: str) -> None:
        t = self._topics.get(name)
        if t is None:
            self._store.put(name, None)
            return
        doc = {"id": str(t.topic_id), "partitions": [p.as_list() for p in t.partitions]}
        self._store.put(name, json.dumps(doc, separators=(",", ":")).encode())

    # ------------------------------------------------------------------ brokers
    def register(self, node_id: int, endpoint: Callable[[str | None], tuple[str, int]]) -> None:
        self.endpoints[node_id] = endpoint
        self.live.add(node_id)
        self.single = len(self.endpoints) == 1

    def nodes(self) -> list[int]:
        return sorted(self.endpoints)

    def live_nodes(self) -> list[int]:
        return sorted(self.live)

    def endpoint(self, node_id: int, listener: str | None = None) -> tuple[str, int]:
        """Where node ``node_id`` is reached through ``listener`` (Kafka's Metadata answers per listener name)."""
        return self.endpoints[node_id](listener)

    def controller(self) -> int:
        live = self.live_nodes()
        return live[0] if live else -1

    def is_live(self, node_id: int) -> bool:
        return node_id in self.live

    # ------------------------------------------------------------------ placement
    def place(self, topic: str, partitions: int, replication_factor: int, first: int = 0) -> list[list[int]]:
        """Kafka's rack-unaware assignment over all registered brokers (``first``: first new partition)."""
        brokers = self.nodes()
        n = len(brokers)
        if replication_factor > n:
            raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR,
                             f"Unable to replicate the partition {replication_factor} time(s): The target "
                             f"replication factor of {replication_factor} cannot be reached because only "
                             f"{n} broker(s) are registered.")
        start = zlib.crc32(topic.encode()) % n
        shift = zlib.crc32(topic.encode()[::-1]) % n
        out = []
        for p in range(first, first + partitions):
            if p > 0 and p % n == 0:
                shift += 1
            head = (start + p) % n
            replicas = [brokers[head]]
            for j in range(replication_factor - 1):
                replicas.append(brokers[(head + 1 + (shift + j) % (n - 1)) % n] if n > 1 else brokers[head])
            out.append(replicas)
        return out

    def check_known(self, replicas: Sequence[int]) -> None:
        for node in replicas:
            if node not in self.endpoints:
                raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                 f"The manual partition assignment includes broker {node}, but no such broker "
                                 f"is registered.")

    def set_topic(self, name: str, topic_id: uuid.UUID, assignment: Sequence[Sequence[int]], first: int = 0) -> None:
        """A new topic (or partitions from ``first`` on): each partition led by its first live replica."""
        t = self._topics.get(name)
        if t is None or t.topic_id != topic_id:
            t = self._topics[name] = _Topic(topic_id)
        t.partitions[first:] = [self._new_partition(list(replicas)) for replicas in assignment]
        self._save(name)

    def _new_partition(self, replicas: list[int]) -> PartitionState:
        isr = [r for r in replicas if r in self.live]
        return PartitionState(isr[0] if isr else -1, 0, replicas, isr or replicas[:1])

    def drop_topic(self, name: str) -> None:
        if self._topics.pop(name, None) is not None:
            self._save(name)

    def _topic(self, name: str) -> _Topic | None:
        """The topic's leadership state, created with the default placement when storage has a
        topic this state has not seen (created by a path that did not assign it)."""
        t = self._topics.get(name)
        n = len(t.partitions) if t is not None else 0
        if n and self.storage.has_partition(name, n - 1) and not self.storage.has_partition(name, n):
            return t  # the fast path: no copy of the topic table (deletions go through drop_topic)
        meta = self.storage.topics().get(name)
        if meta is None:
            return None
        if t is None or t.topic_id != meta.topic_id:
            t = self._topics[name] = _Topic(meta.topic_id)
        if len(t.partitions) < meta.num_partitions:
            first = len(t.partitions)
            for replicas in self.place(name, meta.num_partitions - first, 1, first):
                t.partitions.append(self._new_partition(replicas))
            self._save(name)
        return t

    def partition(self, topic: str, partition: int) -> PartitionState | None:
        t = self._topic(topic)
        if t is None or not 0 <= partition < len(t.partitions):
            return None
        return t.partitions[partition]

    def partitions(self, topic: str) -> list[PartitionState]:
        t = self._topic(topic)
        return [] if t is None else t.partitions

    # ------------------------------------------------------------------ request checks
    def check_leader(self, topic: str, partition: int, node_id: int, current_epoch: int = -1) -> None:
        """Raise what Kafka answers a leader-only request for this partition on ``node_id``:
        FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH for a stale / newer ``current_epoch``
        (``Partition.checkCurrentLeaderEpoch``), NOT_LEADER_OR_FOLLOWER off the leader."""
        if self.single:
            if current_epoch > 0:  # one broker, epoch 0 forever
                raise KafkaError(ErrorCode.UNKNOWN_LEADER_EPOCH)
            return
        st = self.partition(topic, partition)
        if st is None:
            return  # storage answers the unknown topic or partition
        if current_epoch >= 0 and node_id in st.replicas:
            if current_epoch < st.epoch:
                raise KafkaError(ErrorCode.FENCED_LEADER_EPOCH)
            if current_epoch > st.epoch:
                raise KafkaError(ErrorCode.UNKNOWN_LEADER_EPOCH)
        if st.leader != node_id:
            raise KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER)

    def leader_and_epoch(self, topic: str, partition: int) -> tuple[int, int]:
        st = self.partition(topic, partition)
        return (-1, -1) if st is None else (st.leader, st.epoch)

    def epoch(self, topic: str, partition: int) -> int:
        if self.single:
            return 0
        st = self.partition(topic, partition)
        return 0 if st is None else st.epoch

    def check_min_isr(self, topic: str, partition: int, min_isr: int) -> None:
        """acks=all with fewer in-sync replicas than min.insync.replicas: NOT_ENOUGH_REPLICAS."""
        if self.single:
            return
        st = self.partition(topic, partition)
        if st is not None and len(st.isr) < min_isr:
            raise KafkaError(ErrorCode.NOT_ENOUGH_REPLICAS,
                             f"The size of the current ISR {st.isr} is insufficient to satisfy the min.isr "
                             f"requirement of {min_isr} for partition {topic}-{partition}")

    # ------------------------------------------------------------------ coordinators
    def coordinator(self, key: str, key_type: int = 0) -> int:
        """The node coordinating ``key``: a group id (key type 0, ``__consumer_offsets``) or a
        transactional id (1, ``__transaction_state``); -1 when no broker is live."""
        nodes = self.nodes()
        p = _kafka_abs(java_string_hash(key)) % (TXN_TOPIC_PARTITIONS if key_type == 1 else OFFSETS_TOPIC_PARTITIONS)
        internal = self.partition(TRANSACTION_STATE_TOPIC if key_type == 1 else GROUP_METADATA_TOPIC, p)
        if internal is not None:  # the internal topic exists: its partition's leader coordinates
            return internal.leader
        # before the topic exists: nodes from p % n on, the first live one
        for i in range(len(nodes)):
            node = nodes[(p + i) % len(nodes)]
            if node in self.live:
                return node
        return -1

    # ------------------------------------------------------------------ leadership changes
    def _elect(self, topic: str, index: int, st: PartitionState, leader: int) -> None:
        if st.leader != leader:
            st.leader = leader
            st.epoch += 1
            self.leader_changed(topic, index)

    def _each_partition(self, step: Callable[[str, int, PartitionState], bool]) -> None:
        """Run ``step(topic, index, state)`` on every partition of every topic (each one: ``|=``, not
        ``or``, which would skip the rest after the first change); save the topics it changed."""
        for name in list(self._topics):
            t = self._topic(name)
            if t is None:
                continue
            changed = False
            for index, st in enumerate(t.partitions):
                changed |= step(name, index, st)
            if changed:
                self._save(name)

    def stop(self, node_id: int) -> None:
        """The node is down: out of every ISR; its leaderships move to a live ISR replica, else offline."""
        self.live.discard(node_id)

        def leave(name: str, index: int, st: PartitionState) -> bool:
            shrunk = node_id in st.isr and len(st.isr) > 1
            if shrunk:
                st.isr.remove(node_id)
            if st.leader != node_id:
                return shrunk
            others = [r for r in st.replicas if r in st.isr and r in self.live]
            # the last ISR member stays in the ISR, as Kafka keeps it (unclean election off)
            self._elect(name, index, st, others[0] if others else -1)
            return True

        self._each_partition(leave)

    def start(self, node_id: int) -> None:
        """The node is back: it rejoins the ISR of its partitions (it shares the log: caught up at once)
        and leads the ones that were offline waiting for it."""
        self.live.add(node_id)

        def rejoin(name: str, index: int, st: PartitionState) -> bool:
            grown = node_id in st.replicas and node_id not in st.isr
            if grown:
                st.isr.append(node_id)
            if st.leader != -1 or node_id not in st.isr:  # after the ISR grew: offline ones get it
                return grown
            self._elect(name, index, st, node_id)
            return True

        self._each_partition(rejoin)

    def move_leader(self, topic: str, partition: int, node_id: int) -> PartitionState:
        """Make ``node_id`` the leader; it must be a live replica in the ISR."""
        st = self._require(topic, partition)
        if node_id not in st.replicas:
            raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, f"broker {node_id} is not a replica of "
                                                                   f"{topic}-{partition} (replicas {st.replicas})")
        if node_id not in self.live or node_id not in st.isr:
            raise KafkaError(ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE,
                             f"broker {node_id} is not a live in-sync replica of {topic}-{partition}")
        self._elect(topic, partition, st, node_id)
        self._save(topic)
        return st

    def elect_preferred(self, topic: str, partition: int) -> ErrorCode:
        """ElectLeaders PREFERRED: the first replica leads if it is live and in the ISR."""
        st = self._require(topic, partition)
        preferred = st.replicas[0]
        if st.leader == preferred:
            return ErrorCode.ELECTION_NOT_NEEDED
        if preferred not in self.live or preferred not in st.isr:
            return ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE
        self._elect(topic, partition, st, preferred)
        self._save(topic)
        return ErrorCode.NONE

    def elect_unclean(self, topic: str, partition: int) -> ErrorCode:
        """ElectLeaders UNCLEAN: only an offline partition gets a leader, any live replica."""
        st = self._require(topic, partition)
        if st.leader != -1:
            return ErrorCode.ELECTION_NOT_NEEDED
        live = [r for r in st.replicas if r in self.live]
        if not live:
            return ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE
        st.isr = [live[0]]
        self._elect(topic, partition, st, live[0])
        self._save(topic)
        return ErrorCode.NONE

    def reassign(self, topic: str, partition: int, replicas: Sequence[int]) -> None:
        """Partition reassignment, completed at once (every replica shares the log)."""
        st = self._require(topic, partition)
        self.check_known(replicas)
        st.replicas = list(replicas)
        st.isr = [r for r in replicas if r in self.live] or st.replicas[:1]
        if st.leader not in st.isr or st.leader not in self.live:
            live = [r for r in st.replicas if r in self.live]
            self._elect(topic, partition, st, live[0] if live else -1)
        self._save(topic)

    def _require(self, topic: str, partition: int) -> PartitionState:
        st = self.partition(topic, partition)
        if st is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                             f"partition {topic}-{partition} does not exist")
        return st
