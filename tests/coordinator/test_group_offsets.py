"""Committed offsets: validation, fetch, transactional offsets, durability, expiry, OffsetDelete."""

from __future__ import annotations

import json

from kafkaish.coordinator.group_results import ClassicState, LeaveMember, OffsetCommitInput
from tests.coordinator.group_harness import E, DictStore, Harness, subscription

DAY = 24 * 3600 * 1000


def offs(*items: tuple[str, int, int], metadata: str | None = "m") -> list[OffsetCommitInput]:
    return [OffsetCommitInput(t, p, o, 3, metadata) for t, p, o in items]


def fetched(h: Harness, group: str = "g", topics=None, **kw) -> dict[tuple[str, int], tuple]:
    res = h.coord.fetch_offsets(group, topics, h.now, **kw)
    assert res.error == E.NONE
    return {(f.topic, f.partition): (f.offset, f.leader_epoch, f.metadata, f.error) for f in res.partitions}


def test_standalone_commit_creates_group_and_round_trips_metadata() -> None:
    h = Harness()
    res = h.coord.commit_offsets("solo", "", -1, None, offs(("t", 0, 42), ("t", 1, 7)), h.now)
    assert res.error == E.NONE and set(res.partitions.values()) == {E.NONE}
    assert fetched(h, "solo", [("t", [0, 1, 2])]) == {
        ("t", 0): (42, 3, "m", E.NONE), ("t", 1): (7, 3, "m", E.NONE), ("t", 2): (-1, -1, "", E.NONE)}
    assert fetched(h, "solo") == {("t", 0): (42, 3, "m", E.NONE), ("t", 1): (7, 3, "m", E.NONE)}
    assert h.coord.groups["solo"].state == ClassicState.EMPTY
    assert h.coord.offsets.committed["solo"][("t", 0)].commit_timestamp_ms == h.now


def test_null_metadata_and_fetch_of_unknown_group() -> None:
    h = Harness()
    h.coord.commit_offsets("solo", "", -1, None, offs(("t", 0, 1), metadata=None), h.now)
    assert fetched(h, "solo") == {("t", 0): (1, 3, None, E.NONE)}
    assert fetched(h, "nobody", [("t", [0])]) == {("t", 0): (-1, -1, "", E.NONE)}
    assert fetched(h, "nobody") == {}


def test_commit_validation_against_classic_group() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2)
    commit = h.coord.commit_offsets
    assert commit("g", a, gen, None, offs(("t", 0, 1)), h.now).error == E.NONE
    assert commit("g", "ghost", gen, None, offs(("t", 0, 1)), h.now).error == E.UNKNOWN_MEMBER_ID
    assert commit("g", a, gen + 1, None, offs(("t", 0, 1)), h.now).error == E.ILLEGAL_GENERATION
    assert commit("g", "", -1, None, offs(("t", 0, 1)), h.now).error == E.UNKNOWN_MEMBER_ID  # v0 on live group
    assert commit("g", a, gen, "no-instance", offs(("t", 0, 1)), h.now).error == E.UNKNOWN_MEMBER_ID
    res = commit("g", "ghost", gen, None, offs(("t", 0, 1), ("t", 1, 1)), h.now)
    assert set(res.partitions.values()) == {E.UNKNOWN_MEMBER_ID}
    # PreparingRebalance: members commit before rejoining (onJoinPrepare) -> accepted
    h.join_new()
    assert commit("g", a, gen, None, offs(("t", 0, 5)), h.now).error == E.NONE
    wa, wb = h.join(a), h.join(b)
    gen2 = h.result(wa).generation_id
    assert commit("g", a, gen2, None, offs(("t", 0, 6)), h.now).error == E.REBALANCE_IN_PROGRESS
    # ... but transactional commits are allowed in CompletingRebalance
    txn = h.coord.txn_offset_commit("g", 9, 0, a, gen2, None, offs(("t", 0, 6)), h.now)
    assert txn.error == E.NONE


def test_commit_fenced_instance() -> None:
    h = Harness()
    a = h.result(h.join(instance="ia")).member_id
    gen = h.result(h.join(a, instance="ia")).generation_id
    h.sync(a, gen, {a: b""}, instance="ia")
    new = h.result(h.join(instance="ia")).member_id
    res = h.coord.commit_offsets("g", a, gen, "ia", offs(("t", 0, 1)), h.now)
    assert res.error == E.FENCED_INSTANCE_ID
    assert h.coord.commit_offsets("g", new, gen, "ia", offs(("t", 0, 1)), h.now).error == E.NONE


def test_commit_to_unknown_group_with_generation() -> None:
    h = Harness()
    assert h.coord.commit_offsets("x", "m", 3, None, offs(("t", 0, 1)), h.now).error == E.ILLEGAL_GENERATION
    res = h.coord.commit_offsets("x", "m", 3, None, offs(("t", 0, 1)), h.now, uses_member_epoch=True)
    assert res.error == E.GROUP_ID_NOT_FOUND


