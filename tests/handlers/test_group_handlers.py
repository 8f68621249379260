"""Group and offset handlers driven directly (no sockets), at every registered version.

Each response is also encoded at the request's version, so a field the codec cannot carry fails here.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from kafkaish.broker import Broker
from kafkaish.config import component_config, load_settings
from kafkaish.coordinator.group_results import GroupConfig, OffsetCommitInput
from kafkaish.handlers import consumer_group as cg
from kafkaish.handlers import groups as h
from kafkaish.handlers import offsets as o
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.consumer_group_describe import ConsumerGroupDescribeRequest
from kafkaish.wire.messages.consumer_group_heartbeat import ConsumerGroupHeartbeatRequest
from kafkaish.wire.messages.delete_groups import DeleteGroupsRequest
from kafkaish.wire.messages.describe_groups import DescribeGroupsRequest
from kafkaish.wire.messages.find_coordinator import FindCoordinatorRequest
from kafkaish.wire.messages.heartbeat import HeartbeatRequest
from kafkaish.wire.messages.join_group import JoinGroupRequest
from kafkaish.wire.messages.leave_group import LeaveGroupRequest
from kafkaish.wire.messages.list_groups import ListGroupsRequest
from kafkaish.wire.messages.offset_commit import OffsetCommitRequest
from kafkaish.wire.messages.offset_delete import OffsetDeleteRequest
from kafkaish.wire.messages.offset_fetch import OffsetFetchRequest
from kafkaish.wire.messages.sync_group import SyncGroupRequest
from tests.fakes import call_handler

E = ErrorCode
TOPIC = "orders"
OCR, OFR = OffsetCommitRequest, OffsetFetchRequest


@pytest.fixture
def broker() -> Any:
    b = Broker(load_settings(in_memory=True, group_initial_rebalance_delay_ms=0))
    b.storage.create_topic(TOPIC, 2, {}, uuid.uuid4())
    yield b
    b.close()


def call(broker: Broker, fn: Any, req: Any, version: int) -> Any:
    return call_handler(broker, fn, req, version, client_id="test-client")


def join(broker: Broker, group: str, version: int, member_id: str = "", session: int = 10_000) -> Any:
    req = JoinGroupRequest(group_id=group, session_timeout_ms=session, rebalance_timeout_ms=10_000,
                           member_id=member_id, protocol_type="consumer",
                           protocols=[JoinGroupRequest.JoinGroupRequestProtocol(name="range", metadata=b"m")])
    return call(broker, h.join_group, req, version)


def test_find_coordinator_every_version(broker: Broker) -> None:
    for v in range(4):
        r = call(broker, h.find_coordinator, FindCoordinatorRequest(key="g", key_type=0), v)
        assert (r.error_code, r.node_id, r.port) == (E.NONE, broker.node_id, broker.advertised_port)
    for v in (4, 5, 6):
        r = call(broker, h.find_coordinator, FindCoordinatorRequest(key_type=1, coordinator_keys=["a", "b"]), v)
        assert [(c.key, c.node_id, c.error_code) for c in r.coordinators] == [("a", 1, E.NONE), ("b", 1, E.NONE)]
    r = call(broker, h.find_coordinator, FindCoordinatorRequest(key="s", key_type=2), 3)
    assert r.error_code == E.INVALID_REQUEST


@pytest.mark.parametrize("v", range(10))
def test_join_sync_heartbeat_leave_at_every_version(broker: Broker, v: int) -> None:
    group = f"g{v}"
    r = join(broker, group, v)
    if v >= 4:
        assert r.error_code == E.MEMBER_ID_REQUIRED and r.member_id.startswith("test-client-")
        r = join(broker, group, v, r.member_id)
    assert (r.error_code, r.generation_id, r.leader, r.protocol_name) == (E.NONE, 1, r.member_id, "range")
    assert r.members[0].metadata == b"m"
    mid, sv = r.member_id, min(v, 5)
    sync = SyncGroupRequest(group_id=group, generation_id=1, member_id=mid, assignments=[
        SyncGroupRequest.SyncGroupRequestAssignment(member_id=mid, assignment=b"assigned")])
    assert call(broker, h.sync_group, sync, sv).assignment == b"assigned"
    hb = HeartbeatRequest(group_id=group, generation_id=1, member_id=mid)
    assert call(broker, h.heartbeat, hb, min(v, 4)).error_code == E.NONE
    lv = min(v, 5)
    leave = LeaveGroupRequest(group_id=group, member_id=mid,
                              members=[LeaveGroupRequest.MemberIdentity(member_id=mid)])
    r = call(broker, h.leave_group, leave, lv)
    assert r.error_code == E.NONE and (lv < 3 or [m.error_code for m in r.members] == [E.NONE])


def test_join_error_encodes_at_old_versions(broker: Broker) -> None:
    for v in range(10):
        r = join(broker, "bad", v, session=1)
        assert r.error_code == E.INVALID_SESSION_TIMEOUT


def test_leave_v0_reports_member_error_at_top_level(broker: Broker) -> None:
    r = call(broker, h.leave_group, LeaveGroupRequest(group_id="none", member_id="x"), 1)
    assert r.error_code == E.UNKNOWN_MEMBER_ID
    r = call(broker, h.leave_group, LeaveGroupRequest(group_id="none", members=[
        LeaveGroupRequest.MemberIdentity(member_id="x", group_instance_id="i")]), 4)
    assert r.error_code == E.NONE and r.members[0].error_code == E.UNKNOWN_MEMBER_ID


def test_describe_list_delete_every_version(broker: Broker) -> None:
    mid = join(broker, "g", 3).member_id
    for v in range(6):
        req = DescribeGroupsRequest(groups=["g", "missing"], include_authorized_operations=True)
        g, missing = call(broker, h.describe_groups, req, v).groups
        assert (g.error_code, g.group_state, g.members[0].member_id) == (E.NONE, "CompletingRebalance", mid)
        assert g.members[0].client_host == "/127.0.0.1" and g.members[0].client_id == "test-client"
        assert (missing.error_code, missing.group_state) == (E.NONE, "Dead")
        if v >= 3:
            assert g.authorized_operations == h.GROUP_OPERATIONS
    plain = call(broker, h.describe_groups, DescribeGroupsRequest(groups=["g"]), 5).groups[0]
    assert plain.authorized_operations == -2147483648
    for v in range(6):
        listed = call(broker, h.list_groups, ListGroupsRequest(), v).groups
        assert [(x.group_id, x.protocol_type) for x in listed] == [("g", "consumer")]
    assert call(broker, h.list_groups, ListGroupsRequest(states_filter=["Stable"]), 4).groups == []
    assert call(broker, h.list_groups, ListGroupsRequest(types_filter=["consumer"]), 5).groups == []
    for v in range(3):
        r = call(broker, h.delete_groups, DeleteGroupsRequest(groups_names=["g", "missing"]), v)
        assert [(x.group_id, x.error_code) for x in r.results] == [("g", E.NON_EMPTY_GROUP),
                                                                    ("missing", E.GROUP_ID_NOT_FOUND)]


def commit_req(offset: int, **kw: Any) -> OffsetCommitRequest:
    parts = [OCR.OffsetCommitRequestPartition(partition_index=p, committed_offset=offset, committed_leader_epoch=2,
                                              committed_metadata="md") for p in (0, 1, 5)]
    return OCR(group_id="solo", topics=[OCR.OffsetCommitRequestTopic(name=TOPIC, partitions=parts),
                                       OCR.OffsetCommitRequestTopic(name="nope", partitions=parts[:1])], **kw)


@pytest.mark.parametrize("v", range(10))
def test_offset_commit_and_fetch_at_every_version(broker: Broker, v: int) -> None:
    r = call(broker, o.offset_commit, commit_req(10 + v), v)
    errors = {(t.name, p.partition_index): p.error_code for t in r.topics for p in t.partitions}
    assert errors == {(TOPIC, 0): E.NONE, (TOPIC, 1): E.NONE, (TOPIC, 5): E.UNKNOWN_TOPIC_OR_PARTITION,
                      ("nope", 0): E.UNKNOWN_TOPIC_OR_PARTITION}
    topics = [OFR.OffsetFetchRequestTopic(name=TOPIC, partition_indexes=[0, 1])]
    if v >= 8:
        req = OFR(groups=[OFR.OffsetFetchRequestGroup(group_id="solo", topics=None),
                          OFR.OffsetFetchRequestGroup(group_id="other", topics=[
                              OFR.OffsetFetchRequestTopics(name=TOPIC, partition_indexes=[0])])])
        resp = call(broker, o.offset_fetch, req, v)
        solo, other = resp.groups
        got = {(t.name, p.partition_index): (p.committed_offset, p.metadata) for t in solo.topics for p in t.partitions}
        assert other.topics[0].partitions[0].committed_offset == -1
    else:
        resp = call(broker, o.offset_fetch, OFR(group_id="solo", topics=topics), v)
        got = {(t.name, p.partition_index): (p.committed_offset, p.metadata) for t in resp.topics for p in t.partitions}
    assert got == {(TOPIC, 0): (10 + v, "md"), (TOPIC, 1): (10 + v, "md")}


def test_offset_fetch_require_stable_and_all_topics(broker: Broker) -> None:
    broker.groups.txn_offset_commit("solo", 5, 0, "", -1, None, [OffsetCommitInput(TOPIC, 0, 3)], broker.now_ms())
    req = OFR(group_id="solo", topics=[OFR.OffsetFetchRequestTopic(name=TOPIC, partition_indexes=[0])],
              require_stable=True)
    assert call(broker, o.offset_fetch, req, 7).topics[0].partitions[0].error_code == E.UNSTABLE_OFFSET_COMMIT
    assert call(broker, o.offset_fetch, req, 6).topics[0].partitions[0].error_code == E.NONE  # no RequireStable
    call(broker, o.offset_commit, commit_req(1), 2)
    everything = call(broker, o.offset_fetch, OFR(group_id="solo", topics=None), 2)
    assert sorted(p.partition_index for p in everything.topics[0].partitions) == [0, 1]


def test_offset_commit_errors_by_version(broker: Broker) -> None:
    r = call(broker, o.offset_commit, commit_req(1, generation_id_or_member_epoch=3, member_id="m"), 8)
    assert r.topics[0].partitions[0].error_code == E.ILLEGAL_GENERATION
    r = call(broker, o.offset_commit, commit_req(1, generation_id_or_member_epoch=3, member_id="m"), 9)
    assert r.topics[0].partitions[0].error_code == E.GROUP_ID_NOT_FOUND


def test_offset_fetch_v9_checks_kip848_member_epoch(broker: Broker) -> None:
    call(broker, cg.consumer_group_heartbeat, ConsumerGroupHeartbeatRequest(
        group_id="solo", member_id="m1", member_epoch=0, rebalance_timeout_ms=1000, subscribed_topic_names=[TOPIC],
        topic_partitions=[]), 1)
    req = OFR(groups=[OFR.OffsetFetchRequestGroup(group_id="solo", member_id="m1", member_epoch=7, topics=None)])
    assert call(broker, o.offset_fetch, req, 9).groups[0].error_code == E.STALE_MEMBER_EPOCH


def test_offset_delete(broker: Broker) -> None:
    call(broker, o.offset_commit, commit_req(1), 2)
    D = OffsetDeleteRequest
    req = D(group_id="solo", topics=[D.OffsetDeleteRequestTopic(name=TOPIC, partitions=[
        D.OffsetDeleteRequestPartition(partition_index=0), D.OffsetDeleteRequestPartition(partition_index=9)])])
    r = call(broker, o.offset_delete, req, 0)
    assert [p.error_code for p in r.topics[0].partitions] == [E.NONE, E.UNKNOWN_TOPIC_OR_PARTITION]
    assert call(broker, o.offset_delete, D(group_id="missing", topics=[]), 0).error_code == E.GROUP_ID_NOT_FOUND


def test_consumer_group_heartbeat_and_describe(broker: Broker) -> None:
    req = ConsumerGroupHeartbeatRequest(group_id="cg", member_id="", member_epoch=0, rebalance_timeout_ms=1000,
                                        subscribed_topic_names=[TOPIC], topic_partitions=[])
    assert call(broker, cg.consumer_group_heartbeat, req, 1).error_code == E.INVALID_REQUEST
    r = call(broker, cg.consumer_group_heartbeat, req, 0)  # v0: the coordinator names the member
    assert r.error_code == E.NONE and r.member_id and r.member_epoch == 1
    assert sorted(r.assignment.topic_partitions[0].partitions) == [0, 1]
    d = call(broker, cg.consumer_group_describe, ConsumerGroupDescribeRequest(group_ids=["cg", "x"]), 0).groups
    assert (d[0].group_state, d[0].members[0].assignment.topic_partitions[0].topic_name) == ("Stable", TOPIC)
    assert d[1].error_code == E.GROUP_ID_NOT_FOUND


def test_group_config_from_settings() -> None:
    settings = load_settings(group_initial_rebalance_delay_ms=100, group_min_session_timeout_ms=1000,
                             group_consumer_heartbeat_interval_ms=250, offsets_retention_minutes=2)
    cfg = component_config(GroupConfig, settings)
    assert (cfg.initial_rebalance_delay_ms, cfg.min_session_timeout_ms, cfg.consumer_heartbeat_interval_ms,
            cfg.offsets_retention_ms, cfg.max_session_timeout_ms) == (100, 1000, 250, 120_000, 1_800_000)
