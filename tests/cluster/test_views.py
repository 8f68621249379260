"""A 3-broker kafkaish as clients see it: Metadata, DescribeCluster, describe topics, FindCoordinator,
and the answers of a node that does not lead or coordinate (NOT_LEADER_OR_FOLLOWER with KIP-951's
current leader, FENCED/UNKNOWN_LEADER_EPOCH, NOT_COORDINATOR)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from kafkaish.admin.cluster import java_string_hash
from kafkaish.testing import EmbeddedBroker, run_broker
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.find_coordinator import FindCoordinatorRequest
from kafkaish.wire.messages.heartbeat import HeartbeatRequest
from kafkaish.wire.messages.list_offsets import ListOffsetsRequest
from kafkaish.wire.messages.produce import ProduceRequest
from kafkaish.wire.records import build_batch
from tests.e2e.test_fetch_semantics import Conn, fetch_req


@pytest.fixture
def kb3() -> Iterator[EmbeddedBroker]:
    with run_broker(brokers=3, admin_port=0) as kb:
        yield kb


def _create(kb: EmbeddedBroker, name: str, partitions: int = 3, rf: int = 3, **kw: object) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": kb.bootstrap})
    admin.create_topics([NewTopic(name, partitions, rf)])[name].result(30)


def _produce(bootstrap: str, topic: str, partition: int, version: int = 11) -> ProduceRequest:
    req = ProduceRequest(transactional_id=None, acks=-1, timeout_ms=5000, topic_data=[
        ProduceRequest.TopicProduceData(name=topic, partition_data=[ProduceRequest.PartitionProduceData(
            index=partition, records=build_batch([(None, b"x")], timestamp_ms=int(time.time() * 1000)))])])
    return Conn(bootstrap).call(req, version)


def test_java_string_hash_matches_java() -> None:
    # values of java.lang.String.hashCode
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("polygenelubricants") == -(2**31)  # Utils.abs maps it to 0
    assert java_string_hash("") == 0


def test_three_brokers_listen_on_their_own_ports_and_all_are_in_metadata(kb3, topic_name) -> None:
    from kafka import KafkaAdminClient

    assert sorted(kb3.bootstraps) == [1, 2, 3] and len(set(kb3.bootstraps.values())) == 3
    admin = KafkaAdminClient(bootstrap_servers=kb3.bootstraps[3])
    try:
        cluster = admin.describe_cluster()
    finally:
        admin.close()
    assert sorted(b["broker_id"] for b in cluster["brokers"]) == [1, 2, 3]
    assert cluster["controller_id"] == 1
    ports = {b["broker_id"]: b["port"] for b in cluster["brokers"]}
    assert {n: f"127.0.0.1:{p}" for n, p in ports.items()} == kb3.bootstraps
    assert [b["node_id"] for b in kb3.brokers()] == [1, 2, 3]


def test_replicas_isr_and_spread_leaders_described_by_confluent_kafka(kb3, topic_name) -> None:
    from confluent_kafka import TopicCollection
    from confluent_kafka.admin import AdminClient

    _create(kb3, topic_name, partitions=6, rf=3)
    admin = AdminClient({"bootstrap.servers": kb3.bootstrap})
    desc = admin.describe_topics(TopicCollection([topic_name]))[topic_name].result(30)
    leaders = [p.leader.id for p in desc.partitions]
    assert sorted(leaders) == [1, 1, 2, 2, 3, 3]  # Kafka's assignment spreads the leaders
    for p in desc.partitions:
        replicas = [r.id for r in p.replicas]
        assert sorted(replicas) == [1, 2, 3] and replicas[0] == p.leader.id
        assert sorted(r.id for r in p.isr) == [1, 2, 3]
    cluster = admin.describe_cluster().result(30)
    assert sorted(n.id for n in cluster.nodes) == [1, 2, 3] and cluster.controller.id == 1


def test_explicit_assignment_honoured_and_too_many_replicas_refused(kb3, topic_name) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic
    from kafka import KafkaAdminClient, KafkaConsumer
    from kafka.admin import NewTopic as KNewTopic

    kadmin = KafkaAdminClient(bootstrap_servers=kb3.bootstrap)
    try:
        kadmin.create_topics([KNewTopic(topic_name, -1, -1, replica_assignments={0: [2, 3], 1: [3, 1]})])
    finally:
        kadmin.close()
    consumer = KafkaConsumer(bootstrap_servers=kb3.bootstrap)
    try:
        consumer.topics()
        cluster = consumer._client.cluster  # kafka-python's metadata view
        assert cluster.leader_for_partition(_tp(topic_name, 0)) == 2
        assert cluster.leader_for_partition(_tp(topic_name, 1)) == 3
    finally:
        consumer.close()
    admin = AdminClient({"bootstrap.servers": kb3.bootstrap})
    with pytest.raises(Exception) as info:
        admin.create_topics([NewTopic(topic_name + "-x", 1, 4)])[topic_name + "-x"].result(30)
    assert "INVALID_REPLICATION_FACTOR" in str(info.value)


def _tp(topic: str, p: int):  # type: ignore[no-untyped-def]
    from kafka import TopicPartition

    return TopicPartition(topic, p)


def test_produce_to_a_follower_names_the_leader(kb3, topic_name) -> None:
    _create(kb3, topic_name, partitions=1, rf=3)
    state = kb3.inspect.topic(topic_name)["partitions"][0]
    leader = state["leader"]
    follower = next(n for n in (1, 2, 3) if n != leader)
    resp = _produce(kb3.bootstraps[follower], topic_name, 0)
    part = resp.responses[0].partition_responses[0]
    assert part.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
    assert (part.current_leader.leader_id, part.current_leader.leader_epoch) == (leader, 0)
    assert [(e.node_id, f"{e.host}:{e.port}") for e in resp.node_endpoints] == [(leader, kb3.bootstraps[leader])]
    ok = _produce(kb3.bootstraps[leader], topic_name, 0).responses[0].partition_responses[0]
    assert ok.error_code == 0 and ok.base_offset == 0


def test_leader_epochs_advance_and_stale_or_future_epochs_are_refused(kb3, topic_name) -> None:
    _create(kb3, topic_name, partitions=1, rf=3)
    first = kb3.inspect.topic(topic_name)["partitions"][0]["leader"]
    other = next(n for n in (1, 2, 3) if n != first)
    moved = kb3.move_leader(topic_name, 0, other)
    assert moved["leader_epoch"] == 1
    back = kb3.move_leader(topic_name, 0, first)
    assert back["leader_epoch"] == 2

    def fetch(epoch: int) -> int:
        req = fetch_req(topic_name, {0: 0})
        req.topics[0].partitions[0].current_leader_epoch = epoch
        return Conn(kb3.bootstraps[first]).call(req, 12).responses[0].partitions[0].error_code

    assert fetch(2) == 0
    assert fetch(1) == ErrorCode.FENCED_LEADER_EPOCH
    assert fetch(3) == ErrorCode.UNKNOWN_LEADER_EPOCH
    req = ListOffsetsRequest(replica_id=-1, isolation_level=0, topics=[ListOffsetsRequest.ListOffsetsTopic(
        name=topic_name, partitions=[ListOffsetsRequest.ListOffsetsPartition(
            partition_index=0, current_leader_epoch=2, timestamp=-1)])])
    on_follower = Conn(kb3.bootstraps[other]).call(req, 7).topics[0].partitions[0]
    assert on_follower.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
    on_leader = Conn(kb3.bootstraps[first]).call(req, 7).topics[0].partitions[0]
    assert on_leader.error_code == 0 and on_leader.leader_epoch == 2


def test_find_coordinator_places_groups_by_hash_and_others_answer_not_coordinator(kb3) -> None:
    group = "polygenelubricants"  # hashCode Integer.MIN_VALUE: __consumer_offsets partition 0
    resp = Conn(kb3.bootstrap).call(FindCoordinatorRequest(key_type=0, coordinator_keys=[group, "hello"]), 4)
    nodes = {c.key: c.node_id for c in resp.coordinators}
    offsets = kb3.inspect.topic("__consumer_offsets")["partitions"]  # created by the first lookup
    assert len(offsets) == 50 and all(len(p["replicas"]) == 3 for p in offsets)
    assert nodes[group] == offsets[0]["leader"]
    assert nodes["hello"] == offsets[99162322 % 50]["leader"]
    wrong = next(n for n in (1, 2, 3) if n != nodes[group])
    hb = HeartbeatRequest(group_id=group, generation_id=1, member_id="m")
    assert Conn(kb3.bootstraps[wrong]).call(hb, 4).error_code == ErrorCode.NOT_COORDINATOR
    assert Conn(kb3.bootstraps[nodes[group]]).call(hb, 4).error_code != ErrorCode.NOT_COORDINATOR


def _internal_leader(kb: EmbeddedBroker, topic: str, key: str) -> int:
    """The leader Metadata reports for ``key``'s partition of an internal topic (Kafka: the coordinator)."""
    from kafkaish.wire.messages.metadata import MetadataRequest

    p = (java_string_hash(key) & 0x7FFFFFFF) % 50
    meta = Conn(kb.bootstrap).call(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)],
                                                   allow_auto_topic_creation=False), 9)
    assert meta.topics[0].is_internal and len(meta.topics[0].partitions) == 50
    return next(part.leader_id for part in meta.topics[0].partitions if part.partition_index == p)


