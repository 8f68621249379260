"""Differential scenarios: consumer groups, classic (JoinGroup...) and KIP-848 (ConsumerGroupHeartbeat)."""
from __future__ import annotations

import struct
import time
import uuid

from engine import Ctx, ScenarioError
from ops import (CONSUMER_GROUP_DESCRIBE, CONSUMER_GROUP_HEARTBEAT, DELETE_GROUPS, DESCRIBE_GROUPS,
                 FIND_COORDINATOR, HEARTBEAT, JOIN_GROUP, LEAVE_GROUP, LIST_GROUPS, OFFSET_COMMIT, OFFSET_DELETE,
                 OFFSET_FETCH, SYNC_GROUP, coordinator, create_topic, rq, scenario, topic_id, until)


def _string(s: str) -> bytes:
    raw = s.encode()
    return struct.pack(">h", len(raw)) + raw


def subscription(topics: list[str]) -> bytes:
    """ConsumerProtocolSubscription v0: the metadata a Java/librdkafka consumer sends."""
    return struct.pack(">hi", 0, len(topics)) + b"".join(_string(t) for t in topics) + struct.pack(">i", -1)


def assignment(parts: dict[str, list[int]]) -> bytes:
    """ConsumerProtocolAssignment v0."""
    out = struct.pack(">hi", 0, len(parts))
    for topic, ps in parts.items():
        out += _string(topic) + struct.pack(">i", len(ps)) + b"".join(struct.pack(">i", p) for p in ps)
    return out + struct.pack(">i", -1)


def join_body(group: str, member_id: str = "", topics: list[str] | None = None, *, session_ms: int = 10000,
              instance: str | None = None, protocol_type: str = "consumer") -> object:
    return rq(JOIN_GROUP, group_id=group, session_timeout_ms=session_ms, rebalance_timeout_ms=10000,
              member_id=member_id, group_instance_id=instance, protocol_type=protocol_type,
              protocols=[{"name": "range", "metadata": subscription(topics or [])}], reason=None)


def join_member(c: Ctx, check_prefix: str | None, group: str, topics: list[str], conn: str,
                instance: str | None = None) -> object:
    """JoinGroup as a consumer does: the first answer (MEMBER_ID_REQUIRED, KIP-394) names the
    member id, the second one joins (after the initial rebalance delay of a new group)."""
    first = c.call(f"{check_prefix}_join_no_member_id" if check_prefix else None,
                   join_body(group, "", topics, instance=instance), conn=conn)
    member = first.member_id if first is not None and first.error_code == 79 else ""
    if member:
        c.label("member", member, conn)
    if first is not None and first.error_code == 0:
        return first
    return c.receive(f"{check_prefix}_join" if check_prefix else None,
                     c.send(join_body(group, member, topics, instance=instance), conn=conn), timeout=30)


def sync(c: Ctx, check: str | None, group: str, joined: object, plan: dict[str, bytes], conn: str,
         instance: str | None = None) -> object:
    return c.call(check, rq(SYNC_GROUP, group_id=group, generation_id=joined.generation_id, member_id=joined.member_id,
                            group_instance_id=instance, protocol_type="consumer", protocol_name="range",
                            assignments=[{"member_id": m, "assignment": a} for m, a in plan.items()]), conn=conn,
                  timeout=30)


def heartbeat(c: Ctx, check: str | None, group: str, generation: int, member: str, conn: str,
              instance: str | None = None) -> object:
    return c.call(check, rq(HEARTBEAT, group_id=group, generation_id=generation, member_id=member,
                            group_instance_id=instance), conn=conn)


def commit(c: Ctx, check: str | None, group: str, topic: str, offset: int, *, generation: int = -1,
           member: str = "", metadata: str | None = "m", partition: int = 0, conn: str = "main",
           finding: str = "") -> object:
    return c.call(check, rq(OFFSET_COMMIT, group_id=group, generation_id_or_member_epoch=generation,
                            member_id=member, group_instance_id=None, topics=[
                                {"name": topic, "partitions": [{"partition_index": partition,
                                                                "committed_offset": offset,
                                                                "committed_metadata": metadata}]}]),
                  conn=conn, finding=finding)


