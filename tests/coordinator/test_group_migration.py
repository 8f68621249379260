"""KIP-848 online migration (group.consumer.migration.policy=bidirectional): a classic group
upgraded by a consumer-protocol join, classic members reconciling inside the consumer group, and
the downgrade when the last consumer-protocol member leaves."""

from __future__ import annotations

import struct
import uuid

from kafkaish.coordinator.group_classic import ClassicGroup
from kafkaish.coordinator.group_consumer import ConsumerGroup
from kafkaish.coordinator.group_migration import assignment_ids, serialize_assignment
from kafkaish.coordinator.group_results import JoinGroupResult, SyncGroupResult
from tests.coordinator.group_harness import E, Harness, subscription

T1 = uuid.UUID(int=1)
TOPICS = {"t1": (T1, 4)}


def classic_assignment(parts: list[int]) -> bytes:
    return serialize_assignment({T1: frozenset(parts)}, TOPICS, struct.pack(">h", 0))


def classic_group(h: Harness) -> tuple[str, int]:
    """One classic member of group "cg" owning all of t1."""
    protocols = (("range", subscription("t1")),)
    member, waiter = h.join_new(group="cg", protocols=protocols)
    gen = h.answers[waiter].generation_id
    h.sync(member, gen, {member: classic_assignment([0, 1, 2, 3])}, group="cg")
    return member, gen


def rejoin(h: Harness, member: str) -> JoinGroupResult:
    waiter = h.join(member, group="cg", protocols=(("range", subscription("t1")),))
    result = h.answers[waiter]
    assert isinstance(result, JoinGroupResult)
    return result


def sync_parts(h: Harness, member: str, generation: int) -> tuple[int, set[int]]:
    result = h.answers[h.sync(member, generation, group="cg")]
    assert isinstance(result, SyncGroupResult)
    return result.error, set(assignment_ids(result.assignment, TOPICS).get(T1, frozenset()))


def test_consumer_member_upgrades_a_classic_group_and_partitions_move_after_rejoin() -> None:
    h = Harness(topics=dict(TOPICS))
    classic, gen = classic_group(h)
    joined = h.cg("c1", 0, topics=("t1",), owned={})
    assert joined.error == E.NONE and joined.member_epoch > gen
    group = h.coord.groups["cg"]
    assert isinstance(group, ConsumerGroup) and group.members[classic].classic is not None
    assert joined.assignment == ()  # everything is still held by the classic member
    # the classic member learns of the new epoch, rejoins (eager: owns nothing) and syncs
    assert h.heartbeat(classic, gen, group="cg") == E.REBALANCE_IN_PROGRESS
    again = rejoin(h, classic)
    assert again.error == E.NONE and again.generation_id == joined.member_epoch and again.members == ()
    code, kept = sync_parts(h, classic, again.generation_id)
    assert code == E.NONE and len(kept) == 2
    assert h.heartbeat(classic, again.generation_id, group="cg") == E.NONE
    got = h.cg("c1", joined.member_epoch, owned={})
    assert set(dict(got.assignment)[T1]) == {0, 1, 2, 3} - kept
    assert group.state().value == "Stable"


def test_last_consumer_member_leaving_downgrades_to_classic() -> None:
    h = Harness(topics=dict(TOPICS))
    classic, gen = classic_group(h)
    joined = h.cg("c1", 0, topics=("t1",), owned={})
    again = rejoin(h, classic)
    sync_parts(h, classic, again.generation_id)
    left = h.cg("c1", -1)
    assert (left.error, left.member_epoch) == (E.NONE, -1)
    group = h.coord.groups["cg"]
    assert isinstance(group, ClassicGroup) and list(group.members) == [classic]
    assert group.state.value == "PreparingRebalance"
    assert h.heartbeat(classic, group.generation_id, group="cg") == E.REBALANCE_IN_PROGRESS
    final = rejoin(h, classic)
    assert final.error == E.NONE and final.leader == classic
    assert joined.member_epoch >= 1


def test_upgrade_answers_parked_classic_requests_rebalance_in_progress() -> None:
    h = Harness(topics=dict(TOPICS))
    classic_group(h)
    protocols = (("range", subscription("t1")),)
    _, parked = h.join_new(group="cg", protocols=protocols)  # parked: the group is rebalancing
    assert h.result(parked) is None
    assert h.cg("c1", 0, topics=("t1",), owned={}).error == E.NONE
    h.advance(1)  # the next tick hands out what the conversion answered
    answered = h.result(parked)
    assert isinstance(answered, JoinGroupResult) and answered.error == E.REBALANCE_IN_PROGRESS


def test_non_consumer_protocol_type_group_is_not_upgraded() -> None:
    h = Harness(topics=dict(TOPICS))
    _, waiter = h.join_new(group="cg", ptype="connect")
    assert h.answers[waiter].error == E.NONE
    assert h.cg("c1", 0, topics=("t1",), owned={}).error == E.GROUP_ID_NOT_FOUND


def test_consumer_member_session_expiry_downgrades() -> None:
    h = Harness(topics=dict(TOPICS))
    classic, _ = classic_group(h)
    h.cg("c1", 0, topics=("t1",), owned={})
    again = rejoin(h, classic)
    sync_parts(h, classic, again.generation_id)
    for _ in range(5):  # the classic member keeps heartbeating, the consumer member is silent
        h.advance(9_000)
        assert h.heartbeat(classic, again.generation_id, group="cg") in (E.NONE, E.REBALANCE_IN_PROGRESS,
                                                                          E.ILLEGAL_GENERATION)
        if isinstance(h.coord.groups["cg"], ClassicGroup):
            break
    assert isinstance(h.coord.groups["cg"], ClassicGroup)


def test_classic_member_offsets_are_validated_by_generation() -> None:
    # ConsumerGroup.validateOffsetCommit / validateOffsetFetch: a classic member commits with
    # OffsetCommit < v9 and its generation id; a wrong one is ILLEGAL_GENERATION
    from kafkaish.coordinator.group_results import OffsetCommitInput

    h = Harness(topics=dict(TOPICS))
    classic, _ = classic_group(h)
    h.cg("c1", 0, topics=("t1",), owned={})
    again = rejoin(h, classic)
    offsets = [OffsetCommitInput("t1", 0, 5)]
    ok = h.coord.commit_offsets("cg", classic, again.generation_id, None, offsets, h.now)
    assert ok.error == E.NONE and set(ok.partitions.values()) == {E.NONE}
    stale = h.coord.commit_offsets("cg", classic, again.generation_id - 1, None, offsets, h.now)
    assert set(stale.partitions.values()) == {E.ILLEGAL_GENERATION}
    fetched = h.coord.fetch_offsets("cg", None, h.now, member_id=classic, member_epoch=again.generation_id + 1)
    assert fetched.error == E.ILLEGAL_GENERATION
    consumer_only = h.coord.commit_offsets("cg", "c1", 99, None, offsets, h.now)  # KIP-848 member below v9
    assert set(consumer_only.partitions.values()) == {E.UNSUPPORTED_VERSION}
