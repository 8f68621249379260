"""KIP-848 online migration between classic and consumer groups, and classic members inside a
consumer group (Kafka 4.0's default `group.consumer.migration.policy=bidirectional`).

Theory of operation (Kafka's GroupMetadataManager: validateOnlineUpgrade / convertToConsumerGroup,
validateOnlineDowngradeWithFencedMember / convertToClassicGroup, classicGroupJoinToConsumerGroup,
classicGroupSyncToConsumerGroup, classicGroupHeartbeatToConsumerGroup,
classicGroupLeaveToConsumerGroup; ConsumerGroup.fromClassicGroup, ClassicGroup.fromConsumerGroup):

  Upgrade    a ConsumerGroupHeartbeat join (epoch 0) to a non-empty classic group whose protocol
             type is "consumer" converts it. Group epoch and every member's epoch become the
             classic generation; each member keeps its last SyncGroup assignment as its assigned
             partitions and target, subscribed to the topics of its JoinGroup metadata. Parked
             JoinGroup/SyncGroup requests are answered REBALANCE_IN_PROGRESS. The joining member then
             bumps the group epoch as any new member does.
  Classic    a member that came with JoinGroup stays a classic member: its JoinGroup is answered at
  members    once with its member epoch as generation id, no leader and no member list (it is a
             follower); reconciliation takes the owned partitions of its subscription (none before
             ConsumerProtocolSubscription v1). SyncGroup answers its assigned partitions encoded with
             its metadata's ConsumerProtocol version, or REBALANCE_IN_PROGRESS while the group
             epoch is ahead (unless it still has partitions to revoke). Heartbeat answers
             REBALANCE_IN_PROGRESS while it must rejoin: epoch behind the group, partitions to
             revoke, or partitions it waited for now free. It must rejoin / sync within its
             rebalance timeout and heartbeat within its own session timeout, or it is fenced.
  Downgrade  when the last consumer-protocol member is fenced (leave heartbeat, session or
             rebalance timeout) and classic members remain, the group becomes a classic group in
             Stable at generation = group epoch, each member's target assignment serialized as its
             SyncGroup assignment, and a rebalance starts so they rejoin as a classic group.

  Deliberate simplifications: no group size limits (group.consumer.max.size /
  group.classic.max.size); a classic member without any SyncGroup assignment upgrades with no
  partitions (Kafka refuses the upgrade: the empty assignment does not parse); a static classic
  member replacing the last consumer-protocol static member does not downgrade the group.
"""

from __future__ import annotations

import logging
import struct
import uuid
from collections.abc import Callable, Sequence

from kafkaish.coordinator.group_classic import ClassicGroup, ClassicMember
from kafkaish.coordinator.group_consumer import (
    Assignment,
    ClassicMemberMetadata,
    ConsumerGroup,
    ConsumerMember,
    MemberState,
    TopicMap,
)
from kafkaish.coordinator.group_results import (
    ClassicState,
    Completion,
    GroupConfig,
    JoinGroupInput,
    JoinGroupResult,
    LeaveMember,
    LeaveMemberResult,
    SyncGroupResult,
)
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.consumer_protocol_assignment import ConsumerProtocolAssignment
from kafkaish.wire.messages.consumer_protocol_subscription import ConsumerProtocolSubscription

log = logging.getLogger("kafkaish.group")

_E = ErrorCode
PROTOCOL_TYPE = "consumer"  # ConsumerProtocol.PROTOCOL_TYPE


class MalformedProtocolError(ValueError):
    """The embedded consumer protocol of a member does not parse."""


# -- the embedded consumer protocol -----------------------------------------------------------


def _version(data: bytes) -> int:
    if len(data) < 2:
        raise MalformedProtocolError("no version")
    return struct.unpack_from(">h", data)[0]


def subscription(metadata: bytes) -> ConsumerProtocolSubscription:
    version = _version(metadata)
    if version < 0:
        raise MalformedProtocolError(f"version {version}")
    try:  # newer versions only append fields: read them as the highest version known
        return ConsumerProtocolSubscription.decode(metadata[2:], min(version, ConsumerProtocolSubscription.MAX_VERSION),
                                                   exact=False)
    except Exception as e:  # noqa: BLE001 - any decoding problem is a malformed subscription
        raise MalformedProtocolError(str(e)) from e


