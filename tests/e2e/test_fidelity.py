"""Regression tests for the differences from Apache Kafka found by client suites and fuzzing
(issue #18 findings 1-16, issue #16 items 1 and 8). Each expected answer was first checked
against the reference Kafka broker (../shared/reference-kafka, 4.0.0-SNAPSHOT).

Most checks send raw requests (``AdminConnection``: ClientCodec over a socket) because the
differences live in fields client libraries hide; some use real clients where the client's
behaviour is the point.
"""

from __future__ import annotations

import time
from collections import Counter
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


def _now_ms() -> int:
    return int(time.time() * 1000)


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


# ------------------------------------------------------------------ #18.2: internal topics
def _metadata(conn: AdminConnection, names: list[str] | None, auto_create: bool = False) -> dict[str, Any]:
    from kafkaish.wire.messages.metadata import MetadataRequest

    topics = None if names is None else [MetadataRequest.MetadataRequestTopic(name=n) for n in names]
    response = conn.call(MetadataRequest(topics=topics, allow_auto_topic_creation=auto_create), 12)
    return {t.name: t for t in response.topics}


def _overrides(conn: AdminConnection, topic: str) -> dict[str, str]:
    from kafkaish.wire.messages.describe_configs import DescribeConfigsRequest

    resource = DescribeConfigsRequest.DescribeConfigsResource(resource_type=2, resource_name=topic)
    result = conn.call(DescribeConfigsRequest(resources=[resource]), 4).results[0]
    return {c.name: c.value for c in result.configs if c.config_source == 1}


def test_consumer_offsets_is_created_internal_on_first_find_coordinator(broker: EmbeddedBroker, conn: AdminConnection,
                                                                        topic_name: str) -> None:
    # KafkaApis.getCoordinator creates it (offsets.topic.num.partitions = 50, compacted); a
    # consumer that does not exclude internal topics subscribes to it with a pattern.
    from kafka import KafkaConsumer

    assert "__consumer_offsets" not in _metadata(conn, None)
    assert create(conn, topic_name).error_code == 0
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="g-" + topic_name,
                             exclude_internal_topics=False, consumer_timeout_ms=200)
    consumer.subscribe(pattern="^.*$")
    deadline = time.monotonic() + 20
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(200)
    assigned = {tp.topic for tp in consumer.assignment()}
    consumer.close()
    assert {"__consumer_offsets", topic_name} <= assigned
    offsets = _metadata(conn, None)["__consumer_offsets"]
    assert offsets.is_internal and len(offsets.partitions) == 50 and not _metadata(conn, None)[topic_name].is_internal
    assert _overrides(conn, "__consumer_offsets") == {
        "cleanup.policy": "compact", "compression.type": "producer", "segment.bytes": "104857600"}


def test_transaction_state_is_created_internal_on_first_transactional_id(broker: EmbeddedBroker,
                                                                         conn: AdminConnection) -> None:
    from kafka import KafkaProducer

    assert "__transaction_state" not in _metadata(conn, None)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id="tx-internal")
    producer.init_transactions()
    producer.close()
    state = _metadata(conn, None)["__transaction_state"]
    assert state.is_internal and len(state.partitions) == 50
    assert _overrides(conn, "__transaction_state")["compression.type"] == "uncompressed"


def test_metadata_auto_create_of_internal_topic_gets_internal_layout(conn: AdminConnection) -> None:
    # AutoTopicCreationManager creates internal names with their coordinator's layout, never
    # as an ordinary topic; the KRaft log __cluster_metadata is never created.
    found = _metadata(conn, ["__consumer_offsets", "__transaction_state", "__cluster_metadata"], auto_create=True)
    assert [(n, t.error_code, t.is_internal, len(t.partitions)) for n, t in sorted(found.items())] == [
        ("__cluster_metadata", 3, False, 0), ("__consumer_offsets", 0, True, 50), ("__transaction_state", 0, True, 50)]
    assert _overrides(conn, "__consumer_offsets")["cleanup.policy"] == "compact"


def test_create_topics_of_cluster_metadata_is_prohibited(conn: AdminConnection) -> None:
    result = create(conn, "__cluster_metadata")
    assert (result.error_code, result.error_message) == (42, "Creation of internal topic __cluster_metadata is prohibited.")


