"""Classic group protocol: JoinGroup/SyncGroup/Heartbeat/LeaveGroup, every state and error path."""

from __future__ import annotations

from kafkaish.coordinator.group_results import ClassicState, LeaveMember
from tests.coordinator.group_harness import RANGE, E, Harness


def state(h: Harness, group: str = "g") -> ClassicState:
    return h.coord.groups[group].state


# -- JoinGroup -----------------------------------------------------------------------------------

def test_member_id_required_then_single_member_completes_at_once() -> None:
    h = Harness()
    first = h.join()
    assert h.result(first).error == E.MEMBER_ID_REQUIRED
    mid = h.result(first).member_id
    assert mid.startswith("c-")
    w = h.join(mid)
    r = h.result(w)
    assert (r.error, r.generation_id, r.leader, r.member_id, r.protocol_name) == (E.NONE, 1, mid, mid, "range")
    assert [m.member_id for m in r.members] == [mid] and r.members[0].metadata == b"meta-range"
    assert state(h) == ClassicState.COMPLETING_REBALANCE


def test_old_versions_join_without_member_id_round_trip() -> None:
    h = Harness()
    w = h.join(known=False)
    assert h.result(w).error == E.NONE and h.result(w).generation_id == 1


def test_invalid_session_timeout_bounds() -> None:
    h = Harness()
    assert h.result(h.join(session=5999)).error == E.INVALID_SESSION_TIMEOUT
    assert h.result(h.join(session=1_800_001)).error == E.INVALID_SESSION_TIMEOUT
    assert h.result(h.join(session=6000)).error == E.MEMBER_ID_REQUIRED


def test_inconsistent_group_protocol() -> None:
    h = Harness()
    h.stable_group(1)
    assert h.result(h.join(ptype="connect")).error == E.INCONSISTENT_GROUP_PROTOCOL
    assert h.result(h.join(protocols=(("roundrobin", b""),))).error == E.INCONSISTENT_GROUP_PROTOCOL
    assert h.result(h.join(protocols=())).error == E.INCONSISTENT_GROUP_PROTOCOL
    assert h.result(h.join(group="new", ptype="")).error == E.INCONSISTENT_GROUP_PROTOCOL


def test_unknown_member_id_and_invalid_group_id() -> None:
    h = Harness()
    assert h.result(h.join("nobody", group="missing")).error == E.UNKNOWN_MEMBER_ID
    h.stable_group(1)
    assert h.result(h.join("nobody")).error == E.UNKNOWN_MEMBER_ID
    assert h.result(h.join(group="")).error == E.INVALID_GROUP_ID


def test_protocol_chosen_by_votes_among_common_protocols() -> None:
    h = Harness(delay=50)
    a, _ = h.join_new(protocols=(("range", b"a"), ("roundrobin", b"A")))
    b, _ = h.join_new(protocols=(("roundrobin", b"B"), ("range", b"b"), ("sticky", b"")))
    c, wc = h.join_new(protocols=(("roundrobin", b"C"), ("range", b"c")))
    h.advance(50)
    h.advance(50)
    r = h.result(wc)
    assert r.error == E.NONE and r.protocol_name == "roundrobin"
    leader = h.result([w for w in h.answers if h.answers[w].leader == h.answers[w].member_id][0])
    assert {m.member_id: m.metadata for m in leader.members} == {a: b"A", b: b"B", c: b"C"}


def test_second_member_triggers_rebalance_which_completes_when_all_rejoined() -> None:
    h = Harness()
    (a,), gen = h.stable_group(1)
    b, wb = h.join_new()
    assert h.result(wb) is None and state(h) == ClassicState.PREPARING_REBALANCE
    assert h.heartbeat(a, gen) == E.REBALANCE_IN_PROGRESS
    wa = h.join(a)
    ra, rb = h.result(wa), h.result(wb)
    assert ra.generation_id == rb.generation_id == gen + 1
    assert ra.leader == rb.leader == a
    assert [m.member_id for m in ra.members] == [a, b] and rb.members == ()