def offset_fetch(c: Ctx, check: str | None, group: str, topic: str | None, *, version: int | None = None,
                 partitions: list[int] | None = None, finding: str = "", require_stable: bool = False) -> object:
    version = c.v(OFFSET_FETCH) if version is None else version
    topics = None if topic is None else [{"name": topic, "partition_indexes": partitions or [0]}]
    if version >= 8:
        body = rq(OFFSET_FETCH, groups=[{"group_id": group, "topics": topics}], require_stable=require_stable)
    else:
        body = rq(OFFSET_FETCH, group_id=group, topics=topics, require_stable=require_stable)
    return c.call(check, body, version, finding=finding)


def describe_group(c: Ctx, check: str, group: str, **kw: object) -> object:
    return c.call(check, rq(DESCRIBE_GROUPS, groups=[group], include_authorized_operations=False), **kw)


def ours(c: Ctx, prefix: str):
    """Keep only this scenario's groups of a ListGroups answer (others run at the same time)."""
    def keep(v):
        return {"error_code": v["error_code"],
                "groups": [g for g in v["groups"] if str(g["group_id"]).startswith(prefix)]}
    return keep


@scenario(FIND_COORDINATOR, JOIN_GROUP, SYNC_GROUP, HEARTBEAT, DESCRIBE_GROUPS, LIST_GROUPS, OFFSET_COMMIT,
          OFFSET_FETCH, OFFSET_DELETE, LEAVE_GROUP, DELETE_GROUPS)
def group_classic_lifecycle(c: Ctx) -> None:
    t, g = c.name("t"), c.name("g")
    create_topic(c, t, 2)
    coordinator(c, g, 0, check="find_coordinator_v4")
    c.call("find_coordinator_v3", rq(FIND_COORDINATOR, key=g, key_type=0), 3)
    c.call("find_coordinator_v0", rq(FIND_COORDINATOR, key=g), 0)
    joined = join_member(c, "m1", g, [t], "m1")
    me = joined.member_id
    sync(c, "m1_sync", g, joined, {me: assignment({t: [0, 1]})}, "m1")
    heartbeat(c, "heartbeat", g, joined.generation_id, me, "m1")
    heartbeat(c, "heartbeat_wrong_generation", g, joined.generation_id + 5, me, "m1")
    heartbeat(c, "heartbeat_unknown_member", g, joined.generation_id, "nobody", "m1")
    describe_group(c, "describe_stable", g)
    c.call("list_groups", rq(LIST_GROUPS), keep=ours(c, g))
    c.call("list_groups_stable_classic", rq(LIST_GROUPS, states_filter=["Stable"], types_filter=["classic"]),
           keep=ours(c, g))
    c.call("list_groups_empty_filter", rq(LIST_GROUPS, states_filter=["Empty"]), keep=ours(c, g))
    commit(c, "commit_generation", g, t, 5, generation=joined.generation_id, member=me, conn="m1")
    commit(c, "commit_stale_generation", g, t, 6, generation=joined.generation_id - 1, member=me, conn="m1")
    commit(c, "commit_unknown_member", g, t, 6, generation=joined.generation_id, member="nobody", conn="m1")
    commit(c, "commit_unknown_topic", g, c.name("missing"), 1, generation=joined.generation_id, member=me, conn="m1")
    commit(c, "commit_null_metadata", g, t, 7, generation=joined.generation_id, member=me, metadata=None,
           partition=1, conn="m1")
    offset_fetch(c, "fetch_offsets", g, t, partitions=[0, 1], finding="#18.4")
    offset_fetch(c, "fetch_offsets_v7", g, t, version=7, partitions=[0, 1], finding="#18.4")
    offset_fetch(c, "fetch_offsets_v1", g, t, version=1, partitions=[0, 1], finding="#18.4")
    offset_fetch(c, "fetch_offsets_all_topics", g, None, finding="#18.4")
    c.call("offset_delete_subscribed", rq(OFFSET_DELETE, group_id=g, topics=[{"name": t, "partitions": [
        {"partition_index": 0}]}]))
    c.call("delete_non_empty", rq(DELETE_GROUPS, groups_names=[g]))
    c.call("leave", rq(LEAVE_GROUP, group_id=g, members=[{"member_id": me, "group_instance_id": None,
                                                          "reason": "done"}]), conn="m1")
    describe_group(c, "describe_empty", g)
    c.call("offset_delete_empty", rq(OFFSET_DELETE, group_id=g, topics=[{"name": t, "partitions": [
        {"partition_index": 0}]}]))
    offset_fetch(c, "fetch_after_offset_delete", g, t, partitions=[0, 1], finding="#18.4")
    c.call("delete", rq(DELETE_GROUPS, groups_names=[g]))
    c.call("delete_again", rq(DELETE_GROUPS, groups_names=[g]))
    describe_group(c, "describe_deleted", g)
    offset_fetch(c, "fetch_deleted_group", g, t)