def _find(kb: EmbeddedBroker, key: str, key_type: int = 0) -> int:
    resp = Conn(kb.bootstrap).call(FindCoordinatorRequest(key_type=key_type, coordinator_keys=[key]), 4)
    assert resp.coordinators[0].error_code == 0
    return resp.coordinators[0].node_id


def test_internal_topic_leaders_are_the_coordinators_and_moving_one_moves_the_coordinator(kb3, topic_name) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    _create(kb3, topic_name, partitions=1, rf=3)
    group, txn = topic_name, f"tx-{topic_name}"
    producer = KafkaProducer(bootstrap_servers=kb3.bootstrap, acks="all")
    consumer = KafkaConsumer(topic_name, bootstrap_servers=kb3.bootstrap, group_id=group, auto_offset_reset="earliest",
                             enable_auto_commit=False, retry_backoff_ms=20, fetch_max_wait_ms=100)
    try:
        def consume_one(value: bytes) -> None:
            producer.send(topic_name, value).get(10)
            deadline = time.monotonic() + 20
            got: list[bytes] = []
            while not got and time.monotonic() < deadline:
                got = [r.value for rs in consumer.poll(timeout_ms=100).values() for r in rs]
            assert got == [value]
            consumer.commit()  # to the coordinator kafka-python knows: NOT_COORDINATOR, then found again

        consume_one(b"a")
        before = _find(kb3, group)
        assert _internal_leader(kb3, "__consumer_offsets", group) == before
        assert _find(kb3, txn, 1) == _internal_leader(kb3, "__transaction_state", txn)
        p = (java_string_hash(group) & 0x7FFFFFFF) % 50
        after = next(n for n in (1, 2, 3) if n != before)
        assert kb3.move_leader("__consumer_offsets", p, after)["leader"] == after
        assert _find(kb3, group) == after == _internal_leader(kb3, "__consumer_offsets", group)
        hb = HeartbeatRequest(group_id=group, generation_id=1, member_id="m")
        assert Conn(kb3.bootstraps[before]).call(hb, 4).error_code == ErrorCode.NOT_COORDINATOR
        consume_one(b"b")
        view = kb3.inspect.group(group)
        assert view["coordinator"] == after and [o["offset"] for o in view["offsets"]] == [2]
    finally:
        consumer.close()
        producer.close()