def test_sync_parks_followers_until_leader_assigns() -> None:
    h = Harness()
    a, wa = h.join_new()
    b, wb = h.join_new()
    h.join(a)
    gen = h.result(wb).generation_id
    sb = h.sync(b, gen)
    assert h.result(sb) is None
    assert h.heartbeat(b, gen) == E.NONE  # heartbeats in CompletingRebalance are normal
    sa = h.sync(a, gen, {a: b"for-a", b: b"for-b"})
    assert h.result(sa).assignment == b"for-a" and h.result(sb).assignment == b"for-b"
    assert h.result(sb).protocol_name == "range" and h.result(sb).protocol_type == "consumer"
    assert state(h) == ClassicState.STABLE
    again = h.sync(b, gen)
    assert h.result(again).assignment == b"for-b"


def test_leader_assignment_missing_a_member_gives_it_empty_bytes() -> None:
    h = Harness()
    a, _ = h.join_new()
    b, wb = h.join_new()
    h.join(a)
    gen = h.result(wb).generation_id
    sb = h.sync(b, gen)
    h.sync(a, gen, {a: b"x"})
    assert h.result(sb).error == E.NONE and h.result(sb).assignment == b""


def test_sync_errors() -> None:
    h = Harness()
    (a,), gen = h.stable_group(1)
    assert h.result(h.sync("nobody", gen)).error == E.UNKNOWN_MEMBER_ID
    assert h.result(h.sync(a, gen + 5)).error == E.ILLEGAL_GENERATION
    assert h.result(h.sync(a, gen, ptype="connect")).error == E.INCONSISTENT_GROUP_PROTOCOL
    assert h.result(h.sync(a, gen, pname="roundrobin")).error == E.INCONSISTENT_GROUP_PROTOCOL
    assert h.result(h.sync(a, gen, ptype="consumer", pname="range")).error == E.NONE
    assert h.result(h.sync(a, gen, group="missing")).error == E.UNKNOWN_MEMBER_ID
    h.join_new()
    assert h.result(h.sync(a, gen)).error == E.REBALANCE_IN_PROGRESS


def test_rebalance_in_completing_answers_parked_syncs_with_rebalance_in_progress() -> None:
    h = Harness()
    a, _ = h.join_new()
    b, wb = h.join_new()
    h.join(a)
    gen = h.result(wb).generation_id
    sb = h.sync(b, gen)
    h.join_new()  # third member arrives before the leader synced
    assert h.result(sb).error == E.REBALANCE_IN_PROGRESS
    assert state(h) == ClassicState.PREPARING_REBALANCE


def test_join_with_same_metadata_in_completing_returns_current_generation() -> None:
    h = Harness()
    a, wa = h.join_new()
    again = h.join(a)
    assert h.result(again).generation_id == h.result(wa).generation_id
    assert h.result(again).members  # still the leader
    assert state(h) == ClassicState.COMPLETING_REBALANCE


def test_follower_join_with_same_metadata_in_stable_does_not_rebalance() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2)
    w = h.join(b)
    assert h.result(w).generation_id == gen and h.result(w).members == ()
    assert state(h) == ClassicState.STABLE


def test_leader_rejoin_or_changed_metadata_in_stable_rebalances() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2)
    wa = h.join(a)
    assert h.result(wa) is None and state(h) == ClassicState.PREPARING_REBALANCE
    wb = h.join(b)
    assert h.result(wb).generation_id == gen + 1
    h.sync(a, gen + 1, {a: b"", b: b""})
    wb2 = h.join(b, protocols=(("range", b"new-subscription"),))
    assert h.result(wb2) is None and state(h) == ClassicState.PREPARING_REBALANCE