def test_metadata_too_large_is_per_partition() -> None:
    h = Harness(offset_metadata_max_bytes=4)
    items = [OffsetCommitInput("t", 0, 1, -1, "12345"), OffsetCommitInput("t", 1, 1, -1, "1234")]
    res = h.coord.commit_offsets("solo", "", -1, None, items, h.now)
    assert res.partitions == {("t", 0): E.OFFSET_METADATA_TOO_LARGE, ("t", 1): E.NONE}
    assert set(fetched(h, "solo")) == {("t", 1)}


def test_transactional_offsets_pending_until_commit_marker() -> None:
    h = Harness()
    res = h.coord.txn_offset_commit("g", 77, 1, "", -1, None, offs(("t", 0, 10)), h.now)
    assert res.error == E.NONE
    assert h.coord.has_pending("g", "t", 0) and not h.coord.has_pending("g", "t", 1)
    assert fetched(h, "g", [("t", [0])]) == {("t", 0): (-1, -1, "", E.NONE)}
    assert fetched(h, "g", [("t", [0])], require_stable=True)[("t", 0)][3] == E.UNSTABLE_OFFSET_COMMIT
    h.coord.complete_txn_offsets(77, ["g"], True, h.now)
    assert not h.coord.has_pending("g", "t", 0)
    assert fetched(h, "g", [("t", [0])], require_stable=True) == {("t", 0): (10, 3, "m", E.NONE)}


def test_transactional_offsets_dropped_on_abort() -> None:
    h = Harness()
    h.coord.commit_offsets("g", "", -1, None, offs(("t", 0, 5)), h.now)
    h.coord.txn_offset_commit("g", 77, 1, "", -1, None, offs(("t", 0, 10)), h.now)
    h.coord.complete_txn_offsets(77, ["g"], False, h.now)
    assert fetched(h, "g", [("t", [0])], require_stable=True)[("t", 0)][0] == 5


def test_later_plain_commit_wins_over_earlier_txn_offset() -> None:
    h = Harness()
    h.coord.txn_offset_commit("g", 77, 1, "", -1, None, offs(("t", 0, 10), ("t", 1, 10)), h.now)
    h.coord.commit_offsets("g", "", -1, None, offs(("t", 0, 20)), h.now)
    h.coord.complete_txn_offsets(77, ["g"], True, h.now)
    got = fetched(h, "g")
    assert got[("t", 0)][0] == 20 and got[("t", 1)][0] == 10


def test_txn_offset_commit_validation_with_member() -> None:
    h = Harness()
    (a,), gen = h.stable_group(1)
    assert h.coord.txn_offset_commit("g", 1, 0, a, gen + 1, None, offs(("t", 0, 1)), h.now).error == E.ILLEGAL_GENERATION
    assert h.coord.txn_offset_commit("g", 1, 0, "x", gen, None, offs(("t", 0, 1)), h.now).error == E.UNKNOWN_MEMBER_ID
    # v0-2: no member information, accepted even though the group has members
    assert h.coord.txn_offset_commit("g", 1, 0, "", -1, None, offs(("t", 0, 1)), h.now).error == E.NONE
    assert h.coord.txn_offset_commit("new", 1, 0, "m", 2, None, offs(("t", 0, 1)), h.now).error == E.ILLEGAL_GENERATION


def test_offsets_survive_restart_and_unchanged_commit_is_not_rewritten() -> None:
    store = DictStore()
    h = Harness(store=store)
    (a,), gen = h.stable_group(1)
    h.coord.commit_offsets("g", a, gen, None, offs(("t", 0, 42)), h.now)
    writes = len(store.puts)
    h.coord.commit_offsets("g", a, gen, None, offs(("t", 0, 42)), h.now + 5)
    assert len(store.puts) == writes  # only the timestamp moved
    h2 = Harness(store=DictStore(store.data))
    assert fetched(h2, "g") == {("t", 0): (42, 3, "m", E.NONE)}
    listed = h2.coord.list_groups(h2.now)
    assert [(g.group_id, g.protocol_type, g.state) for g in listed] == [("g", "consumer", "Empty")]


def test_corrupt_store_entries_are_ignored() -> None:
    store = DictStore({"not json": b"{", json.dumps(["o", "g", "t", 0]): b"nope"})
    h = Harness(store=store)
    assert fetched(h, "g") == {}


def test_delete_group_removes_offsets_from_store() -> None:
    store = DictStore()
    h = Harness(store=store)
    (a,), gen = h.stable_group(1)
    h.coord.commit_offsets("g", a, gen, None, offs(("t", 0, 42)), h.now)
    assert h.coord.delete_groups(["g"], h.now) == {"g": E.NON_EMPTY_GROUP}
    h.coord.leave_group("g", [LeaveMember(a)], h.now)
    assert h.coord.delete_groups(["g", "nope"], h.now) == {"g": E.NONE, "nope": E.GROUP_ID_NOT_FOUND}
    assert store.data == {}
    assert fetched(h, "g") == {}


