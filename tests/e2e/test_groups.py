"""Consumer groups with real clients: sharing, leaving, dying, resuming, static members, admin.

Each scenario waits for a condition with a deadline (no timed assertions) and is bounded by
pytest-timeout. Members use 6 s sessions (the broker's minimum) and 300 ms heartbeats.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from typing import Any

import pytest

from kafkaish.testing import EmbeddedBroker
from tests.e2e.group_clients import (
    AiokafkaMember,
    ConfluentMember,
    KafkaPythonMember,
    Member,
    create_topic,
    produce,
    wait_until,
)

PARTS = 6


def coordinator_call(kb: EmbeddedBroker, fn: Any) -> Any:
    return kb.call(lambda: fn(kb.broker.groups, kb.broker.now_ms()))


def generation(kb: EmbeddedBroker, group: str) -> int:
    return coordinator_call(kb, lambda g, now: g.groups[group].generation_id)


def wait_shared(members: list[Member], partitions: int = PARTS, timeout: float = 40) -> None:
    """Every member holds partitions, together all of them, none twice."""
    def shared() -> bool:
        owned = [m.assignment for m in members]
        return all(owned) and sum(len(a) for a in owned) == partitions and len(frozenset().union(*owned)) == partitions
    wait_until(shared, timeout, f"{len(members)} members to share {partitions} partitions")


def wait_consumed(members: list[Member], values: list[bytes], timeout: float = 40) -> Counter[bytes]:
    wanted = set(values)
    wait_until(lambda: wanted <= {v for m in members for _, _, v in m.records}, timeout, "all records consumed")
    return Counter(v for m in members for _, _, v in m.records)


@pytest.fixture
def kb() -> Any:
    with EmbeddedBroker(group_initial_rebalance_delay_ms=100) as broker:
        yield broker


def start(members: list[Member]) -> list[Member]:
    for m in members:
        m.start()
    return members


def stop_all(members: list[Member]) -> None:
    for m in members:
        if m.is_alive():
            m.stop()


# ------------------------------------------------------------------------------ sharing


@pytest.mark.timeout(90)
@pytest.mark.parametrize("n", [2, 3])
def test_kafka_python_members_share_partitions_exactly_once(kb: EmbeddedBroker, topic_name: str, n: int) -> None:
    create_topic(kb.bootstrap, topic_name, PARTS)
    members = start([KafkaPythonMember(kb.bootstrap, topic_name, "g", f"kp{i}") for i in range(n)])
    try:
        wait_shared(members)
        values = produce(kb.bootstrap, topic_name, PARTS, 60)
        counts = wait_consumed(members, values)
        assert all(c == 1 for c in counts.values()), "a record was consumed twice"
        assert all(m.records for m in members), "a member consumed nothing"
    finally:
        stop_all(members)


@pytest.mark.timeout(90)
def test_aiokafka_members_share_partitions_exactly_once(kb: EmbeddedBroker, topic_name: str) -> None:
    create_topic(kb.bootstrap, topic_name, PARTS)
    members = start([AiokafkaMember(kb.bootstrap, topic_name, "g", f"aio{i}") for i in range(2)])
    try:
        wait_shared(members)
        values = produce(kb.bootstrap, topic_name, PARTS, 40)
        counts = wait_consumed(members, values)
        assert set(counts.values()) == {1}
    finally:
        stop_all(members)


@pytest.mark.timeout(120)
def test_confluent_classic_member_leaves_and_rest_take_over(kb: EmbeddedBroker, topic_name: str) -> None:
    create_topic(kb.bootstrap, topic_name, PARTS)
    members = start([ConfluentMember(kb.bootstrap, topic_name, "g", f"ck{i}") for i in range(3)])
    try:
        wait_shared(members)
        first = produce(kb.bootstrap, topic_name, PARTS, 30)
        wait_consumed(members, first)
        members[0].stop()  # closes: commits and sends LeaveGroup
        wait_shared(members[1:])
        second = produce(kb.bootstrap, topic_name, PARTS, 30, start=30)
        counts = wait_consumed(members, first + second)
        assert set(counts.values()) == {1}
    finally:
        stop_all(members)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("assignor", ["uniform", "range"])
def test_confluent_kip848_members_share_and_take_over(kb: EmbeddedBroker, topic_name: str, assignor: str) -> None:
    # Faster KIP-848 heartbeats than Kafka's 5 s default so hand-overs happen within the test.
    kb.call(lambda: setattr(kb.broker.groups, "config",
                            dataclasses.replace(kb.broker.groups.config, consumer_heartbeat_interval_ms=300)))
    create_topic(kb.bootstrap, topic_name, PARTS)
    members = start([ConfluentMember(kb.bootstrap, topic_name, "g848", f"ck{i}", protocol="consumer",
                                     **{"group.remote.assignor": assignor}) for i in range(2)])
    try:
        wait_shared(members)
        assert coordinator_call(kb, lambda g, now: g.list_groups(now))[0].group_type == "consumer"
        assert coordinator_call(kb, lambda g, now: g.groups["g848"].assignor) == assignor
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": kb.bootstrap})
        described = admin.describe_consumer_groups(["g848"])["g848"].result(30)  # ConsumerGroupDescribe
        assert sorted(m.client_id for m in described.members) == ["ck0", "ck1"]
        assert sorted(tp.partition for m in described.members for tp in m.assignment.topic_partitions) == list(
            range(PARTS))
        first = produce(kb.bootstrap, topic_name, PARTS, 30)
        wait_consumed(members, first)
        members[0].stop()
        wait_shared(members[1:])
        second = produce(kb.bootstrap, topic_name, PARTS, 30, start=30)
        counts = wait_consumed(members, first + second)
        assert set(counts.values()) == {1}
    finally:
        stop_all(members)


@pytest.mark.timeout(120)
def test_confluent_cooperative_sticky_incremental_rebalances(kb: EmbeddedBroker, topic_name: str) -> None:
    """Cooperative members revoke, then rejoin at once: the broker runs a second rebalance."""
    create_topic(kb.bootstrap, topic_name, PARTS)
    coop = {"partition.assignment.strategy": "cooperative-sticky"}
    members = start([ConfluentMember(kb.bootstrap, topic_name, "coop", "co0", **coop)])
    try:
        wait_shared(members)
        first = produce(kb.bootstrap, topic_name, PARTS, 18)
        wait_consumed(members, first)
        gen = generation(kb, "coop")
        members += start([ConfluentMember(kb.bootstrap, topic_name, "coop", f"co{i}", **coop) for i in (1, 2)])
        wait_shared(members)
        assert generation(kb, "coop") >= gen + 2  # assign-revoke round, then the reassigning one
        second = produce(kb.bootstrap, topic_name, PARTS, 18, start=18)
        counts = wait_consumed(members, first + second)
        assert set(counts.values()) == {1}
    finally:
        stop_all(members)


@pytest.mark.timeout(120)
def test_three_client_libraries_share_one_group(kb: EmbeddedBroker, topic_name: str) -> None:
    """Different assignor lists: the coordinator picks the protocol all members support by vote."""
    create_topic(kb.bootstrap, topic_name, PARTS)
    members = start([KafkaPythonMember(kb.bootstrap, topic_name, "mixed", "kp"),
                     AiokafkaMember(kb.bootstrap, topic_name, "mixed", "aio"),
                     ConfluentMember(kb.bootstrap, topic_name, "mixed", "ck")])
    try:
        wait_shared(members)
        assert coordinator_call(kb, lambda g, now: g.groups["mixed"].protocol_name) in ("range", "roundrobin")
        values = produce(kb.bootstrap, topic_name, PARTS, 30)
        counts = wait_consumed(members, values)
        assert set(counts.values()) == {1}
    finally:
        stop_all(members)


# ------------------------------------------------------------------------------ a member dies

DYING_MEMBER = textwrap.dedent("""
    import sys
    from kafka import KafkaConsumer
    c = KafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1], group_id="g", client_id="doomed",
                      session_timeout_ms=6000, heartbeat_interval_ms=300)
    while True:
        c.poll(timeout_ms=100)
        if c.assignment():
            print("assigned", flush=True)