def test_cooperative_second_rebalance_after_revoking_member_rejoins() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2, protocols=(("cooperative-sticky", b"owned:0-5"),))
    c, wc = h.join_new(protocols=(("cooperative-sticky", b"owned:"),))
    wa = h.join(a, protocols=(("cooperative-sticky", b"owned:0-5"),))
    wb = h.join(b, protocols=(("cooperative-sticky", b"owned:"),))
    gen2 = h.result(wc).generation_id
    assert gen2 == gen + 1 and h.result(wa).generation_id == gen2
    h.sync(b, gen2), h.sync(c, gen2)
    h.sync(a, gen2, {a: b"0-3 (revoke 4,5)", b: b"", c: b""})
    assert state(h) == ClassicState.STABLE
    # a revoked partitions 4 and 5 and rejoins at once with its new owned partitions
    wa2 = h.join(a, protocols=(("cooperative-sticky", b"owned:0-3"),))
    assert h.result(wa2) is None
    assert h.heartbeat(b, gen2) == E.REBALANCE_IN_PROGRESS
    wb2 = h.join(b, protocols=(("cooperative-sticky", b"owned:"),))
    wc2 = h.join(c, protocols=(("cooperative-sticky", b"owned:"),))
    gen3 = h.result(wa2).generation_id
    assert gen3 == gen2 + 1 and h.result(wb2).generation_id == h.result(wc2).generation_id == gen3
    sb, sc = h.sync(b, gen3), h.sync(c, gen3)
    h.sync(a, gen3, {a: b"0-3", b: b"4", c: b"5"})
    assert (h.result(sb).assignment, h.result(sc).assignment) == (b"4", b"5")


# -- timers ------------------------------------------------------------------------------------

def test_member_not_rejoining_is_removed_at_rebalance_timeout() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2, rebalance=20_000, session=30_000)
    wa = h.join(a, rebalance=20_000, session=30_000)
    h.advance(19_999)
    assert h.result(wa) is None
    h.advance(1)
    r = h.result(wa)
    assert r.error == E.NONE and [m.member_id for m in r.members] == [a]
    assert h.heartbeat(b, gen) == E.UNKNOWN_MEMBER_ID


def test_session_expiry_removes_member_and_rebalances() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2, session=10_000)
    h.advance(9_000)
    assert h.heartbeat(a, gen) == E.NONE
    h.advance(1_000)  # b's session is over
    assert h.heartbeat(b, gen) == E.UNKNOWN_MEMBER_ID
    assert h.heartbeat(a, gen) == E.REBALANCE_IN_PROGRESS
    wa = h.join(a)
    assert h.result(wa).generation_id == gen + 1 and len(h.result(wa).members) == 1


def test_last_member_expiry_empties_group() -> None:
    h = Harness()
    (a,), gen = h.stable_group(1)
    h.advance(10_000)
    assert state(h) == ClassicState.EMPTY
    assert h.coord.groups["g"].generation_id == gen + 1


def test_parked_join_keeps_member_alive_past_session_timeout() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2, session=6_000, rebalance=60_000)
    wa = h.join(a, session=6_000, rebalance=60_000)
    for _ in range(5):
        h.advance(5_000)
        assert h.heartbeat(b, gen) == E.REBALANCE_IN_PROGRESS
    assert h.result(wa) is None and a in h.coord.groups["g"].members
    h.join(b, session=6_000, rebalance=60_000)
    assert h.result(wa).generation_id == gen + 1


def test_new_member_parked_too_long_is_dropped_with_unknown_member_id() -> None:
    h = Harness(new_member_join_timeout_ms=1000)
    (a,), gen = h.stable_group(1, session=60_000, rebalance=120_000)
    b, wb = h.join_new(session=60_000, rebalance=120_000)
    h.advance(1000)
    assert h.result(wb).error == E.UNKNOWN_MEMBER_ID
    # a did not rejoin yet: the group is still rebalancing, now only waiting for a
    assert h.heartbeat(a, gen) == E.REBALANCE_IN_PROGRESS
    wa = h.join(a, session=60_000, rebalance=120_000)
    assert [m.member_id for m in h.result(wa).members] == [a]


def test_pending_member_blocks_completion_until_it_expires() -> None:
    h = Harness()
    (a,), gen = h.stable_group(1, session=10_000)
    b, wb = h.join_new(session=10_000)
    first = h.join(session=10_000)  # a third client got its member id but never rejoins
    assert h.result(first).error == E.MEMBER_ID_REQUIRED
    wa = h.join(a, session=10_000)
    assert h.result(wa) is None
    h.advance(10_000)
    assert h.result(wa).generation_id == gen + 1 and h.result(wb).generation_id == gen + 1