def test_offsets_of_empty_group_expire_after_retention() -> None:
    h = Harness(offsets_retention_ms=7 * DAY, offsets_retention_check_interval_ms=600_000)
    (a,), gen = h.stable_group(1)
    h.coord.commit_offsets("g", a, gen, None, offs(("t", 0, 1)), h.now)
    h.advance(10_000)  # no heartbeats: the member's session is over, the group is Empty from now
    assert h.coord.groups["g"].state == ClassicState.EMPTY
    h.advance(7 * DAY - 1)
    assert fetched(h, "g")
    h.advance(600_000)  # next retention check
    assert fetched(h, "g") == {} and "g" not in h.coord.groups


def test_offsets_of_active_group_do_not_expire() -> None:
    h = Harness(offsets_retention_ms=1000, offsets_retention_check_interval_ms=500)
    (a,), gen = h.stable_group(1, session=600_000)
    h.coord.commit_offsets("g", a, gen, None, offs(("t", 0, 1)), h.now)
    for _ in range(10):
        h.advance(500)
        assert h.heartbeat(a, gen) == E.NONE
    assert fetched(h, "g")


def test_standalone_offsets_expire_from_commit_time_and_retention_override() -> None:
    h = Harness(offsets_retention_ms=10_000, offsets_retention_check_interval_ms=1000)
    h.coord.commit_offsets("solo", "", -1, None, offs(("t", 0, 1)), h.now)
    h.coord.commit_offsets("solo", "", -1, None, offs(("t", 1, 1)), h.now, retention_time_ms=2000)
    h.advance(2000)
    assert set(fetched(h, "solo")) == {("t", 0)}
    h.advance(8000)
    assert fetched(h, "solo") == {}


def test_offset_delete_rules() -> None:
    h = Harness()
    assert h.coord.delete_offsets("nope", [("t", 0)], h.now).error == E.GROUP_ID_NOT_FOUND
    sub = (("range", subscription("t")),)
    (a,), gen = h.stable_group(1, protocols=sub)
    h.coord.commit_offsets("g", a, gen, None, offs(("t", 0, 1), ("old", 0, 1)), h.now)
    res = h.coord.delete_offsets("g", [("t", 0), ("old", 0)], h.now)
    assert res.error == E.NONE
    assert res.partitions == {("t", 0): E.GROUP_SUBSCRIBED_TO_TOPIC, ("old", 0): E.NONE}
    assert set(fetched(h, "g")) == {("t", 0)}
    hc = Harness()
    hc.stable_group(1, ptype="connect")
    assert hc.coord.delete_offsets("g", [("t", 0)], hc.now).error == E.NON_EMPTY_GROUP


def test_offset_delete_on_empty_group_and_unparsable_subscription() -> None:
    h = Harness()
    h.coord.commit_offsets("solo", "", -1, None, offs(("t", 0, 1)), h.now)
    assert h.coord.delete_offsets("solo", [("t", 0)], h.now).partitions == {("t", 0): E.NONE}
    h2 = Harness()
    h2.stable_group(1, protocols=(("range", b"\x00"),))  # garbage: treated as subscribed to all
    assert h2.coord.delete_offsets("g", [("x", 0)], h2.now).partitions == {("x", 0): E.GROUP_SUBSCRIBED_TO_TOPIC}


def test_offsets_of_deleted_topics_are_dropped() -> None:
    import uuid

    h = Harness(topics={"keep": (uuid.uuid4(), 1), "other": (uuid.uuid4(), 1)}, offsets_retention_check_interval_ms=1000)
    h.coord.commit_offsets("g", "", -1, None, offs(("keep", 0, 1), ("gone", 0, 1), ("other", 0, 1)), h.now)
    h.coord.delete_topic_offsets(["other"], h.now)
    assert set(fetched(h, "g")) == {("keep", 0), ("gone", 0)}
    h.advance(1000)  # the retention check also drops offsets of topics that no longer exist
    assert set(fetched(h, "g")) == {("keep", 0)}


def test_pending_transactional_offsets_survive_restart() -> None:
    store = DictStore()
    h = Harness(store=store)
    h.coord.txn_offset_commit("g", 77, 1, "", -1, None, offs(("t", 0, 10)), h.now)
    h.coord.txn_offset_commit("g", 88, 1, "", -1, None, offs(("t", 1, 20)), h.now)
    h2 = Harness(store=DictStore(store.data))
    assert h2.coord.has_pending("g", "t", 0) and h2.coord.has_pending("g", "t", 1)
    h2.coord.complete_txn_offsets(77, ["g"], True, h2.now)
    h2.coord.complete_txn_offsets(88, ["g"], False, h2.now)
    assert fetched(h2, "g") == {("t", 0): (10, 3, "m", E.NONE)}
    assert not any(json.loads(k)[0] == "p" for k in h2.coord.offsets._store.data)  # type: ignore[union-attr]
