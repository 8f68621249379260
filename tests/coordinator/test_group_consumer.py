"""KIP-848 consumer groups: joins, reconciliation with revocation before reassignment, errors,
static members, timeouts, assignors and describe."""

from __future__ import annotations

import uuid

from kafkaish.coordinator.group_assignors import range_assign, uniform_assign
from kafkaish.coordinator.group_results import ConsumerHeartbeatResult
from tests.coordinator.group_harness import E, Harness

T1 = uuid.UUID(int=1)
T2 = uuid.UUID(int=2)


def harness(**kw) -> Harness:
    return Harness(topics={"t1": (T1, 6), "t2": (T2, 3)}, **kw)


def parts(res: ConsumerHeartbeatResult) -> dict[uuid.UUID, tuple[int, ...]]:
    assert res.assignment is not None
    return dict(res.assignment)


def assert_single_owner(h: Harness, group: str = "cg") -> None:
    seen: set[tuple[uuid.UUID, int]] = set()
    for m in h.coord.groups[group].members.values():
        for a in (m.assigned, m.pending_revocation):
            for t, ps in a.items():
                for p in ps:
                    assert (t, p) not in seen, f"{t}:{p} owned twice"
                    seen.add((t, p))


def test_first_member_gets_every_partition() -> None:
    h = harness()
    r = h.cg("", 0, topics=("t1", "t2"))
    assert r.error == E.NONE and r.member_id and r.member_epoch == 1
    assert parts(r) == {T1: (0, 1, 2, 3, 4, 5), T2: (0, 1, 2)}
    assert r.heartbeat_interval_ms == 5000
    steady = h.cg(r.member_id, 1)
    assert steady.error == E.NONE and steady.assignment is None and steady.member_epoch == 1


def test_client_generated_member_id_is_kept() -> None:
    h = harness()
    assert h.cg("my-uuid", 0, topics=("t1",)).member_id == "my-uuid"


def test_partitions_move_only_after_previous_owner_released_them() -> None:
    h = harness()
    a = h.cg("a", 0, topics=("t1",))
    assert parts(a) == {T1: (0, 1, 2, 3, 4, 5)}
    b = h.cg("b", 0, topics=("t1",))
    assert b.member_epoch == 2 and parts(b) == {}  # everything still owned by a
    assert_single_owner(h)
    a2 = h.cg("a", 1)
    kept = parts(a2)[T1]
    assert a2.member_epoch == 1 and len(kept) == 3  # revoke first, epoch unchanged
    b2 = h.cg("b", 2)
    assert b2.assignment is None or parts(b2) == {}  # a has not acknowledged yet
    a3 = h.cg("a", 1, owned={T1: kept})
    assert a3.member_epoch == 2 and a3.assignment is None  # unchanged partitions are not resent (D22)
    b3 = h.cg("b", 2)
    assert set(parts(b3)[T1]) == set(range(6)) - set(kept)
    assert_single_owner(h)
    assert h.coord.groups["cg"].state().value == "Stable"


def test_revocation_not_acknowledged_while_owned_still_lists_revoked() -> None:
    h = harness()
    h.cg("a", 0, topics=("t1",))
    h.cg("b", 0, topics=("t1",))
    kept = parts(h.cg("a", 1))[T1]
    still = h.cg("a", 1, owned={T1: (0, 1, 2, 3, 4, 5)})
    assert still.member_epoch == 1
    assert h.coord.groups["cg"].state().value == "Reconciling"
    assert h.cg("a", 1, owned={T1: kept}).member_epoch == 2


def test_leave_hands_partitions_to_the_rest() -> None:
    h = harness()
    h.cg("a", 0, topics=("t1",))
    h.cg("b", 0, topics=("t1",))
    kept = parts(h.cg("a", 1))[T1]
    h.cg("a", 1, owned={T1: kept})
    b_parts = parts(h.cg("b", 2))[T1]
    left = h.cg("a", -1)
    assert left.error == E.NONE and left.member_epoch == -1
    b = h.cg("b", 2, owned={T1: b_parts})
    assert b.member_epoch == 3 and parts(b) == {T1: (0, 1, 2, 3, 4, 5)}
    assert h.cg("a", 2).error == E.UNKNOWN_MEMBER_ID


