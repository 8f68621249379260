"""KIP-848 consumer groups: ConsumerGroupHeartbeat and ConsumerGroupDescribe.

ConsumerGroupHeartbeat: v0-1 (v1, KIP-1082 client-generated member ids, is what librdkafka's
`group.protocol=consumer` sends; its JSON marks it latestVersionUnstable). ConsumerGroupDescribe: v0.

Behavior:
- Assignment is computed by `broker.groups` (server-side assignors `uniform`, `range`);
  a partition reaches its new owner only after the previous owner's heartbeat released it.
- The coordinator needs no waiters here: every heartbeat is answered at once.
Version notes: v0 lets the coordinator generate the member id on join; v1 requires the client's
own (an empty one is INVALID_REQUEST) and adds SubscribedTopicRegex.
"""

from __future__ import annotations

from kafkaish.coordinator.group_results import ConsumerGroupDescription, ConsumerHeartbeatInput
from kafkaish.handlers.groups import client_host
from kafkaish.registry import RequestContext, handler
from kafkaish.wire.constants import AUTHORIZED_OPERATIONS_OMITTED, GROUP_OPERATIONS
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.consumer_group_describe import ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse
from kafkaish.wire.messages.consumer_group_heartbeat import (
    ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
)


@handler(ConsumerGroupHeartbeatRequest, min_version=0, max_version=1)
async def consumer_group_heartbeat(ctx: RequestContext,
                                   req: ConsumerGroupHeartbeatRequest) -> ConsumerGroupHeartbeatResponse:
    if ctx.version >= 1 and not req.member_id:
        return ConsumerGroupHeartbeatResponse(error_code=ErrorCode.INVALID_REQUEST,
                                              error_message="MemberId can't be empty.")
    owned = None
    if req.topic_partitions is not None:
        owned = tuple((tp.topic_id, tuple(tp.partitions)) for tp in req.topic_partitions)
    hb = ConsumerHeartbeatInput(
        group_id=req.group_id,
        member_id=req.member_id,
        member_epoch=req.member_epoch,
        instance_id=req.instance_id,
        rack_id=req.rack_id,
        rebalance_timeout_ms=req.rebalance_timeout_ms,
        subscribed_topic_names=tuple(req.subscribed_topic_names) if req.subscribed_topic_names is not None else None,
        subscribed_topic_regex=req.subscribed_topic_regex if ctx.version >= 1 else None,
        server_assignor=req.server_assignor,
        owned=owned,
        client_id=ctx.client_id or "",
        client_host=client_host(ctx),
    )
    r = ctx.broker.groups.consumer_group_heartbeat(hb, ctx.broker.now_ms())
    R = ConsumerGroupHeartbeatResponse
    assignment = None
    if r.assignment is not None:
        assignment = R.Assignment(topic_partitions=[
            R.TopicPartitions(topic_id=topic_id, partitions=list(parts)) for topic_id, parts in r.assignment])
    return R(error_code=r.error, error_message=r.error_message, member_id=r.member_id, member_epoch=r.member_epoch,
             heartbeat_interval_ms=r.heartbeat_interval_ms, assignment=assignment)


def _described(d: ConsumerGroupDescription, ops: int) -> ConsumerGroupDescribeResponse.DescribedGroup:
    R = ConsumerGroupDescribeResponse

    def assignment(parts: tuple) -> R.Assignment:
        return R.Assignment(topic_partitions=[
            R.TopicPartitions(topic_id=topic_id, topic_name=name, partitions=list(ps)) for topic_id, name, ps in parts])

    members = [R.Member(
        member_id=m.member_id, instance_id=m.instance_id, rack_id=m.rack_id, member_epoch=m.member_epoch,
        client_id=m.client_id, client_host=m.client_host, subscribed_topic_names=list(m.subscribed_topic_names),
        subscribed_topic_regex=m.subscribed_topic_regex, assignment=assignment(m.assignment),
        target_assignment=assignment(m.target_assignment)) for m in d.members]
    return R.DescribedGroup(
        error_code=d.error, error_message=d.error_message, group_id=d.group_id, group_state=d.state,
        group_epoch=d.group_epoch, assignment_epoch=d.assignment_epoch, assignor_name=d.assignor_name,
        members=members, authorized_operations=ops)


@handler(ConsumerGroupDescribeRequest, min_version=0, max_version=0)
async def consumer_group_describe(ctx: RequestContext,
                                  req: ConsumerGroupDescribeRequest) -> ConsumerGroupDescribeResponse:
    ops = GROUP_OPERATIONS if req.include_authorized_operations else AUTHORIZED_OPERATIONS_OMITTED
    described = ctx.broker.groups.consumer_group_describe(req.group_ids, ctx.broker.now_ms())
    return ConsumerGroupDescribeResponse(groups=[_described(d, ops) for d in described])
