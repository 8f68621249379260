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
"""

from __future__ import annotations

import logging

from kafkaish.admin.topic_names import is_internal
from kafkaish.registry import FaultAction, RequestContext, handler
from kafkaish.wire.constants import Codec
from kafkaish.wire.errors import ErrorCode, KafkaError
from kafkaish.wire.messages.produce import ProduceRequest, ProduceResponse
from kafkaish.wire.records import iter_batches

log = logging.getLogger("kafkaish.produce")
PartitionResponse = ProduceResponse.PartitionProduceResponse


def _check_version(version: int, records: bytes) -> None:
    """ProduceRequest.validateRecords: zstd needs Produce v7+ (KIP-110)."""
    if version < 7:
        for _, header in iter_batches(records):
            if header.compression == Codec.ZSTD:
                raise KafkaError(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
                                 "Produce requests with ZStandard compression need version 7 or later")


def _append(ctx: RequestContext, topic: str, index: int, records: bytes | None) -> PartitionResponse:
    storage = ctx.broker.storage
    try:
        if records is None:
            raise KafkaError(ErrorCode.CORRUPT_MESSAGE, "null record set")
        _check_version(ctx.version, records)
        log_ = storage.log(topic, index)
        if is_internal(topic):  # ReplicaManager.appendToLocalLog: "Cannot append to internal topic"
            raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION)  # (Kafka answers no error_message)
        result = log_.append(records, now_ms=ctx.broker.now_ms())  # a view of the request frame
    except KafkaError as e:
        if e.code not in (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,):
            log.info("produce to %s-%d rejected: %s %s", topic, index, e.code.name, e.message or "")
        record_errors = getattr(e, "record_errors", None)  # KIP-467: only these records fail
        return PartitionResponse(
            index=index, error_code=e.code, base_offset=-1, log_append_time_ms=-1,
            log_start_offset=storage.log(topic, index).log_start_offset if record_errors else -1,
            error_message=e.message, record_errors=[
                ProduceResponse.BatchIndexAndErrorMessage(batch_index=i, batch_index_error_message=m)
                for i, m in record_errors or ()])
    if not result.duplicate:
        ctx.broker.data_arrived(topic, index)
        stats = ctx.broker.stats
        if stats is not None:
            stats.produced(topic, len(records), result.last_offset - result.base_offset + 1)
    return PartitionResponse(index=index, error_code=0, base_offset=result.base_offset,
                             log_append_time_ms=result.log_append_time,
                             log_start_offset=result.log_start_offset)


@handler(ProduceRequest, min_version=0, max_version=11)
async def produce(ctx: RequestContext, req: ProduceRequest) -> ProduceResponse | FaultAction | None:
    if req.acks not in (0, 1, -1):
        code = ErrorCode.INVALID_REQUIRED_ACKS
        topics = [ProduceResponse.TopicProduceResponse(name=t.name, partition_responses=[
            PartitionResponse(index=p.index, error_code=code, base_offset=-1) for p in t.partition_data])
            for t in req.topic_data]
        return ProduceResponse(responses=topics) if req.acks != 0 else FaultAction.CLOSE
    responses = []
    failed = False
    try:
        # fsync=always: one fsync per touched file for the whole request, before any ack
        with ctx.broker.storage.group_commit():
            for t in req.topic_data:
                parts = [_append(ctx, t.name, p.index, p.records) for p in t.partition_data]
                failed = failed or any(p.error_code for p in parts)
                responses.append(ProduceResponse.TopicProduceResponse(name=t.name, partition_responses=parts))
    except KafkaError as e:  # the group fsync failed: nothing of this request is known durable
        log.error("produce: fsync failed, answering %s: %s", e.code.name, e.message)
        failed = True
        for topic in responses:
            for p in topic.partition_responses:
                p.error_code, p.base_offset, p.error_message = e.code, -1, e.message
    if req.acks == 0:
        return FaultAction.CLOSE if failed else None
    return ProduceResponse(responses=responses, throttle_time_ms=0)