def test_aiokafka_sees_brokers_replicas_isr_and_coordinators_after_moves(kb3, topic_name) -> None:
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.client import AIOKafkaClient

    _create(kb3, topic_name, partitions=3, rf=3)
    group, txn = f"g-{topic_name}", f"tx-{topic_name}"
    _find(kb3, group), _find(kb3, txn, 1)  # the internal topics exist
    state = kb3.inspect.topic(topic_name)["partitions"][0]
    kb3.move_leader(topic_name, 0, next(n for n in state["isr"] if n != state["leader"]))
    p = (java_string_hash(group) & 0x7FFFFFFF) % 50
    offsets = kb3.inspect.topic("__consumer_offsets")["partitions"][p]
    kb3.move_leader("__consumer_offsets", p, next(n for n in offsets["isr"] if n != offsets["leader"]))
    kb3.stop_broker(3)

    async def views() -> tuple:
        admin = AIOKafkaAdminClient(bootstrap_servers=kb3.bootstrap)
        await admin.start()
        try:
            cluster, topics = await admin.describe_cluster(), await admin.describe_topics([topic_name])
        finally:
            await admin.close()
        client = AIOKafkaClient(bootstrap_servers=kb3.bootstrap)
        await client.bootstrap()
        try:
            return cluster, topics, await client.coordinator_lookup(0, group), await client.coordinator_lookup(1, txn)
        finally:
            await client.close()

    cluster, topics, group_node, txn_node = asyncio.run(views())
    assert [b["node_id"] for b in cluster["brokers"]] == [1, 2] and cluster["controller_id"] == 1
    seen = {p["partition"]: (p["leader"], p["replicas"], p["isr"]) for p in topics[0]["partitions"]}
    assert seen == {p["partition"]: (p["leader"], p["replicas"], p["isr"])
                    for p in kb3.inspect.topic(topic_name)["partitions"]}
    assert all(3 not in isr and leader != 3 for leader, _, isr in seen.values())
    assert group_node == kb3.inspect.topic("__consumer_offsets")["partitions"][p]["leader"] != 3
    assert txn_node == _internal_leader(kb3, "__transaction_state", txn) != 3


