"""GroupCoordinator: the broker's one entry point for consumer groups (Kafka's GroupCoordinatorService).

Synchronous and sans-IO: every method takes `now_ms`; nothing here touches asyncio or sockets.
JoinGroup and SyncGroup may have to wait for other members: they pass an opaque `waiter`, and every
method that can answer parked requests returns `Completion(waiter, result)` for each of them (the
caller's own waiter included when it is answered at once). `tick(now_ms)` runs session expiry,
rebalance and initial-delay timers, and offset retention; `next_deadline_ms()` says when it is next due.

Group kinds share one namespace: `group_classic.ClassicGroup` (JoinGroup/SyncGroup, its theory
comment lists the states Empty, PreparingRebalance, CompletingRebalance, Stable, Dead) and
`group_consumer.ConsumerGroup` (KIP-848). An empty group of one kind turns into the other when a
member of the other protocol arrives (Kafka converts empty groups the same way); a non-empty one
migrates online (`group_migration`: classic -> consumer when a consumer-protocol member joins,
back when the last one leaves; classic members of a consumer group keep using JoinGroup). Parked
requests answered by a conversion are handed out by the next `tick` (due at once). Offsets live
in `group_offsets.OffsetStore`, durable through the StateStore; membership is not persisted.
"""

from __future__ import annotations

import dataclasses
import logging
import struct
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence

from kafkaish.coordinator import group_migration as migration
from kafkaish.coordinator.group_classic import ClassicGroup
from kafkaish.coordinator.group_consumer import ConsumerGroup, ConsumerMember
from kafkaish.coordinator.group_offsets import OffsetStore
from kafkaish.coordinator.group_results import (
    ClassicState,
    Completion,
    ConsumerGroupDescription,
    ConsumerHeartbeatInput,
    ConsumerHeartbeatResult,
    DescribedGroup,
    GroupConfig,
    JoinGroupInput,
    JoinGroupResult,
    LeaveGroupResult,
    LeaveMember,
    LeaveMemberResult,
    ListedGroup,
    OffsetCommitInput,
    OffsetCommitResult,
    OffsetDeleteResult,
    OffsetFetchResult,
    StateStore,
    SyncGroupResult,
    TopicPartition,
    TopicsView,
)
from kafkaish.wire.errors import ErrorCode

__all__ = ["Completion", "GroupCoordinator", "GroupConfig"]

_E = ErrorCode
Group = ClassicGroup | ConsumerGroup
log = logging.getLogger("kafkaish.groups")


def _default_member_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


def subscribed_topics(metadata: bytes) -> set[str] | None:
    """Topics of a ConsumerProtocolSubscription; None if unparsable, which Kafka treats as
    "subscribed to everything" (ClassicGroup.computeSubscribedTopics)."""
    try:
        from kafkaish.wire.messages.consumer_protocol_subscription import ConsumerProtocolSubscription

        # Newer versions only append fields: read them as the highest version we know.
        version = min(struct.unpack_from(">h", metadata)[0], ConsumerProtocolSubscription.MAX_VERSION)
        return set(ConsumerProtocolSubscription.decode(metadata[2:], version).topics)
    except Exception:  # noqa: BLE001 - any decoding problem: fall back to the prefix parser
        pass
    # The topics array follows the int16 version in every version.
    try:
        (count,) = struct.unpack_from(">i", metadata, 2)
        pos, topics = 6, set()
        for _ in range(count):
            (size,) = struct.unpack_from(">h", metadata, pos)
            if size < 0 or pos + 2 + size > len(metadata):
                return None
            topics.add(metadata[pos + 2:pos + 2 + size].decode())
            pos += 2 + size
        return topics
    except (struct.error, UnicodeDecodeError):
        return None


