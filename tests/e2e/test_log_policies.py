"""Retention, compaction, DeleteRecords and size limits, as real clients see them.

Topics use tiny ``segment.ms`` so the broker's background maintenance (every second) rolls,
deletes and compacts during the test; every wait is a bounded poll for the outcome. The broker
checks retention every second from the start (Kafka's default: every 300 s, first after 30 s).
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KTP
from kafka.errors import InvalidRecordError, MessageSizeTooLargeError, OffsetOutOfRangeError

from kafkaish.testing import EmbeddedBroker

FAST_RETENTION = {"log_retention_check_interval_ms": 1000, "log_initial_task_delay_ms": 0}


@pytest.fixture
def broker():  # type: ignore[no-untyped-def]
    with EmbeddedBroker(**FAST_RETENTION) as kb:
        yield kb


def create(bootstrap: str, topic: str, configs: dict[str, str], partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1, config=configs)])[topic].result(30)


def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> list[int]:
    offsets: list[int] = []
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for k, v in records:
        p.produce(topic, v, key=k, partition=0, on_delivery=lambda err, m: offsets.append(m.offset()))
        p.flush(30)  # one batch per record
    assert len(offsets) == len(records)
    return offsets


def read_all(bootstrap: str, topic: str) -> list[tuple[int, bytes | None, bytes | None]]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "read-" + topic, "enable.auto.commit": False,
                  "enable.partition.eof": True})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    out = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            break  # partition EOF
        out.append((m.offset(), m.key(), m.value()))
    c.close()
    return out


def eventually(check, timeout: float = 25.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_compaction_keeps_the_latest_value_per_key_at_unchanged_offsets(broker, topic_name):
    create(broker.bootstrap, topic_name, {"cleanup.policy": "compact", "segment.ms": "100",
                                          "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "0"})
    offsets = produce(broker.bootstrap, topic_name, [(b"a", b"a1"), (b"b", b"b1"), (b"a", b"a2"),
                                                     (b"c", b"c1"), (b"b", None)])
    time.sleep(0.2)
    produce(broker.bootstrap, topic_name, [(b"z", b"roll")])  # rolls the old segment; now cleanable

    def compacted() -> list[tuple[int, bytes | None, bytes | None]] | None:
        seen = read_all(broker.bootstrap, topic_name)
        keys = [k for _, k, _ in seen]
        return seen if keys.count(b"a") == 1 and b"b" not in keys else None

    seen = eventually(compacted)
    assert seen, "compaction did not run"
    assert (offsets[2], b"a", b"a2") in seen and (offsets[3], b"c", b"c1") in seen
    assert [o for o, _, _ in seen] == sorted(o for o, _, _ in seen)  # gaps, never renumbering


def test_compacted_topic_refuses_records_without_a_key(broker, topic_name):
    create(broker.bootstrap, topic_name, {"cleanup.policy": "compact"})
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, retries=0)
    with pytest.raises(InvalidRecordError):
        p.send(topic_name, value=b"no key", partition=0).get(30)
    assert p.send(topic_name, key=b"k", value=b"keyed", partition=0).get(30).offset == 0
    p.close()


def test_retention_by_time_moves_the_log_start_offset(broker, topic_name):
    create(broker.bootstrap, topic_name, {"retention.ms": "3000", "segment.ms": "100"})
    produce(broker.bootstrap, topic_name, [(None, b"old-%d" % i) for i in range(5)])
    time.sleep(3.2)
    assert produce(broker.bootstrap, topic_name, [(None, b"new")]) == [5]
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "ret-" + topic_name})
    assert eventually(lambda: c.get_watermark_offsets(TopicPartition(topic_name, 0), timeout=10) == (5, 6)), \
        "old segments were not deleted"
    c.close()
    # the consumer from "earliest" starts at the new log start (unless "new" expired meanwhile too)
    assert read_all(broker.bootstrap, topic_name) in ([(5, None, b"new")], [])


def test_retention_by_bytes_deletes_the_oldest_segments(broker, topic_name):
    create(broker.bootstrap, topic_name, {"retention.bytes": "1", "segment.ms": "100"})
    produce(broker.bootstrap, topic_name, [(None, b"x" * 100) for _ in range(3)])
    time.sleep(0.2)
    produce(broker.bootstrap, topic_name, [(None, b"y")])
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "rb-" + topic_name})
    assert eventually(lambda: c.get_watermark_offsets(TopicPartition(topic_name, 0), timeout=10)[0] == 3)
    c.close()


def test_delete_records_then_fetch_below_start_is_out_of_range(broker, topic_name):
    create(broker.bootstrap, topic_name, {})
    produce(broker.bootstrap, topic_name, [(None, b"%d" % i) for i in range(10)])
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.delete_records([TopicPartition(topic_name, 0, 6)])[TopicPartition(topic_name, 0, 6)].result(30)
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, auto_offset_reset="none", enable_auto_commit=False)
    tp = KTP(topic_name, 0)
    c.assign([tp])
    assert c.beginning_offsets([tp])[tp] == 6
    c.seek(tp, 2)
    with pytest.raises(OffsetOutOfRangeError):
        for _ in range(50):
            c.poll(200)
    c.seek_to_beginning(tp)
    got: list[int] = []
    deadline = time.monotonic() + 20
    while len(got) < 4 and time.monotonic() < deadline:
        got += [m.offset for msgs in c.poll(200).values() for m in msgs]
    c.close()
    assert got == [6, 7, 8, 9]


def test_message_too_large_for_topic_and_broker_limits(broker_factory, topic_name):
    kb = broker_factory(message_max_bytes=4000)
    create(kb.bootstrap, topic_name, {"max.message.bytes": "2000"})
    create(kb.bootstrap, topic_name + "-b", {})
    p = KafkaProducer(bootstrap_servers=kb.bootstrap, retries=0)
    with pytest.raises(MessageSizeTooLargeError):
        p.send(topic_name, b"x" * 3000, partition=0).get(30)  # over the topic's limit
    assert p.send(topic_name + "-b", b"x" * 3000, partition=0).get(30).offset == 0  # under the broker's
    with pytest.raises(MessageSizeTooLargeError):
        p.send(topic_name + "-b", b"x" * 6000, partition=0).get(30)  # over the broker's
    p.close()