@scenario(JOIN_GROUP, HEARTBEAT, SYNC_GROUP, LEAVE_GROUP, FIND_COORDINATOR, DESCRIBE_GROUPS, OFFSET_COMMIT,
          DELETE_GROUPS)
def group_classic_errors(c: Ctx) -> None:
    t, g = c.name("t"), c.name("g")
    create_topic(c, t, 1)
    c.call("find_coordinator_bad_key_type", rq(FIND_COORDINATOR, key_type=5, coordinator_keys=[g]))
    c.call("join_empty_group_id", join_body("", "", [t]))
    c.call("join_session_1ms", join_body(g, "", [t], session_ms=1))
    c.call("join_session_2h", join_body(g, "", [t], session_ms=7_200_000))
    c.call("join_unknown_member_new_group", join_body(c.name("g2"), "stranger", [t]))
    c.call("sync_unknown_group", rq(SYNC_GROUP, group_id=c.name("none"), generation_id=1, member_id="x",
                                    protocol_type="consumer", protocol_name="range", assignments=[]))
    c.call("heartbeat_unknown_group", rq(HEARTBEAT, group_id=c.name("none"), generation_id=1, member_id="x"))
    c.call("leave_unknown_group", rq(LEAVE_GROUP, group_id=c.name("none"), members=[
        {"member_id": "x", "group_instance_id": None}]))
    c.call("describe_unknown_group", rq(DESCRIBE_GROUPS, groups=[c.name("none")]))
    c.call("delete_unknown_group", rq(DELETE_GROUPS, groups_names=[c.name("none")]))
    c.call("commit_simple_no_group_member", rq(OFFSET_COMMIT, group_id=c.name("simple"),
                                                 generation_id_or_member_epoch=-1, member_id="", topics=[
                                                     {"name": t, "partitions": [{"partition_index": 0,
                                                                                 "committed_offset": 3}]}]))
    c.call("commit_empty_group_id", rq(OFFSET_COMMIT, group_id="", generation_id_or_member_epoch=-1, member_id="",
                                       topics=[{"name": t, "partitions": [{"partition_index": 0,
                                                                           "committed_offset": 3}]}]))
    joined = join_member(c, None, g, [t], "m1")
    sync(c, None, g, joined, {joined.member_id: assignment({t: [0]})}, "m1")
    c.call("join_other_protocol_type", rq(JOIN_GROUP, group_id=g, session_timeout_ms=10000,
                                          rebalance_timeout_ms=10000, member_id="", protocol_type="connect",
                                          protocols=[{"name": "range", "metadata": b""}]), conn="m2")
    c.call("join_v0_old_client", rq(JOIN_GROUP, group_id=c.name("v0"), session_timeout_ms=10000, member_id="",
                                    protocol_type="consumer", protocols=[{"name": "range", "metadata":
                                                                          subscription([t])}]), 0,
           conn="m3", timeout=30,
           keep=lambda v: {k: v[k] for k in ("error_code", "generation_id", "protocol_name")})
    c.call("sync_wrong_generation", rq(SYNC_GROUP, group_id=g, generation_id=joined.generation_id + 3,
                                       member_id=joined.member_id, protocol_type="consumer",
                                       protocol_name="range", assignments=[]), conn="m1")


