"""fsync=always off the event loop (issue #15): the fsync runs on the flusher's thread, the
Produce ack and the high watermark wait for it, and other clients are served meanwhile."""

from __future__ import annotations

import os
import threading

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def test_fsync_always_holds_the_ack_and_high_watermark_but_not_other_clients(
        broker_factory, tmp_path, topic_name, monkeypatch: pytest.MonkeyPatch) -> None:
    gate, entered = threading.Event(), threading.Event()
    real_fdatasync = os.fdatasync

    def held_fdatasync(fd: int) -> None:  # the flusher's fsync waits until the test lets it go
        if threading.current_thread().name.startswith("kafkaish-fsync"):
            entered.set()
            assert gate.wait(30)
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", held_fdatasync)
    kb = broker_factory(data_dir=tmp_path / "data", fsync="always")
    admin = AdminClient({"bootstrap.servers": kb.bootstrap})
    admin.create_topics([NewTopic(topic_name, 1, 1)])[topic_name].result(30)
    acked: list[object] = []
    producer = Producer({"bootstrap.servers": kb.bootstrap, "acks": "all", "linger.ms": 0})
    producer.produce(topic_name, b"durable", partition=0, on_delivery=lambda err, msg: acked.append(err or msg))
    producer.poll(0)
    try:
        assert entered.wait(30), "the flusher thread never fsynced the produced batch"
        # The loop is free while the fsync hangs: another client's Metadata and ListOffsets are answered,
        # and the high watermark has not moved past what is on disk.
        assert topic_name in admin.list_topics(timeout=10).topics
        reader = Consumer({"bootstrap.servers": kb.bootstrap, "group.id": "g-" + topic_name})
        assert reader.get_watermark_offsets(TopicPartition(topic_name, 0), timeout=10) == (0, 0)
        producer.poll(0.2)
        assert acked == []  # no ack before the fsync
    finally:
        gate.set()
    assert producer.flush(30) == 0 and len(acked) == 1 and acked[0].offset() == 0
    assert reader.get_watermark_offsets(TopicPartition(topic_name, 0), timeout=10) == (0, 1)
    reader.assign([TopicPartition(topic_name, 0, OFFSET_BEGINNING)])
    got = []
    for _ in range(50):
        got += [m.value() for m in reader.consume(10, timeout=0.2) if not m.error()]
        if got:
            break
    reader.close()
    assert got == [b"durable"]


def test_failed_fsync_on_the_flusher_thread_answers_kafka_storage_error_and_acks_nothing(
        broker_factory, tmp_path, topic_name, monkeypatch: pytest.MonkeyPatch) -> None:
    from confluent_kafka import KafkaError as CKError

    real_fdatasync = os.fdatasync

    def failing_fdatasync(fd: int) -> None:
        if threading.current_thread().name.startswith("kafkaish-fsync"):
            raise OSError(5, "Input/output error")
        real_fdatasync(fd)

    kb = broker_factory(data_dir=tmp_path / "data", fsync="always")
    admin = AdminClient({"bootstrap.servers": kb.bootstrap})
    admin.create_topics([NewTopic(topic_name, 1, 1)])[topic_name].result(30)
    monkeypatch.setattr(os, "fdatasync", failing_fdatasync)
    reports: list[object] = []
    producer = Producer({"bootstrap.servers": kb.bootstrap, "acks": "all", "linger.ms": 0, "retries": 0})
    producer.produce(topic_name, b"lost", partition=0, on_delivery=lambda err, msg: reports.append(err or msg))
    assert producer.flush(30) == 0
    assert [r.code() for r in reports] == [CKError.KAFKA_STORAGE_ERROR]  # type: ignore[attr-defined]
    # nothing was acknowledged, and nothing the fsync did not cover became visible; the broker serves on
    reader = Consumer({"bootstrap.servers": kb.bootstrap, "group.id": "g-" + topic_name})
    assert reader.get_watermark_offsets(TopicPartition(topic_name, 0), timeout=10) == (0, 0)
    assert topic_name in admin.list_topics(timeout=10).topics
    reader.close()
