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
from kafkaish.wire.records import Record, build_batch

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


@pytest.mark.parametrize("resource, config, value, message", [
    ("", "ssl.protocol", "TLSv1.3", "Cannot update these configs at default cluster level"),
    ("", "sasl.kerberos.ticket.renew.jitter", "0.05", "Cannot update these configs at default cluster level"),
    ("node", "ssl.keystore.location", "/tmp/ks.jks", "only per-listener using the listener prefix"),
])
def test_d15_broker_security_configs_change_per_broker_and_stores_per_listener(
        conn: AdminConnection, broker: EmbeddedBroker, resource: str, config: str, value: str, message: str) -> None:
    from kafkaish.wire.messages.incremental_alter_configs import IncrementalAlterConfigsRequest
    name = str(broker.broker.node_id) if resource == "node" else resource
    request = IncrementalAlterConfigsRequest(validate_only=True, resources=[
        IncrementalAlterConfigsRequest.AlterConfigsResource(resource_type=4, resource_name=name, configs=[
            IncrementalAlterConfigsRequest.AlterableConfig(name=config, config_operation=0, value=value)])])
    answer = conn.call(request, 1).responses[0]
    # DynamicBrokerConfig: security configs per broker only; key and trust stores per listener only
    assert answer.error_code == ErrorCode.INVALID_REQUEST and message in answer.error_message


@pytest.mark.parametrize("config, value, code", [("num.io.threads", "100", ErrorCode.INVALID_REQUEST),
                                                 ("num.io.threads", "3", ErrorCode.INVALID_REQUEST),
                                                 ("num.io.threads", "16", 0),
                                                 ("log.cleaner.threads", "3", ErrorCode.INVALID_REQUEST),
                                                 ("log.cleaner.threads", "0", 0)])
def test_d15_broker_thread_counts_change_by_at_most_a_factor_of_two(conn: AdminConnection, broker: EmbeddedBroker,
                                                                    config: str, value: str, code: int) -> None:
    from kafkaish.wire.messages.incremental_alter_configs import IncrementalAlterConfigsRequest
    request = IncrementalAlterConfigsRequest(validate_only=True, resources=[
        IncrementalAlterConfigsRequest.AlterConfigsResource(resource_type=4, resource_name=str(broker.broker.node_id),
                                                            configs=[IncrementalAlterConfigsRequest.AlterableConfig(
                                                                name=config, config_operation=0, value=value)])])
    # DynamicThreadPool: from 8 io threads, 16 is fine, 100 or 3 are not; 1 cleaner thread may become 0 or 2
    assert conn.call(request, 1).responses[0].error_code == code


# ------------------------------------------------------------------ produce (D3-D7, D21, D23)

def _create(conn: AdminConnection, topic: str, configs: dict[str, str] | None = None, *,
            partitions: int = 1) -> None:
    C = CreateTopicsRequest
    resp = conn.call(C(timeout_ms=5000, topics=[C.CreatableTopic(
        name=topic, num_partitions=partitions, replication_factor=-1,
        configs=[C.CreatableTopicConfig(name=k, value=v) for k, v in (configs or {}).items()])]), 7)
    assert resp.topics[0].error_code == 0


def _produce(conn: AdminConnection, topic: str, records: bytes, version: int = 9,
             transactional_id: str | None = None) -> Any:
    P = ProduceRequest
    return conn.call(P(acks=-1, timeout_ms=5000, transactional_id=transactional_id, topic_data=[P.TopicProduceData(
        name=topic, partition_data=[P.PartitionProduceData(index=0, records=records)])]),
        version).responses[0].partition_responses[0]


def _fetch_batches(conn: AdminConnection, topic: str, version: int = 12) -> Any:
    from kafkaish.wire.messages.fetch import FetchRequest
    from kafkaish.wire.records import iter_batches
    req = FetchRequest(max_wait_ms=0, min_bytes=1, max_bytes=1 << 20, isolation_level=0, session_epoch=-1,
                       topics=[FetchRequest.FetchTopic(topic=topic, partitions=[FetchRequest.FetchPartition(
                           partition=0, fetch_offset=0, partition_max_bytes=1 << 20)])])
    p = conn.call(req, version).responses[0].partitions[0]
    return p, [(h, bytes(p.records[pos:pos + h.size])) for pos, h in iter_batches(p.records)]


def _now() -> int:
    return int(time.time() * 1000)