@scenario(JOIN_GROUP, SYNC_GROUP, HEARTBEAT, LEAVE_GROUP, DESCRIBE_GROUPS)
def group_classic_rebalance(c: Ctx) -> None:
    t, g = c.name("t"), c.name("g")
    create_topic(c, t, 2)
    j1 = join_member(c, None, g, [t], "m1")
    sync(c, None, g, j1, {j1.member_id: assignment({t: [0, 1]})}, "m1")
    first = c.call(None, join_body(g, "", [t]), conn="m2")
    c.label("member", first.member_id, "m2")
    pending2 = c.send(join_body(g, first.member_id, [t]), conn="m2")
    # the broker handles m2's join on its own connection: wait (bounded) until it started the rebalance
    until(c, lambda: (r := c.call(None, rq(DESCRIBE_GROUPS, groups=[g]))) is not None
          and r.groups[0].group_state == "PreparingRebalance", "the rebalance m2's join starts", timeout=10,
          interval=0.05)
    heartbeat(c, "m1_heartbeat_during_rebalance", g, j1.generation_id, j1.member_id, "m1")
    describe_group(c, "describe_preparing", g, keep=lambda v: {"state": v["groups"][0]["group_state"],
                                                               "members": len(v["groups"][0]["members"])})
    pending1 = c.send(join_body(g, j1.member_id, [t]), conn="m1")
    r1 = c.receive("m1_rejoin", pending1, timeout=30)
    r2 = c.receive("m2_join", pending2, timeout=30)
    plan = {r1.member_id: assignment({t: [0]}), r2.member_id: assignment({t: [1]})}
    leader, follower = (r1, "m1"), (r2, "m2")
    pending_f = c.send(rq(SYNC_GROUP, group_id=g, generation_id=follower[0].generation_id,
                          member_id=follower[0].member_id, protocol_type="consumer", protocol_name="range",
                          assignments=[]), conn=follower[1])
    sync(c, "leader_sync", g, leader[0], plan, leader[1])
    c.receive("follower_sync", pending_f, timeout=30)
    describe_group(c, "describe_two_members", g)
    c.call("m2_leave", rq(LEAVE_GROUP, group_id=g, members=[{"member_id": r2.member_id, "group_instance_id": None}]),
           conn="m2")
    heartbeat(c, "m1_heartbeat_after_leave", g, r1.generation_id, r1.member_id, "m1")
    c.call("m1_leave_v0", rq(LEAVE_GROUP, group_id=g, member_id=r1.member_id), 0, conn="m1")
    describe_group(c, "describe_after_leaves", g)


@scenario(JOIN_GROUP, SYNC_GROUP, HEARTBEAT, LEAVE_GROUP, DESCRIBE_GROUPS)
def group_static_membership(c: Ctx) -> None:
    t, g = c.name("t"), c.name("g")
    create_topic(c, t, 1)
    j1 = c.receive(None, c.send(join_body(g, "", [t], instance="inst-1"), conn="m1"), timeout=30)
    c.label("member", j1.member_id, "m1")
    c.observe("join_static", j1)
    sync(c, "sync_static", g, j1, {j1.member_id: assignment({t: [0]})}, "m1", instance="inst-1")
    describe_group(c, "describe_static", g)
    j2 = c.receive(None, c.send(join_body(g, "", [t], instance="inst-1"), conn="m2"), timeout=30)
    c.label("member", j2.member_id, "m2")
    c.observe("rejoin_same_instance", j2)
    heartbeat(c, "old_member_fenced", g, j1.generation_id, j1.member_id, "m1", instance="inst-1")
    heartbeat(c, "new_member_heartbeat", g, j2.generation_id, j2.member_id, "m2", instance="inst-1")
    c.call("leave_static", rq(LEAVE_GROUP, group_id=g, members=[{"member_id": "", "group_instance_id": "inst-1"}]),
           conn="m2")
    c.call("leave_unknown_instance", rq(LEAVE_GROUP, group_id=g, members=[
        {"member_id": "", "group_instance_id": "inst-9"}]), conn="m2")
    describe_group(c, "describe_after_leave", g)