def test_epoch_errors() -> None:
    h = harness()
    h.cg("a", 0, topics=("t1",))
    assert h.cg("a", 5).error == E.FENCED_MEMBER_EPOCH
    assert h.cg("ghost", 1).error == E.UNKNOWN_MEMBER_ID
    h.cg("b", 0, topics=("t1",))
    kept = parts(h.cg("a", 1))[T1]
    h.cg("a", 1, owned={T1: kept})  # a is now at epoch 2, previous epoch 1
    # the response with epoch 2 was lost: epoch 1 with a subset of the assignment is accepted
    assert h.cg("a", 1, owned={T1: kept}).error == E.NONE
    assert h.cg("a", 1, owned={T1: (0, 1, 2, 3, 4, 5)}).error == E.FENCED_MEMBER_EPOCH
    assert h.cg("a", 0, topics=("t1",)).member_epoch >= 1  # rejoin with epoch 0 resets the member
    assert h.cg("x", 1, group="missing").error == E.UNKNOWN_MEMBER_ID


def test_invalid_requests() -> None:
    h = harness()
    assert h.cg("a", 0).error == E.INVALID_REQUEST  # no subscription on join
    assert h.cg("a", 0, topics=("t1",), rebalance=-1).error == E.INVALID_REQUEST
    assert h.cg("a", 0, topics=("t1",), group="").error == E.INVALID_REQUEST
    assert h.cg("a", 0, topics=("t1",), assignor="sticky").error == E.UNSUPPORTED_ASSIGNOR


def test_static_member_temporary_leave_keeps_partitions() -> None:
    h = harness()
    a = h.cg("a1", 0, topics=("t1",), instance="ia")
    h.cg("b", 0, topics=("t1",))
    kept = parts(h.cg("a1", 1, instance="ia"))[T1]
    h.cg("a1", 1, owned={T1: kept}, instance="ia")
    assert h.cg("a1", -2, instance="ia").member_epoch == -2
    assert h.coord.groups["cg"].group_epoch == 2  # a temporary static leave bumps nothing
    back = h.cg("a2-new", 0, topics=("t1",), instance="ia")
    assert back.error == E.NONE and back.member_id == "a2-new" and parts(back)[T1] == kept
    assert back.member_epoch >= a.member_epoch


def test_unreleased_instance_id() -> None:
    h = harness()
    h.cg("a1", 0, topics=("t1",), instance="ia")
    r = h.cg("a2", 0, topics=("t1",), instance="ia")
    assert r.error == E.UNRELEASED_INSTANCE_ID


def test_session_timeout_removes_member() -> None:
    h = harness(consumer_session_timeout_ms=45_000)
    h.cg("a", 0, topics=("t1",))
    h.cg("b", 0, topics=("t1",))
    for _ in range(3):
        h.advance(20_000)
        h.cg("b", 2)
    assert "a" not in h.coord.groups["cg"].members
    assert h.coord.groups["cg"].members["b"].assigned == {T1: frozenset(range(6))}


def test_static_left_member_expires_after_session() -> None:
    h = harness(consumer_session_timeout_ms=10_000)
    h.cg("a", 0, topics=("t1",), instance="ia")
    h.cg("a", -2, instance="ia")
    h.advance(10_000)
    assert not h.coord.groups["cg"].members
    assert h.coord.groups["cg"].state().value == "Empty"


def test_member_not_revoking_within_rebalance_timeout_is_fenced() -> None:
    h = harness(consumer_session_timeout_ms=60_000)
    h.cg("a", 0, topics=("t1",), rebalance=5_000)
    h.cg("b", 0, topics=("t1",))
    h.cg("a", 1)  # told to revoke, never acknowledges
    h.advance(5_000)
    assert "a" not in h.coord.groups["cg"].members
    assert set(parts(h.cg("b", 2))[T1]) == set(range(6))