def _ids(parts: Sequence[tuple[str, Sequence[int]]], topics: TopicMap) -> Assignment:
    out: dict[uuid.UUID, frozenset[int]] = {}
    for name, ps in parts:
        if name in topics and ps:
            topic_id = topics[name][0]
            out[topic_id] = out.get(topic_id, frozenset()) | frozenset(ps)
    return out


def owned_partitions(sub: ConsumerProtocolSubscription, topics: TopicMap) -> Assignment:
    """The subscription's owned partitions (v1+); none before."""
    return _ids([(tp.topic, tp.partitions) for tp in (getattr(sub, "owned_partitions", None) or [])], topics)


def assignment_ids(data: bytes, topics: TopicMap) -> Assignment:
    if not data:
        return {}
    version = _version(data)
    try:
        decoded = ConsumerProtocolAssignment.decode(data[2:], min(max(version, 0), ConsumerProtocolAssignment.MAX_VERSION),
                                                    exact=False)
    except Exception as e:  # noqa: BLE001
        raise MalformedProtocolError(str(e)) from e
    return _ids([(tp.topic, tp.partitions) for tp in decoded.assigned_partitions], topics)


def serialize_assignment(assigned: Assignment, topics: TopicMap, metadata: bytes) -> bytes:
    """ConsumerProtocol.serializeAssignment in the version of the member's subscription."""
    names = {topic_id: name for name, (topic_id, _) in topics.items()}
    version = min(max(_version(metadata) if len(metadata) >= 2 else 0, 0), ConsumerProtocolAssignment.MAX_VERSION)
    tps = [ConsumerProtocolAssignment.TopicPartition(topic=names[t], partitions=sorted(ps))
           for t, ps in sorted(assigned.items(), key=lambda x: names.get(x[0], "")) if t in names]
    return struct.pack(">h", version) + ConsumerProtocolAssignment(assigned_partitions=tps, user_data=None).encode(version)


# -- upgrade and downgrade --------------------------------------------------------------------


def can_upgrade(group: ClassicGroup) -> bool:
    """validateOnlineUpgrade (the policy is bidirectional; no size limit here)."""
    return group.protocol_type == PROTOCOL_TYPE


def upgrade(classic: ClassicGroup, config: GroupConfig, topics: TopicMap,
            now_ms: int) -> tuple[ConsumerGroup, list[Completion]]:
    """ConsumerGroup.fromClassicGroup; raises MalformedProtocolError (the group stays classic)."""
    group = ConsumerGroup(classic.group_id, config, now_ms)
    group.group_epoch = group.assignment_epoch = classic.generation_id
    for m in classic.members.values():
        sub = subscription(m.metadata(classic.protocol_name or (m.protocols[0][0] if m.protocols else "")))
        assigned = assignment_ids(m.assignment, topics)
        member = ConsumerMember(
            m.member_id, m.group_instance_id, now_ms, rack_id=getattr(sub, "rack_id", None), client_id=m.client_id,
            client_host=m.client_host, rebalance_timeout_ms=m.rebalance_timeout_ms,
            subscribed_topic_names=tuple(sorted(sub.topics)), member_epoch=classic.generation_id,
            previous_member_epoch=classic.generation_id, assigned=assigned,
            classic=ClassicMemberMetadata(m.session_timeout_ms, m.protocols))
        group.members[m.member_id] = member
        group.target[m.member_id] = dict(assigned)
        if m.group_instance_id is not None:
            group.static_members[m.group_instance_id] = m.member_id
    names = group.subscribed_topics(topics)
    group.subscription_metadata = {n: topics[n] for n in names if n in topics}
    out = classic.abandon(_E.REBALANCE_IN_PROGRESS)
    log.info("group %s upgraded from classic to consumer at epoch %d with %d classic members (KIP-848)",
             group.group_id, group.group_epoch, len(group.members))
    return group, out


def can_downgrade(group: ConsumerGroup, fenced_member_id: str) -> bool:
    """validateOnlineDowngradeWithFencedMember: the fenced member is the last one using the
    consumer protocol and classic members remain."""
    return len(group.members) > 1 and group.uses_classic_members_only_except(fenced_member_id)