def test_produce_to_internal_topic_is_invalid_topic(broker: EmbeddedBroker, conn: AdminConnection) -> None:
    # ReplicaManager.appendToLocalLog: "Cannot append to internal topic" (INVALID_TOPIC_EXCEPTION)
    _metadata(conn, ["__consumer_offsets"], auto_create=True)
    answer = produce(conn, "__consumer_offsets", build_batch([(b"k", b"v")], timestamp_ms=_now_ms()))
    assert (answer.error_code, answer.base_offset) == (17, -1)
    assert broker.call(lambda: broker.broker.storage.log("__consumer_offsets", 0).log_end_offset) == 0  # type: ignore[union-attr]


# ------------------------------------------------------------------ #16.8: min.insync.replicas
@pytest.mark.parametrize("acks", [-1, 1])
def test_min_insync_replicas_above_replication_factor_accepts_acks_all_as_kafka(conn: AdminConnection,
                                                                                topic_name: str, acks: int) -> None:
    # Kafka's Partition.appendRecordsToLeader compares the ISR with effectiveMinIsr =
    # min(min.insync.replicas, replica count): with replication factor 1 acks=all is accepted
    # whatever min.insync.replicas says (checked on Kafka 4.0: offsets 0 and 1, error 0), so
    # NOT_ENOUGH_REPLICAS cannot happen on one broker.
    assert create(conn, topic_name, **{"min.insync.replicas": "2"}).error_code == 0
    answer = produce(conn, topic_name, build_batch([(None, b"x")], timestamp_ms=_now_ms()), acks=acks)
    assert (answer.error_code, answer.base_offset) == (0, 0)
    invalid = create(conn, topic_name + "-0", **{"min.insync.replicas": "0"})
    assert invalid.error_code == 40  # INVALID_CONFIG: "Value must be at least 1"


# ------------------------------------------------------------------ #18.12, #16.1: Fetch limits
INT32_MAX = 2**31 - 1


def _fill(conn: AdminConnection, topic: str, partitions: int) -> Any:
    """``partitions`` partitions of two 3070-byte batches each; returns the topic id."""
    assert create(conn, topic, partitions).error_code == 0
    for p in range(partitions):
        for i in range(2):
            assert produce(conn, topic, build_batch([(None, bytes([65 + i]) * 3000)], timestamp_ms=_now_ms()), partition=p).error_code == 0
    return _metadata(conn, [topic])[topic].topic_id


def _fetch(conn: AdminConnection, topic: str, topic_id: Any, parts: list[tuple[int, int, int]], max_bytes: int,
           version: int = 11) -> list[tuple[int, int, int]]:
    """(partition, error, records bytes) per answered partition for (partition, offset, partition_max_bytes)."""
    from kafkaish.wire.messages.fetch import FetchRequest

    wanted = [FetchRequest.FetchPartition(partition=p, fetch_offset=o, partition_max_bytes=m) for p, o, m in parts]
    request = FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=0, max_bytes=max_bytes, isolation_level=0,
                           session_id=0, session_epoch=-1, rack_id="", forgotten_topics_data=[],
                           topics=[FetchRequest.FetchTopic(topic=topic, topic_id=topic_id, partitions=wanted)])
    response = conn.call(request, version)
    return [(p.partition_index, p.error_code, len(bytes(p.records))) for t in response.responses for p in t.partitions]


def test_fetch_response_stops_adding_partitions_at_max_bytes(conn: AdminConnection, topic_name: str) -> None:
    # KIP-74 / ReplicaManager.readFromLog: only the first batch of a response may exceed
    # max_bytes; a later partition whose first batch does not fit what is left gets nothing
    # (Kafka 4.0 answers exactly these sizes).
    topic_id = _fill(conn, topic_name, 3)
    everything = [(p, 0, INT32_MAX) for p in range(3)]
    assert _fetch(conn, topic_name, topic_id, everything, 7000) == [(0, 0, 6140), (1, 0, 0), (2, 0, 0)]
    assert _fetch(conn, topic_name, topic_id, everything, 100) == [(0, 0, 3070), (1, 0, 0), (2, 0, 0)]
    small_limits = [(0, 0, 100), (1, 0, INT32_MAX), (2, 0, 100)]
    assert _fetch(conn, topic_name, topic_id, small_limits, 10**6) == [(0, 0, 3070), (1, 0, 6140), (2, 0, 0)]


