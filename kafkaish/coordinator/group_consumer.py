"""KIP-848 consumer groups: ConsumerGroupHeartbeat with server-side assignment.

Theory of operation (Kafka's ConsumerGroup, ConsumerGroupMember, CurrentAssignmentBuilder):

  Epochs
    group epoch        bumped when membership, a subscription or the subscribed topics' metadata
                       changes; the target assignment is recomputed at once by the group's assignor,
                       so the assignment epoch always catches up with the group epoch here.
    member epoch       the epoch of the assignment the member currently holds. 0 in a request = join,
                       -1 = leave, -2 = static member leaving temporarily (keeps its partitions until
                       its session expires or the same instance id rejoins).

  Member reconciliation (one step per heartbeat)
    STABLE                 member epoch == assignment epoch and it holds its whole target.
    UNREVOKED_PARTITIONS   the target took partitions away: the member is told its assignment without
                           them and keeps its epoch until a heartbeat's owned partitions no longer
                           contain them (or it is fenced after its rebalance timeout).
    UNRELEASED_PARTITIONS  the member moved to the new epoch but some target partitions are still held
                           (assigned or pending revocation) by another member: they are handed over on a
                           later heartbeat once released. A partition never has two owners.

  Group state (ConsumerGroup.computeState): Empty (no members), Assigning (target behind the group
  epoch; never observable here), Reconciling (a member is not at the assignment epoch or not
  STABLE), Stable.

  Errors: UNKNOWN_MEMBER_ID (member not found), FENCED_MEMBER_EPOCH (epoch ahead of the member's, or
  behind it without being the just-previous epoch with a subset of the assignment), UNRELEASED_INSTANCE_ID
  (instance id still held by an active member), UNSUPPORTED_ASSIGNOR, INVALID_REQUEST.

  Classic members (KIP-848 online migration, `group_migration`): a group converted from a classic
  group keeps its JoinGroup members; they reconcile through JoinGroup (answered at once with their
  member epoch as generation), SyncGroup (their assigned partitions) and Heartbeat
  (REBALANCE_IN_PROGRESS when they must rejoin), with their own session timeout and join/sync
  deadlines of one rebalance timeout.

  Deliberate simplifications: no rack-aware assignment; a member rejoining with epoch 0 and a known
  member id is reset (its partitions released) instead of fenced.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from enum import IntEnum

from kafkaish.coordinator.group_assignors import ASSIGNORS, Assignment
from kafkaish.coordinator.group_results import (
    ConsumerGroupDescription,
    ConsumerGroupState,
    ConsumerHeartbeatInput,
    ConsumerHeartbeatResult,
    ConsumerMemberDescription,
    GroupConfig,
)
from kafkaish.wire.errors import ErrorCode

log = logging.getLogger("kafkaish.group")

_E = ErrorCode
LEAVE_EPOCH = -1
STATIC_LEAVE_EPOCH = -2
TopicMap = dict[str, tuple[uuid.UUID, int]]


class MemberState(IntEnum):
    STABLE = 0
    UNREVOKED_PARTITIONS = 1
    UNRELEASED_PARTITIONS = 2


@dataclass(slots=True)
class ClassicMemberMetadata:
    """What a member using JoinGroup keeps in a consumer group (ConsumerGroupMemberMetadataValue.ClassicMemberMetadata)."""

    session_timeout_ms: int
    protocols: tuple[tuple[str, bytes], ...]

    def protocol_name(self) -> str:
        return self.protocols[0][0] if self.protocols else ""


@dataclass(slots=True)
class ConsumerMember:
    member_id: str
    instance_id: str | None
    last_heartbeat_ms: int
    rack_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    rebalance_timeout_ms: int = 300_000
    subscribed_topic_names: tuple[str, ...] = ()
    subscribed_topic_regex: str | None = None
    server_assignor: str | None = None
    member_epoch: int = 0
    previous_member_epoch: int = -1
    state: MemberState = MemberState.STABLE
    assigned: Assignment = field(default_factory=dict)
    pending_revocation: Assignment = field(default_factory=dict)
    revocation_deadline_ms: int | None = None
    #: set for a member that uses the classic protocol (JoinGroup/SyncGroup/Heartbeat)
    classic: ClassicMemberMetadata | None = None
    #: classic members: told to rejoin (REBALANCE_IN_PROGRESS) / joined but not yet synced
    join_deadline_ms: int | None = None
    sync_deadline_ms: int | None = None

    def session_deadline_ms(self, consumer_session_timeout_ms: int) -> int:
        timeout = self.classic.session_timeout_ms if self.classic is not None else consumer_session_timeout_ms
        return self.last_heartbeat_ms + timeout

    def deadlines(self, consumer_session_timeout_ms: int) -> list[int]:
        out = [self.session_deadline_ms(consumer_session_timeout_ms)]
        out += [d for d in (self.revocation_deadline_ms, self.join_deadline_ms, self.sync_deadline_ms) if d is not None]
        return out

    def subscribed(self, topics: TopicMap) -> frozenset[str]:
        names = set(self.subscribed_topic_names)
        if self.subscribed_topic_regex:
            try:
                pattern = re.compile(self.subscribed_topic_regex)
            except re.error:
                pattern = None
            if pattern is not None:
                names.update(n for n in topics if pattern.fullmatch(n))
        return frozenset(names)


def _minus(a: Assignment, b: Assignment) -> Assignment:
    out = {t: ps - b.get(t, frozenset()) for t, ps in a.items()}
    return {t: ps for t, ps in out.items() if ps}


def _intersect(a: Assignment, b: Assignment) -> Assignment:
    out = {t: ps & b.get(t, frozenset()) for t, ps in a.items()}
    return {t: ps for t, ps in out.items() if ps}


def _union(a: Assignment, b: Assignment) -> Assignment:
    return {t: a.get(t, frozenset()) | b.get(t, frozenset()) for t in {*a, *b}}


def _to_assignment(owned: tuple[tuple[uuid.UUID, tuple[int, ...]], ...]) -> Assignment:
    out: dict[uuid.UUID, frozenset[int]] = {}
    for topic_id, parts in owned:
        out[topic_id] = out.get(topic_id, frozenset()) | frozenset(parts)
    return {t: ps for t, ps in out.items() if ps}


def _is_subset(a: Assignment, b: Assignment) -> bool:
    return all(ps <= b.get(t, frozenset()) for t, ps in a.items())


def _wire(a: Assignment) -> tuple[tuple[uuid.UUID, tuple[int, ...]], ...]:
    return tuple((t, tuple(sorted(ps))) for t, ps in sorted(a.items(), key=lambda x: str(x[0])))


class ConsumerGroup:
    """One KIP-848 group."""

    def __init__(self, group_id: str, config: GroupConfig, now_ms: int) -> None:
        self.group_id = group_id
        self.config = config
        self.group_epoch = 0
        self.assignment_epoch = 0
        self.members: dict[str, ConsumerMember] = {}
        self.static_members: dict[str, str] = {}
        self.target: dict[str, Assignment] = {}
        self.assignor = config.consumer_assignors[0]
        self.subscription_metadata: TopicMap = {}
        self.state_since_ms = now_ms
        self._last_state = ConsumerGroupState.EMPTY

    # -- state ------------------------------------------------------------------------------

    def state(self) -> ConsumerGroupState:
        if not self.members:
            return ConsumerGroupState.EMPTY
        if self.assignment_epoch != self.group_epoch:
            return ConsumerGroupState.ASSIGNING
        if any(m.member_epoch != self.assignment_epoch or m.state != MemberState.STABLE
               for m in self.members.values()):
            return ConsumerGroupState.RECONCILING
        return ConsumerGroupState.STABLE

    def _note_state(self, now_ms: int) -> None:
        state = self.state()
        if state != self._last_state:
            self._last_state = state
            self.state_since_ms = now_ms

    def is_empty(self) -> bool:
        return not self.members

    def _bump_and_assign(self, topics: TopicMap) -> None:
        """New group epoch and target assignment (Kafka runs the assignor asynchronously)."""
        self.group_epoch += 1
        names = frozenset(n for m in self.members.values() for n in m.subscribed(topics))
        self.subscription_metadata = {n: topics[n] for n in names if n in topics}
        wanted = {m.server_assignor for m in self.members.values() if m.server_assignor}
        if len(wanted) == 1:
            self.assignor = next(iter(wanted))
        subs = {mid: m.subscribed(topics) for mid, m in self.members.items()}
        self.target = ASSIGNORS[self.assignor](subs, self.subscription_metadata, self.target)
        self.assignment_epoch = self.group_epoch
        log.info("group %s rebalanced: epoch %d, %d members, protocol consumer/%s (KIP-848)", self.group_id,
                 self.group_epoch, len(self.members), self.assignor)

    def _metadata_changed(self, topics: TopicMap) -> bool:
        names = {n for m in self.members.values() for n in m.subscribed(topics)}
        return {n: topics[n] for n in names if n in topics} != self.subscription_metadata

    # -- heartbeat -----------------------------------------------------------------------------

    def heartbeat(self, hb: ConsumerHeartbeatInput, topics: TopicMap, new_member_id: str,
                  now_ms: int) -> ConsumerHeartbeatResult:
        if hb.member_epoch in (LEAVE_EPOCH, STATIC_LEAVE_EPOCH):
            return self._leave(hb, topics, now_ms)
        if hb.server_assignor is not None and hb.server_assignor not in self.config.consumer_assignors:
            return ConsumerHeartbeatResult(_E.UNSUPPORTED_ASSIGNOR, f"assignor {hb.server_assignor} unknown")
        member_or_error = self._find_member(hb, new_member_id, topics, now_ms)
        if isinstance(member_or_error, ConsumerHeartbeatResult):
            return member_or_error
        member, joined = member_or_error
        before = dict(member.assigned)
        changed = self._update_member(member, hb, now_ms) or joined
        if changed or self._metadata_changed(topics):
            self._bump_and_assign(topics)
        owned = _to_assignment(hb.owned) if hb.owned is not None else None
        self._reconcile(member, owned, now_ms)
        self._note_state(now_ms)
        # GroupMetadataManager.consumerGroupHeartbeat sends the assignment only to a full request
        # (joining, or every optional field set after an error) or when it changed (finding D22).
        full = hb.member_epoch == 0 or (hb.rebalance_timeout_ms != -1 and hb.owned is not None and (
            hb.subscribed_topic_names is not None or hb.subscribed_topic_regex is not None))
        send = full or member.assigned != before
        return ConsumerHeartbeatResult(
            _E.NONE, None, member.member_id, member.member_epoch, self.config.consumer_heartbeat_interval_ms,
            _wire(member.assigned) if send else None)

    def _find_member(self, hb: ConsumerHeartbeatInput, new_member_id: str, topics: TopicMap,
                     now_ms: int) -> tuple[ConsumerMember, bool] | ConsumerHeartbeatResult:
        if hb.member_epoch == 0:
            return self._join(hb, new_member_id, topics, now_ms)
        member = self.members.get(hb.member_id)
        if member is None:
            return ConsumerHeartbeatResult(_E.UNKNOWN_MEMBER_ID, f"member {hb.member_id} unknown")
        if hb.member_epoch > member.member_epoch:
            return ConsumerHeartbeatResult(_E.FENCED_MEMBER_EPOCH, "epoch ahead of the member's")
        if hb.member_epoch < member.member_epoch:
            # The response carrying the new epoch may have been lost: accept the previous epoch
            # if the member owns no more than its current assignment.
            owned = _to_assignment(hb.owned) if hb.owned is not None else None
            if hb.member_epoch != member.previous_member_epoch or (
                    owned is not None and not _is_subset(owned, member.assigned)):
                return ConsumerHeartbeatResult(_E.FENCED_MEMBER_EPOCH, "stale member epoch")
        return member, False

    def _join(self, hb: ConsumerHeartbeatInput, new_member_id: str, topics: TopicMap,
              now_ms: int) -> tuple[ConsumerMember, bool] | ConsumerHeartbeatResult:
        if hb.rebalance_timeout_ms < 0 or (hb.subscribed_topic_names is None and hb.subscribed_topic_regex is None):
            return ConsumerHeartbeatResult(_E.INVALID_REQUEST, "join needs a rebalance timeout and a subscription")
        member_id = hb.member_id or new_member_id
        if hb.instance_id is not None:
            holder_id = self.static_members.get(hb.instance_id)
            holder = self.members.get(holder_id) if holder_id is not None else None
            if holder is not None and holder_id != member_id:
                if holder.member_epoch != STATIC_LEAVE_EPOCH:
                    return ConsumerHeartbeatResult(_E.UNRELEASED_INSTANCE_ID,
                                                   f"instance {hb.instance_id} is used by {holder_id}")
                # Static member coming back (KIP-848): the new member id takes over the assignment
                # and reconciles from epoch 0 (GroupMetadataManager replaceMember).
                del self.members[holder_id]
                holder.member_id = member_id
                holder.member_epoch = holder.previous_member_epoch = 0
                self.members[member_id] = holder
                self.static_members[hb.instance_id] = member_id
                self.target[member_id] = self.target.pop(holder_id, {})
                return holder, False
        old = self.members.pop(member_id, None)
        if old is not None and old.instance_id is not None:
            self.static_members.pop(old.instance_id, None)
        member = ConsumerMember(member_id, hb.instance_id, now_ms)
        self.members[member_id] = member
        if hb.instance_id is not None:
            self.static_members[hb.instance_id] = member_id
        return member, True

    def _update_member(self, member: ConsumerMember, hb: ConsumerHeartbeatInput, now_ms: int) -> bool:
        member.last_heartbeat_ms = now_ms
        member.classic = None  # a ConsumerGroupHeartbeat member uses the consumer protocol
        member.client_id, member.client_host = hb.client_id, hb.client_host
        if hb.rack_id is not None:
            member.rack_id = hb.rack_id
        if hb.rebalance_timeout_ms >= 0:
            member.rebalance_timeout_ms = hb.rebalance_timeout_ms
        changed = False
        names = tuple(sorted(hb.subscribed_topic_names)) if hb.subscribed_topic_names is not None else None
        if names is not None and names != member.subscribed_topic_names:
            member.subscribed_topic_names = names
            changed = True
        if hb.subscribed_topic_regex is not None and hb.subscribed_topic_regex != (member.subscribed_topic_regex or ""):
            member.subscribed_topic_regex = hb.subscribed_topic_regex or None
            changed = True
        if hb.server_assignor is not None and hb.server_assignor != member.server_assignor:
            member.server_assignor = hb.server_assignor
            changed = True
        return changed

    def update_and_reconcile(self, member: ConsumerMember, changed: bool, owned: Assignment | None,
                             topics: TopicMap, now_ms: int) -> None:
        """What a heartbeat does after updating `member`: a new target assignment when the
        membership, a subscription or the topics changed, then one reconciliation step."""
        if changed or self._metadata_changed(topics):
            self._bump_and_assign(topics)
        self._reconcile(member, owned, now_ms)
        self._note_state(now_ms)

    def waiting_on_unreleased(self, member: ConsumerMember) -> bool:
        """ConsumerGroup.waitingOnUnreleasedPartition: a target partition is still held by another member."""
        if member.state != MemberState.UNRELEASED_PARTITIONS:
            return False
        taken = self._owned_by_others(member.member_id)
        missing = _minus(self.target.get(member.member_id, {}), member.assigned)
        return any((t, p) in taken for t, ps in missing.items() for p in ps)

    def note_state(self, now_ms: int) -> None:
        self._note_state(now_ms)

    # -- reconciliation (CurrentAssignmentBuilder) ---------------------------------------------

    def _owned_by_others(self, member_id: str) -> set[tuple[uuid.UUID, int]]:
        return {(t, p) for mid, m in self.members.items() if mid != member_id
                for a in (m.assigned, m.pending_revocation) for t, ps in a.items() for p in ps}

    def _reconcile(self, member: ConsumerMember, owned: dict[uuid.UUID, frozenset[int]] | None,
                   now_ms: int) -> None:
        if member.state == MemberState.UNREVOKED_PARTITIONS:
            if owned is None or _intersect(owned, member.pending_revocation):
                return  # still waiting for the member to give the partitions up
            member.pending_revocation = {}
            member.revocation_deadline_ms = None
            member.state = MemberState.STABLE
        if member.member_epoch == self.assignment_epoch and member.state == MemberState.STABLE:
            return
        target = self.target.get(member.member_id, {})
        revoke = _minus(member.assigned, target)
        member.assigned = _intersect(member.assigned, target)
        if revoke and (owned is None or _intersect(owned, revoke)):
            member.pending_revocation = revoke
            member.state = MemberState.UNREVOKED_PARTITIONS
            member.revocation_deadline_ms = now_ms + member.rebalance_timeout_ms
            return
        wanted = _minus(target, member.assigned)
        taken = self._owned_by_others(member.member_id)
        free = {t: frozenset(p for p in ps if (t, p) not in taken) for t, ps in wanted.items()}
        free = {t: ps for t, ps in free.items() if ps}
        member.assigned = _union(member.assigned, free)
        if member.member_epoch != self.assignment_epoch:
            member.previous_member_epoch = member.member_epoch
            member.member_epoch = self.assignment_epoch
        member.state = MemberState.STABLE if free == wanted else MemberState.UNRELEASED_PARTITIONS

    # -- leaving and expiry ----------------------------------------------------------------------

    def _leave(self, hb: ConsumerHeartbeatInput, topics: TopicMap, now_ms: int) -> ConsumerHeartbeatResult:
        member_id = hb.member_id
        if hb.instance_id is not None and hb.instance_id in self.static_members:
            member_id = self.static_members[hb.instance_id]
            if hb.member_id and hb.member_id != member_id:
                return ConsumerHeartbeatResult(_E.FENCED_INSTANCE_ID, "instance id owned by another member")
        member = self.members.get(member_id)
        if member is None:
            return ConsumerHeartbeatResult(_E.UNKNOWN_MEMBER_ID, f"member {member_id} unknown")
        if hb.member_epoch == STATIC_LEAVE_EPOCH and member.instance_id is not None:
            # Keep the partitions for the instance's return until the session times out.
            member.previous_member_epoch = member.member_epoch
            member.member_epoch = STATIC_LEAVE_EPOCH
            member.last_heartbeat_ms = now_ms
        else:
            self.remove_member(member, topics)
        self._note_state(now_ms)
        return ConsumerHeartbeatResult(_E.NONE, None, hb.member_id, hb.member_epoch,
                                       self.config.consumer_heartbeat_interval_ms)

    def remove_member(self, member: ConsumerMember, topics: TopicMap) -> None:
        del self.members[member.member_id]
        self.target.pop(member.member_id, None)
        if member.instance_id is not None and self.static_members.get(member.instance_id) == member.member_id:
            del self.static_members[member.instance_id]
        self._bump_and_assign(topics)

    def next_deadline_ms(self) -> int | None:
        timeout = self.config.consumer_session_timeout_ms
        deadlines = [d for m in self.members.values() for d in m.deadlines(timeout)]
        return min(deadlines) if deadlines else None

    def due_members(self, now_ms: int) -> list[ConsumerMember]:
        """Members to fence: session expired, or a revocation / classic join / classic sync not done in time."""
        timeout = self.config.consumer_session_timeout_ms
        return [m for m in self.members.values() if min(m.deadlines(timeout)) <= now_ms]

    def tick(self, topics: TopicMap, now_ms: int) -> None:
        for member in self.due_members(now_ms):
            self.remove_member(member, topics)
        self._note_state(now_ms)

    def uses_classic_members_only_except(self, member_id: str) -> bool:
        """ConsumerGroup.allMembersUseClassicProtocolExcept: the one consumer-protocol member is `member_id`."""
        member = self.members.get(member_id)
        return member is not None and member.classic is None and all(
            m.classic is not None for mid, m in self.members.items() if mid != member_id)

    # -- offsets and admin ----------------------------------------------------------------------

    def validate_offset_commit(self, member_id: str, member_epoch: int, transactional: bool,
                               uses_member_epoch: bool) -> ErrorCode:
        """ConsumerGroup.validateOffsetCommit: epoch -1 only while the group has no members;
        KIP-848 members must commit with OffsetCommit v9+ (transactional commits excepted)."""
        if member_epoch < 0 and not self.members:
            return _E.NONE
        member = self.members.get(member_id)
        if member is None:
            return _E.UNKNOWN_MEMBER_ID
        if not transactional and not uses_member_epoch and member.classic is None:
            return _E.UNSUPPORTED_VERSION
        if member_epoch != member.member_epoch:
            # A classic member's generation is its epoch: ILLEGAL_GENERATION (validateMemberEpoch);
            # TxnOffsetCommit answers ILLEGAL_GENERATION too (OffsetMetadataManager maps it).
            return _E.ILLEGAL_GENERATION if transactional or member.classic is not None else _E.STALE_MEMBER_EPOCH
        return _E.NONE

    def validate_offset_fetch(self, member_id: str | None, member_epoch: int) -> ErrorCode:
        if member_id is None or (member_epoch < 0 and not member_id):
            return _E.NONE
        member = self.members.get(member_id)
        if member is None:
            return _E.UNKNOWN_MEMBER_ID
        if member_epoch == member.member_epoch:
            return _E.NONE
        # ConsumerGroup.validateMemberEpoch: a classic member's generation mismatch is ILLEGAL_GENERATION
        return _E.ILLEGAL_GENERATION if member.classic is not None else _E.STALE_MEMBER_EPOCH

    def subscribed_topics(self, topics: TopicMap) -> set[str]:
        return {n for m in self.members.values() for n in m.subscribed(topics)}

    def describe(self, topics: TopicMap) -> ConsumerGroupDescription:
        names = {tid: name for name, (tid, _) in topics.items()}

        def named(a: Assignment) -> tuple[tuple[uuid.UUID, str, tuple[int, ...]], ...]:
            return tuple((t, names.get(t, ""), parts) for t, parts in _wire(a))

        # ConsumerGroupMember's regex defaults to "" (not null) when the member sent none (D19)
        members = tuple(
            ConsumerMemberDescription(
                m.member_id, m.instance_id, m.rack_id, m.member_epoch, m.client_id, m.client_host,
                m.subscribed_topic_names, m.subscribed_topic_regex or "", named(m.assigned),
                named(self.target.get(m.member_id, {})))
            for m in self.members.values())
        return ConsumerGroupDescription(_E.NONE, self.group_id, self.state().value, self.group_epoch,
                                        self.assignment_epoch, self.assignor, members)
