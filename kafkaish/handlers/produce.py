"""Produce: v0-11.

Behavior:
- ProduceRequest.validateRecords first (v3+: exactly one batch per partition, magic 2; answered
  with no offsets and no message), then storage validates CRC/size/records (LogValidator),
  assigns offsets by rewriting the base offset, and checks producer state (duplicates answer
  their original offsets and timestamp). Append errors carry the log start offset except
  Kafka's "known" ones (``_NO_LOG_START``).
- Transactional batches need a transactional id (else the whole request is
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and, for a partition where the producer has no open
  transaction yet, the coordinator's word that the partition was added (KIP-890 part 1).
- Produce never auto-creates topics (Kafka creates on Metadata only):
  UNKNOWN_TOPIC_OR_PARTITION; internal topics answer INVALID_TOPIC_EXCEPTION.
- acks=0: no response; on any error Kafka closes the connection instead, so the producer
  refreshes its metadata (KafkaApis.handleProduceRequest).
- acks other than 0, 1, -1: INVALID_REQUIRED_ACKS.
Version notes: v3+ carries transactional_id; v5+ log_start_offset; v8+ record_errors and
error_message; v11+ TRANSACTION_ABORTABLE. Legacy magic 0/1 message sets (v0-2) are rejected
(Kafka 4.0 removed Produce v0-2, KIP-896; the 4.0 trunk snapshot still up-converts them).
Simulated cluster (``--brokers N``): a partition this node does not lead answers
NOT_LEADER_OR_FOLLOWER, with the current leader and its endpoint on v10+ (KIP-951); acks=all
with an ISR smaller than min.insync.replicas answers NOT_ENOUGH_REPLICAS.
"""

from __future__ import annotations

import logging
import struct
from typing import TYPE_CHECKING

from kafkaish.admin.topic_names import is_internal
from kafkaish.authorizer import Op, ResourceType, authorized
from kafkaish.registry import FaultAction, RequestContext, handler
from kafkaish.wire.constants import LOG_OVERHEAD, Codec
from kafkaish.wire.errors import ErrorCode, KafkaError
from kafkaish.wire import produce_fast
from kafkaish.wire.messages.produce import ProduceRequest, ProduceResponse
from kafkaish.wire.records import (MAGIC, TRANSACTIONAL_FLAG, BatchHeader, CorruptRecordError, iter_batches,
                                   parse_header)

if TYPE_CHECKING:
    from kafkaish.storage.log import PartitionLog

log = logging.getLogger("kafkaish.produce")
produce_fast.install()  # hand-written codecs in front of the generic ones (issue #15)
PartitionResponse = ProduceResponse.PartitionProduceResponse
_INT32 = struct.Struct(">i")


# Errors Kafka answers without the partition's log start offset (ReplicaManager.appendToLocalLog's
# "known exceptions"); any other append error carries it (processFailedRecord).
_NO_LOG_START = frozenset({ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.NOT_LEADER_OR_FOLLOWER,
                           ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.RECORD_LIST_TOO_LARGE, ErrorCode.CORRUPT_MESSAGE,
                           ErrorCode.KAFKA_STORAGE_ERROR, ErrorCode.INVALID_TOPIC_EXCEPTION})


class _Refused(KafkaError):
    """Answered before any append, as ``new PartitionResponse(error)``: no offsets, no message
    (KafkaApis.handleProduceRequest's invalidRequestResponses, or a failed KIP-890 verification)."""


def _batch_size(records: bytes | memoryview, pos: int) -> int | None:
    """ByteBufferLogInputStream.nextBatchSize: the size of the complete batch at ``pos``, or None."""
    remaining = len(records) - pos
    if remaining < LOG_OVERHEAD:
        return None
    (length,) = _INT32.unpack_from(records, pos + 8)
    if length < 14:  # LegacyRecord.RECORD_OVERHEAD_V0
        raise CorruptRecordError(f"record size {length} is less than the minimum record overhead")
    if remaining < 17:  # HEADER_SIZE_UP_TO_MAGIC
        return None
    magic = records[pos + 16]
    if magic > MAGIC:
        raise CorruptRecordError(f"Invalid magic found in record: {magic}")
    size = length + LOG_OVERHEAD
    return size if size <= remaining else None


