"""Version negotiation against a broker that imitates an older Kafka (kfake's version caps)."""

from __future__ import annotations

import time

import pytest


@pytest.fixture
def old_broker(broker):
    # ApiVersions v3+ unsupported: kafka-python (sends v4) and librdkafka (sends v3) get
    # error 35 with a v0 body and must retry at a lower version (KIP-511).
    broker.call(lambda: broker.broker.version_caps.update({18: 2}))
    return broker


def test_kafka_python_falls_back_after_error_35(old_broker, topic_name):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    p = KafkaProducer(bootstrap_servers=old_broker.bootstrap)
    md = p.send(topic_name, b"v").get(30)
    p.close()
    c = KafkaConsumer(bootstrap_servers=old_broker.bootstrap)
    tp = TopicPartition(topic_name, 0)
    assert c.end_offsets([tp])[tp] == md.offset + 1
    c.close()


def test_librdkafka_falls_back_after_error_35(old_broker, topic_name):
    from confluent_kafka import Consumer, Producer, TopicPartition

    delivered = []
    p = Producer({"bootstrap.servers": old_broker.bootstrap})
    p.produce(topic_name, b"v", on_delivery=lambda err, m: delivered.append((err, m.offset())))
    assert p.flush(30) == 0
    assert delivered and delivered[0][0] is None
    c = Consumer({"bootstrap.servers": old_broker.bootstrap, "group.id": "neg"})
    lo, hi = c.get_watermark_offsets(TopicPartition(topic_name, 0), timeout=10)
    assert (lo, hi) == (0, 1)
    c.close()


def test_produce_cap_makes_clients_use_older_versions(broker, topic_name):
    """Capping Produce at v7 (an older Kafka) still works for every client path."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    broker.call(lambda: broker.broker.version_caps.update({0: 7, 1: 11}))
    p = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for i in range(10):
        p.send(topic_name, b"%d" % i)
    p.flush()
    p.close()
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest")
    tp = TopicPartition(topic_name, 0)
    c.assign([tp])
    got = []
    deadline = time.monotonic() + 20
    while len(got) < 10 and time.monotonic() < deadline:
        for msgs in c.poll(500).values():
            got += [m.value for m in msgs]
    c.close()
    assert got == [b"%d" % i for i in range(10)]
