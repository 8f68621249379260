"""Fault rules at the wire level: each API's real response shape with the error where clients
look for it, scoping by topic/partition/group/client id, and counts (once, N, always, probability)."""

from __future__ import annotations

import socket
import time
import uuid

import pytest

from kafkaish.testing import EmbeddedBroker
from kafkaish.wire.codec import ClientCodec
from kafkaish.wire.messages.fetch import FetchRequest
from kafkaish.wire.messages.find_coordinator import FindCoordinatorRequest
from kafkaish.wire.messages.join_group import JoinGroupRequest
from kafkaish.wire.messages.metadata import MetadataRequest
from kafkaish.wire.messages.produce import ProduceRequest
from kafkaish.wire.records import build_batch
from tests.e2e.test_connection import assert_closed, connect, roundtrip

NOT_LEADER, COORDINATOR_NOT_AVAILABLE, LEADER_NOT_AVAILABLE = 6, 15, 5


def batch() -> bytes:
    return build_batch([(b"k", b"v")], timestamp_ms=int(time.time() * 1000))


@pytest.fixture
def kb() -> EmbeddedBroker:
    with EmbeddedBroker(default_partitions=2) as kb:
        yield kb


def produce(kb: EmbeddedBroker, topic: str, partitions=(0, 1), acks: int = 1, client_id: str = "t",
            sock: socket.socket | None = None):
    req = ProduceRequest(acks=acks, timeout_ms=1000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic, partition_data=[ProduceRequest.PartitionProduceData(index=p, records=batch())
                                    for p in partitions])])
    with connect(kb.bootstrap) as s:
        codec = ClientCodec(client_id=client_id)
        roundtrip(s, codec, MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)]), 9)
        resp = roundtrip(s, codec, req, 9)
    return {p.index: p for p in resp.responses[0].partition_responses}


def hw(kb: EmbeddedBroker, topic: str) -> list[int]:
    return [p["high_watermark"] for p in kb.inspect.topic(topic)["partitions"]]


def test_produce_error_on_one_partition_leaves_the_other_served(kb):
    topic = f"t-{uuid.uuid4().hex[:8]}"
    produce(kb, topic)
    kb.faults.add(api="Produce", topic=topic, partition=1, error="NOT_LEADER_OR_FOLLOWER")
    parts = produce(kb, topic)
    assert parts[0].error_code == 0 and parts[0].base_offset == 1
    assert parts[1].error_code == NOT_LEADER and parts[1].base_offset == -1
    assert hw(kb, topic) == [2, 1]  # the failed partition stored nothing: a retry cannot duplicate


def test_rule_counts_once_n_times_always(kb):
    topic = f"t-{uuid.uuid4().hex[:8]}"
    once = kb.faults.add(api=0, topic=topic, error="NOT_LEADER_OR_FOLLOWER", times=1)
    assert [produce(kb, topic, (0,))[0].error_code for _ in range(2)] == [NOT_LEADER, 0]
    kb.faults.add(api="produce", topic=topic, error="REQUEST_TIMED_OUT", times=3)
    assert [produce(kb, topic, (0,))[0].error_code for _ in range(4)] == [7, 7, 7, 0]
    always = kb.faults.add(api="Produce", topic=topic, error="NOT_ENOUGH_REPLICAS")
    assert [produce(kb, topic, (0,))[0].error_code for _ in range(5)] == [19] * 5
    rules = {r["id"]: r for r in kb.faults.list()}
    assert rules[once]["hits"] == 1 and rules[once]["active"] is False
    assert rules[always]["hits"] == 5 and rules[always]["active"] is True and rules[always]["times"] is None
    assert kb.faults.remove(always)
    assert produce(kb, topic, (0,))[0].error_code == 0


def test_probability_acts_on_some_requests(kb):
    topic = f"t-{uuid.uuid4().hex[:8]}"
    rule = kb.faults.add(api="Produce", topic=topic, error="NOT_LEADER_OR_FOLLOWER", probability=0.5)
    codes = [produce(kb, topic, (0,))[0].error_code for _ in range(60)]
    assert 5 < codes.count(NOT_LEADER) < 55  # ~30; P(outside) < 1e-10
    assert kb.faults.list()[0]["hits"] == codes.count(NOT_LEADER) and rule


def test_client_id_scope(kb):
    topic = f"t-{uuid.uuid4().hex[:8]}"
    kb.faults.add(api="Produce", client_id="victim", error="NOT_LEADER_OR_FOLLOWER")
    assert produce(kb, topic, (0,), client_id="other")[0].error_code == 0
    assert produce(kb, topic, (0,), client_id="victim")[0].error_code == NOT_LEADER


def test_acks0_produce_error_closes_the_connection(kb):
    """Kafka closes an acks=0 producer's connection when its produce fails (it gets no answer)."""
    topic = f"t-{uuid.uuid4().hex[:8]}"
    produce(kb, topic, (0,))
    kb.faults.add(api="Produce", error="NOT_LEADER_OR_FOLLOWER", times=1)
    req = ProduceRequest(acks=0, timeout_ms=1000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic, partition_data=[ProduceRequest.PartitionProduceData(index=0, records=batch())])])
    with connect(kb.bootstrap) as s:
        _, data = ClientCodec().encode_request(req, 9, expect_response=False)
        s.sendall(data)
        assert_closed(s)