def test_pending_sync_timeout_removes_members_that_never_sync() -> None:
    h = Harness()
    a, _ = h.join_new(rebalance=15_000)
    b, wb = h.join_new(rebalance=15_000)
    h.join(a, rebalance=15_000)
    gen = h.result(wb).generation_id
    h.sync(a, gen, {a: b"", b: b""})
    assert state(h) == ClassicState.STABLE
    h.advance(5_000)
    assert h.heartbeat(b, gen) == E.NONE and h.heartbeat(a, gen) == E.NONE
    h.advance(5_000)
    assert h.heartbeat(b, gen) == E.NONE and h.heartbeat(a, gen) == E.NONE
    h.advance(5_000)  # b never sent SyncGroup within the rebalance timeout
    assert b not in h.coord.groups["g"].members
    assert h.heartbeat(a, gen) == E.REBALANCE_IN_PROGRESS


def test_initial_rebalance_delay_gathers_members_and_extends() -> None:
    h = Harness(delay=100)
    a, wa = h.join_new()
    h.advance(60)
    b, wb = h.join_new()
    h.advance(39)
    assert h.result(wa) is None
    h.advance(1)  # first delay over, but b arrived: extended by another delay
    assert h.result(wa) is None
    h.advance(100)
    assert h.result(wa).generation_id == h.result(wb).generation_id == 1
    assert {m.member_id for m in h.result(wa).members} == {a, b}


def test_initial_delay_bounded_by_rebalance_timeout() -> None:
    h = Harness(delay=3_000)
    a, wa = h.join_new(rebalance=4_000)
    h.advance(1_000)
    h.join_new(rebalance=4_000)
    h.advance(2_000)
    assert h.result(wa) is None
    h.advance(1_000)  # extension limited to the 1000 ms left of the rebalance timeout
    assert h.result(wa).generation_id == 1


def test_next_deadline_tracks_earliest_timer() -> None:
    h = Harness(delay=100)
    assert h.coord.next_deadline_ms() is None or h.coord.next_deadline_ms() > h.now
    h.join_new(session=10_000)
    assert h.coord.next_deadline_ms() == h.now + 100
    h.advance(100)
    assert h.coord.next_deadline_ms() == h.now + 10_000  # session expiry before the sync deadline


# -- Heartbeat and LeaveGroup --------------------------------------------------------------------

def test_heartbeat_errors() -> None:
    h = Harness()
    (a,), gen = h.stable_group(1)
    assert h.heartbeat(a, gen) == E.NONE
    assert h.heartbeat(a, gen - 1) == E.ILLEGAL_GENERATION
    assert h.heartbeat("nobody", gen) == E.UNKNOWN_MEMBER_ID
    assert h.heartbeat(a, gen, group="missing") == E.UNKNOWN_MEMBER_ID
    assert h.heartbeat(a, gen, instance="unknown-instance") == E.UNKNOWN_MEMBER_ID


def test_leave_batch_with_per_member_errors_and_rebalance() -> None:
    h = Harness()
    (a, b, c), gen = h.stable_group(3)
    res, comps = h.coord.leave_group("g", [LeaveMember(b), LeaveMember("ghost"), LeaveMember("x", "no-such-instance")], h.now)
    h.deliver(comps)
    assert res.error == E.NONE
    assert [m.error for m in res.members] == [E.NONE, E.UNKNOWN_MEMBER_ID, E.UNKNOWN_MEMBER_ID]
    assert state(h) == ClassicState.PREPARING_REBALANCE
    wa, wc = h.join(a), h.join(c)
    assert {m.member_id for m in h.result(wa).members} == {a, c}


def test_leave_of_parked_member_completes_the_join_for_others() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2)
    wa = h.join(a)
    res, comps = h.coord.leave_group("g", [LeaveMember(b)], h.now)
    h.deliver(comps)
    assert h.result(wa).generation_id == gen + 1


def test_last_member_leaving_empties_group_and_unknown_group_leave() -> None:
    h = Harness()
    (a,), _ = h.stable_group(1)
    res, comps = h.coord.leave_group("g", [LeaveMember(a)], h.now)
    assert res.members[0].error == E.NONE and state(h) == ClassicState.EMPTY
    res, _ = h.coord.leave_group("missing", [LeaveMember(a)], h.now)
    assert res.members[0].error == E.UNKNOWN_MEMBER_ID


