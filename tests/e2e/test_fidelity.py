"""Regression tests for the differences from Apache Kafka found by client suites and fuzzing
(issue #18 findings 1-16, issue #16 items 1 and 8). Each expected answer was first checked
against the reference Kafka broker (../shared/reference-kafka, 4.0.0-SNAPSHOT).

Most checks send raw requests (``AdminConnection``: ClientCodec over a socket) because the
differences live in fields client libraries hide; some use real clients where the client's
behaviour is the point.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kafkaish.cli.client import AdminConnection
from kafkaish.testing import EmbeddedBroker
from kafkaish.wire.messages.create_topics import CreateTopicsRequest
from kafkaish.wire.messages.list_offsets import ListOffsetsRequest
from kafkaish.wire.messages.produce import ProduceRequest
from kafkaish.wire.records import Record, build_batch

pytestmark = pytest.mark.timeout(120)
FAST_RETENTION = {"log_retention_check_interval_ms": 200, "log_initial_task_delay_ms": 0}


@pytest.fixture
def conn(broker: EmbeddedBroker) -> Iterator[AdminConnection]:
    with AdminConnection(broker.bootstrap, 30) as c:
        yield c


def create(conn: AdminConnection, name: str, partitions: int = 1, **configs: str) -> Any:
    topic = CreateTopicsRequest.CreatableTopic(
        name=name, num_partitions=partitions, replication_factor=-1,
        configs=[CreateTopicsRequest.CreatableTopicConfig(name=k, value=v) for k, v in configs.items()])
    return conn.call(CreateTopicsRequest(topics=[topic], timeout_ms=5000), 7).topics[0]


def produce(conn: AdminConnection, topic: str, batch: bytes, partition: int = 0, acks: int = -1,
            version: int = 9) -> Any:
    request = ProduceRequest(acks=acks, timeout_ms=5000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic, partition_data=[ProduceRequest.PartitionProduceData(index=partition, records=batch)])])
    return conn.call(request, version).responses[0].partition_responses[0]


def list_offset(conn: AdminConnection, topic: str, timestamp: int, partition: int = 0, version: int = 8) -> Any:
    request = ListOffsetsRequest(replica_id=-1, isolation_level=0, topics=[ListOffsetsRequest.ListOffsetsTopic(
        name=topic, partitions=[ListOffsetsRequest.ListOffsetsPartition(
            partition_index=partition, timestamp=timestamp, current_leader_epoch=-1)])])
    return conn.call(request, version).topics[0].partitions[0]


def watermarks(conn: AdminConnection, topic: str) -> tuple[int, int]:
    return list_offset(conn, topic, -2).offset, list_offset(conn, topic, -1).offset


# ------------------------------------------------------------------ #18.15 and #18.3: retention
@pytest.mark.parametrize("engine", ["memory", "file"])
def test_records_without_timestamp_are_kept_for_retention_ms(engine: str, tmp_path: Path, topic_name: str) -> None:
    # Kafka's LogSegment.largestTimestamp falls back to the segment's last-modified time when no
    # record has a timestamp, so CreateTime -1 records live retention.ms (librdkafka test 0053).
    settings: dict[str, Any] = {"data_dir": tmp_path} if engine == "file" else {}
    with EmbeddedBroker(**FAST_RETENTION, **settings) as kb, AdminConnection(kb.bootstrap, 30) as c:
        assert create(c, topic_name, **{"retention.ms": "60000"}).error_code == 0
        batch = build_batch([Record(i, -1, None, b"v%d" % i) for i in range(10)], timestamp_ms=-1)
        assert produce(c, topic_name, batch).error_code == 0
        assert watermarks(c, topic_name) == (0, 10)
        time.sleep(2.5)  # a dozen retention checks
        assert watermarks(c, topic_name) == (0, 10)


def test_retention_waits_for_the_retention_check_interval(conn: AdminConnection, topic_name: str) -> None:
    # LogManager schedules retention first after log.initial.task.delay.ms (30 s), then every
    # log.retention.check.interval.ms (300 s): records stamped in 1970 (aiokafka's tests use a
    # monotonic clock) survive the first seconds, as on Kafka.
    assert create(conn, topic_name).error_code == 0
    assert produce(conn, topic_name, build_batch([(None, b"x")] * 3, timestamp_ms=5000)).error_code == 0
    time.sleep(2.5)
    assert watermarks(conn, topic_name) == (0, 3)


def test_retention_check_interval_setting_deletes_expired_records(topic_name: str) -> None:
    with EmbeddedBroker(**FAST_RETENTION) as kb, AdminConnection(kb.bootstrap, 30) as c:
        assert create(c, topic_name).error_code == 0
        assert produce(c, topic_name, build_batch([(None, b"x")] * 3, timestamp_ms=5000)).error_code == 0
        deadline = time.monotonic() + 10
        while watermarks(c, topic_name) != (3, 3) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert watermarks(c, topic_name) == (3, 3)


# ------------------------------------------------------------------ #18.1: ListOffsets MAX_TIMESTAMP
@pytest.mark.parametrize("engine", ["memory", "file"])
def test_list_offsets_max_timestamp_answers_exact_record_offset(engine: str, tmp_path: Path,
                                                                topic_name: str) -> None:
    # KAFKA-16310: UnifiedLog.fetchOffsetByTimestamp(MAX_TIMESTAMP) answers the offset of the
    # record with the largest timestamp, found inside its batch.
    settings: dict[str, Any] = {"data_dir": tmp_path} if engine == "file" else {}
    with EmbeddedBroker(**settings) as kb, AdminConnection(kb.bootstrap, 30) as c:
        assert create(c, topic_name).error_code == 0
        now = int(time.time() * 1000)
        batch = build_batch([Record(0, now + 100, None, b"a"), Record(1, now + 400, None, b"b"),
                             Record(2, now + 200, None, b"c")])
        assert produce(c, topic_name, batch).error_code == 0
        found = list_offset(c, topic_name, -3)
        assert (found.error_code, found.offset, found.timestamp) == (0, 1, now + 400)
        # a later batch with the same largest timestamp does not move it (Kafka answers 1 too)
        assert produce(c, topic_name, build_batch([(None, b"d")], timestamp_ms=now + 400)).error_code == 0
        assert list_offset(c, topic_name, -3).offset == 1


# ------------------------------------------------------------------ #18.4: null commit metadata
def _committed_metadata(bootstrap: str, group: str, tp: Any) -> Any:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return consumer.committed(tp, metadata=True)
    finally:
        consumer.close()


def test_offset_commit_null_metadata_is_fetched_as_empty_string(broker: EmbeddedBroker, topic_name: str) -> None:
    # OffsetAndMetadata.fromRequest stores a null committed_metadata as "" (checked on Kafka 4.0)
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    tp = TopicPartition(topic_name, 0)
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="g-" + topic_name, enable_auto_commit=False)
    consumer.assign([tp])
    consumer.commit({tp: OffsetAndMetadata(5, None, -1)})
    consumer.close()
    committed = _committed_metadata(broker.bootstrap, "g-" + topic_name, tp)
    assert (committed.offset, committed.metadata) == (5, "")


def test_txn_offset_commit_null_metadata_is_fetched_as_empty_string(broker: EmbeddedBroker, topic_name: str) -> None:
    from kafka import KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    tp = TopicPartition(topic_name, 0)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id="tx-" + topic_name)
    producer.init_transactions()
    producer.begin_transaction()
    producer.send(topic_name, b"x", partition=0)
    producer.send_offsets_to_transaction({tp: OffsetAndMetadata(7, None, -1)}, "g-" + topic_name)
    producer.commit_transaction()
    producer.close()
    committed = _committed_metadata(broker.bootstrap, "g-" + topic_name, tp)
    assert (committed.offset, committed.metadata) == (7, "")


# ------------------------------------------------------------------ #18.5: DescribeConfigs synonyms
def _topic_synonyms(conn: AdminConnection, topic: str, keys: list[str]) -> dict[str, tuple[int, list[tuple[str, str]]]]:
    from kafkaish.wire.messages.describe_configs import DescribeConfigsRequest

    resource = DescribeConfigsRequest.DescribeConfigsResource(resource_type=2, resource_name=topic,
                                                              configuration_keys=keys)
    result = conn.call(DescribeConfigsRequest(resources=[resource], include_synonyms=True), 4).results[0]
    return {c.name: (c.config_source, [(s.name, s.value) for s in c.synonyms]) for c in result.configs}


def test_describe_configs_synonyms_start_at_the_main_broker_name(conn: AdminConnection, topic_name: str) -> None:
    # ConfigHelper.configSynonyms drops every synonym before log.retention.ms / log.roll.ms /
    # log.flush.interval.ms, which have no default: Kafka lists none (DEFAULT_CONFIG = 5)
    assert create(conn, topic_name).error_code == 0
    found = _topic_synonyms(conn, topic_name, ["retention.ms", "segment.ms", "flush.ms", "segment.bytes"])
    assert found["retention.ms"] == (5, [])
    assert found["segment.ms"] == (5, [])
    assert found["flush.ms"] == (5, [])
    assert found["segment.bytes"] == (5, [("log.segment.bytes", "1073741824")])


def test_describe_configs_synonyms_list_a_set_main_broker_name(topic_name: str) -> None:
    with EmbeddedBroker(log_retention_ms=5000) as kb, AdminConnection(kb.bootstrap, 30) as c:
        assert create(c, topic_name).error_code == 0
        # STATIC_BROKER_CONFIG = 4, then Kafka's log.retention.hours default
        assert _topic_synonyms(c, topic_name, ["retention.ms"])["retention.ms"] == (
            4, [("log.retention.ms", "5000"), ("log.retention.hours", "168")])