def _validate_records(version: int, records: bytes | memoryview) -> None:
    """ProduceRequest.validateRecords: from v3 exactly one batch, of magic 2 (a legacy message set
    is INVALID_RECORD, which clients do not retry); zstd needs v7+ (KIP-110)."""
    if version < 3:
        for _, header in iter_batches(records):
            if header.compression == Codec.ZSTD:
                raise _Refused(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
                               "Produce requests with ZStandard compression need version 7 or later")
        return
    n = len(records)
    if n >= 23 and records[16] == MAGIC and (version >= 7 or records[22] & 0x07 != Codec.ZSTD):
        (length,) = _INT32.unpack_from(records, 8)
        if length >= 14 and length + LOG_OVERHEAD == n:  # exactly one complete batch: the usual case
            return
    first = _batch_size(records, 0)
    if first is None:
        raise _Refused(ErrorCode.INVALID_RECORD,
                       f"Produce requests with version {version} must have at least one record batch per partition")
    if records[16] != MAGIC:
        raise _Refused(ErrorCode.INVALID_RECORD, f"Produce requests with version {version} are only allowed to "
                                                 "contain record batches with magic version 2")
    if version < 7 and records[22] & 0x07 == Codec.ZSTD:
        raise _Refused(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
                       "Produce requests with ZStandard compression need version 7 or later")
    if _batch_size(records, first) is not None:
        raise _Refused(ErrorCode.INVALID_RECORD, f"Produce requests with version {version} are only allowed to "
                                                 "contain exactly one record batch per partition")


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
            now_ms: int, internal: bool, txn_id: str | None) -> PartitionResponse:
    storage = ctx.broker.storage
    try:
        if not ctx.broker.cluster.single:  # --brokers N: leader-only
            _check_cluster(ctx, topic, index, acks)
        if records is None:
            raise KafkaError(ErrorCode.CORRUPT_MESSAGE, "null record set")
        log_ = storage.log(topic, index)
        _validate_records(ctx.version, records)
        if internal:  # ReplicaManager.appendToLocalLog: "Cannot append to internal topic"
            raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION)  # (Kafka answers no error_message)
        if txn_id is not None and records[22] & TRANSACTIONAL_FLAG:
            _verify_transaction(ctx, txn_id, log_, parse_header(records))
        result = log_.append(records, now_ms=now_ms)  # a view of the request frame
    except KafkaError as e:
        return _failed(ctx, topic, index, e)
    if not result.duplicate:
        if not storage.acks_wait_for_sync:  # else the fsync raises the high watermark, then wakes fetches
            ctx.broker.data_arrived(topic, index)
        stats = ctx.broker.stats
        if stats is not None:
            stats.produced(topic, len(records), result.last_offset - result.base_offset + 1)
    return produce_fast.partition_response(index, result.base_offset, result.log_append_time,
                                           result.log_start_offset)


def _failed(ctx: RequestContext, topic: str, index: int, e: KafkaError) -> PartitionResponse:
    if e.code not in (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.NOT_LEADER_OR_FOLLOWER):
        log.info("produce to %s-%d rejected: %s %s", topic, index, e.code.name, e.message or "")
    if isinstance(e, _Refused):
        return _error(index, e.code, e.message if e.code in _EXPLAINED else None)
    log_start = -1
    if e.code not in _NO_LOG_START:
        try:
            log_start = ctx.broker.storage.log(topic, index).log_start_offset
        except KafkaError:
            pass
    record_errors = getattr(e, "record_errors", None)  # KIP-467: only these records fail
    answer = PartitionResponse(
        index=index, error_code=e.code, base_offset=-1, log_append_time_ms=-1, log_start_offset=log_start,
        error_message=e.message, record_errors=[
            ProduceResponse.BatchIndexAndErrorMessage(batch_index=i, batch_index_error_message=m)
            for i, m in record_errors or ()])
    if e.code == ErrorCode.NOT_LEADER_OR_FOLLOWER:
        leader, epoch = ctx.broker.cluster.leader_and_epoch(topic, index)
        answer.current_leader = ProduceResponse.LeaderIdAndEpoch(leader_id=leader, leader_epoch=epoch)
    return answer


# Verification errors Kafka explains (ReplicaManager.handleProduceAppend's customException)
_EXPLAINED = frozenset({ErrorCode.INVALID_TXN_STATE, ErrorCode.NOT_ENOUGH_REPLICAS})