def test_new_topic_metadata_bumps_epoch() -> None:
    h = harness()
    r = h.cg("a", 0, topics=("t1", "t3"))
    assert T1 in parts(r) and r.member_epoch == 1
    t3 = uuid.UUID(int=3)
    h.topics["t3"] = (t3, 2)
    r2 = h.cg("a", 1)
    assert r2.member_epoch == 2 and parts(r2)[t3] == (0, 1)
    h.topics["t3"] = (t3, 4)
    assert parts(h.cg("a", 2))[t3] == (0, 1, 2, 3)


def test_regex_subscription() -> None:
    h = harness()
    r = h.cg("a", 0, topics=(), regex="t[12]")
    assert set(parts(r)) == {T1, T2}


def test_range_assignor_and_describe() -> None:
    h = harness()
    h.cg("a", 0, topics=("t1", "t2"), assignor="range")
    h.cg("b", 0, topics=("t1", "t2"), assignor="range")
    g = h.coord.groups["cg"]
    assert g.assignor == "range"
    assert g.target["a"] == {T1: frozenset({0, 1, 2}), T2: frozenset({0, 1})}
    assert g.target["b"] == {T1: frozenset({3, 4, 5}), T2: frozenset({2})}
    (d,) = h.coord.consumer_group_describe(["cg"], h.now)
    assert d.error == E.NONE and d.state == "Reconciling" and d.group_epoch == 2 and d.assignor_name == "range"
    members = {m.member_id: m for m in d.members}
    assert members["b"].target_assignment == ((T1, "t1", (3, 4, 5)), (T2, "t2", (2,)))
    assert members["a"].client_id == "client" and members["a"].subscribed_topic_names == ("t1", "t2")
    (missing,) = h.coord.consumer_group_describe(["nope"], h.now)
    assert missing.error == E.GROUP_ID_NOT_FOUND


def test_uniform_assignor_balanced_and_sticky() -> None:
    topics = {"t1": (T1, 7), "t2": (T2, 3)}
    subs = {m: frozenset({"t1", "t2"}) for m in ("a", "b", "c")}
    first = uniform_assign(subs, topics, {})
    sizes = sorted(sum(len(p) for p in a.values()) for a in first.values())
    assert sizes == [3, 3, 4]
    subs["d"] = frozenset({"t1", "t2"})
    second = uniform_assign(subs, topics, first)
    assert sorted(sum(len(p) for p in a.values()) for a in second.values()) == [2, 2, 3, 3]
    for m in ("a", "b", "c"):  # existing members keep what they can
        kept = {(t, p) for t, ps in second[m].items() for p in ps}
        before = {(t, p) for t, ps in first[m].items() for p in ps}
        assert kept <= before


def test_uniform_assignor_heterogeneous_subscriptions() -> None:
    topics = {"t1": (T1, 4), "t2": (T2, 4)}
    out = uniform_assign({"a": frozenset({"t1"}), "b": frozenset({"t1", "t2"})}, topics, {})
    assert out["a"] == {T1: frozenset({0, 1, 2, 3})} or sum(len(p) for p in out["a"].values()) >= 3
    assert sum(len(p) for p in out["b"].values()) == 8 - sum(len(p) for p in out["a"].values())
    assert abs(sum(len(p) for p in out["a"].values()) - sum(len(p) for p in out["b"].values())) <= 1


def test_range_assignor_uneven() -> None:
    out = range_assign({"a": frozenset({"t1"}), "b": frozenset({"t1"}), "c": frozenset({"t1"})},
                       {"t1": (T1, 4)}, {})
    assert out == {"a": {T1: frozenset({0, 1})}, "b": {T1: frozenset({2})}, "c": {T1: frozenset({3})}}