def test_pending_member_may_leave() -> None:
    h = Harness()
    (a,), gen = h.stable_group(1)
    pending = h.result(h.join()).member_id
    wb_mid, wb = h.join_new()
    wa = h.join(a)
    assert h.result(wa) is None  # waiting for the pending member
    res, comps = h.coord.leave_group("g", [LeaveMember(pending)], h.now)
    h.deliver(comps)
    assert res.members[0].error == E.NONE and h.result(wa).generation_id == gen + 1


# -- static membership (KIP-345) -------------------------------------------------------------------

def static_group(h: Harness, skip: bool = False) -> tuple[str, str, int]:
    a = h.result(h.join(instance="ia", skip=skip)).member_id  # static members skip KIP-394
    wb = h.join(instance="ib", skip=skip)
    assert h.result(wb) is None  # rebalance: waits for a
    h.join(a, instance="ia", skip=skip)
    b, gen = h.result(wb).member_id, h.result(wb).generation_id
    assert a.startswith("ia-") and b.startswith("ib-")
    h.sync(b, gen, instance="ib")
    h.sync(a, gen, {a: b"A", b: b"B"}, instance="ia")
    assert state(h) == ClassicState.STABLE
    return a, b, gen


def test_static_member_rejoin_replaces_member_id_without_rebalance() -> None:
    h = Harness()
    a, b, gen = static_group(h)
    wb2 = h.join(instance="ib")
    r = h.result(wb2)
    assert r.error == E.NONE and r.generation_id == gen and r.member_id != b and r.leader == a
    assert state(h) == ClassicState.STABLE
    assert h.result(h.sync(r.member_id, gen, instance="ib")).assignment == b"B"
    # the old incarnation is fenced
    assert h.heartbeat(b, gen, instance="ib") == E.FENCED_INSTANCE_ID
    assert h.result(h.join(b, instance="ib")).error == E.FENCED_INSTANCE_ID
    assert h.result(h.sync(b, gen, instance="ib")).error == E.FENCED_INSTANCE_ID
    assert h.heartbeat(r.member_id, gen, instance="ib") == E.NONE


def test_static_leader_rejoin_gets_old_leader_id_or_skip_assignment() -> None:
    h = Harness()
    a, b, gen = static_group(h)
    r = h.result(h.join(instance="ia"))
    assert r.leader == a and r.member_id != a and r.members == () and not r.skip_assignment
    assert h.coord.groups["g"].leader_id == r.member_id
    r2 = h.result(h.join(instance="ia", skip=True))
    assert r2.leader == r2.member_id and r2.skip_assignment and len(r2.members) == 2
    assert state(h) == ClassicState.STABLE


def test_static_rejoin_with_new_protocol_triggers_rebalance() -> None:
    h = Harness()
    a, b, gen = static_group(h)
    w = h.join(instance="ib", protocols=(("roundrobin", b""), ("range", b"")))
    # a supports only range: the selected protocol stays range, so no rebalance (Kafka checks
    # the selected protocol, not the metadata bytes)
    assert h.result(w).generation_id == gen and state(h) == ClassicState.STABLE
    h2 = Harness()
    a2, b2, gen2 = static_group(h2)
    h2.coord.groups["g"].members[a2].protocols = (("roundrobin", b""), ("range", b""))
    w2 = h2.join(instance="ib", protocols=(("roundrobin", b""), ("range", b"")))
    assert h2.result(w2) is None and state(h2) == ClassicState.PREPARING_REBALANCE


def test_static_rejoin_fences_parked_join_of_old_member_id() -> None:
    h = Harness()
    a, b, gen = static_group(h)
    wa = h.join(a, instance="ia")  # leader rejoin: rebalance, parked
    assert h.result(wa) is None
    w_new = h.join(instance="ia")
    assert h.result(wa).error == E.FENCED_INSTANCE_ID
    assert h.result(w_new) is None  # the new incarnation waits in the rebalance
    h.join(b, instance="ib")
    assert h.result(w_new).generation_id == gen + 1


