"""DescribeGroups / ListGroups / DeleteGroups over classic groups, and the constructor options."""

from __future__ import annotations

from kafkaish.coordinator.group import GroupCoordinator, subscribed_topics
from kafkaish.coordinator.group_results import LeaveMember
from tests.coordinator.group_harness import E, Harness, subscription


def test_describe_stable_group_shows_members_metadata_and_assignment() -> None:
    h = Harness()
    (a, b), gen = h.stable_group(2)
    (d,) = h.coord.describe_groups(["g"], h.now)
    assert (d.error, d.state, d.protocol_type, d.protocol_data) == (E.NONE, "Stable", "consumer", "range")
    by_id = {m.member_id: m for m in d.members}
    assert by_id[a].assignment == a.encode() and by_id[a].metadata == b"meta-range"
    assert by_id[b].client_id == "c" and by_id[b].client_host == "/127.0.0.1"


def test_describe_rebalancing_group_hides_metadata_and_unknown_is_dead() -> None:
    h = Harness()
    (a,), gen = h.stable_group(1)
    h.join_new()
    d, missing = h.coord.describe_groups(["g", "missing"], h.now)
    assert d.state == "PreparingRebalance" and d.protocol_data == ""
    assert all(m.metadata == b"" and m.assignment == b"" for m in d.members)
    assert (missing.error, missing.state) == (E.GROUP_ID_NOT_FOUND, "Dead")


def test_describe_completing_and_empty() -> None:
    h = Harness()
    a, w = h.join_new()
    assert h.coord.describe_groups(["g"], h.now)[0].state == "CompletingRebalance"
    h.coord.leave_group("g", [LeaveMember(a)], h.now)
    d = h.coord.describe_groups(["g"], h.now)[0]
    assert d.state == "Empty" and d.members == () and d.protocol_type == "consumer"


def test_list_groups_with_state_and_type_filters() -> None:
    h = Harness()
    h.stable_group(1)
    h.coord.commit_offsets("solo", "", -1, None, [], h.now)
    listed = {g.group_id: (g.protocol_type, g.state, g.group_type) for g in h.coord.list_groups(h.now)}
    assert listed == {"g": ("consumer", "Stable", "classic"), "solo": ("", "Empty", "classic")}
    assert [g.group_id for g in h.coord.list_groups(h.now, states=["stable"])] == ["g"]
    assert [g.group_id for g in h.coord.list_groups(h.now, states=["Empty", "Dead"])] == ["solo"]
    assert len(h.coord.list_groups(h.now, types=["Classic"])) == 2
    assert h.coord.list_groups(h.now, types=["consumer"]) == []


def test_empty_group_without_offsets_is_dropped_at_retention_check() -> None:
    h = Harness(offsets_retention_check_interval_ms=1000)
    a, _ = h.join_new()
    h.coord.leave_group("g", [LeaveMember(a)], h.now)
    assert "g" in h.coord.groups
    h.advance(1000)
    assert "g" not in h.coord.groups


def test_constructor_defaults_and_delay_override() -> None:
    c = GroupCoordinator()
    assert c.config.initial_rebalance_delay_ms == 100
    assert (c.config.min_session_timeout_ms, c.config.max_session_timeout_ms) == (6000, 1_800_000)
    assert c.config.offsets_retention_ms == 7 * 24 * 3600 * 1000
    assert GroupCoordinator(initial_rebalance_delay_ms=0).config.initial_rebalance_delay_ms == 0
    assert c.next_deadline_ms() is None
    assert c.tick(0) == []


def test_subscription_parser() -> None:
    assert subscribed_topics(subscription("a", "bb")) == {"a", "bb"}
    assert subscribed_topics(b"\x00\x01\x00\x00\x00\x05") is None
    assert subscribed_topics(b"") is None