def test_kafka_python_and_confluent_kafka_find_the_coordinator_the_internal_topic_names(kb3) -> None:
    from confluent_kafka.admin import AdminClient
    from kafka import KafkaConsumer

    group = "polygenelubricants-g"
    consumer = KafkaConsumer(bootstrap_servers=kb3.bootstrap, group_id=group, enable_auto_commit=False)
    try:
        consumer.topics()
        coordinator = consumer._coordinator  # kafka-python's group coordinator, as FindCoordinator found it
        coordinator.ensure_coordinator_ready()
        assert coordinator.coordinator_id == f"coordinator-{_internal_leader(kb3, '__consumer_offsets', group)}"
    finally:
        consumer.close()
    admin = AdminClient({"bootstrap.servers": kb3.bootstrap})  # held: a collected client fails its futures
    described = admin.describe_consumer_groups([group])[group].result(30)
    assert described.coordinator.id == _internal_leader(kb3, "__consumer_offsets", group)


def test_stopped_broker_leaves_metadata_and_hands_over_leaders_and_coordinators(kb3, topic_name) -> None:
    _create(kb3, topic_name, partitions=3, rf=2)
    find = FindCoordinatorRequest(key_type=0, coordinator_keys=["polygenelubricants"])
    before = Conn(kb3.bootstraps[2]).call(find, 4).coordinators[0].node_id
    kb3.stop_broker(before)
    parts = kb3.inspect.topic(topic_name)["partitions"]
    assert all(p["leader"] != before and before not in p["isr"] for p in parts)
    alive = next(n for n in (1, 2, 3) if n != before)
    after = Conn(kb3.bootstraps[alive]).call(find, 4).coordinators[0].node_id
    assert after != before and after == kb3.inspect.topic("__consumer_offsets")["partitions"][0]["leader"]
    with pytest.raises(OSError):
        Conn(kb3.bootstraps[before], timeout=2).call(find, 4)
    kb3.start_broker(before)
    parts = kb3.inspect.topic(topic_name)["partitions"]
    assert all(sorted(p["isr"]) == sorted(p["replicas"]) for p in parts)
    assert [b["up"] for b in kb3.brokers()] == [True, True, True]


