"""Admin answers at the protocol level, for cases no client library lets a test express.

Requests go through ``kafkaish.cli.client.AdminConnection`` (ClientCodec over a socket) at
explicit versions, so version-specific fields (v0 IsDefault, v1 EndpointType, ...) are checked.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kafkaish.cli.client import AdminConnection
from kafkaish.testing import EmbeddedBroker
from kafkaish.admin.topic_configs import ConfigSource, ConfigType
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.create_topics import CreateTopicsRequest
from kafkaish.wire.messages.delete_topics import DeleteTopicsRequest
from kafkaish.wire.messages.describe_cluster import DescribeClusterRequest
from kafkaish.wire.messages.describe_configs import DescribeConfigsRequest
from kafkaish.wire.messages.describe_log_dirs import DescribeLogDirsRequest
from kafkaish.wire.messages.describe_topic_partitions import DescribeTopicPartitionsRequest
from kafkaish.wire.messages.elect_leaders import ElectLeadersRequest
from kafkaish.wire.messages.incremental_alter_configs import IncrementalAlterConfigsRequest
from kafkaish.wire.messages.list_partition_reassignments import ListPartitionReassignmentsRequest

pytestmark = pytest.mark.timeout(120)
TOPIC, BROKER = 2, 4


@pytest.fixture
def conn(broker: EmbeddedBroker) -> Iterator[AdminConnection]:
    with AdminConnection(broker.bootstrap, 30) as c:
        yield c


def create(conn: AdminConnection, name: str, partitions: int = 1, version: int = 7, **configs: str) -> Any:
    topic = CreateTopicsRequest.CreatableTopic(
        name=name, num_partitions=partitions, replication_factor=-1,
        configs=[CreateTopicsRequest.CreatableTopicConfig(name=k.replace("_", "."), value=v) for k, v in configs.items()])
    return conn.call(CreateTopicsRequest(topics=[topic], timeout_ms=1000), version).topics[0]


def describe(conn: AdminConnection, rtype: int, name: str, version: int = 4, keys: list[str] | None = None,
             synonyms: bool = False, docs: bool = False) -> Any:
    resource = DescribeConfigsRequest.DescribeConfigsResource(resource_type=rtype, resource_name=name,
                                                              configuration_keys=keys)
    request = DescribeConfigsRequest(resources=[resource], include_synonyms=synonyms, include_documentation=docs)
    return conn.call(request, version).results[0]


def test_every_admin_api_is_advertised(conn: AdminConnection) -> None:
    expected = {19: 7, 20: 6, 21: 2, 32: 4, 33: 2, 37: 3, 43: 2, 44: 1, 45: 0, 46: 0, 60: 1, 35: 4, 75: 0}
    for key, top in expected.items():
        assert conn.versions[key] == (0, top), key


@pytest.mark.parametrize("version", [0, 1, 4, 5, 7])
def test_create_topics_every_version_family(conn: AdminConnection, version: int, topic_name: str) -> None:
    result = create(conn, topic_name, 2, version, retention_ms="1000")
    assert result.error_code == 0
    if version >= 5:
        assert (result.num_partitions, result.replication_factor) == (2, 1)
        sources = {c.name: c.config_source for c in result.configs}
        assert sources["retention.ms"] == ConfigSource.DYNAMIC_TOPIC_CONFIG
    if version >= 7:
        assert result.topic_id != uuid.UUID(int=0)


def test_create_topics_duplicate_name_is_one_invalid_request(conn: AdminConnection, broker: EmbeddedBroker,
                                                              topic_name: str) -> None:
    topic = CreateTopicsRequest.CreatableTopic(name=topic_name, num_partitions=1, replication_factor=1)
    response = conn.call(CreateTopicsRequest(topics=[topic, topic], timeout_ms=1000), 7)
    assert [(t.name, t.error_code) for t in response.topics] == [(topic_name, ErrorCode.INVALID_REQUEST)]
    assert topic_name not in broker.call(lambda: broker.broker.storage.topics())  # type: ignore[union-attr]


def test_create_topics_null_config_value(conn: AdminConnection, topic_name: str) -> None:
    topic = CreateTopicsRequest.CreatableTopic(
        name=topic_name, num_partitions=1, replication_factor=1,
        configs=[CreateTopicsRequest.CreatableTopicConfig(name="retention.ms", value=None)])
    result = conn.call(CreateTopicsRequest(topics=[topic], timeout_ms=1000), 7).topics[0]
    assert result.error_code == ErrorCode.INVALID_CONFIG and (result.num_partitions, result.replication_factor) == (-1, -1)


def test_delete_topics_v6_by_id_and_invalid_forms(conn: AdminConnection, topic_name: str) -> None:
    topic_id = create(conn, topic_name).topic_id
    state = DeleteTopicsRequest.DeleteTopicState
    request = DeleteTopicsRequest(timeout_ms=1000, topics=[
        state(name=None, topic_id=topic_id), state(name=None, topic_id=uuid.uuid4()),
        state(name="x", topic_id=uuid.uuid4()), state(name=None, topic_id=uuid.UUID(int=0)),
    ])
    results = conn.call(request, 6).responses
    assert [r.error_code for r in results] == [
        0, ErrorCode.UNKNOWN_TOPIC_ID, ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_REQUEST]
    assert results[0].name == topic_name and results[0].topic_id == topic_id


def test_delete_topics_v0(conn: AdminConnection, topic_name: str) -> None:
    create(conn, topic_name)
    results = conn.call(DeleteTopicsRequest(topic_names=[topic_name, "missing"], timeout_ms=1000), 0).responses
    assert [(r.name, r.error_code) for r in results] == [(topic_name, 0), ("missing", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)]


def test_describe_configs_v3_types_docs_synonyms_and_keys(conn: AdminConnection, topic_name: str) -> None:
    create(conn, topic_name, cleanup_policy="compact")
    result = describe(conn, TOPIC, topic_name, version=3, keys=["cleanup.policy", "nope"], synonyms=True, docs=True)
    (entry,) = result.configs
    assert entry.config_type == ConfigType.LIST and entry.documentation
    assert [(s.name, s.source) for s in entry.synonyms] == [
        ("cleanup.policy", ConfigSource.DYNAMIC_TOPIC_CONFIG), ("log.cleanup.policy", ConfigSource.DEFAULT_CONFIG)]
    assert len(describe(conn, TOPIC, topic_name, keys=[]).configs) == 34  # empty key list means all


@pytest.mark.parametrize(
    ("rtype", "name", "code"),
    [
        (TOPIC, "no-such-topic", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
        (TOPIC, "bad name", ErrorCode.INVALID_TOPIC_EXCEPTION),
        (BROKER, "9", ErrorCode.INVALID_REQUEST),
        (BROKER, "one", ErrorCode.INVALID_REQUEST),
        (99, "x", ErrorCode.INVALID_REQUEST),
    ],
)
def test_describe_configs_errors(conn: AdminConnection, rtype: int, name: str, code: ErrorCode) -> None:
    result = describe(conn, rtype, name)
    assert result.error_code == code and result.configs == []


def test_describe_broker_configs(conn: AdminConnection) -> None:
    entries = {c.name: c for c in describe(conn, BROKER, "1", synonyms=True).configs}
    assert entries["node.id"].value == "1" and entries["node.id"].config_source == ConfigSource.STATIC_BROKER_CONFIG
    assert entries["offsets.topic.replication.factor"].value == "1"
    assert entries["log.retention.hours"].value == "168"
    assert describe(conn, BROKER, "").configs == []  # no dynamic cluster defaults yet


def incremental(conn: AdminConnection, rtype: int, name: str, *ops: tuple[str, int, str | None],
                validate_only: bool = False) -> Any:
    configs = [IncrementalAlterConfigsRequest.AlterableConfig(name=n, config_operation=o, value=v) for n, o, v in ops]
    resource = IncrementalAlterConfigsRequest.AlterConfigsResource(resource_type=rtype, resource_name=name, configs=configs)
    return conn.call(IncrementalAlterConfigsRequest(resources=[resource], validate_only=validate_only), 1).responses[0]


def test_incremental_alter_request_errors(conn: AdminConnection, topic_name: str) -> None:
    create(conn, topic_name)
    assert incremental(conn, TOPIC, topic_name, ("retention.ms", 9, "1")).error_code == ErrorCode.INVALID_REQUEST
    assert incremental(conn, TOPIC, topic_name, ("retention.ms", 0, None)).error_code == ErrorCode.INVALID_REQUEST
    dup = incremental(conn, TOPIC, topic_name, ("retention.ms", 0, "1"), ("retention.ms", 0, "2"))
    assert dup.error_code == ErrorCode.INVALID_REQUEST
    assert incremental(conn, TOPIC, topic_name, ("nope", 1, None)).error_code == ErrorCode.INVALID_CONFIG


def test_dynamic_broker_configs(conn: AdminConnection, topic_name: str) -> None:
    # read-only broker configs: INVALID_REQUEST "Cannot update these configs dynamically" (Kafka 4.0)
    assert incremental(conn, BROKER, "", ("num.partitions", 0, "3")).error_code == ErrorCode.INVALID_REQUEST
    # a broker value of the wrong type: INVALID_REQUEST from ConfigAdminManager (checked against the reference)
    assert incremental(conn, BROKER, "", ("log.retention.ms", 0, "abc")).error_code == ErrorCode.INVALID_REQUEST
    assert incremental(conn, BROKER, "", ("log.retention.ms", 0, "5000")).error_code == 0
    (entry,) = describe(conn, BROKER, "").configs
    assert (entry.name, entry.value, entry.config_source) == (
        "log.retention.ms", "5000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)
    create(conn, topic_name)
    (retention,) = describe(conn, TOPIC, topic_name, keys=["retention.ms"]).configs
    assert (retention.value, retention.config_source) == ("5000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)


def test_describe_cluster_endpoint_types(conn: AdminConnection) -> None:
    response = conn.call(DescribeClusterRequest(include_cluster_authorized_operations=True, endpoint_type=1), 1)
    assert response.error_code == 0 and response.controller_id == 1 and response.cluster_authorized_operations > 0
    response = conn.call(DescribeClusterRequest(endpoint_type=2), 1)
    assert response.error_code == ErrorCode.MISMATCHED_ENDPOINT_TYPE
    response = conn.call(DescribeClusterRequest(endpoint_type=7), 1)
    assert response.error_code == ErrorCode.UNSUPPORTED_ENDPOINT_TYPE
    assert conn.call(DescribeClusterRequest(), 0).cluster_authorized_operations == -2147483648


def test_describe_log_dirs_v4_in_memory(conn: AdminConnection, topic_name: str) -> None:
    create(conn, topic_name, 2)
    wanted = [DescribeLogDirsRequest.DescribableLogDirTopic(topic=topic_name, partitions=[1, 5])]
    response = conn.call(DescribeLogDirsRequest(topics=wanted), 4)
    (result,) = response.results
    assert result.log_dir == "memory://" and (result.total_bytes, result.usable_bytes) == (-1, -1)
    assert [(t.name, [p.partition_index for p in t.partitions]) for t in result.topics] == [(topic_name, [1])]


def test_describe_log_dirs_file_engine_reports_disk(broker_factory: Any, tmp_path: Any, topic_name: str) -> None:
    kb = broker_factory(data_dir=str(tmp_path / "data"))
    with AdminConnection(kb.bootstrap, 30) as conn:
        create(conn, topic_name)
        (result,) = conn.call(DescribeLogDirsRequest(topics=None), 4).results
    assert result.log_dir == str((tmp_path / "data").resolve())
    assert result.total_bytes > 0 and 0 <= result.usable_bytes <= result.total_bytes
    assert [t.name for t in result.topics] == [topic_name]


def test_describe_topic_partitions_cursor(conn: AdminConnection) -> None:
    create(conn, "dtp-a", 3)
    create(conn, "dtp-b", 2)
    request = DescribeTopicPartitionsRequest(topics=[], response_partition_limit=2)
    first = conn.call(request, 0)
    assert [(t.name, [p.partition_index for p in t.partitions]) for t in first.topics] == [("dtp-a", [0, 1])]
    assert (first.next_cursor.topic_name, first.next_cursor.partition_index) == ("dtp-a", 2)
    request.cursor = DescribeTopicPartitionsRequest.Cursor(topic_name="dtp-a", partition_index=2)
    second = conn.call(request, 0)
    assert [(t.name, [p.partition_index for p in t.partitions]) for t in second.topics] == [("dtp-a", [2]), ("dtp-b", [0])]
    assert (second.next_cursor.topic_name, second.next_cursor.partition_index) == ("dtp-b", 1)
    missing = conn.call(DescribeTopicPartitionsRequest(topics=[DescribeTopicPartitionsRequest.TopicRequest(name="zz")]), 0)
    assert [(t.name, t.error_code) for t in missing.topics] == [("zz", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)]


def test_elect_leaders_all_partitions_and_bad_type(conn: AdminConnection, topic_name: str) -> None:
    create(conn, topic_name, 2)
    response = conn.call(ElectLeadersRequest(election_type=0, topic_partitions=None), 2)
    # Kafka lists every topic, its ELECTION_NOT_NEEDED partitions left out (compat/FINDINGS.md D17)
    assert response.error_code == 0
    assert [r.partition_result for r in response.replica_election_results if r.topic == topic_name] == [[]]
    assert conn.call(ElectLeadersRequest(election_type=5, topic_partitions=None), 1).error_code == ErrorCode.INVALID_REQUEST
    parts = [ElectLeadersRequest.TopicPartitions(topic=topic_name, partitions=[0, 9])]
    (topic,) = conn.call(ElectLeadersRequest(topic_partitions=parts), 0).replica_election_results
    assert [p.error_code for p in topic.partition_result] == [ErrorCode.ELECTION_NOT_NEEDED, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]


def test_list_partition_reassignments_is_empty(conn: AdminConnection) -> None:
    response = conn.call(ListPartitionReassignmentsRequest(topics=None), 0)
    assert response.error_code == 0 and response.topics == []


def test_config_changes_survive_a_restart(broker_factory: Any, tmp_path: Any, topic_name: str) -> None:
    data = str(tmp_path / "data")
    kb = broker_factory(data_dir=data)
    with AdminConnection(kb.bootstrap, 30) as conn:
        create(conn, topic_name, 2, cleanup_policy="compact")
        assert incremental(conn, TOPIC, topic_name, ("retention.ms", 0, "1234"), ("cleanup.policy", 1, None)).error_code == 0
        assert incremental(conn, BROKER, "1", ("log.retention.ms", 0, "777")).error_code == 0
    kb.stop()
    again = broker_factory(data_dir=data)
    with AdminConnection(again.bootstrap, 30) as conn:
        entries = {c.name: c for c in describe(conn, TOPIC, topic_name).configs}
        per_broker = {c.name: c for c in describe(conn, BROKER, "1").configs}
    assert (entries["retention.ms"].value, entries["retention.ms"].config_source) == ("1234", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert entries["cleanup.policy"].config_source == ConfigSource.DEFAULT_CONFIG
    assert (per_broker["log.retention.ms"].value, per_broker["log.retention.ms"].config_source) == (
        "777", ConfigSource.DYNAMIC_BROKER_CONFIG)


def test_metadata_auto_create_uses_topic_rules(conn: AdminConnection) -> None:
    from kafkaish.wire.messages.metadata import MetadataRequest

    create(conn, "auto.one")
    wanted = [MetadataRequest.MetadataRequestTopic(name=n) for n in ("auto_one", "bad name", "auto-two")]
    response = conn.call(MetadataRequest(topics=wanted, allow_auto_topic_creation=True), 12)
    codes = {t.name: t.error_code for t in response.topics}
    assert codes == {"auto_one": ErrorCode.INVALID_TOPIC_EXCEPTION, "bad name": ErrorCode.INVALID_TOPIC_EXCEPTION,
                     "auto-two": 0}


def test_broker_logger_levels(conn: AdminConnection) -> None:
    import logging

    BROKER_LOGGER = 8
    logger = logging.getLogger("kafkaish.broker")
    before = logger.level
    try:
        levels = {c.name: c for c in describe(conn, BROKER_LOGGER, "1").configs}
        assert "root" in levels and "kafkaish.broker" in levels
        assert levels["root"].config_source == ConfigSource.DYNAMIC_BROKER_LOGGER_CONFIG
        assert incremental(conn, BROKER_LOGGER, "1", ("kafkaish.broker", 0, "TRACE")).error_code == 0
        assert logger.level == 5
        (entry,) = describe(conn, BROKER_LOGGER, "1", keys=["kafkaish.broker"]).configs
        assert entry.value == "TRACE"
        assert incremental(conn, BROKER_LOGGER, "1", ("kafkaish.broker", 0, "LOUD")).error_code == ErrorCode.INVALID_CONFIG
        assert incremental(conn, BROKER_LOGGER, "1", ("no.such.logger.x", 0, "INFO")).error_code == ErrorCode.INVALID_CONFIG
        assert incremental(conn, BROKER_LOGGER, "1", ("root", 1, None)).error_code == ErrorCode.INVALID_REQUEST
        assert incremental(conn, BROKER_LOGGER, "1", ("root", 2, "INFO")).error_code == ErrorCode.INVALID_REQUEST
        assert incremental(conn, BROKER_LOGGER, "", ("root", 0, "INFO")).error_code == ErrorCode.INVALID_REQUEST
        assert describe(conn, BROKER_LOGGER, "").error_code == ErrorCode.INVALID_REQUEST
        assert incremental(conn, BROKER_LOGGER, "1", ("kafkaish.broker", 1, None)).error_code == 0
        assert logger.level == logging.NOTSET
    finally:
        logger.setLevel(before)