def test_fetch_response_is_capped_at_broker_fetch_max_bytes(topic_name: str) -> None:
    # ReplicaManager.fetchMessages: min(request max_bytes, fetch.max.bytes)
    with EmbeddedBroker(fetch_max_bytes=10000) as kb, AdminConnection(kb.bootstrap, 30) as c:
        topic_id = _fill(c, topic_name, 3)
        answer = _fetch(c, topic_name, topic_id, [(p, 0, INT32_MAX) for p in range(3)], INT32_MAX)
        assert answer == [(0, 0, 6140), (1, 0, 3070), (2, 0, 0)]


@pytest.mark.parametrize("version", [11, 13])
def test_fetch_duplicate_partitions_are_answered_once(conn: AdminConnection, topic_name: str, version: int) -> None:
    # FetchRequest.fetchData collects partitions in a map: one answer per partition, at its
    # first position, for the last fetch offset named (a 40-fold request no longer multiplies
    # the response).
    topic_id = _fill(conn, topic_name, 2)
    assert _fetch(conn, topic_name, topic_id, [(0, 0, INT32_MAX)] * 40 + [(1, 0, INT32_MAX)], INT32_MAX,
                  version) == [(0, 0, 6140), (1, 0, 6140)]
    assert _fetch(conn, topic_name, topic_id, [(0, 0, INT32_MAX), (1, 0, INT32_MAX), (0, 1, INT32_MAX)], INT32_MAX,
                  version) == [(0, 0, 3070), (1, 0, 6140)]


# ------------------------------------------------------------------ #18.10: Metadata v10/11 null name
@pytest.mark.parametrize("version", [10, 11])
def test_metadata_v10_null_topic_name_answers_invalid_request(conn: AdminConnection, version: int) -> None:
    # KafkaApis: "Topic name can not be null for version 10"; MetadataRequest.getErrorResponse
    # answers every topic INVALID_REQUEST with name "" for the null one, and the connection lives.
    import uuid

    from kafkaish.wire.messages.metadata import MetadataRequest

    topics = [MetadataRequest.MetadataRequestTopic(name=None, topic_id=uuid.UUID(int=0)),
              MetadataRequest.MetadataRequestTopic(name="other", topic_id=uuid.UUID(int=0))]
    response = conn.call(MetadataRequest(topics=topics, allow_auto_topic_creation=False), version)
    assert [(t.name, t.error_code, len(t.partitions)) for t in response.topics] == [("", 42, 0), ("other", 42, 0)]
    assert (response.brokers, response.controller_id) == ([], -1)
    assert "other" not in _metadata(conn, None)  # the connection still serves


# ------------------------------------------------------------------ #18.6: ACL APIs without an authorizer
def test_acl_apis_answer_security_disabled_without_authorizer(broker: EmbeddedBroker) -> None:
    # AclApis with no authorizer: the APIs are advertised and answer SECURITY_DISABLED, so a
    # client reports "security disabled" rather than "not supported".
    from confluent_kafka import KafkaError as CKError
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (
        AclBinding,
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        AdminClient,
        ResourcePatternType,
        ResourceType,
    )

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    any_acl = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                               AclOperation.ANY, AclPermissionType.ANY)
    assert admin.describe_acls(any_acl).result(30) == []  # librdkafka drops the error (as on Kafka)
    binding = AclBinding(ResourceType.TOPIC, "t", ResourcePatternType.LITERAL, "User:a", "*",
                         AclOperation.READ, AclPermissionType.ALLOW)
    with pytest.raises(KafkaException) as created:
        admin.create_acls([binding])[binding].result(30)
    assert created.value.args[0].code() == CKError.SECURITY_DISABLED
    with pytest.raises(KafkaException) as deleted:
        admin.delete_acls([any_acl])[any_acl].result(30)
    assert deleted.value.args[0].code() == CKError.SECURITY_DISABLED
    from kafka.admin import (
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        KafkaAdminClient,
        ResourcePatternFilter,
    )
    from kafka.admin import ResourceType as KPResourceType
    from kafka.errors import SecurityDisabledError

    kp_admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    with pytest.raises(SecurityDisabledError, match="No Authorizer is configured on the broker"):
        kp_admin.describe_acls(ACLFilter(principal=None, host="*", operation=ACLOperation.ANY,
                                         permission_type=ACLPermissionType.ANY,
                                         resource_pattern=ResourcePatternFilter(KPResourceType.TOPIC, None,
                                                                                ACLResourcePatternType.ANY)))
    kp_admin.close()