def downgrade(group: ConsumerGroup, leaving_member_id: str, config: GroupConfig, topics: TopicMap, now_ms: int,
              new_member_id: Callable[[str], str]) -> tuple[ClassicGroup, list[Completion]]:
    """ClassicGroup.fromConsumerGroup, then a rebalance (convertToClassicGroup)."""
    classic = ClassicGroup(group.group_id, config, now_ms, new_member_id, PROTOCOL_TYPE)
    classic.state = ClassicState.STABLE
    classic.generation_id = group.group_epoch
    for member_id, m in group.members.items():
        if member_id == leaving_member_id or m.classic is None:
            continue
        classic.members[member_id] = ClassicMember(
            member_id, m.instance_id, m.client_id, m.client_host, m.classic.session_timeout_ms,
            m.rebalance_timeout_ms, PROTOCOL_TYPE, m.classic.protocols, now_ms)
        if m.instance_id is not None:
            classic.static_members[m.instance_id] = member_id
    classic.leader_id = next(iter(classic.members))
    classic.protocol_name = classic.select_protocol()
    for member_id, cm in classic.members.items():
        cm.assignment = serialize_assignment(group.target.get(member_id, {}), topics, cm.metadata(classic.protocol_name))
    log.info("group %s downgraded from consumer to classic at generation %d with %d members (KIP-848)",
             group.group_id, classic.generation_id, len(classic.members))
    return classic, classic.start_rebalance(now_ms)


# -- classic members in a consumer group ------------------------------------------------------


def _member(group: ConsumerGroup, member_id: str, instance_id: str | None) -> ConsumerMember | ErrorCode:
    """validateConsumerGroupMember + throwIfMemberDoesNotUseClassicProtocol."""
    if instance_id is None:
        member = group.members.get(member_id)
    else:
        holder = group.static_members.get(instance_id)
        member = group.members.get(holder) if holder is not None else None
        if member is not None and member.member_id != member_id:
            return _E.FENCED_INSTANCE_ID
    if member is None or member.classic is None:
        return _E.UNKNOWN_MEMBER_ID
    return member


def _supports(group: ConsumerGroup, protocol_type: str, names: set[str]) -> bool:
    """ConsumerGroup.supportsClassicProtocols: one protocol every classic member supports."""
    if protocol_type != PROTOCOL_TYPE or not names:
        return False
    supported = [{n for n, _ in m.classic.protocols} for m in group.members.values() if m.classic is not None]
    return any(all(name in s for s in supported) for name in names)


def _join_member(group: ConsumerGroup, req: JoinGroupInput, member_id: str, now_ms: int) -> ConsumerMember | ErrorCode:
    """getOrMaybeSubscribe{Dynamic,Static}ConsumerGroupMember for a classic join."""
    if req.group_instance_id is None:
        return group.members.get(member_id) or ConsumerMember(member_id, None, now_ms)
    holder_id = group.static_members.get(req.group_instance_id)
    holder = group.members.get(holder_id) if holder_id is not None else None
    if holder is None:
        if req.member_id:
            return _E.UNKNOWN_MEMBER_ID
        return ConsumerMember(member_id, req.group_instance_id, now_ms)
    if req.member_id and req.member_id != holder.member_id:
        return _E.FENCED_INSTANCE_ID
    if holder.member_id != member_id:  # a static member rejoining under a new id replaces the old one
        del group.members[holder.member_id]
        group.target[member_id] = group.target.pop(holder.member_id, {})
        holder.member_id = member_id
        holder.member_epoch = holder.previous_member_epoch = 0
    return holder


def classic_join(group: ConsumerGroup, req: JoinGroupInput, topics: TopicMap, now_ms: int) -> JoinGroupResult:
    """classicGroupJoinToConsumerGroup: answered at once."""
    member_id = req.member_id or str(uuid.uuid4())
    if not _supports(group, req.protocol_type, {name for name, _ in req.protocols}):
        return JoinGroupResult(_E.INCONSISTENT_GROUP_PROTOCOL, member_id=req.member_id)
    if req.require_known_member_id and not req.member_id and req.group_instance_id is None:
        return JoinGroupResult(_E.MEMBER_ID_REQUIRED, member_id=member_id)  # KIP-394
    try:
        sub = subscription(req.protocols[0][1])
    except MalformedProtocolError:
        return JoinGroupResult(_E.INCONSISTENT_GROUP_PROTOCOL, member_id=req.member_id)
    member = _join_member(group, req, member_id, now_ms)
    if isinstance(member, ErrorCode):
        return JoinGroupResult(member, member_id=req.member_id)
    names = tuple(sorted(sub.topics))
    joined = member.member_id not in group.members
    changed = joined or names != member.subscribed_topic_names or member.subscribed_topic_regex is not None
    group.members[member.member_id] = member
    if member.instance_id is not None:
        group.static_members[member.instance_id] = member.member_id
    member.subscribed_topic_names, member.subscribed_topic_regex = names, None
    member.rack_id = getattr(sub, "rack_id", None) or member.rack_id
    member.rebalance_timeout_ms = req.rebalance_timeout_ms if req.rebalance_timeout_ms >= 0 else req.session_timeout_ms
    member.client_id, member.client_host = req.client_id, req.client_host
    member.classic = ClassicMemberMetadata(req.session_timeout_ms, req.protocols)
    member.last_heartbeat_ms = now_ms
    group.update_and_reconcile(member, changed, owned_partitions(sub, topics), topics, now_ms)
    member.join_deadline_ms = None
    member.sync_deadline_ms = now_ms + member.rebalance_timeout_ms
    return JoinGroupResult(_E.NONE, member.member_id, member.member_epoch, PROTOCOL_TYPE,
                           member.classic.protocol_name())