""")


@pytest.mark.timeout(120)
def test_member_killed_rest_take_over_after_session_timeout(kb: EmbeddedBroker, topic_name: str) -> None:
    create_topic(kb.bootstrap, topic_name, PARTS)
    survivor = start([KafkaPythonMember(kb.bootstrap, topic_name, "g", "survivor")])[0]
    proc = subprocess.Popen([sys.executable, "-c", DYING_MEMBER, kb.bootstrap, topic_name],
                            stdout=subprocess.PIPE, text=True, env={**os.environ})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "assigned"
        wait_until(lambda: 0 < len(survivor.assignment) < PARTS, 40, "the two members to share")
        proc.send_signal(signal.SIGKILL)  # no LeaveGroup: only the session timeout tells
        proc.wait(10)
        wait_until(lambda: len(survivor.assignment) == PARTS, 40, "the survivor to own every partition")
        values = produce(kb.bootstrap, topic_name, PARTS, 24)
        wait_consumed([survivor], values)
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout:
            proc.stdout.close()
        survivor.stop()


# ------------------------------------------------------------------------------ resuming


def consume_n(bootstrap: str, topic: str, group: str, n: int, client: str = "confluent") -> list[bytes]:
    """One consumer reads n records, commits synchronously and closes."""
    if client == "kafka-python":
        return _consume_n_kafka_python(bootstrap, topic, group, n)
    if client == "aiokafka":
        return asyncio.run(_consume_n_aiokafka(bootstrap, topic, group, n))
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    got: list[bytes] = []
    try:
        wait_until(lambda: _poll_into(c, got) or len(got) >= n, 40, f"{n} records")
        c.commit(asynchronous=False)
    finally:
        c.close()
    return got


def _poll_into(c: Any, got: list[bytes]) -> bool:
    m = c.poll(0.1)
    if m is not None and m.error() is None:
        got.append(m.value())
    return False


def _consume_n_kafka_python(bootstrap: str, topic: str, group: str, n: int) -> list[bytes]:
    from kafka import KafkaConsumer

    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                      enable_auto_commit=False, max_poll_records=n)
    got: list[bytes] = []
    try:
        def poll() -> bool:
            got.extend(m.value for msgs in c.poll(timeout_ms=100).values() for m in msgs)
            return len(got) >= n
        wait_until(poll, 40, f"{n} records")
        c.commit()
    finally:
        c.close()
    return got


async def _consume_n_aiokafka(bootstrap: str, topic: str, group: str, n: int) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer

    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                         enable_auto_commit=False)
    await c.start()
    got: list[bytes] = []
    try:
        async with asyncio.timeout(40):
            while len(got) < n:
                got.extend(m.value for msgs in (await c.getmany(timeout_ms=100, max_records=n - len(got))).values()
                           for m in msgs)
        await c.commit()
    finally:
        await c.stop()
    return got


@pytest.mark.timeout(90)
@pytest.mark.parametrize("client", ["confluent", "kafka-python", "aiokafka"])
def test_restarted_consumer_resumes_after_committed_offset(kb: EmbeddedBroker, topic_name: str, client: str) -> None:
    create_topic(kb.bootstrap, topic_name, 1)
    first = produce(kb.bootstrap, topic_name, 1, 10)
    assert consume_n(kb.bootstrap, topic_name, "resume", 10, client) == first
    second = produce(kb.bootstrap, topic_name, 1, 5, start=10)
    assert consume_n(kb.bootstrap, topic_name, "resume", 5, client) == second


@pytest.mark.timeout(120)
def test_committed_offsets_survive_file_engine_restart(broker_factory: Any, tmp_path: Any, topic_name: str) -> None:
    data = tmp_path / "data"
    kb1 = broker_factory(data_dir=data, group_initial_rebalance_delay_ms=0)
    create_topic(kb1.bootstrap, topic_name, 1)
    first = produce(kb1.bootstrap, topic_name, 1, 10)
    assert consume_n(kb1.bootstrap, topic_name, "durable", 10) == first
    kb1.stop()
    kb2 = broker_factory(data_dir=data, group_initial_rebalance_delay_ms=0)
    listed = coordinator_call(kb2, lambda g, now: g.list_groups(now))
    assert [(x.group_id, x.state) for x in listed] == [("durable", "Empty")]
    second = produce(kb2.bootstrap, topic_name, 1, 5, start=10)
    assert consume_n(kb2.bootstrap, topic_name, "durable", 5) == second


# ------------------------------------------------------------------------------ static membership


def static_member(client: str, kb: EmbeddedBroker, topic: str, name: str, instance: str) -> Member:
    if client == "kafka-python":
        return KafkaPythonMember(kb.bootstrap, topic, "static", name, group_instance_id=instance)
    return ConfluentMember(kb.bootstrap, topic, "static", name, **{"group.instance.id": instance})


@pytest.mark.timeout(120)
@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_static_member_rejoins_without_rebalance(kb: EmbeddedBroker, topic_name: str, client: str) -> None:
    create_topic(kb.bootstrap, topic_name, PARTS)
    members = start([static_member(client, kb, topic_name, f"s{i}", f"i{i}") for i in range(2)])
    try:
        wait_shared(members)
        wait_until(lambda: coordinator_call(kb, lambda g, now: g.groups["static"].state.value) == "Stable", 20,
                   "a stable group")
        gen = generation(kb, "static")
        before = members[0].assignment
        members[0].stop()  # static members do not send LeaveGroup on close
        back = start([static_member(client, kb, topic_name, "s0-again", "i0")])[0]
        members[0] = back
        wait_until(lambda: back.assignment == before, 30, "the instance to get its partitions back")
        assert generation(kb, "static") == gen
        assert members[1].assignment.isdisjoint(before)
    finally:
        stop_all(members)


# ------------------------------------------------------------------------------ admin


@pytest.mark.timeout(120)
def test_kafka_python_admin_describes_lists_and_deletes_groups(kb: EmbeddedBroker, topic_name: str) -> None:
    from kafka import TopicPartition
    from kafka.admin import KafkaAdminClient

    create_topic(kb.bootstrap, topic_name, 2)
    values = produce(kb.bootstrap, topic_name, 2, 10)
    members = start([KafkaPythonMember(kb.bootstrap, topic_name, "adm", f"kp{i}") for i in range(2)])
    admin = KafkaAdminClient(bootstrap_servers=kb.bootstrap)
    try:
        wait_shared(members, 2)
        wait_consumed(members, values)
        wait_until(lambda: admin.describe_groups(["adm"])["adm"]["group_state"] == "Stable", 20, "Stable")
        described = admin.describe_groups(["adm"])["adm"]
        assert described["protocol_type"] == "consumer" and len(described["members"]) == 2
        assert {m["client_id"] for m in described["members"]} == {"kp0", "kp1"}
        assert {g["group_id"] for g in admin.list_groups()} == {"adm"}
        wait_until(lambda: len(admin.list_group_offsets("adm")["adm"]) == 2, 20, "committed offsets")
        assert admin.delete_groups(["adm"])["adm"] != "OK"  # still has members
        stop_all(members)
        offsets = admin.list_group_offsets("adm")["adm"]
        assert {tp: o.offset for tp, o in offsets.items()} == {TopicPartition(topic_name, 0): 5,
                                                              TopicPartition(topic_name, 1): 5}
        assert admin.delete_groups(["adm"])["adm"] == "OK"
        assert admin.list_groups() == []
    finally:
        stop_all(members)
        admin.close()


@pytest.mark.timeout(120)
def test_confluent_admin_describes_lists_and_deletes_groups(kb: EmbeddedBroker, topic_name: str) -> None:
    from confluent_kafka import ConsumerGroupTopicPartitions
    from confluent_kafka.admin import AdminClient

    create_topic(kb.bootstrap, topic_name, 2)
    values = produce(kb.bootstrap, topic_name, 2, 10)
    members = start([ConfluentMember(kb.bootstrap, topic_name, "cadm", f"ck{i}") for i in range(2)])
    admin = AdminClient({"bootstrap.servers": kb.bootstrap})
    try:
        wait_shared(members, 2)
        wait_consumed(members, values)
        listed = admin.list_consumer_groups().result(30).valid
        assert [g.group_id for g in listed] == ["cadm"]
        described = admin.describe_consumer_groups(["cadm"])["cadm"].result(30)
        assert len(described.members) == 2 and {m.client_id for m in described.members} == {"ck0", "ck1"}
        assert {tp.partition for m in described.members for tp in m.assignment.topic_partitions} == {0, 1}
        stop_all(members)
        offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions("cadm")])["cadm"].result(30)
        assert sorted((tp.partition, tp.offset) for tp in offsets.topic_partitions) == [(0, 5), (1, 5)]
        admin.delete_consumer_groups(["cadm"])["cadm"].result(30)
        assert admin.list_consumer_groups().result(30).valid == []
    finally:
        stop_all(members)