class GroupCoordinator:
    """All groups of this broker. See the module docstring for the calling convention."""

    def __init__(self, store: StateStore | None = None, *, topics: TopicsView | None = None,
                 config: GroupConfig | None = None, initial_rebalance_delay_ms: int | None = None,
                 member_id_factory: Callable[[str], str] | None = None) -> None:
        config = config or GroupConfig()
        if initial_rebalance_delay_ms is not None:
            config = dataclasses.replace(config, initial_rebalance_delay_ms=initial_rebalance_delay_ms)
        self.config = config
        self._topics = topics or (lambda: {})
        self._new_id = member_id_factory or _default_member_id
        self.offsets = OffsetStore(store, config)
        self.groups: dict[str, Group] = {}
        self.group_overrides: dict[str, dict[str, int]] = {}  # KIP-848 group configs (GroupConfigManager)
        self._loaded = False
        self._next_sweep_ms: int | None = None
        self._answered: list[Completion] = []  # parked requests a group conversion answered

    # -- group configs ---------------------------------------------------------------------

    def config_for(self, group_id: str) -> GroupConfig:
        """The broker's group settings with this group's KIP-848 config overrides."""
        overrides = self.group_overrides.get(group_id)
        return dataclasses.replace(self.config, **overrides) if overrides else self.config

    def set_group_overrides(self, group_id: str, overrides: dict[str, int]) -> None:
        """Group configs changed (IncrementalAlterConfigs GROUP): apply them at once."""
        if overrides:
            self.group_overrides[group_id] = dict(overrides)
        else:
            self.group_overrides.pop(group_id, None)
        group = self.groups.get(group_id)
        if isinstance(group, ConsumerGroup):
            group.config = self.config_for(group_id)

    # -- group lookup ----------------------------------------------------------------------

    def _load_once(self, now_ms: int) -> None:
        """Recreate the groups known from the store as Empty, timestamped at the first call."""
        if self._loaded:
            return
        self._loaded = True
        self._next_sweep_ms = now_ms + self.config.offsets_retention_check_interval_ms
        for group_id, (kind, protocol_type) in self.offsets.known_groups.items():
            self.groups[group_id] = (ConsumerGroup(group_id, self.config_for(group_id), now_ms) if kind == "consumer"
                                     else ClassicGroup(group_id, self.config, now_ms, self._new_id, protocol_type))
        for group_id in self.offsets.committed:
            if group_id not in self.groups:
                self.groups[group_id] = ClassicGroup(group_id, self.config, now_ms, self._new_id)

    def _classic(self, group_id: str, now_ms: int, create: bool) -> ClassicGroup | None:
        self._load_once(now_ms)
        group = self.groups.get(group_id)
        if isinstance(group, ConsumerGroup) and group.is_empty() and create:
            group = None  # an empty KIP-848 group becomes a classic one
        if group is None and create:
            group = self.groups[group_id] = ClassicGroup(group_id, self.config, now_ms, self._new_id)
        return group if isinstance(group, ClassicGroup) else None

    def _remember(self, group: Group) -> None:
        if isinstance(group, ClassicGroup) and group.protocol_type:
            self.offsets.remember_group(group.group_id, "classic", group.protocol_type)
        elif isinstance(group, ConsumerGroup):
            self.offsets.remember_group(group.group_id, "consumer", "consumer")

    # -- classic protocol --------------------------------------------------------------------

    def join_group(self, req: JoinGroupInput, waiter: object, now_ms: int) -> list[Completion]:
        """JoinGroup. The caller's waiter is answered now (errors, MEMBER_ID_REQUIRED, Stable
        shortcut) or later through another call's / tick's completions."""
        if not req.group_id:
            return [Completion(waiter, JoinGroupResult(_E.INVALID_GROUP_ID, member_id=req.member_id))]
        self._load_once(now_ms)
        existing = self.groups.get(req.group_id)
        if existing is None and req.member_id:
            return [Completion(waiter, JoinGroupResult(_E.UNKNOWN_MEMBER_ID, member_id=req.member_id))]
        if isinstance(existing, ConsumerGroup) and not existing.is_empty():
            # GroupMetadataManager.classicGroupJoinToConsumerGroup (KIP-848 migration)
            if not self.config.min_session_timeout_ms <= req.session_timeout_ms <= self.config.max_session_timeout_ms:
                return [Completion(waiter, JoinGroupResult(_E.INVALID_SESSION_TIMEOUT, member_id=req.member_id))]
            result = migration.classic_join(existing, req, dict(self._topics()), now_ms)
            return [Completion(waiter, result)]
        group = self._classic(req.group_id, now_ms, create=True)
        if group is None:
            return [Completion(waiter, JoinGroupResult(_E.INCONSISTENT_GROUP_PROTOCOL, member_id=req.member_id))]
        out = group.join(req, waiter, now_ms)
        self._remember(group)
        return out

    def sync_group(self, group_id: str, member_id: str, generation_id: int, group_instance_id: str | None,
                   protocol_type: str | None, protocol_name: str | None, assignments: Mapping[str, bytes],
                   waiter: object, now_ms: int) -> list[Completion]:
        existing = self._consumer_group(group_id, now_ms)
        if existing is not None:
            return [Completion(waiter, migration.classic_sync(
                existing, member_id, generation_id, group_instance_id, protocol_type, protocol_name,
                dict(self._topics()), now_ms))]
        group = self._classic(group_id, now_ms, create=False)
        if group is None:
            return [Completion(waiter, SyncGroupResult(_E.UNKNOWN_MEMBER_ID))]
        return group.sync(member_id, generation_id, group_instance_id, protocol_type, protocol_name,
                          assignments, waiter, now_ms)

    def heartbeat(self, group_id: str, member_id: str, generation_id: int, group_instance_id: str | None,
                  now_ms: int) -> ErrorCode:
        existing = self._consumer_group(group_id, now_ms)
        if existing is not None:
            return migration.classic_heartbeat(existing, member_id, generation_id, group_instance_id, now_ms)
        group = self._classic(group_id, now_ms, create=False)
        if group is None:
            return _E.UNKNOWN_MEMBER_ID
        return group.heartbeat(member_id, generation_id, group_instance_id, now_ms)

    def leave_group(self, group_id: str, members: Sequence[LeaveMember],
                    now_ms: int) -> tuple[LeaveGroupResult, list[Completion]]:
        """LeaveGroup (v3+ batches members; errors are per member, top level stays NONE)."""
        existing = self._consumer_group(group_id, now_ms)
        if existing is not None:
            results = migration.classic_leave(existing, members, dict(self._topics()), now_ms)
            return LeaveGroupResult(_E.NONE, tuple(results)), []
        group = self._classic(group_id, now_ms, create=False)
        if group is None:
            unknown = tuple(LeaveMemberResult(m.member_id, m.group_instance_id, _E.UNKNOWN_MEMBER_ID) for m in members)
            return LeaveGroupResult(_E.NONE, unknown), []
        results, out = group.leave(members, now_ms)
        return LeaveGroupResult(_E.NONE, tuple(results)), out

    # -- KIP-848 ------------------------------------------------------------------------------

    def _consumer_group(self, group_id: str, now_ms: int) -> ConsumerGroup | None:
        self._load_once(now_ms)
        group = self.groups.get(group_id)
        return group if isinstance(group, ConsumerGroup) else None

    def consumer_group_heartbeat(self, hb: ConsumerHeartbeatInput, now_ms: int) -> ConsumerHeartbeatResult:
        self._load_once(now_ms)
        if not hb.group_id:
            return ConsumerHeartbeatResult(_E.INVALID_REQUEST, "GroupId can't be empty")
        topics = dict(self._topics())
        group = self.groups.get(hb.group_id)
        classic = group if isinstance(group, ClassicGroup) else None
        if classic is not None and not classic.is_empty():
            # GroupMetadataManager.getOrMaybeCreateConsumerGroup: a join converts a classic group
            # whose members all use the consumer embedded protocol (validateOnlineUpgrade)
            if hb.member_epoch != 0 or not migration.can_upgrade(classic):
                return ConsumerHeartbeatResult(_E.GROUP_ID_NOT_FOUND, f"Group {hb.group_id} is not a consumer group")
            try:
                group, answered = migration.upgrade(classic, self.config_for(hb.group_id), topics, now_ms)
            except migration.MalformedProtocolError:
                return ConsumerHeartbeatResult(_E.GROUP_ID_NOT_FOUND, f"Cannot upgrade the classic group {hb.group_id}"
                                               " to consumer group because the embedded consumer protocol is malformed.")
            self._answered += answered
            self.groups[hb.group_id] = group
        elif classic is not None:
            group = None
        if group is None:
            if hb.member_epoch != 0:
                return ConsumerHeartbeatResult(_E.UNKNOWN_MEMBER_ID, f"group {hb.group_id} unknown")
            group = self.groups[hb.group_id] = ConsumerGroup(hb.group_id, self.config_for(hb.group_id), now_ms)
        assert isinstance(group, ConsumerGroup)
        if hb.member_epoch == -1:
            leaving = group.members.get(group.static_members.get(hb.instance_id or "", hb.member_id))
            if leaving is not None and migration.can_downgrade(group, leaving.member_id):
                self._downgrade(group, leaving, topics, now_ms)
                return ConsumerHeartbeatResult(_E.NONE, None, hb.member_id, hb.member_epoch,
                                               group.config.consumer_heartbeat_interval_ms)
        result = group.heartbeat(hb, topics, str(uuid.uuid4()), now_ms)
        if result.error != _E.NONE and classic is not None and not classic.is_empty():
            self.groups[hb.group_id] = classic  # the join failed: the group stays classic
            return result
        self._remember(group)
        return result

    def _downgrade(self, group: ConsumerGroup, leaving: ConsumerMember, topics: dict[str, tuple[uuid.UUID, int]],
                   now_ms: int) -> None:
        """convertToClassicGroup: the last consumer-protocol member leaves, classic members stay."""
        classic, answered = migration.downgrade(group, leaving.member_id, self.config, topics, now_ms, self._new_id)
        self._answered += answered
        self.groups[group.group_id] = classic
        self._remember(classic)

    def _fence(self, group: ConsumerGroup, member: ConsumerMember, topics: dict[str, tuple[uuid.UUID, int]],
               now_ms: int) -> bool:
        """consumerGroupFenceMember; True when the group was downgraded to a classic one."""
        if migration.can_downgrade(group, member.member_id):
            self._downgrade(group, member, topics, now_ms)
            return True
        group.remove_member(member, topics)
        return False

    def consumer_group_describe(self, group_ids: Iterable[str], now_ms: int) -> list[ConsumerGroupDescription]:
        self._load_once(now_ms)
        topics = dict(self._topics())
        out: list[ConsumerGroupDescription] = []
        for group_id in group_ids:
            group = self.groups.get(group_id)
            if isinstance(group, ConsumerGroup):
                out.append(group.describe(topics))
            else:
                # GroupMetadataManager.consumerGroupDescribe leaves the state at its default ""
                # for an unknown or classic group (differential finding D19)
                message = f"Group {group_id} " + ("is not a consumer group" if group else "not found")
                out.append(ConsumerGroupDescription(_E.GROUP_ID_NOT_FOUND, group_id, state="", error_message=message))
        return out

    # -- offsets -------------------------------------------------------------------------------

    def _validate_commit(self, group: Group, member_id: str, generation_id: int, instance_id: str | None,
                         transactional: bool, uses_member_epoch: bool) -> ErrorCode:
        if isinstance(group, ConsumerGroup):
            return group.validate_offset_commit(member_id, generation_id, transactional, uses_member_epoch)
        # ClassicGroup.validateOffsetCommit
        if generation_id < 0 and group.state == ClassicState.EMPTY:
            return _E.NONE  # standalone / admin commit
        if generation_id >= 0 or member_id or instance_id is not None:
            code = group.validate_member(member_id, instance_id)
            if code != _E.NONE:
                return code
            if generation_id != group.generation_id:
                return _E.ILLEGAL_GENERATION
        elif not transactional:
            return _E.UNKNOWN_MEMBER_ID  # no member info: only allowed on an Empty group
        if not transactional and group.state == ClassicState.COMPLETING_REBALANCE:
            return _E.REBALANCE_IN_PROGRESS
        return _E.NONE

    def _group_for_commit(self, group_id: str, generation_id: int, uses_member_epoch: bool,
                          now_ms: int) -> Group | ErrorCode:
        self._load_once(now_ms)
        group = self.groups.get(group_id)
        if group is not None:
            return group
        if generation_id >= 0:
            return _E.GROUP_ID_NOT_FOUND if uses_member_epoch else _E.ILLEGAL_GENERATION
        created = self.groups[group_id] = ClassicGroup(group_id, self.config, now_ms, self._new_id)
        return created

    def commit_offsets(self, group_id: str, member_id: str, generation_id: int, group_instance_id: str | None,
                       offsets: Sequence[OffsetCommitInput], now_ms: int, *, retention_time_ms: int = -1,
                       uses_member_epoch: bool = False) -> OffsetCommitResult:
        """OffsetCommit. `uses_member_epoch` for v9+ (KIP-848 error codes)."""
        group = self._group_for_commit(group_id, generation_id, uses_member_epoch, now_ms)
        code = group if isinstance(group, ErrorCode) else self._validate_commit(
            group, member_id, generation_id, group_instance_id, False, uses_member_epoch)
        if code != _E.NONE:
            return OffsetCommitResult(code, {(o.topic, o.partition): code for o in offsets})
        expire = now_ms + retention_time_ms if retention_time_ms >= 0 else None
        return OffsetCommitResult(_E.NONE, self.offsets.commit(group_id, offsets, now_ms, expire))

    def txn_offset_commit(self, group_id: str, producer_id: int, producer_epoch: int, member_id: str,
                          generation_id: int, group_instance_id: str | None, offsets: Sequence[OffsetCommitInput],
                          now_ms: int) -> OffsetCommitResult:
        """TxnOffsetCommit: validated like a commit (isTransactional), kept pending per producer
        until `complete_txn_offsets`. The producer epoch is fenced by the txn coordinator."""
        del producer_epoch
        group = self._group_for_commit(group_id, generation_id, False, now_ms)
        code = group if isinstance(group, ErrorCode) else self._validate_commit(
            group, member_id, generation_id, group_instance_id, True, False)
        if code != _E.NONE:
            return OffsetCommitResult(code, {(o.topic, o.partition): code for o in offsets})
        return OffsetCommitResult(_E.NONE, self.offsets.add_pending(group_id, producer_id, offsets, now_ms))

    def complete_txn_offsets(self, producer_id: int, group_ids: Iterable[str], commit: bool, now_ms: int) -> None:
        """The transaction's marker reached the group: apply (commit) or drop (abort) its offsets."""
        self._load_once(now_ms)
        self.offsets.complete_txn(producer_id, group_ids, commit, now_ms)

    def has_pending(self, group_id: str, topic: str, partition: int) -> bool:
        return self.offsets.has_pending(group_id, topic, partition)

    def fetch_offsets(self, group_id: str, topics: Sequence[tuple[str, Sequence[int]]] | None, now_ms: int, *,
                      require_stable: bool = False, member_id: str | None = None,
                      member_epoch: int = -1) -> OffsetFetchResult:
        """OffsetFetch; `topics=None` = every committed partition. v9 member id/epoch are checked
        for KIP-848 groups only (classic groups do not validate fetches)."""
        self._load_once(now_ms)
        group = self.groups.get(group_id)
        if isinstance(group, ConsumerGroup):
            code = group.validate_offset_fetch(member_id, member_epoch)
            if code != _E.NONE:
                return OffsetFetchResult(code)
        return OffsetFetchResult(_E.NONE, self.offsets.fetch(group_id, topics, require_stable))

    def delete_offsets(self, group_id: str, partitions: Sequence[TopicPartition], now_ms: int) -> OffsetDeleteResult:
        """OffsetDelete: refused per partition while the group is subscribed to the topic."""
        self._load_once(now_ms)
        group = self.groups.get(group_id)
        if group is None:
            return OffsetDeleteResult(_E.GROUP_ID_NOT_FOUND)
        if isinstance(group, ConsumerGroup):
            subscribed: set[str] | None = group.subscribed_topics(dict(self._topics()))
        elif group.state == ClassicState.EMPTY:
            subscribed = set()
        elif group.protocol_type != "consumer":
            return OffsetDeleteResult(_E.NON_EMPTY_GROUP)
        else:
            subscribed = self._classic_subscriptions(group)
        errors: dict[TopicPartition, ErrorCode] = {}
        for topic, partition in partitions:
            if subscribed is None or topic in subscribed:
                errors[(topic, partition)] = _E.GROUP_SUBSCRIBED_TO_TOPIC
            else:
                errors[(topic, partition)] = _E.NONE
        self.offsets.delete(group_id, [tp for tp, code in errors.items() if code == _E.NONE])
        return OffsetDeleteResult(_E.NONE, errors)

    @staticmethod
    def _classic_subscriptions(group: ClassicGroup) -> set[str] | None:
        topics: set[str] = set()
        for member in group.members.values():
            name = group.protocol_name or (member.protocols[0][0] if member.protocols else "")
            parsed = subscribed_topics(member.metadata(name))
            if parsed is None:
                return None
            topics |= parsed
        return topics

    def delete_topic_offsets(self, topics: Iterable[str], now_ms: int) -> None:
        """Topics were deleted: drop every group's offsets for them, as Kafka's
        GroupCoordinator.onPartitionsDeleted does (a re-created topic starts from scratch)."""
        self._load_once(now_ms)
        gone = set(topics)
        for group_id, committed in list(self.offsets.committed.items()):
            self.offsets.delete(group_id, [tp for tp in committed if tp[0] in gone])

    # -- admin -----------------------------------------------------------------------------------

    def describe_groups(self, group_ids: Iterable[str], now_ms: int) -> list[DescribedGroup]:
        """DescribeGroups. Unknown (or KIP-848) groups: GROUP_ID_NOT_FOUND with state Dead; Kafka
        answers that error only from v6 on (older versions: NONE + Dead, the handler decides)."""
        self._load_once(now_ms)
        out: list[DescribedGroup] = []
        for group_id in group_ids:
            group = self.groups.get(group_id)
            if isinstance(group, ClassicGroup):
                out.append(group.describe())
            else:
                out.append(DescribedGroup(_E.GROUP_ID_NOT_FOUND, group_id, ClassicState.DEAD.value))
        return out

    def list_groups(self, now_ms: int, states: Iterable[str] = (), types: Iterable[str] = ()) -> list[ListedGroup]:
        """ListGroups with the v4 state filter and v5 type filter (both case-insensitive, as Kafka)."""
        self._load_once(now_ms)
        wanted_states = {s.lower() for s in states}
        wanted_types = {t.lower() for t in types}
        out: list[ListedGroup] = []
        for group_id, group in self.groups.items():
            if isinstance(group, ClassicGroup):
                listed = ListedGroup(group_id, group.protocol_type or "", group.state.value, "classic")
            else:
                listed = ListedGroup(group_id, "consumer", group.state().value, "consumer")
            if wanted_states and listed.state.lower() not in wanted_states:
                continue
            if wanted_types and listed.group_type not in wanted_types:
                continue
            out.append(listed)
        return out

    def delete_groups(self, group_ids: Iterable[str], now_ms: int) -> dict[str, ErrorCode]:
        """DeleteGroups: only groups without members; their offsets go with them."""
        self._load_once(now_ms)
        out: dict[str, ErrorCode] = {}
        for group_id in group_ids:
            group = self.groups.get(group_id)
            if group is None:
                out[group_id] = _E.GROUP_ID_NOT_FOUND
            elif not group.is_empty() or (isinstance(group, ClassicGroup) and group.state != ClassicState.EMPTY):
                out[group_id] = _E.NON_EMPTY_GROUP
            else:
                del self.groups[group_id]
                self.offsets.delete_group(group_id)
                out[group_id] = _E.NONE
        return out

    # -- time ---------------------------------------------------------------------------------------

    def next_deadline_ms(self) -> int | None:
        if self._answered:
            return 0
        deadlines = [g.next_deadline_ms() for g in self.groups.values()]
        deadlines.append(self._next_sweep_ms)
        present = [d for d in deadlines if d is not None]
        return min(present) if present else None

    def tick(self, now_ms: int) -> list[Completion]:
        """Session expiry, rebalance / initial-delay / pending-sync timeouts, offset retention."""
        self._load_once(now_ms)
        out, self._answered = self._answered, []
        topics: dict[str, tuple[uuid.UUID, int]] | None = None
        for group in list(self.groups.values()):
            deadline = group.next_deadline_ms()
            if deadline is None or deadline > now_ms:
                continue
            try:
                if isinstance(group, ClassicGroup):
                    out += group.tick(now_ms)
                else:
                    topics = topics if topics is not None else dict(self._topics())
                    for member in group.due_members(now_ms):
                        if member.member_id in group.members and self._fence(group, member, topics, now_ms):
                            break  # now a classic group
                    group.note_state(now_ms)
                    out += self._answered
                    self._answered = []
            except Exception:  # a bug in one group must not stop the timers of the others
                log.exception("group %s: tick failed", group.group_id)
        if self._next_sweep_ms is not None and now_ms >= self._next_sweep_ms:
            self._next_sweep_ms = now_ms + self.config.offsets_retention_check_interval_ms
            self._expire_offsets(now_ms)
        return out

    def _expire_offsets(self, now_ms: int) -> None:
        """KIP-211: offsets of an empty group expire offsets.retention after it became empty;
        an empty group with no offsets left is dropped (Kafka moves it to Dead)."""
        existing = self._topics()
        if existing:  # a safety net for deletions nobody reported (see delete_topic_offsets)
            self.delete_topic_offsets({t for c in self.offsets.committed.values() for t, _ in c} - set(existing),
                                      now_ms)
        for group_id, group in list(self.groups.items()):
            if not group.is_empty():
                continue
            standalone = isinstance(group, ClassicGroup) and not group.protocol_type
            self.offsets.expire(group_id, now_ms, None if standalone else group.state_since_ms)
            if group_id not in self.offsets.committed and not self.offsets.has_any_pending(group_id):
                del self.groups[group_id]
                self.offsets.delete_group(group_id)
