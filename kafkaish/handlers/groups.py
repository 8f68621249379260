"""Classic consumer-group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
DescribeGroups, ListGroups, DeleteGroups.

FindCoordinator: v0-6. JoinGroup: v0-9. SyncGroup: v0-5. Heartbeat: v0-4. LeaveGroup: v0-5.
DescribeGroups: v0-5. ListGroups: v0-5. DeleteGroups: v0-2.

Behavior:
- `ctx.broker.groups` is the sans-IO `GroupCoordinator` the broker built (offsets durable in
  the engine's "groups" state store); the broker runs its `tick` and delivers what it completes.
- Parked requests: the waiter handed to the coordinator is an asyncio future; every
  `Completion` the coordinator returns (from any request or from `tick`) resolves one.
- FindCoordinator: groups (key type 0) and transactional ids (key type 1) are placed as Kafka
  places them (``ClusterState.coordinator``; with one broker, this one); other key types
  (2 = share groups) get INVALID_REQUEST; an internal partition without a leader:
  COORDINATOR_NOT_AVAILABLE.
  v4+ batches keys. v0-3 carry one key.
- Client hosts are shown as Kafka does ("/127.0.0.1").
Version notes: JoinGroup v4+ requires a known member id (KIP-394), v5+ static membership,
v9 skipAssignment (KIP-814). LeaveGroup v0-2 carry one member and answer its error at top
level; v3+ batch members with per-member errors. DescribeGroups < 6 answers an unknown group
with state Dead and no error; authorized operations are Int.MIN (omitted) unless requested (v3+).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from kafkaish.admin.internal_topics import ensure_internal_topic
from kafkaish.admin.topic_names import GROUP_METADATA_TOPIC, TRANSACTION_STATE_TOPIC
from kafkaish.coordinator.group_results import JoinGroupInput, JoinGroupResult, LeaveMember
from kafkaish.parked import deliver
from kafkaish.authorizer import CLUSTER_NAME, Op, ResourceType, authorized, operations_allowed
from kafkaish.registry import RequestContext, handler
from kafkaish.wire.constants import AUTHORIZED_OPERATIONS_OMITTED, GROUP_OPERATIONS, CoordinatorType
from kafkaish.wire.errors import ErrorCode, KafkaError
from kafkaish.wire.messages.delete_groups import DeleteGroupsRequest, DeleteGroupsResponse
from kafkaish.wire.messages.describe_groups import DescribeGroupsRequest, DescribeGroupsResponse
from kafkaish.wire.messages.find_coordinator import FindCoordinatorRequest, FindCoordinatorResponse
from kafkaish.wire.messages.heartbeat import HeartbeatRequest, HeartbeatResponse
from kafkaish.wire.messages.join_group import JoinGroupRequest, JoinGroupResponse
from kafkaish.wire.messages.leave_group import LeaveGroupRequest, LeaveGroupResponse
from kafkaish.wire.messages.list_groups import ListGroupsRequest, ListGroupsResponse
from kafkaish.wire.messages.sync_group import SyncGroupRequest, SyncGroupResponse

log = logging.getLogger("kafkaish.groups")


def durable_batch(ctx: RequestContext) -> contextlib.AbstractContextManager[None]:
    """One fsync for all of a request's offset writes under fsync=always."""
    return ctx.broker.storage.group_commit()


def client_host(ctx: RequestContext) -> str:
    return f"/{ctx.client_host}" if ctx.client_host else ""


# ------------------------------------------------------------------------------ FindCoordinator


def _coordinator(ctx: RequestContext, key_type: int, key: str) -> tuple[int, str | None, int, str, int]:
    """(error, message, node, host, port) for one key; DESCRIBE on the group or transactional id is needed."""
    if key_type not in (CoordinatorType.GROUP, CoordinatorType.TRANSACTION):
        return ErrorCode.INVALID_REQUEST, f"unsupported key type {key_type}", -1, "", -1
    group = key_type == CoordinatorType.GROUP
    if not authorized(ctx, Op.DESCRIBE, ResourceType.GROUP if group else ResourceType.TRANSACTIONAL_ID, key):
        code = ErrorCode.GROUP_AUTHORIZATION_FAILED if group else ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        return code, None, -1, "", -1
    b = ctx.broker
    if b.cluster.single:
        return ErrorCode.NONE, None, b.node_id, *b.endpoint(ctx.session.listener)
    node = b.cluster.coordinator(key, key_type)  # --brokers N: the node that coordinates the key
    if node < 0:
        return ErrorCode.COORDINATOR_NOT_AVAILABLE, None, -1, "", -1
    return ErrorCode.NONE, None, node, *b.cluster.endpoint(node, ctx.session.listener)