# ------------------------------------------------------------------ #18.8: AlterReplicaLogDirs
def test_alter_replica_log_dirs_on_a_single_directory_broker(broker: EmbeddedBroker, conn: AdminConnection,
                                                             topic_name: str) -> None:
    # ReplicaManager.alterReplicaLogDirs: the current directory is NONE (already there), an
    # unknown partition UNKNOWN_TOPIC_OR_PARTITION, any other directory LOG_DIR_NOT_FOUND.
    from kafka import TopicPartitionReplica
    from kafka.admin import KafkaAdminClient
    from kafka.errors import LogDirNotFoundError, NoError, UnknownTopicOrPartitionError

    from kafkaish.wire.messages.describe_log_dirs import DescribeLogDirsRequest

    assert create(conn, topic_name, 2).error_code == 0
    here = conn.call(DescribeLogDirsRequest(topics=None), 4).results[0].log_dir
    node = broker.broker.node_id  # type: ignore[union-attr]
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        moved = admin.alter_replica_log_dirs({TopicPartitionReplica(topic_name, 0, node): here,
                                              TopicPartitionReplica(topic_name, 5, node): here})
        assert moved == {TopicPartitionReplica(topic_name, 0, node): NoError,
                         TopicPartitionReplica(topic_name, 5, node): UnknownTopicOrPartitionError}
        elsewhere = admin.alter_replica_log_dirs({TopicPartitionReplica(topic_name, 1, node): "/elsewhere"})
        assert elsewhere == {TopicPartitionReplica(topic_name, 1, node): LogDirNotFoundError}
    finally:
        admin.close()


# ------------------------------------------------------------------ #18.9: DescribeQuorum
def test_describe_quorum_answers_a_single_voter_leader(broker: EmbeddedBroker) -> None:
    # KafkaRaftClient.handleDescribeQuorumRequest on one combined node: itself leader and voter
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        quorum = admin.describe_metadata_quorum()
    finally:
        admin.close()
    (topic,) = quorum["topics"]
    (partition,) = topic["partitions"]
    node = broker.broker.node_id  # type: ignore[union-attr]
    assert topic["topic_name"] == "__cluster_metadata" and partition["error"] is None
    assert partition["leader_id"] == node and partition["observers"] == []
    assert [v["replica_id"] for v in partition["current_voters"]] == [node]
    assert partition["current_voters"][0]["last_caught_up_timestamp"] > 0
    assert quorum["nodes"][0]["node_id"] == node and quorum["nodes"][0]["listeners"][0]["name"] == "CONTROLLER"


