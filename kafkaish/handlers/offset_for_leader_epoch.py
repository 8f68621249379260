"""OffsetForLeaderEpoch: v0-4 (KIP-101/KIP-320 truncation detection).

Behavior: a single broker that never changes leader has one leader epoch, 0, since the
partition's creation. Epoch 0 ends at the log end offset; a requested epoch newer than 0
or negative answers UNDEFINED (-1, -1), as ``LeaderEpochFileCache.endOffsetFor`` does when
no epoch is at or above the requested one (compat/FINDINGS.md D11); a current leader epoch
newer than the leader's answers UNKNOWN_LEADER_EPOCH.
With ``--brokers N`` the epoch grows with each leader change; every replica shares the one log,
so no epoch ever ends before the log end: epochs 0..current answer (epoch, log end offset) and
no client ever truncates. Off the leader: NOT_LEADER_OR_FOLLOWER; a stale current epoch:
FENCED_LEADER_EPOCH.
"""

from __future__ import annotations

from kafkaish.authorizer import CLUSTER_NAME, Op, ResourceType, authorized
from kafkaish.registry import RequestContext, handler
from kafkaish.wire.errors import ErrorCode, KafkaError
from kafkaish.wire.messages.offset_for_leader_epoch import (
    OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
)

EpochEndOffset = OffsetForLeaderEpochResponse.EpochEndOffset


def _partition(ctx: RequestContext, topic: str, p: OffsetForLeaderEpochRequest.OffsetForLeaderPartition) -> EpochEndOffset:
    try:
        cluster = ctx.broker.cluster
        cluster.check_leader(topic, p.partition, ctx.broker.node_id, p.current_leader_epoch)
        log = ctx.broker.storage.log(topic, p.partition)
    except KafkaError as e:
        return EpochEndOffset(partition=p.partition, error_code=e.code, leader_epoch=-1, end_offset=-1)
    current = cluster.epoch(topic, p.partition)
    if not 0 <= p.leader_epoch <= current:
        return EpochEndOffset(partition=p.partition, error_code=0, leader_epoch=-1, end_offset=-1)
    return EpochEndOffset(partition=p.partition, error_code=0, leader_epoch=p.leader_epoch,
                          end_offset=log.log_end_offset)


@handler(OffsetForLeaderEpochRequest, min_version=0, max_version=4)
async def offset_for_leader_epoch(ctx: RequestContext, req: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse:
    # KafkaApis.handleOffsetForLeaderEpochRequest: CLUSTER_ACTION on the cluster (brokers), else
    # DESCRIBE on each topic (KIP-320 consumers)
    every = authorized(ctx, Op.CLUSTER_ACTION, ResourceType.CLUSTER, CLUSTER_NAME)

    def denied(p: OffsetForLeaderEpochRequest.OffsetForLeaderPartition) -> EpochEndOffset:
        return EpochEndOffset(partition=p.partition, error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED, leader_epoch=-1,
                              end_offset=-1)

    topics = [
        OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult(
            topic=t.topic, partitions=[_partition(ctx, t.topic, p) for p in t.partitions]
            if every or authorized(ctx, Op.DESCRIBE, ResourceType.TOPIC, t.topic) else [denied(p) for p in t.partitions])
        for t in req.topics
    ]
    return OffsetForLeaderEpochResponse(throttle_time_ms=0, topics=topics)
