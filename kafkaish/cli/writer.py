"""Writing records over the wire: batching, Kafka's default partitioner, idempotence.

``Producer.send`` queues records per partition and ``flush`` turns each queue into one
RecordBatch v2 (``kafkaish.wire.records.build_batch``) and one Produce request per leader.
With idempotence (the default, as in Kafka 3+) the producer gets an id from InitProducerId
and numbers each partition's records from 0, so a batch retried after a lost answer is
stored once (the broker answers DUPLICATE_SEQUENCE_NUMBER or the first offsets). One
request per leader is in flight at a time; the next batches are built while it is.

Records without a partition go where Kafka's Java producer puts them: murmur2 of the key
modulo the partition count (``BuiltInPartitioner.partitionForKey``), or, for null keys, one
partition per batch in turn (the sticky partitioner of KIP-480).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kafkaish.cli.client import RETRIABLE, CliError, Cluster, TopicInfo, error_text
from kafkaish.cli.records import OutRecord
from kafkaish.wire.constants import Codec
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.init_producer_id import InitProducerIdRequest
from kafkaish.wire.messages.produce import ProduceRequest
from kafkaish.wire.records import Record, build_batch

COMPRESSION = {codec.name.lower(): int(codec) for codec in Codec}
ACKS = {"0": 0, "1": 1, "all": -1, "-1": -1}
PRODUCE_MAX_VERSION = 11  # v12+ name topics by id only
BATCH_BYTES = 512 * 1024  # under message.max.bytes (1 MiB) with room for the header
RETRIES = 10


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2`` (32-bit, seed 0x9747b28c), as a signed int32."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    tail = length & ~3
    for i in range(0, tail, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rest = length & 3
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for_key(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions  # Utils.toPositive


@dataclass
class _Queue:
    records: list[Record] = field(default_factory=list)
    size: int = 0


class Producer:
    """Batches and sends records to one topic."""

    def __init__(self, cluster: Cluster, topic: TopicInfo, *, acks: int = -1, compression: int = 0,
                 idempotent: bool = True, batch_bytes: int = BATCH_BYTES,
                 on_acked: Callable[[int, int], None] | None = None) -> None:
        if idempotent and acks != -1:
            raise CliError("idempotence needs --acks all (Kafka: enable.idempotence requires acks=all)")
        self.cluster = cluster
        self.topic = topic
        self.acks = acks
        self.compression = compression
        self.batch_bytes = batch_bytes
        self.on_acked = on_acked  # (partition, record count) once the broker has them
        self.queues: dict[int, _Queue] = {}
        self.sequences: dict[int, int] = {}
        self.sticky = 0
        # (leader, {partition: (batch, record count)}, correlation id) of requests awaiting answers
        self.in_flight: list[tuple[int, dict[int, tuple[bytes, int]], int]] = []
        self.sent = 0
        self.producer_id, self.producer_epoch = -1, -1
        if idempotent:
            request = InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=60000,
                                            producer_id=-1, producer_epoch=-1)
            for attempt in range(RETRIES * 3):  # a fresh Kafka loads its coordinators for a while
                response = cluster.boot.call(request)
                if response.error_code not in RETRIABLE:
                    break
                time.sleep(min(0.1 * (attempt + 1), 1.0))
            if response.error_code:
                raise CliError("InitProducerId: " + error_text(response.error_code))
            self.producer_id, self.producer_epoch = response.producer_id, response.producer_epoch

    def partition_of(self, record: OutRecord) -> int:
        count = len(self.topic.leaders)
        if record.partition is not None:
            if record.partition not in self.topic.leaders:
                raise CliError(f"topic {self.topic.name!r} has no partition {record.partition} (it has {count})")
            return record.partition
        if record.key is not None:
            return partition_for_key(record.key, count)
        return self.sticky % count

    def send(self, record: OutRecord, now_ms: int | None = None) -> None:
        partition = self.partition_of(record)
        queue = self.queues.setdefault(partition, _Queue())
        timestamp = record.timestamp if record.timestamp is not None else (
            now_ms if now_ms is not None else int(time.time() * 1000))
        queue.records.append(Record(len(queue.records), timestamp, record.key, record.value, record.headers))
        queue.size += record.size
        if queue.size >= self.batch_bytes:
            if record.partition is None and record.key is None:
                self.sticky += 1
            self.flush(wait=False)

    def flush(self, wait: bool = True) -> None:
        """Send what is queued; with ``wait`` also wait for every answer."""
        batches = self._build()
        self._await()
        if batches:
            self._send(batches)
        if wait:
            self._await()

    close = flush

    def _build(self) -> dict[int, dict[int, tuple[bytes, int]]]:
        by_node: dict[int, dict[int, tuple[bytes, int]]] = {}
        for partition, queue in self.queues.items():
            if not queue.records:
                continue
            sequence = self.sequences.get(partition, 0) if self.producer_id >= 0 else -1
            batch = build_batch(queue.records, compression=self.compression, producer_id=self.producer_id,
                                producer_epoch=self.producer_epoch, base_sequence=sequence)
            if self.producer_id >= 0:
                self.sequences[partition] = (sequence + len(queue.records)) % (1 << 31)
            by_node.setdefault(self.topic.leaders[partition], {})[partition] = (batch, len(queue.records))
        self.queues.clear()
        return by_node

    def _send(self, by_node: dict[int, dict[int, tuple[bytes, int]]]) -> None:
        for node, batches in by_node.items():
            self.in_flight.append((node, batches, self._request(node, batches)))

    def _request(self, node: int, batches: dict[int, tuple[bytes, int]]) -> int:
        conn = self.cluster.node(node)
        request = ProduceRequest(transactional_id=None, acks=self.acks, timeout_ms=30000, topic_data=[
            ProduceRequest.TopicProduceData(name=self.topic.name, partition_data=[
                ProduceRequest.PartitionProduceData(index=p, records=batch) for p, (batch, _) in batches.items()])])
        version = conn.version(ProduceRequest, lowest=3, highest=PRODUCE_MAX_VERSION)
        return conn.send(request, version, expect_response=self.acks != 0)

    def _await(self) -> None:
        while self.in_flight:
            node, batches, correlation_id = self.in_flight.pop(0)
            if self.acks == 0:
                for p, (_, n) in batches.items():
                    self._acked(p, n)
                continue
            for attempt in range(RETRIES + 1):
                retry = self._answer(node, batches, correlation_id)
                if not retry:
                    break
                if attempt == RETRIES:
                    raise CliError(f"produce to {self.topic.name}: gave up after {RETRIES} retries")
                time.sleep(min(0.1 * (attempt + 1), 1.0))
                self.topic = self.cluster.topic(self.topic.name)
                # Same batches, same sequence numbers: the broker stores each once.
                regrouped: dict[int, dict[int, tuple[bytes, int]]] = {}
                for p, item in retry.items():
                    regrouped.setdefault(self.topic.leaders[p], {})[p] = item
                (node, batches), *more = regrouped.items()
                for other_node, other_batches in more:
                    self.in_flight.insert(0, (other_node, other_batches, self._request(other_node, other_batches)))
                correlation_id = self._request(node, batches)

    def _answer(self, node: int, batches: dict[int, tuple[bytes, int]], correlation_id: int,
                ) -> dict[int, tuple[bytes, int]]:
        try:
            response = self.cluster.node(node).receive(correlation_id)
        except CliError:
            self.cluster.forget(node)
            return dict(batches)  # the connection broke: resend all (idempotence dedups)
        retry = {}
        for t in response.responses:
            for part in t.partition_responses:
                code = part.error_code
                if code in (0, ErrorCode.DUPLICATE_SEQUENCE_NUMBER):
                    self._acked(part.index, batches[part.index][1])
                elif code in RETRIABLE:
                    retry[part.index] = batches[part.index]
                else:
                    raise CliError(f"produce to {self.topic.name}-{part.index}: "
                                   + error_text(code, getattr(part, "error_message", None)))
        return retry

    def _acked(self, partition: int, count: int) -> None:
        self.sent += count
        if self.on_acked is not None:
            self.on_acked(partition, count)