def _recrc(data: bytearray) -> bytes:
    from kafkaish.wire.records import compute_crc
    data[17:21] = compute_crc(data, 0, len(data)).to_bytes(4, "big")
    return bytes(data)


def test_d3_produce_v3_plus_refuses_a_legacy_magic_batch_as_invalid_record(conn: AdminConnection,
                                                                           topic_name: str) -> None:
    # ProduceRequest.validateRecords: INVALID_RECORD (not retried by clients, unlike CORRUPT_MESSAGE),
    # answered before any append: no offsets, no log start offset
    _create(conn, topic_name)
    legacy = bytearray(build_batch([(b"k", b"v")], timestamp_ms=_now()))
    legacy[16] = 1
    for version in (3, 9, 11):
        p = _produce(conn, topic_name, bytes(legacy), version)
        assert (p.error_code, p.base_offset, p.log_start_offset) == (ErrorCode.INVALID_RECORD, -1, -1)
    two = build_batch([(b"k", b"a")], timestamp_ms=_now()) + build_batch([(b"k", b"b")], timestamp_ms=_now())
    assert _produce(conn, topic_name, two).error_code == ErrorCode.INVALID_RECORD  # exactly one batch
    legacy[16] = 3  # no such magic: ByteBufferLogInputStream's CorruptRecordException
    assert _produce(conn, topic_name, bytes(legacy)).error_code == ErrorCode.CORRUPT_MESSAGE
    assert _fetch_batches(conn, topic_name)[1] == []  # nothing was appended


def _idempotent_batch(pid: int, epoch: int, seq: int, values: list[bytes], ts: int) -> bytes:
    return build_batch([(b"k", v) for v in values], timestamp_ms=ts, producer_id=pid, producer_epoch=epoch,
                       base_sequence=seq)


def _init_producer(conn: AdminConnection, transactional_id: str | None = None) -> tuple[int, int]:
    from kafkaish.wire.messages.init_producer_id import InitProducerIdRequest
    r = conn.call(InitProducerIdRequest(transactional_id=transactional_id, transaction_timeout_ms=60000,
                                        producer_id=-1, producer_epoch=-1), 4)
    assert r.error_code == 0
    return r.producer_id, r.producer_epoch


def test_d4_produce_append_errors_carry_the_log_start_offset(conn: AdminConnection, topic_name: str) -> None:
    from kafkaish.wire.messages.delete_records import DeleteRecordsRequest as D
    _create(conn, topic_name)
    pid, epoch = _init_producer(conn)
    assert _produce(conn, topic_name, _idempotent_batch(pid, epoch, 0, [b"a", b"b"], _now())).error_code == 0
    conn.call(D(timeout_ms=5000, topics=[D.DeleteRecordsTopic(name=topic_name, partitions=[
        D.DeleteRecordsPartition(partition_index=0, offset=1)])]), 2)
    # ReplicaManager.appendToLocalLog: every error but its "known" ones answers the log start offset
    gap = _produce(conn, topic_name, _idempotent_batch(pid, epoch, 9, [b"x"], _now()))
    assert (gap.error_code, gap.base_offset, gap.log_start_offset) == (ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, -1, 1)
    stale = _produce(conn, topic_name, _idempotent_batch(pid, epoch + 1, 0, [b"y"], _now()))
    assert stale.error_code == 0
    fenced = _produce(conn, topic_name, _idempotent_batch(pid, epoch, 2, [b"z"], _now()))
    assert (fenced.error_code, fenced.log_start_offset) == (ErrorCode.INVALID_PRODUCER_EPOCH, 1)
    corrupt = bytearray(build_batch([(b"k", b"v")], timestamp_ms=_now()))
    corrupt[-1] ^= 0xFF  # CorruptRecordException is one of the known ones: -1
    assert (_produce(conn, topic_name, bytes(corrupt)).log_start_offset) == -1


def test_d5_duplicate_batch_answers_the_stored_batch_timestamp(conn: AdminConnection, topic_name: str) -> None:
    _create(conn, topic_name)
    pid, epoch = _init_producer(conn)
    ts = _now() - 5000
    first = _idempotent_batch(pid, epoch, 0, [b"a", b"b"], ts)
    assert _produce(conn, topic_name, first).log_append_time_ms == -1  # CreateTime topic
    # UnifiedLog.append: a retried batch gets its original offsets and BatchMetadata.timestamp
    for version in (7, 9):
        again = _produce(conn, topic_name, first, version)
        assert (again.error_code, again.base_offset, again.log_append_time_ms) == (0, 0, ts)
    assert len(_fetch_batches(conn, topic_name)[1]) == 1