# ------------------------------------------------------------------ #18.13: broker configs
def test_alter_broker_configs_accepts_kafka_dynamic_and_custom_configs(broker: EmbeddedBroker) -> None:
    # librdkafka test 0081 sets sasl.kerberos.min.time.before.relogin, a dynamic per-broker
    # config; DynamicBrokerConfig also keeps names Kafka does not define (plugin configs) and
    # describes them with an unknown type and no value. Read-only ones answer INVALID_REQUEST.
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    node = str(broker.broker.node_id)  # type: ignore[union-attr]
    resource = ConfigResource(ResourceType.BROKER, node, incremental_configs=[
        ConfigEntry("sasl.kerberos.min.time.before.relogin", "58000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("my.plugin.setting", "x", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(30)
    described = admin.describe_configs([ConfigResource(ResourceType.BROKER, node)])
    configs = next(iter(described.values())).result(30)
    relogin = configs["sasl.kerberos.min.time.before.relogin"]
    assert (relogin.value, relogin.is_read_only) == ("58000", False)
    custom = configs["my.plugin.setting"]
    assert (custom.value, custom.is_read_only, custom.is_sensitive) == (None, True, True)
    read_only = ConfigResource(ResourceType.BROKER, node, incremental_configs=[
        ConfigEntry("broker.id", "7", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException, match=r"Cannot update these configs dynamically: Set\(broker.id\)"):
        admin.incremental_alter_configs([read_only])[read_only].result(30)
    with AdminConnection(broker.bootstrap, 30) as conn:  # librdkafka refuses an empty broker name
        from kafkaish.wire.messages.incremental_alter_configs import IncrementalAlterConfigsRequest as Incr

        request = Incr(resources=[Incr.AlterConfigsResource(resource_type=4, resource_name="", configs=[
            Incr.AlterableConfig(name="sasl.kerberos.min.time.before.relogin", config_operation=0, value="1")])])
        answer = conn.call(request, 1).responses[0]
    assert answer.error_code == 42 and "broker id must be specified" in answer.error_message


# ------------------------------------------------------------------ #18.11: Produce record errors
def test_produce_record_errors_fail_only_the_invalid_records(broker: EmbeddedBroker, conn: AdminConnection,
                                                             topic_name: str) -> None:
    # KIP-467 (librdkafka test 0011): INVALID_RECORD with record_errors naming the keyless
    # records of a batch for a compacted topic (LogValidator.validateKey), so the client fails
    # exactly those with INVALID_RECORD.
    from confluent_kafka import KafkaError as CKError
    from confluent_kafka import Producer

    assert create(conn, topic_name, **{"cleanup.policy": "compact"}).error_code == 0
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 500, "retries": 0})
    reports: list[tuple[int, Any]] = []
    for i in range(20):
        key = None if i % 5 == 1 else b"k%d" % i
        producer.produce(topic_name, b"v", key=key, partition=0,
                         on_delivery=lambda err, msg, i=i: reports.append((i, err.code() if err else None)))
    producer.flush(30)
    assert len(reports) == 20
    invalid = sorted(i for i, code in reports if code == CKError.INVALID_RECORD)
    assert invalid == [1, 6, 11, 16]
    answer = produce(conn, topic_name, build_batch([(b"k", b"v"), (None, b"v")], timestamp_ms=_now_ms()))
    assert (answer.error_code, [e.batch_index for e in answer.record_errors]) == (87, [1])
    assert answer.error_message.startswith("One or more records have been rejected due to 1 record errors")


# ------------------------------------------------------------------ #18.14: group configs
def test_group_configs_are_described_altered_and_applied(broker: EmbeddedBroker, conn: AdminConnection,
                                                         topic_name: str) -> None:
    # Kafka 4.0 GroupConfig/GroupConfigManager (KIP-848): GROUP resources describe and alter
    # consumer.session.timeout.ms / consumer.heartbeat.interval.ms (GROUP_CONFIG source = 8),
    # validated against the broker's group.consumer.min/max bounds; the coordinator uses them.
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    from kafkaish.wire.messages.consumer_group_heartbeat import ConsumerGroupHeartbeatRequest
    from kafkaish.wire.messages.describe_configs import DescribeConfigsRequest

    group = "g-" + topic_name
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.GROUP, group,
                                            configs={"consumer.heartbeat.interval.ms": "6000"})])
    finally:
        admin.close()
    resource = DescribeConfigsRequest.DescribeConfigsResource(resource_type=32, resource_name=group)
    described = conn.call(DescribeConfigsRequest(resources=[resource], include_synonyms=True), 4).results[0]
    entries = {c.name: (c.value, c.read_only, c.config_source, c.config_type) for c in described.configs}
    assert set(entries) == {"consumer.heartbeat.interval.ms", "consumer.session.timeout.ms",
                            "share.heartbeat.interval.ms", "share.record.lock.duration.ms",
                            "share.session.timeout.ms"}
    assert entries["consumer.heartbeat.interval.ms"] == ("6000", False, 8, 3)  # GROUP_CONFIG, INT
    assert entries["consumer.session.timeout.ms"] == ("45000", False, 5, 3)  # DEFAULT_CONFIG
    assert create(conn, topic_name).error_code == 0
    request = ConsumerGroupHeartbeatRequest(group_id=group, member_id="m-1", member_epoch=0, rebalance_timeout_ms=30000,
                                            subscribed_topic_names=[topic_name], topic_partitions=[])
    answer = conn.call(request, 0)
    assert (answer.error_code, answer.heartbeat_interval_ms) == (0, 6000)
    too_long = _alter_group(conn, group, "consumer.session.timeout.ms", "70000")
    assert too_long == (40, "consumer.session.timeout.ms must be less than or equal to "
                            "group.consumer.max.session.timeout.ms")
    assert _alter_group(conn, group, "no.such", "1") == (40, "Unknown group config name: no.such")
    assert _alter_group(conn, "", "consumer.session.timeout.ms", "50000")[0] == 42


def _alter_group(conn: AdminConnection, group: str, name: str, value: str) -> tuple[int, str | None]:
    from kafkaish.wire.messages.incremental_alter_configs import IncrementalAlterConfigsRequest as Incr

    request = Incr(resources=[Incr.AlterConfigsResource(resource_type=32, resource_name=group, configs=[
        Incr.AlterableConfig(name=name, config_operation=0, value=value)])])
    answer = conn.call(request, 1).responses[0]
    return answer.error_code, answer.error_message