@handler(FindCoordinatorRequest, min_version=0, max_version=6)
async def find_coordinator(ctx: RequestContext, req: FindCoordinatorRequest) -> FindCoordinatorResponse:
    key_type = req.key_type if ctx.version >= 1 else CoordinatorType.GROUP
    keys = [req.key] if ctx.version < 4 else req.coordinator_keys
    answers = [(key, _coordinator(ctx, key_type, key)) for key in keys]
    internal = GROUP_METADATA_TOPIC if key_type == CoordinatorType.GROUP else TRANSACTION_STATE_TOPIC
    if not ctx.broker.storage.has_partition(internal, 0) and any(code == ErrorCode.NONE for _, (code, *_rest) in answers):
        # KafkaApis.getCoordinator creates the coordinator's internal topic on first use
        try:
            await ensure_internal_topic(ctx.broker.topics, internal)
        except KafkaError as e:
            log.warning("cannot create %s: %s", internal, e.message)
            answers = [(key, (ErrorCode.COORDINATOR_NOT_AVAILABLE, None, -1, "", -1) if a[0] == ErrorCode.NONE else a)
                       for key, a in answers]
        else:  # its partitions' leaders coordinate now: answer where they are
            answers = [(key, _coordinator(ctx, key_type, key)) for key in keys]
    if ctx.version < 4:
        code, message, node, host, port = answers[0][1]
        return FindCoordinatorResponse(error_code=code, error_message=message, node_id=node, host=host, port=port)
    C = FindCoordinatorResponse.Coordinator
    return FindCoordinatorResponse(coordinators=[
        C(key=key, node_id=node, host=host, port=port, error_code=code, error_message=message)
        for key, (code, message, node, host, port) in answers])


# ------------------------------------------------------------------------------ JoinGroup / SyncGroup


@handler(JoinGroupRequest, min_version=0, max_version=9)
async def join_group(ctx: RequestContext, req: JoinGroupRequest) -> JoinGroupResponse:
    v = ctx.version
    if not authorized(ctx, Op.READ, ResourceType.GROUP, req.group_id):
        return JoinGroupResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED, generation_id=-1,
                                 protocol_name="" if v < 7 else None, leader="", member_id=req.member_id, members=[])
    join = JoinGroupInput(
        group_id=req.group_id,
        member_id=req.member_id,
        protocol_type=req.protocol_type,
        protocols=tuple((p.name, bytes(p.metadata)) for p in req.protocols),
        session_timeout_ms=req.session_timeout_ms,
        rebalance_timeout_ms=req.rebalance_timeout_ms if v >= 1 else -1,
        group_instance_id=req.group_instance_id if v >= 5 else None,
        client_id=ctx.client_id or "",
        client_host=client_host(ctx),
        require_known_member_id=v >= 4,
        supports_skip_assignment=v >= 9,
        reason=req.reason if v >= 8 else None,
    )
    future: asyncio.Future[JoinGroupResult] = asyncio.get_running_loop().create_future()
    deliver(ctx.broker.groups.join_group(join, future, ctx.broker.now_ms()))
    r = await future
    M = JoinGroupResponse.JoinGroupResponseMember
    return JoinGroupResponse(
        error_code=r.error, generation_id=r.generation_id, protocol_type=r.protocol_type,
        protocol_name=r.protocol_name if r.protocol_name is not None or v >= 7 else "",
        leader=r.leader, skip_assignment=r.skip_assignment, member_id=r.member_id,
        members=[M(member_id=m.member_id, group_instance_id=m.group_instance_id, metadata=m.metadata)
                 for m in r.members])


@handler(SyncGroupRequest, min_version=0, max_version=5)
async def sync_group(ctx: RequestContext, req: SyncGroupRequest) -> SyncGroupResponse:
    v = ctx.version
    if not authorized(ctx, Op.READ, ResourceType.GROUP, req.group_id):
        return SyncGroupResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED, assignment=b"")
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    deliver(ctx.broker.groups.sync_group(
        req.group_id, req.member_id, req.generation_id, req.group_instance_id if v >= 3 else None,
        req.protocol_type if v >= 5 else None, req.protocol_name if v >= 5 else None,
        {a.member_id: bytes(a.assignment) for a in req.assignments}, future, ctx.broker.now_ms()))
    r = await future
    return SyncGroupResponse(error_code=r.error, protocol_type=r.protocol_type, protocol_name=r.protocol_name,
                             assignment=r.assignment)


# ------------------------------------------------------------------------------ Heartbeat / LeaveGroup


@handler(HeartbeatRequest, min_version=0, max_version=4)
async def heartbeat(ctx: RequestContext, req: HeartbeatRequest) -> HeartbeatResponse:
    if not authorized(ctx, Op.READ, ResourceType.GROUP, req.group_id):
        return HeartbeatResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED)
    instance = req.group_instance_id if ctx.version >= 3 else None
    code = ctx.broker.groups.heartbeat(req.group_id, req.member_id, req.generation_id, instance, ctx.broker.now_ms())
    return HeartbeatResponse(error_code=code)