def test_fetch_by_topic_id_gets_partition_error(kb):
    topic = f"t-{uuid.uuid4().hex[:8]}"
    produce(kb, topic)
    topic_id = uuid.UUID(kb.inspect.topic(topic)["topic_id"])
    kb.faults.add(api="Fetch", topic=topic, partition=0, error="NOT_LEADER_OR_FOLLOWER", times=1)
    req = FetchRequest(replica_id=-1, max_wait_ms=5000, min_bytes=1, max_bytes=1 << 20, topics=[
        FetchRequest.FetchTopic(topic_id=topic_id, partitions=[
            FetchRequest.FetchPartition(partition=p, fetch_offset=0, partition_max_bytes=1 << 20) for p in (0, 1)])])
    with connect(kb.bootstrap) as s:
        resp = roundtrip(s, ClientCodec(), req, 13)
    parts = {p.partition_index: p for t in resp.responses for p in t.partitions if t.topic_id == topic_id}
    assert parts[0].error_code == NOT_LEADER and parts[0].high_watermark == -1
    assert parts[1].error_code == 0 and parts[1].high_watermark == 1 and parts[1].records


def test_metadata_topic_error_keeps_the_brokers(kb):
    topic = f"t-{uuid.uuid4().hex[:8]}"
    produce(kb, topic)
    kb.faults.add(api="Metadata", topic=topic, error="LEADER_NOT_AVAILABLE", times=1)
    with connect(kb.bootstrap) as s:
        resp = roundtrip(s, ClientCodec(), MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)]), 9)
    assert [b.node_id for b in resp.brokers] == [1]
    assert resp.topics[0].name == topic and resp.topics[0].error_code == LEADER_NOT_AVAILABLE


@pytest.mark.parametrize("version", [3, 4])
def test_find_coordinator_error_top_level_or_per_key(kb, version):
    kb.faults.add(api="FindCoordinator", group="g1", error="COORDINATOR_NOT_AVAILABLE")
    with connect(kb.bootstrap) as s:
        codec = ClientCodec()
        if version == 3:
            hit = roundtrip(s, codec, FindCoordinatorRequest(key="g1", key_type=0), 3)
            miss = roundtrip(s, codec, FindCoordinatorRequest(key="g2", key_type=0), 3)
            assert (hit.error_code, hit.node_id, hit.port) == (COORDINATOR_NOT_AVAILABLE, -1, -1)
            assert (miss.error_code, miss.node_id) == (0, 1)
        else:
            hit = roundtrip(s, codec, FindCoordinatorRequest(coordinator_keys=["g1"], key_type=0), 4)
            assert [(c.key, c.error_code, c.node_id) for c in hit.coordinators] == [
                ("g1", COORDINATOR_NOT_AVAILABLE, -1)]


def test_join_group_top_level_error_for_the_named_group(kb):
    kb.faults.add(api="JoinGroup", group="g1", error="COORDINATOR_LOAD_IN_PROGRESS", times=1)
    req = JoinGroupRequest(group_id="g1", session_timeout_ms=10000, rebalance_timeout_ms=10000, member_id="",
                           protocol_type="consumer", protocols=[JoinGroupRequest.JoinGroupRequestProtocol(
                               name="range", metadata=b"")])
    with connect(kb.bootstrap) as s:
        assert roundtrip(s, ClientCodec(), req, 5).error_code == 14


def test_delay_then_normal_answer_and_drop_sends_nothing(kb):
    topic = f"t-{uuid.uuid4().hex[:8]}"
    kb.faults.add(api="Produce", topic=topic, delay_ms=200, times=1)
    assert produce(kb, topic, (0,))[0].error_code == 0
    kb.faults.add(api="Produce", topic=topic, drop=True, times=1)
    req = ProduceRequest(acks=1, timeout_ms=1000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic, partition_data=[ProduceRequest.PartitionProduceData(index=0, records=batch())])])
    with connect(kb.bootstrap) as s:
        codec = ClientCodec()
        _, data = codec.encode_request(req, 9)
        s.sendall(data)
        s.settimeout(0.5)
        with pytest.raises(socket.timeout):
            s.recv(1024)
    assert hw(kb, topic)[0] == 1  # the dropped request was not handled


def test_close_and_broker_down_rules(kb):
    topic = f"t-{uuid.uuid4().hex[:8]}"
    produce(kb, topic, (0,))
    kb.faults.add(api="Produce", close=True, times=1)
    with connect(kb.bootstrap) as s:
        _, data = ClientCodec().encode_request(ProduceRequest(acks=1, timeout_ms=1000, topic_data=[]), 9)
        s.sendall(data)
        assert_closed(s)
    other = connect(kb.bootstrap)  # an idle connection: closed too when the broker goes down
    kb.faults.add(api="Produce", down_ms=60_000, times=1)
    with connect(kb.bootstrap) as s:
        _, data = ClientCodec().encode_request(ProduceRequest(acks=1, timeout_ms=1000, topic_data=[]), 9)
        s.sendall(data)
        assert_closed(s)
    assert_closed(other)
    other.close()
    with pytest.raises(ConnectionRefusedError):
        connect(kb.bootstrap)
    assert kb.call(lambda: kb.broker.listeners[0].down)
    kb.up()
    assert produce(kb, topic, (0,))[0].error_code == 0