def cg_heartbeat(c: Ctx, check: str | None, group: str, *, member: str = "", epoch: int = 0,
                 topics: list[str] | None = None, owned: list | None = None, assignor: str | None = None,
                 conn: str = "main", finding: str = "", keep=None, rebalance_timeout_ms: int | None = None) -> object:
    if not member and epoch == 0 and c.v(CONSUMER_GROUP_HEARTBEAT) >= 1:
        member = uuid.uuid4().hex  # KIP-1082 (v1+): the client names itself
    if rebalance_timeout_ms is None:
        rebalance_timeout_ms = 10000 if epoch == 0 else -1
    return c.call(check, rq(CONSUMER_GROUP_HEARTBEAT, group_id=group, member_id=member, member_epoch=epoch,
                            instance_id=None, rack_id=None, rebalance_timeout_ms=rebalance_timeout_ms,
                            subscribed_topic_names=topics, server_assignor=assignor, topic_partitions=owned),
                  conn=conn, finding=finding, keep=keep)


@scenario(CONSUMER_GROUP_HEARTBEAT, CONSUMER_GROUP_DESCRIBE, OFFSET_COMMIT, LIST_GROUPS, DESCRIBE_GROUPS)
def group_consumer_protocol(c: Ctx) -> None:
    t, g = c.name("t"), c.name("g")
    create_topic(c, t, 2)
    coordinator(c, g)
    tid = topic_id(c, t)
    # the assignment may come with this answer or a later one (Kafka computes it asynchronously)
    r = cg_heartbeat(c, "join", g, topics=[t], owned=[],
                     keep=lambda v: {k: v[k] for k in ("error_code", "member_epoch", "heartbeat_interval_ms")})
    if r is None or r.error_code != 0:
        raise ScenarioError(f"the first ConsumerGroupHeartbeat failed: {r and r.error_code}")
    member, epoch = r.member_id, r.member_epoch
    c.label("member", member, "m1")
    if r.assignment is None or not r.assignment.topic_partitions:
        r = until(c, lambda: (x := cg_heartbeat(c, None, g, member=member, epoch=epoch, owned=[])) and
                  x.assignment and x.assignment.topic_partitions and x, "an assignment")
        epoch = r.member_epoch
    c.observe("assignment", r.assignment)
    owned = [{"topic_id": tid, "partitions": sorted(r.assignment.topic_partitions[0].partitions)}]
    # epochs are the coordinator's own counters (Kafka bumps once more when it first sees the
    # topic's metadata): compared as "positive", not as numbers
    cg_heartbeat(c, "steady_heartbeat", g, member=member, epoch=epoch, owned=owned,
                 keep=lambda v: {"error_code": v["error_code"], "epoch_positive": v["member_epoch"] > 0,
                                 "assignment": v["assignment"]})

    def no_epochs(v):
        for grp in v["groups"]:
            for k in ("group_epoch", "assignment_epoch"):
                grp[k] = grp[k] > 0
            for m in grp["members"]:
                m["member_epoch"] = m["member_epoch"] > 0
        return v
    c.call("describe", rq(CONSUMER_GROUP_DESCRIBE, group_ids=[g]), keep=no_epochs)
    c.call("describe_unknown", rq(CONSUMER_GROUP_DESCRIBE, group_ids=[c.name("none")]))
    c.call("describe_groups_api", rq(DESCRIBE_GROUPS, groups=[g]))
    c.call("list_groups_consumer_type", rq(LIST_GROUPS, types_filter=["consumer"]), keep=ours(c, g))
    cg_heartbeat(c, "fenced_epoch", g, member=member, epoch=epoch + 5, conn="other")
    cg_heartbeat(c, "unknown_member", g, member="nobody-" + "x" * 10, epoch=1, conn="other")
    cg_heartbeat(c, "join_without_subscription", c.name("g2"), topics=None, conn="other")
    # a join with null TopicPartitions is INVALID_REQUEST before the assignor is looked at
    cg_heartbeat(c, "unsupported_assignor", c.name("g3"), topics=[t], assignor="nope", conn="other")
    cg_heartbeat(c, "unsupported_assignor_full_join", c.name("g3"), topics=[t], assignor="nope", owned=[],
                 conn="other")
    cg_heartbeat(c, "join_without_rebalance_timeout", c.name("g3"), topics=[t], owned=[], conn="other",
                 rebalance_timeout_ms=-1)
    cg_heartbeat(c, "invalid_member_epoch", c.name("g3"), member="m-x", epoch=-3, conn="other")
    cg_heartbeat(c, "static_leave_without_instance", c.name("g3"), member="m-x", epoch=-2, conn="other")
    cg_heartbeat(c, "empty_group_id", "", topics=[t], conn="other")
    commit(c, "commit_member_epoch", g, t, 4, generation=epoch, member=member)
    commit(c, "commit_stale_epoch", g, t, 4, generation=epoch - 1, member=member)
    commit(c, "commit_future_epoch", g, t, 4, generation=epoch + 3, member=member)
    cg_heartbeat(c, "leave", g, member=member, epoch=-1)
    c.call("describe_after_leave", rq(CONSUMER_GROUP_DESCRIBE, group_ids=[g]),
           keep=lambda v: {"state": v["groups"][0]["group_state"], "members": v["groups"][0]["members"],
                           "error_code": v["groups"][0]["error_code"]})
    # a classic group is not a consumer group for ConsumerGroupDescribe
    cg = c.name("classic")
    j = join_member(c, None, cg, [t], "m1")
    sync(c, None, cg, j, {j.member_id: assignment({t: [0, 1]})}, "m1")
    c.call("describe_classic_group", rq(CONSUMER_GROUP_DESCRIBE, group_ids=[cg]))