def _verify_transaction(ctx: RequestContext, txn_id: str, log_: PartitionLog, header: BatchHeader) -> None:
    """KIP-890 part 1 (transaction.partition.verification.enable, on in Kafka 4.0): a transactional
    batch for a partition where the producer has no open transaction yet must be in the coordinator's
    transaction. Error mapping: AddPartitionsToTxnManager and ReplicaManager.handleProduceAppend."""
    if log_.has_ongoing_transaction(header.producer_id):
        return
    if (ctx.broker.configs.dynamic_value("transaction.partition.verification.enable") or "").lower() == "false":
        return  # a dynamic broker config in Kafka (TransactionLogConfig)
    key = (log_.topic, log_.partition)
    error = ctx.broker.txns.verify_partitions(txn_id, header.producer_id, header.producer_epoch, [key])[key]
    if error == ErrorCode.NONE:
        return
    if error == ErrorCode.PRODUCER_FENCED:
        raise _Refused(ErrorCode.INVALID_PRODUCER_EPOCH)
    if error == ErrorCode.TRANSACTION_ABORTABLE:
        if ctx.version > 10:  # clients that know TRANSACTION_ABORTABLE (KIP-890)
            raise _Refused(ErrorCode.TRANSACTION_ABORTABLE)
        raise _Refused(ErrorCode.INVALID_TXN_STATE, "Partition was not added to the transaction")
    if error == ErrorCode.CONCURRENT_TRANSACTIONS:  # retriable without a metadata refresh
        raise _Refused(ErrorCode.NOT_ENOUGH_REPLICAS, "Unable to verify the partition has been added to the "
                                                      f"transaction. Underlying error: {error.name}")
    raise _Refused(error)


def _error(index: int, code: ErrorCode, message: str | None = None) -> PartitionResponse:
    return PartitionResponse(index=index, error_code=code, base_offset=-1, log_append_time_ms=-1, log_start_offset=-1,
                             error_message=message)


def _unauthorized(ctx: RequestContext, req: ProduceRequest) -> ProduceResponse | None:
    """Transactional records need a transactional id with WRITE on it, else the whole request is
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED (KafkaApis.handleProduceRequest)."""
    if not _has_transactional_records(req):
        return None
    txn_id = req.transactional_id if ctx.version >= 3 else None
    if txn_id is not None and authorized(ctx, Op.WRITE, ResourceType.TRANSACTIONAL_ID, txn_id):
        return None
    code = ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    return ProduceResponse(throttle_time_ms=0, responses=[ProduceResponse.TopicProduceResponse(
        name=t.name, partition_responses=[_error(p.index, code) for p in t.partition_data]) for t in req.topic_data])


def _has_transactional_records(req: ProduceRequest) -> bool:
    """RequestUtils.hasTransactionalRecords: the first batch of some partition is transactional."""
    for t in req.topic_data:
        for p in t.partition_data:
            r = p.records
            if r is not None and len(r) > 22 and r[22] & TRANSACTIONAL_FLAG and r[16] == MAGIC:
                return True
    return False


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
    txn_id = req.transactional_id if ctx.version >= 3 else None
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
                    parts = [_append(ctx, t.name, p.index, p.records, req.acks, now_ms, internal, txn_id)
                             for p in t.partition_data]
                failed = failed or any(p.error_code for p in parts)
                responses.append(produce_fast.topic_response(t.name, parts))
        await ctx.broker.durable()
    except KafkaError as e:  # the group fsync failed: nothing of this request is known durable
        log.error("produce: fsync failed, answering %s: %s", e.code.name, e.message)
        failed = True
        for topic in responses:
            for p in topic.partition_responses:
                p.error_code, p.base_offset, p.error_message = e.code, -1, e.message
    if req.acks == 0:
        return FaultAction.CLOSE if failed else None
    answer = produce_fast.response(responses)
    if failed and ctx.version >= 10:
        answer.node_endpoints = _leader_endpoints(ctx, responses)
    return answer


def _leader_endpoints(ctx: RequestContext, responses: list[ProduceResponse.TopicProduceResponse]) -> list[object]:
    """KIP-951: the endpoints of the leaders named in ``current_leader``."""
    nodes = {p.current_leader.leader_id for t in responses for p in t.partition_responses
             if p.current_leader is not None and p.current_leader.leader_id >= 0}
    cluster = ctx.broker.cluster
    return [ProduceResponse.NodeEndpoint(node_id=n, host=h, port=port, rack=None)
            for n in sorted(nodes) if n in cluster.endpoints for h, port in [cluster.endpoint(n, ctx.session.listener)]]
