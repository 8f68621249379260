"""Regression tests for differences the differential run against Apache Kafka found
(compat/FINDINGS.md, "Differential findings"), each named after its finding."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from kafkaish.cli.client import AdminConnection
from kafkaish.testing import EmbeddedBroker
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.api_versions import ApiVersionsRequest
from kafkaish.wire.messages.create_topics import CreateTopicsRequest
from kafkaish.wire.messages.offset_for_leader_epoch import OffsetForLeaderEpochRequest
from kafkaish.wire.messages.produce import ProduceRequest
from kafkaish.wire.records import build_batch

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def conn(broker: EmbeddedBroker) -> Iterator[AdminConnection]:
    with AdminConnection(broker.bootstrap, 30) as c:
        yield c


@pytest.mark.parametrize("name, version", [("bad name!", "1.0"), ("client", "1.0+local"), ("", "1"),
                                           ("-leading-dash", "1")])
def test_d1_api_versions_v3_refuses_an_invalid_client_software_name(conn: AdminConnection, name: str,
                                                                   version: str) -> None:
    # ApiVersionsRequest.isValid: [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])? for both fields
    resp = conn.call(ApiVersionsRequest(client_software_name=name, client_software_version=version), 3)
    assert resp.error_code == ErrorCode.INVALID_REQUEST
    assert [k.api_key for k in resp.api_keys] == [ApiVersionsRequest.API_KEY]


def test_d1_api_versions_valid_names_and_old_versions_still_answer(conn: AdminConnection) -> None:
    ok = conn.call(ApiVersionsRequest(client_software_name="confluent-kafka-python",
                                      client_software_version="2.16.1-rdkafka-2.16.0"), 3)
    assert ok.error_code == 0 and len(ok.api_keys) > 10
    old = conn.call(ApiVersionsRequest(), 2)  # no software fields before v3
    assert old.error_code == 0 and len(old.api_keys) > 10


def _end_offset(conn: AdminConnection, topic: str, epoch: int) -> tuple[int, int, int]:
    req = OffsetForLeaderEpochRequest(replica_id=-1, topics=[OffsetForLeaderEpochRequest.OffsetForLeaderTopic(
        topic=topic, partitions=[OffsetForLeaderEpochRequest.OffsetForLeaderPartition(
            partition=0, current_leader_epoch=-1, leader_epoch=epoch)])])
    p = conn.call(req, 4).topics[0].partitions[0]
    return p.error_code, p.leader_epoch, p.end_offset


def test_d11_offset_for_leader_epoch_newer_than_the_leaders_is_undefined(conn: AdminConnection,
                                                                         topic_name: str) -> None:
    conn.call(CreateTopicsRequest(timeout_ms=5000, topics=[CreateTopicsRequest.CreatableTopic(
        name=topic_name, num_partitions=1, replication_factor=-1)]), 7)
    batch = build_batch([(b"k", b"a"), (b"k", b"b")], timestamp_ms=int(time.time() * 1000))
    conn.call(ProduceRequest(acks=-1, timeout_ms=5000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic_name, partition_data=[ProduceRequest.PartitionProduceData(index=0, records=batch)])]), 9)
    assert _end_offset(conn, topic_name, 0) == (0, 0, 2)
    # LeaderEpochFileCache.endOffsetFor: no epoch at or above the requested one -> (-1, -1)
    assert _end_offset(conn, topic_name, 5) == (0, -1, -1)
    assert _end_offset(conn, topic_name, -1) == (0, -1, -1)


@pytest.mark.parametrize("isolation", [0, 1])
def test_d10_fetch_read_errors_carry_null_aborted_transactions(conn: AdminConnection, topic_name: str,
                                                              isolation: int) -> None:
    from kafkaish.wire.messages.fetch import FetchRequest
    conn.call(CreateTopicsRequest(timeout_ms=5000, topics=[CreateTopicsRequest.CreatableTopic(
        name=topic_name, num_partitions=1, replication_factor=-1)]), 7)
    req = FetchRequest(max_wait_ms=0, min_bytes=1, max_bytes=1 << 20, isolation_level=isolation, session_epoch=-1,
                       topics=[FetchRequest.FetchTopic(topic=topic_name, partitions=[FetchRequest.FetchPartition(
                           partition=0, fetch_offset=10, partition_max_bytes=1 << 20)])])
    p = conn.call(req, 12).responses[0].partitions[0]
    assert p.error_code == ErrorCode.OFFSET_OUT_OF_RANGE
    assert p.aborted_transactions is None  # ReplicaManager's failed read
    req.topics[0].partitions[0].partition = 7
    p = conn.call(req, 12).responses[0].partitions[0]
    assert p.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert p.aborted_transactions == []  # KafkaApis: the field's default


def _list_offset(conn: AdminConnection, topic: str, timestamp: int, version: int) -> Any:
    from kafkaish.wire.messages.list_offsets import ListOffsetsRequest
    req = ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(
        name=topic, partitions=[ListOffsetsRequest.ListOffsetsPartition(partition_index=0, timestamp=timestamp)])])
    return conn.call(req, version).topics[0].partitions[0]


def _topic_with_two_records(conn: AdminConnection, topic: str) -> int:
    conn.call(CreateTopicsRequest(timeout_ms=5000, topics=[CreateTopicsRequest.CreatableTopic(
        name=topic, num_partitions=1, replication_factor=-1)]), 7)
    now = int(time.time() * 1000)
    conn.call(ProduceRequest(acks=-1, timeout_ms=5000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic, partition_data=[ProduceRequest.PartitionProduceData(
            index=0, records=build_batch([(b"k", b"a"), (b"k", b"b")], timestamp_ms=now))])]), 9)
    return now


def test_d8_list_offsets_without_an_offset_has_no_leader_epoch(conn: AdminConnection, topic_name: str) -> None:
    now = _topic_with_two_records(conn, topic_name)
    after_all = _list_offset(conn, topic_name, now + 60_000, 9)
    assert (after_all.error_code, after_all.offset, after_all.leader_epoch) == (0, -1, -1)
    tiered = _list_offset(conn, topic_name, -5, 9)
    assert (tiered.offset, tiered.leader_epoch) == (-1, -1)
    found = _list_offset(conn, topic_name, now, 9)
    assert (found.offset, found.leader_epoch) == (0, 0)


@pytest.mark.parametrize("timestamp, below", [(-3, 6), (-4, 7), (-5, 8)])
def test_d9_list_offsets_spec_newer_than_the_version_is_unsupported(conn: AdminConnection, topic_name: str,
                                                                    timestamp: int, below: int) -> None:
    _topic_with_two_records(conn, topic_name)
    old = _list_offset(conn, topic_name, timestamp, below)
    assert (old.error_code, old.offset) == (ErrorCode.UNSUPPORTED_VERSION, -1)
    assert _list_offset(conn, topic_name, timestamp, below + 1).error_code == 0


def test_d12_create_topics_validate_only_answers_a_topic_id(conn: AdminConnection, topic_name: str) -> None:
    from kafkaish.wire.constants import ZERO_UUID
    from kafkaish.wire.messages.metadata import MetadataRequest
    resp = conn.call(CreateTopicsRequest(timeout_ms=5000, validate_only=True, topics=[
        CreateTopicsRequest.CreatableTopic(name=topic_name, num_partitions=2, replication_factor=-1)]), 7).topics[0]
    assert resp.error_code == 0 and resp.topic_id != ZERO_UUID and resp.num_partitions == 2
    meta = conn.call(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic_name)],
                                     allow_auto_topic_creation=False), 12)
    assert meta.topics[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION  # still not created


@pytest.mark.parametrize("endpoint_type, code", [(2, ErrorCode.MISMATCHED_ENDPOINT_TYPE),
                                                 (7, ErrorCode.UNSUPPORTED_ENDPOINT_TYPE)])
def test_d16_describe_cluster_refusal_leaves_the_other_fields_at_defaults(conn: AdminConnection,
                                                                           endpoint_type: int, code: int) -> None:
    from kafkaish.wire.messages.describe_cluster import DescribeClusterRequest
    resp = conn.call(DescribeClusterRequest(endpoint_type=endpoint_type), 1)
    assert resp.error_code == code
    assert (resp.endpoint_type, resp.cluster_id, resp.brokers) == (1, "", [])


def test_d20_describe_transactions_unknown_id_leaves_fields_at_defaults(conn: AdminConnection) -> None:
    from kafkaish.wire.messages.describe_transactions import DescribeTransactionsRequest
    s = conn.call(DescribeTransactionsRequest(transactional_ids=["nobody-here"]), 0).transaction_states[0]
    assert s.error_code == ErrorCode.TRANSACTIONAL_ID_NOT_FOUND and s.transactional_id == "nobody-here"
    assert (s.producer_id, s.producer_epoch, s.transaction_start_time_ms, s.transaction_state) == (0, 0, 0, "")


def test_d2_describe_topic_partitions_unknown_topic_carries_topic_operations(conn: AdminConnection) -> None:
    from kafkaish.wire.constants import TOPIC_OPERATIONS
    from kafkaish.wire.messages.describe_topic_partitions import DescribeTopicPartitionsRequest
    resp = conn.call(DescribeTopicPartitionsRequest(topics=[DescribeTopicPartitionsRequest.TopicRequest(
        name="no-such-topic")]), 0).topics[0]
    assert resp.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert resp.topic_authorized_operations == TOPIC_OPERATIONS == 3576  # the reference answers 3576


def test_d17_elect_leaders_for_all_partitions_lists_every_topic(conn: AdminConnection, topic_name: str) -> None:
    from kafkaish.wire.messages.elect_leaders import ElectLeadersRequest
    conn.call(CreateTopicsRequest(timeout_ms=5000, topics=[CreateTopicsRequest.CreatableTopic(
        name=topic_name, num_partitions=2, replication_factor=-1)]), 7)
    resp = conn.call(ElectLeadersRequest(election_type=0, topic_partitions=None, timeout_ms=5000), 2)
    assert resp.error_code == 0
    ours = [r for r in resp.replica_election_results if r.topic == topic_name]
    assert len(ours) == 1 and ours[0].partition_result == []


def test_d13_describe_configs_v0_answers_is_default_false_for_every_entry(conn: AdminConnection,
                                                                          topic_name: str) -> None:
    from kafkaish.wire.messages.describe_configs import DescribeConfigsRequest
    conn.call(CreateTopicsRequest(timeout_ms=5000, topics=[CreateTopicsRequest.CreatableTopic(
        name=topic_name, num_partitions=1, replication_factor=-1, configs=[
            CreateTopicsRequest.CreatableTopicConfig(name="retention.ms", value="1000")])]), 7)
    resource = DescribeConfigsRequest.DescribeConfigsResource(resource_type=2, resource_name=topic_name,
                                                              configuration_keys=None)
    v0 = conn.call(DescribeConfigsRequest(resources=[resource]), 0).results[0].configs
    v1 = conn.call(DescribeConfigsRequest(resources=[resource]), 1).results[0].configs
    # the reference Kafka leaves IsDefault false even for segment.ms, whose v1 source is DEFAULT_CONFIG
    assert len(v0) == len(v1) > 30 and not any(c.is_default for c in v0)
    sources = {c.name: c.config_source for c in v1}
    assert sources["segment.ms"] == 5 and sources["retention.ms"] == 1


def _describe_broker(conn: AdminConnection, node: int, keys: list[str] | None = None, docs: bool = False) -> dict:
    from kafkaish.wire.messages.describe_configs import DescribeConfigsRequest
    resource = DescribeConfigsRequest.DescribeConfigsResource(resource_type=4, resource_name=str(node),
                                                              configuration_keys=keys)
    result = conn.call(DescribeConfigsRequest(resources=[resource], include_synonyms=True,
                                              include_documentation=docs), 4).results[0]
    assert result.error_code == 0
    return {c.name: c for c in result.configs}


def test_d14_describe_configs_broker_lists_every_kafka_broker_config(conn: AdminConnection,
                                                                     broker: EmbeddedBroker) -> None:
    node = broker.broker.node_id
    configs = _describe_broker(conn, node, docs=True)
    # a default Kafka 4.0 KRaft broker describes 323 configs; kafkaish lacks only the two 4.0 removed
    assert len(configs) >= 320 and all(c.documentation for c in configs.values())
    synonyms = {n: [(s.name, s.value, s.source) for s in c.synonyms] for n, c in configs.items()}
    # configs kafkaish does not use are described with Kafka's defaults, types and dynamic flags
    cleaner = configs["log.cleaner.threads"]
    assert (cleaner.value, cleaner.config_source, cleaner.read_only, cleaner.config_type) == ("1", 5, False, 3)
    assert synonyms["log.cleaner.threads"] == [("log.cleaner.threads", "1", 5)]
    heartbeat = configs["broker.heartbeat.interval.ms"]
    assert (heartbeat.value, heartbeat.read_only) == ("2000", True)
    assert configs["zookeeper.connect"].value is None and configs["zookeeper.connect"].synonyms == []
    assert configs["ssl.truststore.password"].is_sensitive and configs["ssl.truststore.password"].value is None
    # KIP-848 broker configs: kafkaish's own heartbeat interval as a static value over Kafka's default
    assert synonyms["group.consumer.heartbeat.interval.ms"] == [
        ("group.consumer.heartbeat.interval.ms", "500", 4), ("group.consumer.heartbeat.interval.ms", "5000", 5)]
    assert configs["group.consumer.session.timeout.ms"].value == "45000"
    assert configs["group.consumer.heartbeat.interval.ms"].read_only
    # node.id and broker.id are not synonyms of each other (as in Kafka)
    assert [s[0] for s in synonyms["node.id"]] == ["node.id", "node.id"]
    assert configs["share.coordinator.state.topic.replication.factor"].value == "1"
    assert "log.message.format.version" not in configs  # removed in Kafka 4.0 (KIP-724)
    # read-only in Kafka 4.0 (kafka-python's suite checks it there), dynamic in the reference snapshot
    assert configs["advertised.listeners"].read_only and not configs["listeners"].read_only


def test_d14_broker_configs_kafkaish_cannot_change_while_running_are_refused(conn: AdminConnection,
                                                                             broker: EmbeddedBroker) -> None:
    from kafkaish.wire.messages.incremental_alter_configs import IncrementalAlterConfigsRequest
    node = broker.broker.node_id
    assert not _describe_broker(conn, node, ["listeners"])["listeners"].read_only  # dynamic in Kafka
    request = IncrementalAlterConfigsRequest(resources=[IncrementalAlterConfigsRequest.AlterConfigsResource(
        resource_type=4, resource_name=str(node), configs=[IncrementalAlterConfigsRequest.AlterableConfig(
            name="listeners", config_operation=0, value="PLAINTEXT://127.0.0.1:1")])])
    answer = conn.call(request, 1).responses[0]
    assert answer.error_code == ErrorCode.INVALID_REQUEST and "listeners" in answer.error_message
    # a dynamic config kafkaish does not use is kept and described as Kafka describes it
    request.resources[0].configs[0] = IncrementalAlterConfigsRequest.AlterableConfig(
        name="log.cleaner.threads", config_operation=0, value="2")
    assert conn.call(request, 1).responses[0].error_code == 0
    entry = _describe_broker(conn, node, ["log.cleaner.threads"])["log.cleaner.threads"]
    assert (entry.value, entry.config_source) == ("2", 2)  # DYNAMIC_BROKER_CONFIG


def test_d15_broker_logger_answers_kafkas_logger_names(conn: AdminConnection, broker: EmbeddedBroker) -> None:
    import logging

    from kafkaish.wire.messages.describe_configs import DescribeConfigsRequest
    from kafkaish.wire.messages.incremental_alter_configs import IncrementalAlterConfigsRequest
    node = str(broker.broker.node_id)

    def set_level(name: str, op: int, value: str | None) -> int:
        return conn.call(IncrementalAlterConfigsRequest(resources=[IncrementalAlterConfigsRequest.AlterConfigsResource(
            resource_type=8, resource_name=node, configs=[IncrementalAlterConfigsRequest.AlterableConfig(
                name=name, config_operation=op, value=value)])]), 1).responses[0].error_code

    def described(name: str) -> Any:
        resource = DescribeConfigsRequest.DescribeConfigsResource(resource_type=8, resource_name=node,
                                                                  configuration_keys=[name])
        (entry,) = conn.call(DescribeConfigsRequest(resources=[resource], include_documentation=True),
                             4).results[0].configs
        return entry

    server = logging.getLogger("kafkaish.server")
    before = server.level
    try:
        assert set_level("kafka.server.KafkaApis", 0, "DEBUG") == 0  # Kafka's name for its request handler
        assert server.level == logging.DEBUG
        entry = described("kafka.server.KafkaApis")
        # as Kafka describes a logger: its level, source DYNAMIC_BROKER_LOGGER_CONFIG, no type, no text
        assert (entry.value, entry.config_source, entry.config_type, entry.documentation) == ("DEBUG", 6, 0, "")
        assert set_level("kafka.server.KafkaApis", 0, "OFF") == ErrorCode.INVALID_CONFIG  # not a Kafka level
        assert set_level("no.such.logger", 0, "DEBUG") == ErrorCode.INVALID_CONFIG
        assert set_level("kafka.server.KafkaApis", 1, None) == 0
        assert server.level == logging.NOTSET
    finally:
        server.setLevel(before)


@pytest.mark.parametrize("config, value", [("log.cleaner.threads", "abc"), ("background.threads", "0"),
                                           ("compression.type", "bogus"), ("log.cleaner.min.cleanable.ratio", "2.0")])
def test_d15_broker_config_values_kafka_refuses_are_invalid_request(conn: AdminConnection, broker: EmbeddedBroker,
                                                                    config: str, value: str) -> None:
    from kafkaish.wire.messages.incremental_alter_configs import IncrementalAlterConfigsRequest
    request = IncrementalAlterConfigsRequest(resources=[IncrementalAlterConfigsRequest.AlterConfigsResource(
        resource_type=4, resource_name=str(broker.broker.node_id), configs=[
            IncrementalAlterConfigsRequest.AlterableConfig(name=config, config_operation=0, value=value)])])
    answer = conn.call(request, 1).responses[0]
    # ConfigAdminManager: a BROKER value its ConfigDef refuses is INVALID_REQUEST (a topic's is INVALID_CONFIG)
    assert answer.error_code == ErrorCode.INVALID_REQUEST
    assert answer.error_message.startswith(f"Invalid value {value} for configuration {config}: ")