@scenario(CONSUMER_GROUP_HEARTBEAT, JOIN_GROUP, SYNC_GROUP, HEARTBEAT, LIST_GROUPS, DESCRIBE_GROUPS)
def group_protocol_migration(c: Ctx) -> None:
    """#18.7: a consumer-protocol member joining a non-empty classic group converts it
    (group.consumer.migration.policy=bidirectional); the classic member rejoins inside the
    consumer group, and the group goes back to classic when the consumer member leaves."""
    t, g = c.name("t"), c.name("g")
    create_topic(c, t, 2)
    j = join_member(c, None, g, [t], "m1")
    sync(c, None, g, j, {j.member_id: assignment({t: [0, 1]})}, "m1")
    joined = cg_heartbeat(c, "consumer_member_joins_classic_group", g, topics=[t], owned=[], conn="m2",
                          keep=lambda v: {"error_code": v["error_code"], "epoch_positive": v["member_epoch"] > 0})

    def types(v):
        return [[x["group_type"], x["protocol_type"], x["group_state"]] for x in v["groups"] if x["group_id"] == g]
    c.call("group_type_after", rq(LIST_GROUPS), keep=types)
    heartbeat(c, "classic_member_told_to_rejoin", g, j.generation_id, j.member_id, "m1")
    heartbeat(c, "classic_member_unknown_id", g, j.generation_id, "nobody", "m1")
    rejoined = c.call("classic_member_rejoins", join_body(g, j.member_id, [t]), conn="m1", timeout=30,
                      keep=lambda v: {"error_code": v["error_code"], "generation_positive": v["generation_id"] > 0,
                                      "leader": v["leader"], "members": v["members"],
                                      "protocol": [v["protocol_type"], v["protocol_name"]]})
    c.call("classic_member_syncs", rq(SYNC_GROUP, group_id=g, generation_id=rejoined.generation_id,
                                      member_id=j.member_id, protocol_type="consumer", protocol_name="range",
                                      assignments=[]), conn="m1",
           keep=lambda v: {"error_code": v["error_code"], "protocol": [v["protocol_type"], v["protocol_name"]]})
    c.call("classic_member_sync_wrong_generation", rq(SYNC_GROUP, group_id=g, generation_id=rejoined.generation_id + 7,
                                                      member_id=j.member_id, protocol_type="consumer",
                                                      protocol_name="range", assignments=[]), conn="m1")
    if joined is not None and joined.error_code == 0:
        cg_heartbeat(c, "consumer_member_leaves", g, member=joined.member_id, epoch=-1, conn="m2",
                     keep=lambda v: {"error_code": v["error_code"], "member_epoch": v["member_epoch"]})
    c.call("group_type_after_downgrade", rq(LIST_GROUPS), keep=types)
    describe_group(c, "describe_after_downgrade", g, keep=lambda v: {
        "state": v["groups"][0]["group_state"], "protocol_type": v["groups"][0]["protocol_type"],
        "members": len(v["groups"][0]["members"])})


