"""Produce: v0-11.

Behavior:
- Batches are stored as received; storage validates magic/CRC, assigns offsets by rewriting
  the base offset, and checks producer state (duplicates answer their original offsets).
- Produce never auto-creates topics (Kafka creates on Metadata only):
  UNKNOWN_TOPIC_OR_PARTITION; internal topics answer INVALID_TOPIC_EXCEPTION.
- acks=0: no response; on any error Kafka closes the connection instead, so the producer
  refreshes its metadata (KafkaApis.handleProduceRequest).
- acks other than 0, 1, -1: INVALID_REQUIRED_ACKS.
Version notes: v3+ carries transactional_id; v5+ log_start_offset; v8+ record_errors and
error_message; legacy magic 0/1 message sets (v0-2) are rejected as Kafka 4.0 does.
Simulated cluster (``--brokers N``): a partition this node does not lead answers
NOT_LEADER_OR_FOLLOWER, with the current leader and its endpoint on v10+ (KIP-951); acks=all
with an ISR smaller than min.insync.replicas answers NOT_ENOUGH_REPLICAS.
"""

from __future__ import annotations

import logging

from kafkaish.admin.topic_names import is_internal
from kafkaish.authorizer import Op, ResourceType, authorized
from kafkaish.registry import FaultAction, RequestContext, handler
from kafkaish.wire.constants import Codec
from kafkaish.wire.errors import ErrorCode, KafkaError
from kafkaish.wire import produce_fast
from kafkaish.wire.messages.produce import ProduceRequest, ProduceResponse
from kafkaish.wire.records import iter_batches

log = logging.getLogger("kafkaish.produce")
produce_fast.install()  # hand-written codecs in front of the generic ones (issue #15)
PartitionResponse = ProduceResponse.PartitionProduceResponse


def _check_version(version: int, records: bytes) -> None:
    """ProduceRequest.validateRecords: zstd needs Produce v7+ (KIP-110)."""
    if version < 7:
        for _, header in iter_batches(records):
            if header.compression == Codec.ZSTD:
                raise KafkaError(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
                                 "Produce requests with ZStandard compression need version 7 or later")


def _min_isr(ctx: RequestContext, topic: str) -> int:
    meta = ctx.broker.storage.topics().get(topic)
    value = (meta.configs if meta is not None else {}).get("min.insync.replicas") \
        or ctx.broker.storage.topic_defaults.get("min.insync.replicas", "1")
    return int(value)


def _check_cluster(ctx: RequestContext, topic: str, index: int, acks: int) -> None:
    cluster = ctx.broker.cluster
    cluster.check_leader(topic, index, ctx.broker.node_id)
    if acks == -1:
        cluster.check_min_isr(topic, index, _min_isr(ctx, topic))


def _append(ctx: RequestContext, topic: str, index: int, records: bytes | None, acks: int,
            now_ms: int, internal: bool) -> PartitionResponse:
    storage = ctx.broker.storage
    try:
        if not ctx.broker.cluster.single:  # --brokers N: leader-only
            _check_cluster(ctx, topic, index, acks)
        if records is None:
            raise KafkaError(ErrorCode.CORRUPT_MESSAGE, "null record set")
        if ctx.version < 7:
            _check_version(ctx.version, records)
        log_ = storage.log(topic, index)
        if internal:  # ReplicaManager.appendToLocalLog: "Cannot append to internal topic"
            raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION)  # (Kafka answers no error_message)
        result = log_.append(records, now_ms=now_ms)  # a view of the request frame
    except KafkaError as e:
        if e.code not in (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.NOT_LEADER_OR_FOLLOWER):
            log.info("produce to %s-%d rejected: %s %s", topic, index, e.code.name, e.message or "")
        record_errors = getattr(e, "record_errors", None)  # KIP-467: only these records fail
        answer = PartitionResponse(
            index=index, error_code=e.code, base_offset=-1, log_append_time_ms=-1,
            log_start_offset=storage.log(topic, index).log_start_offset if record_errors else -1,
            error_message=e.message, record_errors=[
                ProduceResponse.BatchIndexAndErrorMessage(batch_index=i, batch_index_error_message=m)
                for i, m in record_errors or ()])
        if e.code == ErrorCode.NOT_LEADER_OR_FOLLOWER:
            leader, epoch = ctx.broker.cluster.leader_and_epoch(topic, index)
            answer.current_leader = ProduceResponse.LeaderIdAndEpoch(leader_id=leader, leader_epoch=epoch)
        return answer
    if not result.duplicate:
        if not storage.acks_wait_for_sync:  # else the fsync raises the high watermark, then wakes fetches
            ctx.broker.data_arrived(topic, index)
        stats = ctx.broker.stats
        if stats is not None:
            stats.produced(topic, len(records), result.last_offset - result.base_offset + 1)
    return produce_fast.partition_response(index, result.base_offset, result.log_append_time,
                                           result.log_start_offset)


