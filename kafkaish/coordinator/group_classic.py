"""The classic (JoinGroup/SyncGroup) group protocol: one `ClassicGroup` state machine per group.

Theory of operation (Kafka's ClassicGroup, ClassicGroupState and GroupMetadataManager):

  States and transitions (CLASSIC_VALID_PREVIOUS checks every one, as ClassicGroupState does)
    Empty               no members (offsets may remain). First JoinGroup -> PreparingRebalance,
                        delayed by group.initial.rebalance.delay.ms (Kafka's InitialDelayedJoin: the
                        delay is extended by itself while new members keep arriving during the first
                        generation, up to the rebalance timeout).
    PreparingRebalance  members (re)join; JoinGroup requests are parked. Completes when every known
                        member has rejoined and no KIP-394 pending member is outstanding, or at the
                        rebalance timeout, where dynamic members that did not rejoin are removed.
                        -> CompletingRebalance (next generation, protocol selected, leader gets the
                        member list) or -> Empty if nobody is left.
    CompletingRebalance waiting for the leader's SyncGroup; followers' SyncGroups are parked. Leader's
                        SyncGroup -> Stable (parked syncs answered). A join with new metadata, a leave
                        or an expiry -> PreparingRebalance (parked syncs get REBALANCE_IN_PROGRESS).
    Stable              heartbeats answer NONE; a leader rejoin or changed metadata, a new member, a
                        leave or a session expiry -> PreparingRebalance.
    Dead                group deleted; never kept in memory here (the coordinator drops the object).

  Liveness: a member must heartbeat within its session timeout, except while its JoinGroup or
  SyncGroup is parked (Kafka's MemberMetadata.hasSatisfiedHeartbeat); a member added during a
  rebalance that never completes one is dropped after new_member_join_timeout_ms. After a join
  completes, every member must send SyncGroup within the rebalance timeout (Kafka's pending-sync
  timeout) or it is removed and the group rebalances.

  Static membership (KIP-345): group_instance_id -> member id. A known instance joining with an
  empty member id replaces the old id (old parked requests get FENCED_INSTANCE_ID); in Stable with
  an unchanged selected protocol no rebalance happens. Static members that did not rejoin are kept
  at the end of a rebalance (only dynamic ones are removed).

  Deliberate simplifications: no group.max.size; the leader that did not rejoin is replaced by any
  rejoined member; assignment persistence is not needed because membership is not persisted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from kafkaish.coordinator.group_results import (
    CLASSIC_VALID_PREVIOUS,
    ClassicState,
    Completion,
    DescribedGroup,
    DescribedMember,
    GroupConfig,
    JoinGroupInput,
    JoinGroupMember,
    JoinGroupResult,
    LeaveMember,
    LeaveMemberResult,
    SyncGroupResult,
)
from kafkaish.coordinator.txn_metadata import IllegalTransitionError
from kafkaish.wire.errors import ErrorCode

log = logging.getLogger("kafkaish.group")

_E = ErrorCode


@dataclass(slots=True)
class ClassicMember:
    """Kafka's ClassicGroupMember; waiters are the parked requests' opaque handles."""

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: tuple[tuple[str, bytes], ...]
    last_heartbeat_ms: int
    assignment: bytes = b""
    join_waiters: list[object] = field(default_factory=list)
    sync_waiters: list[object] = field(default_factory=list)
    #: deadline for a member added during a rebalance that has not completed one yet
    new_member_deadline_ms: int | None = None

    def metadata(self, protocol: str) -> bytes:
        return next((meta for name, meta in self.protocols if name == protocol), b"")

    def protocol_names(self) -> list[str]:
        return [name for name, _ in self.protocols]

    def expiry_ms(self) -> int | None:
        if self.join_waiters:
            return self.new_member_deadline_ms
        if self.sync_waiters:
            return None
        return self.last_heartbeat_ms + self.session_timeout_ms


def _rebalance_timeout(req: JoinGroupInput) -> int:
    # JoinGroup v0 has no rebalance timeout: Kafka uses the session timeout.
    return req.rebalance_timeout_ms if req.rebalance_timeout_ms >= 0 else req.session_timeout_ms


class ClassicGroup:
    """One classic group. Every method returns the Completions of parked requests it answered."""

    def __init__(self, group_id: str, config: GroupConfig, now_ms: int,
                 new_member_id: Callable[[str], str], protocol_type: str | None = None) -> None:
        self.group_id = group_id
        self.config = config
        self._new_member_id = new_member_id
        self.state = ClassicState.EMPTY
        self.state_since_ms = now_ms
        self.generation_id = 0
        self.protocol_type = protocol_type
        self.protocol_name: str | None = None
        self.leader_id: str | None = None
        self.members: dict[str, ClassicMember] = {}
        self.static_members: dict[str, str] = {}
        #: KIP-394: member ids handed out with MEMBER_ID_REQUIRED -> expiry
        self.pending_members: dict[str, int] = {}
        self.pending_sync: set[str] = set()
        self.join_deadline_ms: int | None = None
        self.sync_deadline_ms: int | None = None
        #: InitialDelayedJoin: remaining extension budget; None for a normal delayed join
        self.initial_remaining_ms: int | None = None
        self.new_member_added = False

    # -- helpers ---------------------------------------------------------------------------

    def _transition(self, state: ClassicState, now_ms: int) -> None:
        if self.state not in CLASSIC_VALID_PREVIOUS[state]:
            raise IllegalTransitionError(f"group {self.group_id}: {self.state.value} -> {state.value}")
        self.state = state
        self.state_since_ms = now_ms

    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def is_empty(self) -> bool:
        return not self.members

    def _supports_protocols(self, protocol_type: str, protocols: Sequence[tuple[str, bytes]]) -> bool:
        # ClassicGroup.supportsProtocols: an empty group takes any non-empty type; otherwise the type
        # must match and one protocol must be supported by every current member.
        if not protocols or not protocol_type:
            return False
        if self.state == ClassicState.EMPTY:
            return True
        if protocol_type != self.protocol_type:
            return False
        return any(all(name in m.protocol_names() for m in self.members.values()) for name, _ in protocols)

    def select_protocol(self) -> str:
        """ClassicGroup.selectProtocol: among protocols all members support, each member votes for
        its most preferred; most votes wins (ties: the first candidate in member order)."""
        members = list(self.members.values())
        candidates = [n for n in members[0].protocol_names() if all(n in m.protocol_names() for m in members)]
        votes = dict.fromkeys(candidates, 0)
        for m in members:
            choice = next(n for n in m.protocol_names() if n in votes)
            votes[choice] += 1
        return max(candidates, key=lambda n: votes[n])

    def _join_result(self, member: ClassicMember, *, with_members: bool, leader: str | None = None,
                     skip: bool = False) -> JoinGroupResult:
        listed: tuple[JoinGroupMember, ...] = ()
        if with_members:
            proto = self.protocol_name or ""
            listed = tuple(JoinGroupMember(m.member_id, m.group_instance_id, m.metadata(proto))
                           for m in self.members.values())
        return JoinGroupResult(_E.NONE, member.member_id, self.generation_id, self.protocol_type,
                               self.protocol_name, leader if leader is not None else (self.leader_id or ""),
                               skip, listed)

    def validate_member(self, member_id: str, instance_id: str | None) -> ErrorCode:
        """ClassicGroup.validateMember: instance id must map to member id, member must exist."""
        if instance_id is not None:
            existing = self.static_members.get(instance_id)
            if existing is None:
                return _E.UNKNOWN_MEMBER_ID
            if existing != member_id:
                return _E.FENCED_INSTANCE_ID
        return _E.NONE if member_id in self.members else _E.UNKNOWN_MEMBER_ID

    # -- JoinGroup ---------------------------------------------------------------------------

    def join(self, req: JoinGroupInput, waiter: object, now_ms: int) -> list[Completion]:
        def fail(code: ErrorCode, member_id: str = "") -> list[Completion]:
            return [Completion(waiter, JoinGroupResult(code, member_id=member_id))]

        if not self.config.min_session_timeout_ms <= req.session_timeout_ms <= self.config.max_session_timeout_ms:
            return fail(_E.INVALID_SESSION_TIMEOUT, req.member_id)
        if not self._supports_protocols(req.protocol_type, req.protocols):
            return fail(_E.INCONSISTENT_GROUP_PROTOCOL, req.member_id)
        if req.member_id == "":
            return self._join_new_member(req, waiter, now_ms)
        if req.member_id in self.pending_members:
            del self.pending_members[req.member_id]
            return self._add_member_and_rebalance(req, req.member_id, waiter, now_ms)
        if req.group_instance_id is not None:
            existing = self.static_members.get(req.group_instance_id)
            if existing is not None and existing != req.member_id:
                return fail(_E.FENCED_INSTANCE_ID, req.member_id)
        member = self.members.get(req.member_id)
        if member is None:
            return fail(_E.UNKNOWN_MEMBER_ID, req.member_id)
        return self._join_existing_member(member, req, waiter, now_ms)

    def _join_new_member(self, req: JoinGroupInput, waiter: object, now_ms: int) -> list[Completion]:
        if req.group_instance_id is not None:
            old_id = self.static_members.get(req.group_instance_id)
            if old_id is not None:
                return self._replace_static_member(req, old_id, waiter, now_ms)
            return self._add_member_and_rebalance(req, self._new_member_id(req.group_instance_id), waiter, now_ms)
        member_id = self._new_member_id(req.client_id)
        if req.require_known_member_id:
            # KIP-394: hand out the id and wait for the client to rejoin with it; until then the
            # pending member blocks join completion for at most its session timeout.
            self.pending_members[member_id] = now_ms + req.session_timeout_ms
            return [Completion(waiter, JoinGroupResult(_E.MEMBER_ID_REQUIRED, member_id=member_id))]
        return self._add_member_and_rebalance(req, member_id, waiter, now_ms)

    def _join_existing_member(self, member: ClassicMember, req: JoinGroupInput, waiter: object,
                              now_ms: int) -> list[Completion]:
        same = member.protocols == req.protocols
        if self.state == ClassicState.PREPARING_REBALANCE:
            self._update_member(member, req, waiter, now_ms)
            return self._try_complete_join(now_ms)
        if self.state == ClassicState.COMPLETING_REBALANCE and same:
            # The member lost its JoinGroup response: answer with the current generation again.
            member.last_heartbeat_ms = now_ms
            result = self._join_result(member, with_members=member.member_id == self.leader_id)
            return [Completion(waiter, result)]
        if self.state == ClassicState.STABLE and same and member.member_id != self.leader_id:
            member.last_heartbeat_ms = now_ms
            return [Completion(waiter, self._join_result(member, with_members=False))]
        if self.state in (ClassicState.COMPLETING_REBALANCE, ClassicState.STABLE):
            # A leader rejoin or changed metadata starts a new generation.
            self._update_member(member, req, waiter, now_ms)
            return self._prepare_rebalance(now_ms)
        return [Completion(waiter, JoinGroupResult(_E.UNKNOWN_MEMBER_ID, member_id=req.member_id))]

    def _update_member(self, member: ClassicMember, req: JoinGroupInput, waiter: object, now_ms: int) -> None:
        member.protocols = req.protocols
        member.protocol_type = req.protocol_type
        member.session_timeout_ms = req.session_timeout_ms
        member.rebalance_timeout_ms = _rebalance_timeout(req)
        member.client_id, member.client_host = req.client_id, req.client_host
        member.last_heartbeat_ms = now_ms
        member.join_waiters.append(waiter)

    def _add_member_and_rebalance(self, req: JoinGroupInput, member_id: str, waiter: object,
                                  now_ms: int) -> list[Completion]:
        member = ClassicMember(
            member_id, req.group_instance_id, req.client_id, req.client_host, req.session_timeout_ms,
            _rebalance_timeout(req), req.protocol_type, req.protocols, now_ms, join_waiters=[waiter],
            new_member_deadline_ms=now_ms + self.config.new_member_join_timeout_ms,
        )
        if self.is_empty():
            self.protocol_type = req.protocol_type
        self.members[member_id] = member
        if req.group_instance_id is not None:
            self.static_members[req.group_instance_id] = member_id
        if self.leader_id is None:
            self.leader_id = member_id
        if self.state == ClassicState.PREPARING_REBALANCE and self.generation_id == 0:
            self.new_member_added = True  # extends InitialDelayedJoin
        if self.state in (ClassicState.EMPTY, ClassicState.STABLE, ClassicState.COMPLETING_REBALANCE):
            return self._prepare_rebalance(now_ms)
        return self._try_complete_join(now_ms)

    def _replace_static_member(self, req: JoinGroupInput, old_id: str, waiter: object,
                               now_ms: int) -> list[Completion]:
        """GroupMetadataManager.updateStaticMemberThenRebalanceOrCompleteJoin."""
        member = self.members[old_id]
        out = self._fence_waiters(member)
        new_id = self._new_member_id(req.group_instance_id or req.client_id)
        previous_leader = self.leader_id
        del self.members[old_id]
        member.member_id = new_id
        self.members[new_id] = member
        self.static_members[req.group_instance_id or ""] = new_id
        if self.leader_id == old_id:
            self.leader_id = new_id
        if old_id in self.pending_sync:
            self.pending_sync.discard(old_id)
            self.pending_sync.add(new_id)
        self._update_member(member, req, waiter, now_ms)
        if self.state == ClassicState.STABLE and self.protocol_name == self.select_protocol():
            member.join_waiters.clear()
            skip = req.supports_skip_assignment and self.leader_id == new_id
            # Answer with the old leader id unless the client understands skipAssignment (KIP-814),
            # so a rejoining static leader does not compute an assignment nobody would receive.
            leader = self.leader_id if req.supports_skip_assignment else previous_leader
            return out + [Completion(waiter, self._join_result(member, with_members=skip, leader=leader, skip=skip))]
        if self.state == ClassicState.PREPARING_REBALANCE:
            return out + self._try_complete_join(now_ms)
        return out + self._prepare_rebalance(now_ms)

    def _fence_waiters(self, member: ClassicMember) -> list[Completion]:
        out: list[Completion] = [Completion(w, JoinGroupResult(_E.FENCED_INSTANCE_ID, member_id=member.member_id))
                                 for w in member.join_waiters]
        out += [Completion(w, SyncGroupResult(_E.FENCED_INSTANCE_ID)) for w in member.sync_waiters]
        member.join_waiters.clear()
        member.sync_waiters.clear()
        return out

    # -- online migration (group_migration) --------------------------------------------------

    def abandon(self, code: ErrorCode) -> list[Completion]:
        """Answer every parked JoinGroup/SyncGroup with `code` (ClassicGroup.completeAllJoinFutures /
        completeAllSyncFutures) before the group is converted to a consumer group."""
        out: list[Completion] = []
        for member in self.members.values():
            out += [Completion(w, JoinGroupResult(code, member_id=member.member_id)) for w in member.join_waiters]
            out += [Completion(w, SyncGroupResult(code)) for w in member.sync_waiters]
            member.join_waiters.clear()
            member.sync_waiters.clear()
        return out

    def start_rebalance(self, now_ms: int) -> list[Completion]:
        """A converted group starts its first classic generation (GroupMetadataManager.prepareRebalance)."""
        return self._prepare_rebalance(now_ms)

    # -- rebalance phases ------------------------------------------------------------------

    def _prepare_rebalance(self, now_ms: int) -> list[Completion]:
        out: list[Completion] = []
        if self.state == ClassicState.COMPLETING_REBALANCE:
            # Parked followers must rejoin: answer their SyncGroup with REBALANCE_IN_PROGRESS.
            for member in self.members.values():
                member.assignment = b""
                out += [Completion(w, SyncGroupResult(_E.REBALANCE_IN_PROGRESS)) for w in member.sync_waiters]
                member.sync_waiters.clear()
        self.pending_sync.clear()
        self.sync_deadline_ms = None
        if self.state == ClassicState.EMPTY:
            delay = self.config.initial_rebalance_delay_ms
            self.initial_remaining_ms = max(self.rebalance_timeout_ms() - delay, 0)
            self.new_member_added = False
            self.join_deadline_ms = now_ms + delay
        else:
            self.initial_remaining_ms = None
            self.join_deadline_ms = now_ms + self.rebalance_timeout_ms()
        self._transition(ClassicState.PREPARING_REBALANCE, now_ms)
        if self.initial_remaining_ms is not None and self.join_deadline_ms > now_ms:
            return out
        return out + self._try_complete_join(now_ms)

    def _all_members_joined(self) -> bool:
        return not self.pending_members and all(m.join_waiters for m in self.members.values())

    def _try_complete_join(self, now_ms: int) -> list[Completion]:
        if self.state != ClassicState.PREPARING_REBALANCE:
            return []
        initial = self.initial_remaining_ms is not None
        if initial and self.join_deadline_ms is not None and now_ms < self.join_deadline_ms:
            return []  # InitialDelayedJoin never completes early
        if not initial and not self._all_members_joined():
            return []
        return self._complete_join(now_ms)

    def _on_join_deadline(self, now_ms: int) -> list[Completion]:
        remaining = self.initial_remaining_ms
        if remaining is not None and self.new_member_added and remaining > 0:
            delay = min(self.config.initial_rebalance_delay_ms, remaining)
            self.initial_remaining_ms = remaining - delay
            self.new_member_added = False
            self.join_deadline_ms = now_ms + delay
            return []
        return self._complete_join(now_ms)

    def _complete_join(self, now_ms: int) -> list[Completion]:
        out: list[Completion] = []
        for member in list(self.members.values()):
            if not member.join_waiters and member.group_instance_id is None:
                out += self._remove_member(member)  # dynamic member missed the rebalance
        self.join_deadline_ms = None
        self.initial_remaining_ms = None
        if self.is_empty():
            self.generation_id += 1
            self.protocol_name = None
            self._transition(ClassicState.EMPTY, now_ms)
            return out
        joined = [m for m in self.members.values() if m.join_waiters]
        if not joined:
            # Only static members that did not rejoin: wait another rebalance timeout for them
            # to rejoin or expire (GroupMetadataManager.completeClassicGroupJoin).
            self.join_deadline_ms = now_ms + self.rebalance_timeout_ms()
            return out
        if self.leader_id not in self.members or not self.members[self.leader_id].join_waiters:
            self.leader_id = joined[0].member_id
        self.generation_id += 1
        self.protocol_name = self.select_protocol()
        self._transition(ClassicState.COMPLETING_REBALANCE, now_ms)
        log.info("group %s rebalanced: generation %d, %d members, protocol %s/%s", self.group_id,
                 self.generation_id, len(self.members), self.protocol_type, self.protocol_name)
        for member in joined:
            result = self._join_result(member, with_members=member.member_id == self.leader_id)
            out += [Completion(w, result) for w in member.join_waiters]
            member.join_waiters.clear()
            member.new_member_deadline_ms = None
            member.last_heartbeat_ms = now_ms
        self.pending_sync = set(self.members)
        self.sync_deadline_ms = now_ms + self.rebalance_timeout_ms()
        return out

    def _remove_member(self, member: ClassicMember) -> list[Completion]:
        """Drop a member; its parked requests get UNKNOWN_MEMBER_ID so a live client rejoins."""
        out: list[Completion] = [Completion(w, JoinGroupResult(_E.UNKNOWN_MEMBER_ID, member_id=member.member_id))
                                 for w in member.join_waiters]
        out += [Completion(w, SyncGroupResult(_E.UNKNOWN_MEMBER_ID)) for w in member.sync_waiters]
        del self.members[member.member_id]
        instance = member.group_instance_id
        if instance is not None and self.static_members.get(instance) == member.member_id:
            del self.static_members[instance]
        self.pending_sync.discard(member.member_id)
        if self.leader_id == member.member_id:
            self.leader_id = next(iter(self.members), None)
        return out

    def _after_removal(self, now_ms: int) -> list[Completion]:
        if self.state in (ClassicState.STABLE, ClassicState.COMPLETING_REBALANCE):
            return self._prepare_rebalance(now_ms)
        return self._try_complete_join(now_ms)

    # -- SyncGroup, Heartbeat, LeaveGroup ----------------------------------------------------

    def sync(self, member_id: str, generation_id: int, instance_id: str | None, protocol_type: str | None,
             protocol_name: str | None, assignments: Mapping[str, bytes], waiter: object,
             now_ms: int) -> list[Completion]:
        def answer(code: ErrorCode) -> list[Completion]:
            return [Completion(waiter, SyncGroupResult(code))]

        code = self.validate_member(member_id, instance_id)
        if code != _E.NONE:
            return answer(code)
        if generation_id != self.generation_id:
            return answer(_E.ILLEGAL_GENERATION)
        if (protocol_type is not None and protocol_type != self.protocol_type) or (
                protocol_name is not None and protocol_name != self.protocol_name):
            return answer(_E.INCONSISTENT_GROUP_PROTOCOL)
        if self.state == ClassicState.PREPARING_REBALANCE:
            return answer(_E.REBALANCE_IN_PROGRESS)
        member = self.members[member_id]
        member.last_heartbeat_ms = now_ms
        self.pending_sync.discard(member_id)
        if self.state == ClassicState.STABLE:
            return [Completion(waiter, SyncGroupResult(_E.NONE, self.protocol_type, self.protocol_name,
                                                       member.assignment))]
        member.sync_waiters.append(waiter)
        if member_id != self.leader_id:
            return []
        for each in self.members.values():
            each.assignment = assignments.get(each.member_id, b"")  # missing members get nothing
        self._transition(ClassicState.STABLE, now_ms)
        out: list[Completion] = []
        for each in self.members.values():
            result = SyncGroupResult(_E.NONE, self.protocol_type, self.protocol_name, each.assignment)
            out += [Completion(w, result) for w in each.sync_waiters]
            each.sync_waiters.clear()
            each.last_heartbeat_ms = now_ms
        return out

    def heartbeat(self, member_id: str, generation_id: int, instance_id: str | None, now_ms: int) -> ErrorCode:
        code = self.validate_member(member_id, instance_id)
        if code != _E.NONE:
            return code
        if generation_id != self.generation_id:
            return _E.ILLEGAL_GENERATION
        self.members[member_id].last_heartbeat_ms = now_ms
        if self.state == ClassicState.PREPARING_REBALANCE:
            return _E.REBALANCE_IN_PROGRESS
        return _E.NONE  # CompletingRebalance: heartbeats after JoinGroup are normal

    def leave(self, leaving: Sequence[LeaveMember], now_ms: int) -> tuple[list[LeaveMemberResult], list[Completion]]:
        results: list[LeaveMemberResult] = []
        out: list[Completion] = []
        changed = False
        for item in leaving:
            code, target = self._leaving_member(item)
            if code == _E.NONE and target is not None:
                out += self._remove_member(target)
                changed = True
            elif code == _E.NONE:
                del self.pending_members[item.member_id]
                changed = True
            results.append(LeaveMemberResult(item.member_id, item.group_instance_id, code))
        if changed:
            out += self._after_removal(now_ms)
        return results, out

    def _leaving_member(self, item: LeaveMember) -> tuple[ErrorCode, ClassicMember | None]:
        if item.group_instance_id is not None:
            existing = self.static_members.get(item.group_instance_id)
            if existing is None:
                return _E.UNKNOWN_MEMBER_ID, None
            if item.member_id and item.member_id != existing:
                return _E.FENCED_INSTANCE_ID, None
            return _E.NONE, self.members[existing]
        if item.member_id in self.pending_members:
            return _E.NONE, None
        member = self.members.get(item.member_id)
        return (_E.NONE, member) if member is not None else (_E.UNKNOWN_MEMBER_ID, None)

    # -- time ---------------------------------------------------------------------------------

    def next_deadline_ms(self) -> int | None:
        deadlines = [m.expiry_ms() for m in self.members.values()]
        deadlines += list(self.pending_members.values())
        if self.state == ClassicState.PREPARING_REBALANCE:
            deadlines.append(self.join_deadline_ms)
        if self.pending_sync:
            deadlines.append(self.sync_deadline_ms)
        present = [d for d in deadlines if d is not None]
        return min(present) if present else None

    def tick(self, now_ms: int) -> list[Completion]:
        out: list[Completion] = []
        expired = [m for m in self.members.values() if (d := m.expiry_ms()) is not None and d <= now_ms]
        for member in expired:
            out += self._remove_member(member)  # session timeout (or new member never rejoined)
        stale_pending = [mid for mid, d in self.pending_members.items() if d <= now_ms]
        for member_id in stale_pending:
            del self.pending_members[member_id]
        if expired or stale_pending:
            out += self._after_removal(now_ms)
        if self.pending_sync and self.sync_deadline_ms is not None and self.sync_deadline_ms <= now_ms:
            for member_id in list(self.pending_sync):
                out += self._remove_member(self.members[member_id])
            out += self._after_removal(now_ms)
        if (self.state == ClassicState.PREPARING_REBALANCE and self.join_deadline_ms is not None
                and self.join_deadline_ms <= now_ms):
            out += self._on_join_deadline(now_ms)
        return out

    # -- admin --------------------------------------------------------------------------------

    def describe(self) -> DescribedGroup:
        """GroupMetadata.summary: metadata and assignments only while Stable."""
        stable = self.state == ClassicState.STABLE
        proto = self.protocol_name or "" if stable else ""
        members = tuple(
            DescribedMember(m.member_id, m.group_instance_id, m.client_id, m.client_host,
                            m.metadata(proto) if stable else b"", m.assignment if stable else b"")
            for m in self.members.values())
        return DescribedGroup(_E.NONE, self.group_id, self.state.value, self.protocol_type or "", proto, members)