@scenario(CONSUMER_GROUP_HEARTBEAT, CONSUMER_GROUP_DESCRIBE)
def group_consumer_resubscribe(c: Ctx) -> None:
    """#18.16: a KIP-848 member that changes its subscription, leaves and joins again gets
    an assignment each time (librdkafka's subscribe_many_updates)."""
    t1, t2, g = c.name("t1"), c.name("t2"), c.name("g")
    create_topic(c, t1, 2)
    create_topic(c, t2, 1)
    coordinator(c, g)
    ids = {str(topic_id(c, t1)): t1, str(topic_id(c, t2)): t2}

    def assigned(r) -> dict:
        if r is None or r.assignment is None:
            return {}
        return {ids.get(str(tp.topic_id), "?"): sorted(tp.partitions) for tp in r.assignment.topic_partitions}

    def heartbeat_until(want: dict, member: str, epoch: int, topics: list[str] | None, what: str,
                        seen: dict | None = None):
        state = {"epoch": epoch, "seen": seen or {}}

        def step():
            # a member reports what it owns (what it was last given), acknowledging revocations
            owned = [{"topic_id": topic_id(c, name), "partitions": parts} for name, parts in state["seen"].items()]
            r = cg_heartbeat(c, None, g, member=member, epoch=state["epoch"], topics=topics, owned=owned)
            if r is None or r.error_code:
                return None
            state["epoch"] = r.member_epoch
            if r.assignment is not None:
                state["seen"] = assigned(r)
            return state["seen"] == want and r
        until(c, step, what, timeout=15, interval=0.3)
        return state["seen"], state["epoch"]

    r = cg_heartbeat(c, None, g, topics=[t1], owned=[])
    member = r.member_id
    seen, epoch = heartbeat_until({t1: [0, 1]}, member, r.member_epoch, None, "the first assignment", assigned(r))
    c.observe("first_assignment", {"assignment": seen}, "#18.16")
    seen, epoch = heartbeat_until({t2: [0]}, member, epoch, [t2], "the assignment after a new subscription", seen)
    c.observe("after_resubscribe", {"assignment": seen}, "#18.16")
    cg_heartbeat(c, "leave", g, member=member, epoch=-1, keep=lambda v: {"error_code": v["error_code"],
                                                                         "member_epoch": v["member_epoch"]})
    rejoin_id = member if c.v(CONSUMER_GROUP_HEARTBEAT) >= 1 else ""
    r = cg_heartbeat(c, None, g, member=rejoin_id, topics=[t1], owned=[])
    seen, epoch = heartbeat_until({t1: [0, 1]}, r.member_id, r.member_epoch, None, "the assignment after rejoining",
                                  assigned(r))
    c.observe("after_rejoin", {"assignment": seen}, "#18.16")
    c.call("describe", rq(CONSUMER_GROUP_DESCRIBE, group_ids=[g]),
           keep=lambda v: {"state": v["groups"][0]["group_state"], "members": len(v["groups"][0]["members"])})