def _error(index: int, code: ErrorCode) -> PartitionResponse:
    return PartitionResponse(index=index, error_code=code, base_offset=-1, log_append_time_ms=-1, log_start_offset=-1)


def _unauthorized(ctx: RequestContext, req: ProduceRequest) -> ProduceResponse | None:
    """A transactional produce needs WRITE on its transactional id (KafkaApis.handleProduceRequest)."""
    txn_id = req.transactional_id if ctx.version >= 3 else None
    if txn_id is None or authorized(ctx, Op.WRITE, ResourceType.TRANSACTIONAL_ID, txn_id):
        return None
    code = ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    return ProduceResponse(throttle_time_ms=0, responses=[ProduceResponse.TopicProduceResponse(
        name=t.name, partition_responses=[_error(p.index, code) for p in t.partition_data]) for t in req.topic_data])


@handler(ProduceRequest, min_version=0, max_version=11)
async def produce(ctx: RequestContext, req: ProduceRequest) -> ProduceResponse | FaultAction | None:
    if req.acks not in (0, 1, -1):
        code = ErrorCode.INVALID_REQUIRED_ACKS
        topics = [ProduceResponse.TopicProduceResponse(name=t.name, partition_responses=[
            PartitionResponse(index=p.index, error_code=code, base_offset=-1) for p in t.partition_data])
            for t in req.topic_data]
        return ProduceResponse(responses=topics) if req.acks != 0 else FaultAction.CLOSE
    denied = _unauthorized(ctx, req)
    if denied is not None:
        return denied if req.acks != 0 else FaultAction.CLOSE
    responses = []
    failed = False
    now_ms = ctx.broker.now_ms()  # one clock read per request, not per partition
    try:
        # fsync=always: one fsync per touched file, shared with the requests of other connections,
        # on a worker thread (kafkaish.flusher); acks wait for it, the event loop does not
        with ctx.broker.storage.group_commit(defer=True):
            for t in req.topic_data:
                if ctx.broker.authorizer is not None and not authorized(ctx, Op.WRITE, ResourceType.TOPIC, t.name):
                    parts = [_error(p.index, ErrorCode.TOPIC_AUTHORIZATION_FAILED) for p in t.partition_data]
                else:
                    internal = is_internal(t.name)
                    parts = [_append(ctx, t.name, p.index, p.records, req.acks, now_ms, internal)
                             for p in t.partition_data]
                failed = failed or any(p.error_code for p in parts)
                responses.append(ProduceResponse.TopicProduceResponse(name=t.name, partition_responses=parts))
        await ctx.broker.durable()
    except KafkaError as e:  # the group fsync failed: nothing of this request is known durable
        log.error("produce: fsync failed, answering %s: %s", e.code.name, e.message)
        failed = True
        for topic in responses:
            for p in topic.partition_responses:
                p.error_code, p.base_offset, p.error_message = e.code, -1, e.message
    if req.acks == 0:
        return FaultAction.CLOSE if failed else None
    answer = ProduceResponse(responses=responses, throttle_time_ms=0)
    if failed and ctx.version >= 10:
        answer.node_endpoints = _leader_endpoints(ctx, responses)
    return answer


def _leader_endpoints(ctx: RequestContext, responses: list[ProduceResponse.TopicProduceResponse]) -> list[object]:
    """KIP-951: the endpoints of the leaders named in ``current_leader``."""
    nodes = {p.current_leader.leader_id for t in responses for p in t.partition_responses
             if p.current_leader is not None and p.current_leader.leader_id >= 0}
    cluster = ctx.broker.cluster
    return [ProduceResponse.NodeEndpoint(node_id=n, host=h, port=port, rack=None)
            for n in sorted(nodes) if n in cluster.endpoints for h, port in [cluster.endpoint(n)]]
