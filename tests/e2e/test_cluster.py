"""Several brokers over one shared state, and the broker clock, with real clients and raw Fetches.

``Broker(settings, shared=other.shared)`` is what a simulated cluster builds on: each broker has
its own node id and listener, all share storage, coordinators, the clock and parked long polls.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.metadata import MetadataRequest
from kafkaish.wire.messages.produce import ProduceRequest
from kafkaish.wire.records import build_batch, iter_batches
from tests.e2e.test_fetch_semantics import Conn, fetch_req


def _produce_raw(bootstrap: str, topic: str, value: bytes) -> int:
    req = ProduceRequest(transactional_id=None, acks=-1, timeout_ms=5000, topic_data=[
        ProduceRequest.TopicProduceData(name=topic, partition_data=[
            ProduceRequest.PartitionProduceData(index=0, records=build_batch([(None, value)], timestamp_ms=int(time.time() * 1000)))])])
    (topic_resp,) = Conn(bootstrap).call(req, 8).responses
    (part,) = topic_resp.partition_responses
    assert part.error_code == 0
    return part.base_offset


def _fetch_in_thread(bootstrap: str, topic: str, max_wait: int) -> tuple[threading.Thread, list[Any]]:
    conn = Conn(bootstrap, timeout=60)
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(conn.call(fetch_req(topic, {0: 0}, max_wait=max_wait), 11)),
                         daemon=True)
    t.start()
    return t, out


def _batches(resp: Any) -> int:
    return len(list(iter_batches(bytes(resp.responses[0].partitions[0].records or b""))))


def test_record_produced_through_one_broker_is_fetched_through_another(broker, topic_name) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    second = broker.add_broker(node_id=2)
    meta = Conn(second).call(MetadataRequest(topics=None), 9)
    assert [b.node_id for b in meta.brokers] == [1, 2] and meta.controller_id == 1  # one cluster

    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    producer.send(topic_name, b"through node 1").get(30)  # auto-creates the topic on node 1
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=second, auto_offset_reset="earliest", consumer_timeout_ms=10_000)
    consumer.assign([TopicPartition(topic_name, 0)])
    got = [m.value for m in consumer]
    consumer.close()
    assert got == [b"through node 1"]


def test_long_poll_on_the_old_leader_ends_when_the_leadership_moves(broker, topic_name) -> None:
    # Kafka's DelayedFetch completes when its broker stops leading a partition: the consumer
    # learns of the move at once (NOT_LEADER_OR_FOLLOWER with the new leader, KIP-951)
    broker.add_broker(node_id=2)

    def create() -> None:
        meta = broker.broker.storage.create_topic(topic_name, 1, {}, uuid.uuid4())
        broker.broker.cluster.set_topic(topic_name, meta.topic_id, [[1, 2]])

    broker.call(create)
    broker.freeze()  # no timer can end the poll: only the move can
    conn = Conn(broker.bootstrap, timeout=60)
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(conn.call(fetch_req(topic_name, {0: 0}, max_wait=1000), 12)),
                              daemon=True)
    thread.start()
    time.sleep(0.3)  # let it park
    assert thread.is_alive()
    moved = broker.move_leader(topic_name, 0, 2)
    assert moved["leader"] == 2 and moved["leader_epoch"] == 1
    thread.join(30)
    part = out[0].responses[0].partitions[0]
    assert part.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
    assert (part.current_leader.leader_id, part.current_leader.leader_epoch) == (2, 1)


def test_frozen_clock_holds_a_long_poll_until_advanced_past_its_deadline(broker, topic_name) -> None:
    broker.call(lambda: broker.broker.storage.create_topic(topic_name, 1, {}, uuid.uuid4()))
    broker.freeze()
    thread, out = _fetch_in_thread(broker.bootstrap, topic_name, max_wait=200)
    time.sleep(0.6)  # three times the poll's max_wait of real time
    assert thread.is_alive(), "a frozen clock must not let the long poll time out"
    broker.advance(100)
    time.sleep(0.2)
    assert thread.is_alive(), "advanced to half the deadline only"
    broker.advance(100)
    thread.join(30)
    assert not thread.is_alive() and out[0].responses[0].partitions[0].error_code == 0
    assert _batches(out[0]) == 0
