"""ListOffsets: v0-10.

Behavior:
- Timestamp -2 earliest (log start offset), -1 latest (high watermark, or the last stable
  offset for read_committed), -3 max timestamp (v7+, KIP-734), -4 earliest local (v8+,
  same as earliest without tiered storage), -5 latest tiered (v9+, KIP-1005: -1, nothing is
  tiered, as UnifiedLog answers without remote storage); any other value: the first offset
  whose batch max timestamp is >= it.
- v0 answers ``old_style_offsets``; v1+ ``timestamp`` and ``offset``; v4+ leader epoch 0, or
  -1 with an answer of no offset (Kafka's empty leader epoch, compat/FINDINGS.md D8).
- A spec newer than the request version (-3 below v7, -4 below v8, -5 below v9) answers
  UNSUPPORTED_VERSION for the partition, as Kafka does (compat/FINDINGS.md D9).
"""

from __future__ import annotations

from kafkaish.authorizer import Op, ResourceType, authorized
from kafkaish.registry import RequestContext, handler
from kafkaish.wire.constants import IsolationLevel, OffsetSpec
from kafkaish.wire.errors import ErrorCode, KafkaError
from kafkaish.wire.messages.list_offsets import ListOffsetsRequest, ListOffsetsResponse

Partition = ListOffsetsResponse.ListOffsetsPartitionResponse
# the first ListOffsets version that knows each special timestamp
_SPEC_SINCE = {OffsetSpec.MAX_TIMESTAMP: 7, OffsetSpec.EARLIEST_LOCAL: 8, OffsetSpec.LATEST_TIERED: 9}


def _lookup(ctx: RequestContext, req: ListOffsetsRequest, topic: str, p: int, ts: int) -> tuple[int, int]:
    log = ctx.broker.storage.log(topic, p)
    if ts in (OffsetSpec.EARLIEST, OffsetSpec.EARLIEST_LOCAL):
        return -1, log.log_start_offset
    if ts == OffsetSpec.LATEST:
        return -1, (log.last_stable_offset if req.isolation_level == IsolationLevel.READ_COMMITTED else log.high_watermark)
    if ts == OffsetSpec.LATEST_TIERED:
        return -1, -1
    found = log.max_timestamp_offset() if ts == OffsetSpec.MAX_TIMESTAMP else log.offset_for_timestamp(ts)
    return (-1, -1) if found is None else (found.timestamp, found.offset)


def _partition(ctx: RequestContext, req: ListOffsetsRequest, topic: str,
               p: ListOffsetsRequest.ListOffsetsPartition) -> ListOffsetsResponse.ListOffsetsPartitionResponse:
    try:
        ctx.broker.cluster.check_leader(topic, p.partition_index, ctx.broker.node_id, p.current_leader_epoch)
        if ctx.version < _SPEC_SINCE.get(p.timestamp, 0):
            raise KafkaError(ErrorCode.UNSUPPORTED_VERSION)
        timestamp, offset = _lookup(ctx, req, topic, p.partition_index, p.timestamp)
    except KafkaError as e:
        return Partition(partition_index=p.partition_index, error_code=e.code, timestamp=-1, offset=-1)
    if ctx.version == 0:
        return Partition(partition_index=p.partition_index, error_code=0,
                         old_style_offsets=[offset] if offset >= 0 else [])
    return Partition(partition_index=p.partition_index, error_code=0, timestamp=timestamp,
                     offset=offset, leader_epoch=ctx.broker.cluster.epoch(topic, p.partition_index) if offset >= 0 else -1)


@handler(ListOffsetsRequest, min_version=0, max_version=10)
async def list_offsets(ctx: RequestContext, req: ListOffsetsRequest) -> ListOffsetsResponse:
    topics = [
        ListOffsetsResponse.ListOffsetsTopicResponse(
            name=t.name, partitions=[_partition(ctx, req, t.name, p) for p in t.partitions]
            if authorized(ctx, Op.DESCRIBE, ResourceType.TOPIC, t.name) else [
                Partition(partition_index=p.partition_index, error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                          timestamp=-1, offset=-1) for p in t.partitions])
        for t in req.topics
    ]
    return ListOffsetsResponse(throttle_time_ms=0, topics=topics)