def test_d6_topic_compression_type_recompresses_produced_batches(conn: AdminConnection, topic_name: str) -> None:
    from kafkaish.wire.records import decode_records
    _create(conn, topic_name, {"compression.type": "gzip"})
    pid, epoch = _init_producer(conn)
    ts = _now()
    records = [Record(0, ts, b"k0", b"a" * 50, [("h", b"1")]), Record(1, ts - 7, b"k1", None)]
    plain = build_batch(records, producer_id=pid, producer_epoch=epoch, base_sequence=0)
    assert _produce(conn, topic_name, plain).error_code == 0
    assert _produce(conn, topic_name, build_batch([(b"k", b"c")], timestamp_ms=ts, compression=2)).base_offset == 2
    assert _produce(conn, topic_name, plain).base_offset == 0  # still recognised as a duplicate
    _, batches = _fetch_batches(conn, topic_name)
    # LogValidator.buildRecordsAndAssignOffsets: the topic's codec, the producer's id, epoch and sequence
    assert [h.compression for h, _ in batches] == [1, 1]
    (h, data), _ = batches
    assert (h.producer_id, h.producer_epoch, h.base_sequence, h.base_offset) == (pid, epoch, 0, 0)
    assert [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in decode_records(data)] == [
        (0, ts, b"k0", b"a" * 50, [("h", b"1")]), (1, ts - 7, b"k1", None, [])]
    other = topic_name + "-plain"
    _create(conn, other, {"compression.type": "uncompressed"})
    _produce(conn, other, build_batch([(b"k", b"v")], timestamp_ms=ts, compression=3))
    assert [h.compression for h, _ in _fetch_batches(conn, other)[1]] == [0]


def test_d6_zstd_topic_cannot_be_fetched_below_v10(conn: AdminConnection, topic_name: str) -> None:
    _create(conn, topic_name, {"compression.type": "zstd"})
    _produce(conn, topic_name, build_batch([(b"k", b"v")], timestamp_ms=_now()))
    old, _ = _fetch_batches(conn, topic_name, 9)  # KafkaApis.handleFetchRequest (KIP-110)
    assert (old.error_code, old.high_watermark) == (ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, -1)
    new, batches = _fetch_batches(conn, topic_name, 10)
    assert new.error_code == 0 and [h.compression for h, _ in batches] == [4]


def test_d7_timestamp_limits_refuse_records_with_record_errors(conn: AdminConnection, topic_name: str) -> None:
    _create(conn, topic_name, {"message.timestamp.after.max.ms": "60000", "message.timestamp.before.max.ms": "60000"})
    now = _now()
    mixed = [Record(0, now, b"k", b"ok"), Record(1, 1000, b"k", b"1970"), Record(2, now + 3600_000, b"k", b"ahead"),
             Record(3, -1, b"k", b"no timestamp"), Record(4, now - 120_000, b"k", b"before its batch's first")]
    for compression in (0, 1):
        p = _produce(conn, topic_name, build_batch(mixed, compression=compression))
        assert (p.error_code, p.base_offset, p.log_start_offset) == (ErrorCode.INVALID_TIMESTAMP, -1, 0)
        assert [e.batch_index for e in p.record_errors] == [1, 2, 4]  # KIP-467: only those fail
        assert "out of range" in p.record_errors[0].batch_index_error_message
    assert _produce(conn, topic_name, build_batch([Record(0, now, b"k", b"v")])).base_offset == 0
    # a LogAppendTime batch on a CreateTime topic is checked by its max timestamp, and accepted
    assert _produce(conn, topic_name, build_batch([Record(0, now, b"k", b"v")], timestamp_type=1)).error_code == 0
    # defaults: Kafka 4.0's message.timestamp.after.max.ms is one hour (KIP-1030), before is unlimited
    default = topic_name + "-default"
    _create(conn, default)
    assert _produce(conn, default, build_batch([Record(0, now + 2 * 3600_000, b"k", b"v")])).error_code == \
        ErrorCode.INVALID_TIMESTAMP
    assert _produce(conn, default, build_batch([Record(0, 1000, b"k", b"v")])).error_code == 0