def test_serve_brokers_3_listens_on_consecutive_ports_with_one_admin_port(server_process) -> None:
    import json
    import re
    import socket
    import urllib.request

    from kafkaish.testing import ServerStartError

    for _attempt in range(5):  # another process may take one of the three ports meanwhile: retry
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = min(s.getsockname()[1], 65000)
        try:
            proc = server_process("--in-memory", "--brokers", "3", "--port", str(base), "--admin-port", "0")
            break
        except ServerStartError as e:
            assert "Address already in use" in str(e)
    else:
        pytest.fail("no three consecutive free ports found")
    listeners = {int(m.group(1)): int(m.group(2)) for line in proc.lines
                 if (m := re.match(r"kafkaish broker (\d+) on \S+:(\d+)", line))}
    assert listeners == {1: base, 2: base + 1, 3: base + 2}
    with urllib.request.urlopen(proc.admin_url + "/v1/brokers", timeout=10) as r:
        brokers = json.load(r)
    assert [(b["node_id"], b["port"], b["up"]) for b in brokers] == [(1, base, True), (2, base + 1, True),
                                                                     (3, base + 2, True)]
    resp = Conn(f"127.0.0.1:{base + 2}").call(FindCoordinatorRequest(key_type=0, coordinator_keys=["g"]), 4)
    assert resp.coordinators[0].node_id in (1, 2, 3) and resp.coordinators[0].port in (base, base + 1, base + 2)


def test_acks_all_below_min_insync_replicas_answers_not_enough_replicas(kb3, topic_name) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": kb3.bootstrap})
    admin.create_topics([NewTopic(topic_name, 1, 2, config={"min.insync.replicas": "2"})])[topic_name].result(30)
    part = kb3.inspect.topic(topic_name)["partitions"][0]
    leader, follower = part["replicas"]
    kb3.stop_broker(follower)
    assert kb3.inspect.topic(topic_name)["partitions"][0]["isr"] == [leader]
    answer = _produce(kb3.bootstraps[leader], topic_name, 0).responses[0].partition_responses[0]
    assert answer.error_code == ErrorCode.NOT_ENOUGH_REPLICAS
    kb3.start_broker(follower)
    assert _produce(kb3.bootstraps[leader], topic_name, 0).responses[0].partition_responses[0].error_code == 0


def test_last_replica_stopped_takes_the_partition_offline_until_it_returns(kb3, topic_name) -> None:
    from kafkaish.wire.messages.metadata import MetadataRequest

    _create(kb3, topic_name, partitions=1, rf=1)
    only = kb3.inspect.topic(topic_name)["partitions"][0]["leader"]
    kb3.stop_broker(only)
    other = next(n for n in (1, 2, 3) if n != only)
    meta = Conn(kb3.bootstraps[other]).call(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(
        name=topic_name)], allow_auto_topic_creation=False), 9)
    part = meta.topics[0].partitions[0]
    assert (part.error_code, part.leader_id, part.offline_replicas) == (ErrorCode.LEADER_NOT_AVAILABLE, -1, [only])
    assert only not in [b.node_id for b in meta.brokers]
    kb3.start_broker(only)
    state = kb3.inspect.topic(topic_name)["partitions"][0]
    assert (state["leader"], state["leader_epoch"]) == (only, 2)  # offline, then back: two changes


CLUSTER_USER_TESTS = '''
import pytest


@pytest.fixture(scope="session")
def kafka_broker_settings():
    return {"brokers": 3}


def test_three_brokers_behind_the_fixture(kafka_broker, kafka_topic):
    from kafka import KafkaAdminClient, KafkaProducer
    topic = kafka_topic(partitions=3, replication_factor=3)
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    assert sorted(b["broker_id"] for b in admin.describe_cluster()["brokers"]) == [1, 2, 3]
    admin.close()
    p = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
    p.send(topic, b"x", partition=0).get(10)
    kafka_broker.move_leader(topic, 0, [n for n in (1, 2, 3)
                                        if n != kafka_broker.inspect.topic(topic)["partitions"][0]["leader"]][0])
    p.send(topic, b"y", partition=0).get(10)  # the producer follows the move
    p.close()
    assert kafka_broker.inspect.topic(topic)["partitions"][0]["high_watermark"] == 2
'''


def test_pytest_plugin_runs_a_three_broker_cluster(tmp_path) -> None:
    import subprocess
    import sys

    (tmp_path / "conftest.py").write_text("")
    (tmp_path / "test_user.py").write_text(CLUSTER_USER_TESTS)
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "1 passed" in out.stdout, out.stdout + out.stderr