def test_static_member_not_rejoining_is_kept_but_dynamic_removed() -> None:
    h = Harness()
    a, b, gen = static_group(h)
    c, wc = h.join_new(rebalance=30_000)
    h.join(a, instance="ia")
    for _ in range(3):
        h.advance(9_000)
        assert h.heartbeat(b, gen, instance="ib") == E.REBALANCE_IN_PROGRESS  # alive, not rejoining
    h.advance(3_000)
    r = h.result(wc)
    assert r.error == E.NONE and b in h.coord.groups["g"].members
    assert h.heartbeat(b, gen, instance="ib") == E.ILLEGAL_GENERATION


def test_static_leave_and_fenced_leave() -> None:
    h = Harness()
    a, b, gen = static_group(h)
    res, _ = h.coord.leave_group("g", [LeaveMember("wrong-id", "ib")], h.now)
    assert res.members[0].error == E.FENCED_INSTANCE_ID
    res, _ = h.coord.leave_group("g", [LeaveMember("", "ib")], h.now)
    assert res.members[0].error == E.NONE and b not in h.coord.groups["g"].members
    assert "ib" not in h.coord.groups["g"].static_members


def test_only_unjoined_static_members_postpone_completion() -> None:
    h = Harness()
    a, b, gen = static_group(h)
    h.coord.leave_group("g", [LeaveMember(a, "ia")], h.now)  # rebalance, b must rejoin
    for _ in range(4):
        h.advance(8_000)
        assert h.heartbeat(b, gen, instance="ib") == E.REBALANCE_IN_PROGRESS
    # 32 s: the rebalance timeout passed with nobody rejoined: wait another one
    assert state(h) == ClassicState.PREPARING_REBALANCE and b in h.coord.groups["g"].members
    h.advance(10_000)  # b stopped heartbeating: its session is over
    assert state(h) == ClassicState.EMPTY


def test_rebalance_timeout_defaults_to_session_timeout_for_v0() -> None:
    h = Harness()
    w = h.join(known=False, rebalance=-1, session=7_000)
    mid = h.result(w).member_id
    assert h.coord.groups["g"].members[mid].rebalance_timeout_ms == 7_000
    assert RANGE[0][0] == "range"


# -- the transition table ------------------------------------------------------------------------

def test_illegal_transition_raises_like_the_transaction_table() -> None:
    from kafkaish.coordinator.group_classic import ClassicGroup
    from kafkaish.coordinator.group_results import GroupConfig
    from kafkaish.coordinator.txn_metadata import IllegalTransitionError

    group = ClassicGroup("g", GroupConfig(), 0, lambda client: "m")
    for target in (ClassicState.STABLE, ClassicState.COMPLETING_REBALANCE, ClassicState.EMPTY):
        try:
            group._transition(target, 0)
        except IllegalTransitionError as e:
            assert "Empty -> " in str(e) and group.state == ClassicState.EMPTY
        else:
            raise AssertionError(f"Empty -> {target.value} was allowed")
    group._transition(ClassicState.PREPARING_REBALANCE, 5)
    assert (group.state, group.state_since_ms) == (ClassicState.PREPARING_REBALANCE, 5)


def test_transition_table_is_kafkas_valid_previous_states() -> None:
    from kafkaish.coordinator.group_results import CLASSIC_VALID_PREVIOUS

    S = ClassicState
    # ClassicGroupState's static block, written out as Kafka has it.
    kafka = {
        S.EMPTY: {S.PREPARING_REBALANCE},
        S.PREPARING_REBALANCE: {S.STABLE, S.COMPLETING_REBALANCE, S.EMPTY},
        S.COMPLETING_REBALANCE: {S.PREPARING_REBALANCE},
        S.STABLE: {S.COMPLETING_REBALANCE},
        S.DEAD: {S.STABLE, S.PREPARING_REBALANCE, S.COMPLETING_REBALANCE, S.EMPTY, S.DEAD},
    }
    assert {k: set(v) for k, v in CLASSIC_VALID_PREVIOUS.items()} == kafka
