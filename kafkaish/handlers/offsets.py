"""Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete.

OffsetCommit: v0-9. OffsetFetch: v0-9. OffsetDelete: v0.

Behavior:
- Validation and storage live in `broker.groups` (`GroupCoordinator`); the broker builds it.
- Partitions of topics that do not exist (or beyond the partition count) are answered
  UNKNOWN_TOPIC_OR_PARTITION and not stored, as KafkaApis.handleOffsetCommitRequest does.
- OffsetFetch with `topics` null (v2+) returns every committed partition of the group;
  RequireStable (v7+) answers UNSTABLE_OFFSET_COMMIT for partitions with pending
  transactional offsets (KIP-447). v8+ fetches several groups in one request.
Version notes: OffsetCommit v0 has no generation/member (a standalone commit); v2-4 carry a
retention time (KIP-211 per-commit expiry); v9 answers KIP-848 errors (STALE_MEMBER_EPOCH,
GROUP_ID_NOT_FOUND). OffsetFetch v0-1 have no top-level error: group errors go to every
partition; v9 carries member id/epoch, checked for KIP-848 groups only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kafkaish.authorizer import Op, ResourceType, authorized
from kafkaish.coordinator.group_results import FetchedOffset, OffsetCommitInput, OffsetFetchResult
from kafkaish.handlers.groups import durable_batch
from kafkaish.registry import RequestContext, handler
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.offset_commit import OffsetCommitRequest, OffsetCommitResponse
from kafkaish.wire.messages.offset_delete import OffsetDeleteRequest, OffsetDeleteResponse
from kafkaish.wire.messages.offset_fetch import OffsetFetchRequest, OffsetFetchResponse

TP = tuple[str, int]


def unknown_partitions(ctx: RequestContext, wanted: Sequence[TP]) -> set[TP]:
    return {(t, p) for t, p in wanted if not ctx.broker.storage.has_partition(t, p)}


# ------------------------------------------------------------------------------ OffsetCommit


@handler(OffsetCommitRequest, min_version=0, max_version=9)
async def offset_commit(ctx: RequestContext, req: OffsetCommitRequest) -> OffsetCommitResponse:
    v = ctx.version
    wanted = [(t.name, p.partition_index) for t in req.topics for p in t.partitions]
    T, P = OffsetCommitResponse.OffsetCommitResponseTopic, OffsetCommitResponse.OffsetCommitResponsePartition
    if not authorized(ctx, Op.READ, ResourceType.GROUP, req.group_id):  # KafkaApis.handleOffsetCommitRequest
        return OffsetCommitResponse(topics=[T(name=t.name, partitions=[
            P(partition_index=p.partition_index, error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
            for p in t.partitions]) for t in req.topics])
    denied = {t.name for t in req.topics if not authorized(ctx, Op.READ, ResourceType.TOPIC, t.name)}
    unknown = unknown_partitions(ctx, [tp for tp in wanted if tp[0] not in denied]) | {
        tp for tp in wanted if tp[0] in denied}
    offsets = [
        OffsetCommitInput(t.name, p.partition_index, p.committed_offset,
                          p.committed_leader_epoch if v >= 6 else -1,
                          p.committed_metadata or "")  # OffsetAndMetadata.fromRequest: null -> ""
        for t in req.topics for p in t.partitions if (t.name, p.partition_index) not in unknown]
    with durable_batch(ctx):
        result = ctx.broker.groups.commit_offsets(
            req.group_id,
            req.member_id if v >= 1 else "",
            req.generation_id_or_member_epoch if v >= 1 else -1,
            req.group_instance_id if v >= 7 else None,
            offsets,
            ctx.broker.now_ms(),
            retention_time_ms=req.retention_time_ms if 2 <= v <= 4 else -1,
            uses_member_epoch=v >= 9,
        )

    def error(tp: TP) -> ErrorCode:
        if tp[0] in denied:
            return ErrorCode.TOPIC_AUTHORIZATION_FAILED
        if tp in unknown:
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        return result.error if result.error != ErrorCode.NONE else result.partitions.get(tp, ErrorCode.NONE)

    return OffsetCommitResponse(topics=[
        T(name=t.name, partitions=[P(partition_index=p.partition_index, error_code=error((t.name, p.partition_index)))
                                   for p in t.partitions])
        for t in req.topics])


# ------------------------------------------------------------------------------ OffsetFetch


def _fetch(ctx: RequestContext, group_id: str, topics: list[Any] | None, require_stable: bool,
           member_id: str | None = None, member_epoch: int = -1) -> OffsetFetchResult:
    if not authorized(ctx, Op.DESCRIBE, ResourceType.GROUP, group_id):  # KafkaApis.handleOffsetFetchRequest
        return OffsetFetchResult(ErrorCode.GROUP_AUTHORIZATION_FAILED)
    wanted = None if topics is None else [(t.name, list(t.partition_indexes)) for t in topics]
    result = ctx.broker.groups.fetch_offsets(group_id, wanted, ctx.broker.now_ms(), require_stable=require_stable,
                                             member_id=member_id, member_epoch=member_epoch)
    if ctx.broker.authorizer is None or result.error:
        return result
    # topics the principal cannot describe: left out of "all", TOPIC_AUTHORIZATION_FAILED when named
    shown = {f.topic: authorized(ctx, Op.DESCRIBE, ResourceType.TOPIC, f.topic) for f in result.partitions}
    return OffsetFetchResult(result.error, tuple(
        f if shown[f.topic] else FetchedOffset(f.topic, f.partition, -1, -1, "", ErrorCode.TOPIC_AUTHORIZATION_FAILED)
        for f in result.partitions if shown[f.topic] or topics is not None))


def _by_topic(partitions: Sequence[FetchedOffset]) -> dict[str, list[FetchedOffset]]:
    out: dict[str, list[FetchedOffset]] = {}
    for f in partitions:
        out.setdefault(f.topic, []).append(f)
    return out


def _response_v0_7(ctx: RequestContext, req: OffsetFetchRequest) -> OffsetFetchResponse:
    v = ctx.version
    topics = req.topics if v >= 2 else (req.topics or [])
    result = _fetch(ctx, req.group_id, topics, req.require_stable if v >= 7 else False)
    T, P = OffsetFetchResponse.OffsetFetchResponseTopic, OffsetFetchResponse.OffsetFetchResponsePartition
    if result.error != ErrorCode.NONE and v < 2:
        # No top-level error field before v2: report it on every requested partition.
        return OffsetFetchResponse(topics=[
            T(name=t.name, partitions=[P(partition_index=p, committed_offset=-1, metadata="", error_code=result.error)
                                       for p in t.partition_indexes]) for t in topics])
    return OffsetFetchResponse(error_code=result.error, topics=[
        T(name=name, partitions=[
            P(partition_index=f.partition, committed_offset=f.offset, committed_leader_epoch=f.leader_epoch,
              metadata=f.metadata, error_code=f.error) for f in parts])
        for name, parts in _by_topic(result.partitions).items()])


def _response_v8(ctx: RequestContext, req: OffsetFetchRequest) -> OffsetFetchResponse:
    v = ctx.version
    G = OffsetFetchResponse.OffsetFetchResponseGroup
    T, P = OffsetFetchResponse.OffsetFetchResponseTopics, OffsetFetchResponse.OffsetFetchResponsePartitions
    groups = []
    for g in req.groups:
        result = _fetch(ctx, g.group_id, g.topics, req.require_stable,
                        g.member_id if v >= 9 else None, g.member_epoch if v >= 9 else -1)
        groups.append(G(group_id=g.group_id, error_code=result.error, topics=[
            T(name=name, partitions=[
                P(partition_index=f.partition, committed_offset=f.offset, committed_leader_epoch=f.leader_epoch,
                  metadata=f.metadata, error_code=f.error) for f in parts])
            for name, parts in _by_topic(result.partitions).items()]))
    return OffsetFetchResponse(groups=groups)


@handler(OffsetFetchRequest, min_version=0, max_version=9)
async def offset_fetch(ctx: RequestContext, req: OffsetFetchRequest) -> OffsetFetchResponse:
    return _response_v8(ctx, req) if ctx.version >= 8 else _response_v0_7(ctx, req)


# ------------------------------------------------------------------------------ OffsetDelete


@handler(OffsetDeleteRequest, min_version=0, max_version=0)
async def offset_delete(ctx: RequestContext, req: OffsetDeleteRequest) -> OffsetDeleteResponse:
    # KafkaApis.handleOffsetDeleteRequest: DELETE on the group, READ on each topic
    if not authorized(ctx, Op.DELETE, ResourceType.GROUP, req.group_id):
        return OffsetDeleteResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    denied = {t.name for t in req.topics if not authorized(ctx, Op.READ, ResourceType.TOPIC, t.name)}
    wanted = [(t.name, p.partition_index) for t in req.topics if t.name not in denied for p in t.partitions]
    unknown = unknown_partitions(ctx, wanted)
    with durable_batch(ctx):
        result = ctx.broker.groups.delete_offsets(req.group_id, [tp for tp in wanted if tp not in unknown],
                                                  ctx.broker.now_ms())
    if result.error != ErrorCode.NONE:
        return OffsetDeleteResponse(error_code=result.error)
    T, P = OffsetDeleteResponse.OffsetDeleteResponseTopic, OffsetDeleteResponse.OffsetDeleteResponsePartition

    def error(tp: TP) -> ErrorCode:
        if tp[0] in denied:
            return ErrorCode.TOPIC_AUTHORIZATION_FAILED
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if tp in unknown else result.partitions.get(tp, ErrorCode.NONE)

    return OffsetDeleteResponse(error_code=ErrorCode.NONE, topics=[
        T(name=t.name, partitions=[P(partition_index=p.partition_index, error_code=error((t.name, p.partition_index)))
                                   for p in t.partitions])
        for t in req.topics])