def test_offset_commit_and_fetch_validation_for_consumer_group() -> None:
    h = harness()
    from tests.coordinator.test_group_offsets import offs
    h.cg("a", 0, topics=("t1",))
    commit = h.coord.commit_offsets
    assert commit("cg", "a", 1, None, offs(("t1", 0, 5)), h.now, uses_member_epoch=True).error == E.NONE
    assert commit("cg", "a", 0, None, offs(("t1", 0, 5)), h.now, uses_member_epoch=True).error == E.STALE_MEMBER_EPOCH
    assert commit("cg", "a", 1, None, offs(("t1", 0, 5)), h.now).error == E.UNSUPPORTED_VERSION  # v8 from KIP-848
    assert commit("cg", "x", 1, None, offs(("t1", 0, 5)), h.now).error == E.UNKNOWN_MEMBER_ID
    txn = h.coord.txn_offset_commit
    assert txn("cg", 1, 0, "a", 0, None, offs(("t1", 0, 5)), h.now).error == E.ILLEGAL_GENERATION
    assert txn("cg", 1, 0, "a", 1, None, offs(("t1", 0, 5)), h.now).error == E.NONE
    assert txn("cg", 1, 0, "", -1, None, offs(("t1", 0, 5)), h.now).error == E.UNKNOWN_MEMBER_ID
    assert commit("cg", "", -1, None, offs(("t1", 0, 5)), h.now).error == E.UNKNOWN_MEMBER_ID
    assert h.coord.fetch_offsets("cg", None, h.now, member_id="a", member_epoch=0).error == E.STALE_MEMBER_EPOCH
    assert h.coord.fetch_offsets("cg", None, h.now, member_id="x", member_epoch=1).error == E.UNKNOWN_MEMBER_ID
    got = h.coord.fetch_offsets("cg", None, h.now, member_id="a", member_epoch=1)
    assert [(f.topic, f.offset) for f in got.partitions] == [("t1", 5)]
    res = h.coord.delete_offsets("cg", [("t1", 0)], h.now)
    assert res.partitions == {("t1", 0): E.GROUP_SUBSCRIBED_TO_TOPIC}


def test_empty_groups_convert_between_protocols() -> None:
    h = harness()
    r = h.cg("a", 0, topics=("t1",))
    h.cg("a", -1)
    w = h.join(group="cg")
    assert h.result(w).error == E.MEMBER_ID_REQUIRED
    mid = h.result(w).member_id
    assert h.result(h.join(mid, group="cg")).error == E.NONE
    # a classic group with members whose metadata is not the consumer protocol is not upgraded
    assert h.cg("b", 0, topics=("t1",)).error == E.GROUP_ID_NOT_FOUND
    h2 = harness()
    h2.cg("a", 0, topics=("t1",))
    # a non-empty KIP-848 group takes classic "consumer" members (group_migration), no other type
    assert h2.result(h2.join(group="cg")).error == E.MEMBER_ID_REQUIRED
    assert h2.result(h2.join(group="cg", ptype="connect")).error == E.INCONSISTENT_GROUP_PROTOCOL
    assert r.error == E.NONE


def test_list_and_describe_show_consumer_groups() -> None:
    h = harness()
    h.cg("a", 0, topics=("t1",))
    listed = h.coord.list_groups(h.now)
    assert [(g.group_id, g.protocol_type, g.state, g.group_type) for g in listed] == [
        ("cg", "consumer", "Stable", "consumer")]
    assert h.coord.list_groups(h.now, types=["classic"]) == []
    assert h.coord.describe_groups(["cg"], h.now)[0].error == E.GROUP_ID_NOT_FOUND
    assert h.coord.delete_groups(["cg"], h.now) == {"cg": E.NON_EMPTY_GROUP}
    h.cg("a", -1)
    assert h.coord.delete_groups(["cg"], h.now) == {"cg": E.NONE}


def test_member_that_already_dropped_revoked_partitions_moves_on_at_once() -> None:
    h = harness()
    h.cg("a", 0, topics=("t1",))
    h.cg("b", 0, topics=("t1",))
    target = tuple(sorted(h.coord.groups["cg"].target["a"][T1]))
    r = h.cg("a", 1, owned={T1: target})  # owned no longer lists the partitions b gets
    assert r.member_epoch == 2 and parts(r) == {T1: target}
    assert_single_owner(h)