def test_d7_log_append_time_topic_refuses_a_log_append_time_batch(conn: AdminConnection, topic_name: str) -> None:
    _create(conn, topic_name, {"message.timestamp.type": "LogAppendTime", "message.timestamp.after.max.ms": "1"})
    assert _produce(conn, topic_name, build_batch([Record(0, 1000, b"k", b"v")])).error_code == 0  # no limits
    p = _produce(conn, topic_name, build_batch([Record(0, _now(), b"k", b"v")], timestamp_type=1))
    assert p.error_code == ErrorCode.INVALID_TIMESTAMP and [e.batch_index for e in p.record_errors] == [0]


def test_d21_transactional_produce_to_a_partition_not_in_the_transaction(conn: AdminConnection,
                                                                         topic_name: str) -> None:
    from kafkaish.wire.messages.add_partitions_to_txn import AddPartitionsToTxnRequest as A
    _create(conn, topic_name)
    tid = topic_name + "-txn"
    pid, epoch = _init_producer(conn, tid)

    def txn_batch(seq: int, *, producer_id: int = pid, producer_epoch: int = epoch) -> bytes:
        return build_batch([(b"k", b"v")], timestamp_ms=_now(), producer_id=producer_id,
                           producer_epoch=producer_epoch, base_sequence=seq, transactional=True)
    # KIP-890 part 1: the coordinator is asked; TRANSACTION_ABORTABLE from v11, INVALID_TXN_STATE below
    assert _produce(conn, topic_name, txn_batch(0), 11, tid).error_code == ErrorCode.TRANSACTION_ABORTABLE
    assert _produce(conn, topic_name, txn_batch(0), 10, tid).error_code == ErrorCode.INVALID_TXN_STATE
    assert _produce(conn, topic_name, txn_batch(0, producer_epoch=epoch + 3), 11, tid).error_code == \
        ErrorCode.INVALID_PRODUCER_EPOCH  # PRODUCER_FENCED, as AddPartitionsToTxnManager maps it
    assert _produce(conn, topic_name, txn_batch(0), 11, "nobody").error_code == ErrorCode.INVALID_PRODUCER_ID_MAPPING
    # transactional records without a transactional id: the whole request (KafkaApis)
    assert _produce(conn, topic_name, txn_batch(0), 11, None).error_code == \
        ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    assert _fetch_batches(conn, topic_name)[1] == []
    added = conn.call(A(v3_and_below_transactional_id=tid, v3_and_below_producer_id=pid,
                        v3_and_below_producer_epoch=epoch, v3_and_below_topics=[
                            A.AddPartitionsToTxnTopic(name=topic_name, partitions=[0])]), 3)
    assert added.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code == 0
    assert _produce(conn, topic_name, txn_batch(0), 11, tid).error_code == 0
    assert _produce(conn, topic_name, txn_batch(1), 11, tid).error_code == 0  # open here: no new verification


def test_d23_lz4_frames_with_dependent_blocks_or_a_bad_header_are_refused(conn: AdminConnection,
                                                                           topic_name: str) -> None:
    import struct

    import cramjam
    _create(conn, topic_name)

    def lz4_batch(**frame: bool) -> bytearray:
        raw = build_batch([(b"k", b"v" * 100)], timestamp_ms=_now())
        comp = cramjam.lz4.Compressor(**frame)
        comp.compress(raw[61:])
        out = bytearray(raw[:61]) + bytes(comp.finish())
        struct.pack_into(">i", out, 8, len(out) - 12)
        out[22] |= 3  # lz4
        return out
    good = lz4_batch(block_linked=False)
    assert _produce(conn, topic_name, _recrc(good)).error_code == 0
    assert _produce(conn, topic_name, _recrc(lz4_batch(block_linked=False, content_checksum=True))).error_code == 0
    # Lz4BlockInputStream: "Dependent block stream is unsupported" (python-lz4's and lz4js's default)
    dependent = _produce(conn, topic_name, _recrc(lz4_batch(block_linked=True)))
    assert (dependent.error_code, dependent.log_start_offset) == (ErrorCode.UNKNOWN_SERVER_ERROR, 0)
    for at, flip in ((6, 0xFF), (4, 0x02), (0, 0x01)):  # header checksum, a reserved FLG bit, the frame magic
        bad = bytearray(good)
        bad[61 + at] ^= flip
        assert _produce(conn, topic_name, _recrc(bad)).error_code == ErrorCode.UNKNOWN_SERVER_ERROR
    assert len(_fetch_batches(conn, topic_name)[1]) == 2