def _must_rejoin(group: ConsumerGroup, member: ConsumerMember, now_ms: int) -> None:
    if member.join_deadline_ms is None:  # scheduleConsumerGroupJoinTimeoutIfAbsent
        member.join_deadline_ms = now_ms + member.rebalance_timeout_ms


def classic_sync(group: ConsumerGroup, member_id: str, generation_id: int, instance_id: str | None,
                 protocol_type: str | None, protocol_name: str | None, topics: TopicMap,
                 now_ms: int) -> SyncGroupResult:
    """classicGroupSyncToConsumerGroup."""
    member = _member(group, member_id, instance_id)
    if isinstance(member, ErrorCode):
        return SyncGroupResult(member)
    assert member.classic is not None
    if generation_id != member.member_epoch:
        return SyncGroupResult(_E.ILLEGAL_GENERATION)
    name = member.classic.protocol_name()
    if (protocol_type is not None and protocol_type != PROTOCOL_TYPE) or (
            protocol_name is not None and protocol_name != name):
        return SyncGroupResult(_E.INCONSISTENT_GROUP_PROTOCOL)
    if group.group_epoch > member.member_epoch and member.state != MemberState.UNREVOKED_PARTITIONS:
        _must_rejoin(group, member, now_ms)
        return SyncGroupResult(_E.REBALANCE_IN_PROGRESS)
    member.sync_deadline_ms = None
    member.last_heartbeat_ms = now_ms
    return SyncGroupResult(_E.NONE, PROTOCOL_TYPE, name,
                           serialize_assignment(member.assigned, topics, member.classic.protocols[0][1]))


def classic_heartbeat(group: ConsumerGroup, member_id: str, generation_id: int, instance_id: str | None,
                      now_ms: int) -> ErrorCode:
    """classicGroupHeartbeatToConsumerGroup: REBALANCE_IN_PROGRESS tells the member to rejoin."""
    member = _member(group, member_id, instance_id)
    if isinstance(member, ErrorCode):
        return member
    if generation_id != member.member_epoch:
        return _E.ILLEGAL_GENERATION
    member.last_heartbeat_ms = now_ms
    if (member.member_epoch < group.group_epoch or member.state == MemberState.UNREVOKED_PARTITIONS
            or (member.state == MemberState.UNRELEASED_PARTITIONS and not group.waiting_on_unreleased(member))):
        _must_rejoin(group, member, now_ms)
        return _E.REBALANCE_IN_PROGRESS
    return _E.NONE


def classic_leave(group: ConsumerGroup, leaving: Sequence[LeaveMember], topics: TopicMap,
                  now_ms: int) -> list[LeaveMemberResult]:
    """classicGroupLeaveToConsumerGroup (an admin may remove a static member by instance id alone)."""
    results: list[LeaveMemberResult] = []
    for item in leaving:
        if item.group_instance_id is not None and not item.member_id:
            holder = group.static_members.get(item.group_instance_id)
            member = _member(group, holder or "", item.group_instance_id)
        else:
            member = _member(group, item.member_id, item.group_instance_id)
        if isinstance(member, ErrorCode):
            results.append(LeaveMemberResult(item.member_id, item.group_instance_id, member))
            continue
        group.remove_member(member, topics)
        results.append(LeaveMemberResult(member.member_id, item.group_instance_id, _E.NONE))
    group.note_state(now_ms)
    return results