def test_group_configs_survive_a_restart(tmp_path: Path, topic_name: str) -> None:
    from kafkaish.wire.messages.consumer_group_heartbeat import ConsumerGroupHeartbeatRequest

    group = "g-" + topic_name
    with EmbeddedBroker(data_dir=tmp_path) as kb, AdminConnection(kb.bootstrap, 30) as c:
        assert _alter_group(c, group, "consumer.heartbeat.interval.ms", "7000") == (0, None)
        assert create(c, topic_name).error_code == 0
    with EmbeddedBroker(data_dir=tmp_path) as kb, AdminConnection(kb.bootstrap, 30) as c:
        request = ConsumerGroupHeartbeatRequest(group_id=group, member_id="m-1", member_epoch=0,
                                                rebalance_timeout_ms=30000, subscribed_topic_names=[topic_name],
                                                topic_partitions=[])
        assert c.call(request, 0).heartbeat_interval_ms == 7000


# ------------------------------------------------------------------ #18.7: KIP-848 online migration
@pytest.mark.timeout(180)
@pytest.mark.parametrize("strategy", ["range", "roundrobin", "cooperative-sticky"])
def test_consumer_protocol_member_upgrades_and_downgrades_a_running_classic_group(topic_name: str,
                                                                                   strategy: str) -> None:
    # Kafka 4.0 group.consumer.migration.policy=bidirectional (GroupMetadataManager
    # convertToConsumerGroup / convertToClassicGroup), as confluent-kafka-python's
    # test_consumer_upgrade_downgrade drives it: classic -> + consumer member (group upgraded) ->
    # - classic -> + classic (a classic member inside the consumer group) -> - consumer member
    # (group downgraded). Every record produced along the way is consumed exactly once.
    import dataclasses

    from confluent_kafka import ConsumerGroupType
    from confluent_kafka.admin import AdminClient

    from tests.e2e.group_clients import ConfluentMember, create_topic, produce as produce_values, wait_until

    parts, group = 6, "g-" + topic_name
    with EmbeddedBroker(group_initial_rebalance_delay_ms=100) as kb:
        kb.call(lambda: setattr(kb.broker.groups, "config", dataclasses.replace(
            kb.broker.groups.config, consumer_heartbeat_interval_ms=300)))
        create_topic(kb.bootstrap, topic_name, parts)
        admin = AdminClient({"bootstrap.servers": kb.bootstrap})
        classic = {"partition.assignment.strategy": strategy}
        members: list[ConfluentMember] = []
        produced: list[bytes] = []

        def group_type() -> ConsumerGroupType:
            return admin.describe_consumer_groups([group])[group].result(30).type

        def step(change: Any, expected: ConsumerGroupType) -> None:
            change()
            owned = lambda: [m.assignment for m in members]  # noqa: E731
            wait_until(lambda: all(owned()) and sum(map(len, owned())) == parts
                       and len(frozenset().union(*owned())) == parts, 60, f"{len(members)} members to share")
            assert group_type() == expected
            produced.extend(produce_values(kb.bootstrap, topic_name, parts, 12, start=len(produced)))
            wait_until(lambda: set(produced) <= {v for m in everyone for _, _, v in m.records}, 40, "records")

        def add(protocol: str, **conf: Any) -> None:
            member = ConfluentMember(kb.bootstrap, topic_name, group, f"m{len(everyone)}", protocol=protocol, **conf)
            members.append(member)
            everyone.append(member)
            member.start()

        everyone: list[ConfluentMember] = []
        try:
            step(lambda: add("classic", **classic), ConsumerGroupType.CLASSIC)
            step(lambda: add("consumer"), ConsumerGroupType.CONSUMER)
            step(lambda: members.pop(0).stop(), ConsumerGroupType.CONSUMER)  # classic LeaveGroup
            step(lambda: add("classic", **classic), ConsumerGroupType.CONSUMER)
            step(lambda: members.pop(0).stop(), ConsumerGroupType.CLASSIC)  # last consumer member leaves
        finally:
            for m in everyone:
                if m.is_alive():
                    m.stop()
        counts = Counter(v for m in everyone for _, _, v in m.records)
        assert set(counts) == set(produced) and set(counts.values()) == {1}, "a record was lost or consumed twice"