@handler(LeaveGroupRequest, min_version=0, max_version=5)
async def leave_group(ctx: RequestContext, req: LeaveGroupRequest) -> LeaveGroupResponse:
    v = ctx.version
    if not authorized(ctx, Op.READ, ResourceType.GROUP, req.group_id):
        return LeaveGroupResponse(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED, members=[])
    if v < 3:
        leaving = [LeaveMember(req.member_id)]
    else:
        leaving = [LeaveMember(m.member_id, m.group_instance_id, m.reason if v >= 5 else None) for m in req.members]
    result, completions = ctx.broker.groups.leave_group(req.group_id, leaving, ctx.broker.now_ms())
    deliver(completions)
    if v < 3:
        # LeaveGroupResponse (v0-2) carries the single member's error at top level.
        code = result.error if result.error != ErrorCode.NONE else result.members[0].error
        return LeaveGroupResponse(error_code=code)
    R = LeaveGroupResponse.MemberResponse
    return LeaveGroupResponse(error_code=result.error, members=[
        R(member_id=m.member_id, group_instance_id=m.group_instance_id, error_code=m.error) for m in result.members])


# ------------------------------------------------------------------------------ admin


@handler(DescribeGroupsRequest, min_version=0, max_version=5)
async def describe_groups(ctx: RequestContext, req: DescribeGroupsRequest) -> DescribeGroupsResponse:
    want_ops = ctx.version >= 3 and req.include_authorized_operations
    G, M = DescribeGroupsResponse.DescribedGroup, DescribeGroupsResponse.DescribedGroupMember
    groups = []
    allowed = [g for g in req.groups if authorized(ctx, Op.DESCRIBE, ResourceType.GROUP, g)]
    # KafkaApis.handleDescribeGroupsRequest: the authorized groups' descriptions, then the others
    denied = list(G(error_code=ErrorCode.GROUP_AUTHORIZATION_FAILED, group_id=g, group_state="",
                    protocol_type="", protocol_data="", members=[], authorized_operations=AUTHORIZED_OPERATIONS_OMITTED)
                  for g in req.groups if g not in allowed)
    for d in ctx.broker.groups.describe_groups(allowed, ctx.broker.now_ms()):
        ops = operations_allowed(ctx, ResourceType.GROUP, d.group_id, GROUP_OPERATIONS) if want_ops \
            else AUTHORIZED_OPERATIONS_OMITTED
        # Before v6 an unknown group is described as Dead without an error (KIP-1043 added it).
        code = ErrorCode.NONE if d.error == ErrorCode.GROUP_ID_NOT_FOUND else d.error
        groups.append(G(
            error_code=code, group_id=d.group_id, group_state=d.state, protocol_type=d.protocol_type,
            protocol_data=d.protocol_data, authorized_operations=ops,
            members=[M(member_id=m.member_id, group_instance_id=m.group_instance_id, client_id=m.client_id,
                       client_host=m.client_host, member_metadata=m.metadata, member_assignment=m.assignment)
                     for m in d.members]))
    return DescribeGroupsResponse(groups=groups + denied)


@handler(ListGroupsRequest, min_version=0, max_version=5)
async def list_groups(ctx: RequestContext, req: ListGroupsRequest) -> ListGroupsResponse:
    states = req.states_filter if ctx.version >= 4 else []
    types = req.types_filter if ctx.version >= 5 else []
    L = ListGroupsResponse.ListedGroup
    listed = ctx.broker.groups.list_groups(ctx.broker.now_ms(), states, types)
    if not authorized(ctx, Op.DESCRIBE, ResourceType.CLUSTER, CLUSTER_NAME):  # else only describable groups
        listed = [g for g in listed if authorized(ctx, Op.DESCRIBE, ResourceType.GROUP, g.group_id)]
    return ListGroupsResponse(error_code=ErrorCode.NONE, groups=[
        L(group_id=g.group_id, protocol_type=g.protocol_type, group_state=g.state, group_type=g.group_type)
        for g in listed])


@handler(DeleteGroupsRequest, min_version=0, max_version=2)
async def delete_groups(ctx: RequestContext, req: DeleteGroupsRequest) -> DeleteGroupsResponse:
    allowed = [g for g in req.groups_names if authorized(ctx, Op.DELETE, ResourceType.GROUP, g)]
    with durable_batch(ctx):
        results = ctx.broker.groups.delete_groups(allowed, ctx.broker.now_ms())
    R = DeleteGroupsResponse.DeletableGroupResult
    return DeleteGroupsResponse(results=[
        R(group_id=g, error_code=results[g] if g in results else ErrorCode.GROUP_AUTHORIZATION_FAILED)
        for g in dict.fromkeys(req.groups_names)])
