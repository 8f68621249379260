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

from kafkaish.authorizer import Op, ResourceType, authorized, operations_allowed
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


def _blank(value: str | None) -> bool:
    return value is not None and not value.strip()


def invalid_heartbeat(req: ConsumerGroupHeartbeatRequest, version: int,
                      assignors: tuple[str, ...]) -> tuple[ErrorCode, str] | None:
    """GroupMetadataManager.throwIfConsumerGroupHeartbeatRequestIsInvalid, checked in its order
    before the group is looked up (an unknown assignor on a join with null TopicPartitions is
    INVALID_REQUEST, as Kafka answers: differential finding D18)."""
    bad = ErrorCode.INVALID_REQUEST
    if _blank(req.group_id):
        return bad, "GroupId can't be empty."
    if _blank(req.instance_id):
        return bad, "InstanceId can't be empty."
    if _blank(req.rack_id):
        return bad, "RackId can't be empty."
    if version >= 1 and not req.member_id.strip():  # KIP-1082: the client names itself
        return bad, "MemberId can't be empty."
    if req.member_epoch > 0 or req.member_epoch == -1:
        if not req.member_id.strip():
            return bad, "MemberId can't be empty."
    elif req.member_epoch == 0:
        if req.rebalance_timeout_ms == -1:
            return bad, "RebalanceTimeoutMs must be provided in first request."
        if req.topic_partitions is None or req.topic_partitions:
            return bad, "TopicPartitions must be empty when (re-)joining."
        if req.subscribed_topic_names is None and (version < 1 or req.subscribed_topic_regex is None):
            return bad, "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining."
    elif req.member_epoch == -2:
        if not req.member_id.strip():
            return bad, "MemberId can't be empty."
        if req.instance_id is None:
            return bad, "InstanceId can't be null."
    else:
        return bad, "MemberEpoch is invalid."
    if req.server_assignor is not None and req.server_assignor not in assignors:
        return ErrorCode.UNSUPPORTED_ASSIGNOR, (f"ServerAssignor {req.server_assignor} is not supported. "
                                                f"Supported assignors: {', '.join(assignors)}.")
    return None


@handler(ConsumerGroupHeartbeatRequest, min_version=0, max_version=1)
async def consumer_group_heartbeat(ctx: RequestContext,
                                   req: ConsumerGroupHeartbeatRequest) -> ConsumerGroupHeartbeatResponse:
    # KafkaApis.handleConsumerGroupHeartbeat: READ on the group, then DESCRIBE on every subscribed topic,
    # before the coordinator validates the request
    if not authorized(ctx, Op.READ, ResourceType.GROUP, req.group_id):
        return ConsumerGroupHeartbeatResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    if req.subscribed_topic_names and not all(
            authorized(ctx, Op.DESCRIBE, ResourceType.TOPIC, t) for t in req.subscribed_topic_names):
        return ConsumerGroupHeartbeatResponse(error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED)
    invalid = invalid_heartbeat(req, ctx.version, ctx.broker.groups.config_for(req.group_id).consumer_assignors)
    if invalid is not None:
        return ConsumerGroupHeartbeatResponse(error_code=invalid[0], error_message=invalid[1])
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
    # KafkaApis.handleConsumerGroupDescribe: DESCRIBE on each group; a group whose members' assignments
    # name a topic the principal may not describe is TOPIC_AUTHORIZATION_FAILED, without members
    R = ConsumerGroupDescribeResponse
    allowed = [g for g in req.group_ids if authorized(ctx, Op.DESCRIBE, ResourceType.GROUP, g)]
    denied = [R.DescribedGroup(group_id=g, error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
              for g in req.group_ids if g not in allowed]
    out = []
    for d in ctx.broker.groups.consumer_group_describe(allowed, ctx.broker.now_ms()):
        topics = {name for m in d.members for parts in (m.assignment, m.target_assignment) for _, name, _ in parts}
        if not all(authorized(ctx, Op.DESCRIBE, ResourceType.TOPIC, t) for t in topics):
            out.append(R.DescribedGroup(
                group_id=d.group_id, error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED, members=[],
                error_message="The group has described topic(s) that the client is not authorized to describe."))
            continue
        ops = AUTHORIZED_OPERATIONS_OMITTED
        if req.include_authorized_operations and d.error == ErrorCode.NONE:
            ops = operations_allowed(ctx, ResourceType.GROUP, d.group_id, GROUP_OPERATIONS)
        out.append(_described(d, ops))
    return R(groups=denied + out)