def test_d6_d7_real_clients_through_a_recompressing_topic_with_timestamp_limits(conn: AdminConnection,
                                                                                  broker: EmbeddedBroker,
                                                                                  topic_name: str) -> None:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
    _create(conn, topic_name, {"compression.type": "gzip", "message.timestamp.before.max.ms": "3600000"})
    now = _now()
    results: dict[bytes, object] = {}
    producer = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": "lz4", "linger.ms": 5,
                         "enable.idempotence": True})
    for i in range(5):
        producer.produce(topic_name, key=b"k", value=b"v%d" % i, timestamp=now + i,
                         on_delivery=lambda err, msg: results.__setitem__(msg.value(), err))
    assert producer.flush(30) == 0
    producer.produce(topic_name, key=b"k", value=b"old", timestamp=1000,
                     on_delivery=lambda err, msg: results.__setitem__(msg.value(), err))
    assert producer.flush(30) == 0
    assert [results[b"v%d" % i] for i in range(5)] == [None] * 5
    assert results[b"old"] is not None and "timestamp" in str(results[b"old"]).lower()  # INVALID_TIMESTAMP
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": topic_name,
                         "enable.auto.commit": False})
    got: list[tuple[bytes, int]] = []
    try:
        consumer.assign([TopicPartition(topic_name, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + 20
        while len(got) < 5 and time.monotonic() < deadline:
            for m in consumer.consume(10, timeout=0.5):
                assert m.error() is None
                got.append((m.value(), m.timestamp()[1]))
    finally:
        consumer.close()
    assert got == [(b"v%d" % i, now + i) for i in range(5)]
    assert {h.compression for h, _ in _fetch_batches(conn, topic_name)[1]} == {1}  # stored as gzip


def _cg_heartbeat(conn: AdminConnection, group: str, member: str, epoch: int, **fields: Any) -> Any:
    from kafkaish.wire.messages.consumer_group_heartbeat import ConsumerGroupHeartbeatRequest
    return conn.call(ConsumerGroupHeartbeatRequest(group_id=group, member_id=member, member_epoch=epoch, **fields), 0)


def test_d18_heartbeat_join_is_validated_before_the_assignor(conn: AdminConnection, topic_name: str) -> None:
    # GroupMetadataManager.throwIfConsumerGroupHeartbeatRequestIsInvalid: a join must carry a
    # rebalance timeout and an empty (not null) TopicPartitions; the assignor is checked last
    _create(conn, topic_name, partitions=2)
    join = {"rebalance_timeout_ms": 10000, "subscribed_topic_names": [topic_name], "server_assignor": "nope"}
    assert _cg_heartbeat(conn, "g-" + topic_name, "", 0, **join).error_code == ErrorCode.INVALID_REQUEST
    full = _cg_heartbeat(conn, "g-" + topic_name, "", 0, topic_partitions=[], **join)
    assert full.error_code == ErrorCode.UNSUPPORTED_ASSIGNOR
    no_timeout = dict(join, rebalance_timeout_ms=-1, server_assignor=None)
    assert _cg_heartbeat(conn, "g-" + topic_name, "", 0, topic_partitions=[], **no_timeout).error_code == 42
    assert _cg_heartbeat(conn, "g-" + topic_name, "m", -3).error_code == ErrorCode.INVALID_REQUEST
    assert _cg_heartbeat(conn, "g-" + topic_name, "m", -2).error_code == ErrorCode.INVALID_REQUEST  # no instance


def test_d19_consumer_group_describe_unknown_group_state_is_empty(conn: AdminConnection, topic_name: str) -> None:
    from kafkaish.wire.messages.consumer_group_describe import ConsumerGroupDescribeRequest
    _create(conn, topic_name, partitions=2)
    group = "g-" + topic_name
    joined = _cg_heartbeat(conn, group, "", 0, rebalance_timeout_ms=10000, subscribed_topic_names=[topic_name],
                           topic_partitions=[])
    assert joined.error_code == 0
    described = conn.call(ConsumerGroupDescribeRequest(group_ids=[group, "no-such-group"]), 0).groups
    assert described[0].error_code == 0 and described[0].group_state in ("Stable", "Reconciling")
    assert described[0].members[0].subscribed_topic_regex == ""  # ConsumerGroupMember's default
    assert (described[1].error_code, described[1].group_state) == (ErrorCode.GROUP_ID_NOT_FOUND, "")


def test_d22_steady_heartbeat_does_not_repeat_an_unchanged_assignment(conn: AdminConnection,
                                                                       topic_name: str) -> None:
    _create(conn, topic_name, partitions=2)
    group = "g-" + topic_name
    joined = _cg_heartbeat(conn, group, "", 0, rebalance_timeout_ms=10000, subscribed_topic_names=[topic_name],
                           topic_partitions=[])
    assert joined.error_code == 0 and joined.assignment is not None
    from kafkaish.wire.messages.consumer_group_heartbeat import ConsumerGroupHeartbeatRequest as CGH
    got = joined.assignment.topic_partitions
    assert sorted(got[0].partitions) == [0, 1]
    owned = [CGH.TopicPartitions(topic_id=tp.topic_id, partitions=tp.partitions) for tp in got]
    # a steady heartbeat (epoch > 0, owned partitions, no timeout/subscription): assignment null
    steady = _cg_heartbeat(conn, group, joined.member_id, joined.member_epoch, rebalance_timeout_ms=-1,
                           topic_partitions=owned)
    assert (steady.error_code, steady.member_epoch, steady.assignment) == (0, joined.member_epoch, None)
    # a full request (every optional field set, as after an error) gets it again
    full = _cg_heartbeat(conn, group, joined.member_id, joined.member_epoch, rebalance_timeout_ms=10000,
                         subscribed_topic_names=[topic_name], topic_partitions=owned)
    assert full.assignment is not None and sorted(full.assignment.topic_partitions[0].partitions) == [0, 1]


def test_d25_offset_fetch_require_stable_pending_answers_empty_metadata(broker: EmbeddedBroker,
                                                                          conn: AdminConnection,
                                                                          topic_name: str) -> None:
    from kafka import KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    from kafkaish.wire.messages.offset_fetch import OffsetFetchRequest as OFR

    _create(conn, topic_name)
    group = "g-" + topic_name
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id="tx-" + topic_name)
    try:
        producer.init_transactions()
        producer.begin_transaction()
        producer.send(topic_name, b"x", partition=0).get(10)
        producer.send_offsets_to_transaction({TopicPartition(topic_name, 0): OffsetAndMetadata(3, "m", -1)}, group)
        request = OFR(groups=[OFR.OffsetFetchRequestGroup(group_id=group, topics=[OFR.OffsetFetchRequestTopics(
            name=topic_name, partition_indexes=[0])])], require_stable=True)
        p = conn.call(request, 8).groups[0].topics[0].partitions[0]
        # OffsetMetadataManager: UNSTABLE_OFFSET_COMMIT with offset -1 and the field's default ""
        assert (p.error_code, p.committed_offset, p.metadata) == (ErrorCode.UNSTABLE_OFFSET_COMMIT, -1, "")
        producer.abort_transaction()
    finally:
        producer.close()


def test_d21_transaction_verification_follows_its_dynamic_broker_config(conn: AdminConnection,
                                                                         topic_name: str) -> None:
    from kafkaish.wire.messages.incremental_alter_configs import IncrementalAlterConfigsRequest as I
    _create(conn, topic_name)
    tid = topic_name + "-txn"
    pid, epoch = _init_producer(conn, tid)

    def set_verification(value: str) -> None:
        resp = conn.call(I(validate_only=False, resources=[I.AlterConfigsResource(
            resource_type=4, resource_name="", configs=[I.AlterableConfig(
                name="transaction.partition.verification.enable", config_operation=0, value=value)])]), 1)
        assert resp.responses[0].error_code == 0

    def txn_batch(seq: int) -> bytes:
        return build_batch([(b"k", b"v")], timestamp_ms=_now(), producer_id=pid, producer_epoch=epoch,
                           base_sequence=seq, transactional=True)
    set_verification("false")  # Kafka skips the coordinator check, as before KIP-890
    assert _produce(conn, topic_name, txn_batch(0), 11, tid).error_code == 0
    other = topic_name + "-2"
    _create(conn, other)
    set_verification("true")
    assert _produce(conn, other, txn_batch(0), 11, tid).error_code == ErrorCode.TRANSACTION_ABORTABLE
