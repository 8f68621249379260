"""Admin APIs through the admin clients of kafka-python, aiokafka and confluent-kafka, and the
``kafkaish topics`` CLI, against an in-process broker.

Every error answer a client can express is checked by code; state is read back from the
broker's storage (on its loop thread) so a wrong answer cannot hide a wrong effect.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from typing import Any

import pytest

from kafkaish.testing import EmbeddedBroker
from kafkaish.wire.errors import ErrorCode

pytestmark = pytest.mark.timeout(120)


def topics_of(kb: EmbeddedBroker) -> dict[str, Any]:
    return kb.call(lambda: kb.broker.storage.topics())  # type: ignore[union-attr]


def produce(kb: EmbeddedBroker, topic: str, count: int, partition: int = 0) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=kb.bootstrap, acks=1, enable_idempotence=False)
    for i in range(count):
        producer.send(topic, value=b"v" * 100, key=str(i).encode(), partition=partition)
    producer.flush()
    producer.close()


# =========================================================================== kafka-python


@pytest.fixture
def kp_admin(broker: EmbeddedBroker) -> Any:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    yield admin
    admin.close()


def kp_create(admin: Any, name: str, **options: Any) -> dict[str, Any]:
    validate_only = options.pop("validate_only", False)
    response = admin.create_topics({name: options}, validate_only=validate_only, raise_errors=False)
    (result,) = response["topics"]
    return result


def test_kp_create_topic_reports_partitions_and_configs(broker: EmbeddedBroker, kp_admin: Any, topic_name: str) -> None:
    result = kp_create(kp_admin, topic_name, num_partitions=3, replication_factor=1,
                       configs={"cleanup.policy": "compact", "retention.ms": " 60000"})
    assert result["error_code"] == 0
    assert (result["num_partitions"], result["replication_factor"]) == (3, 1)
    assert result["configs"]["cleanup.policy"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
    assert result["configs"]["segment.ms"]["config_source"] == "DEFAULT_CONFIG"
    meta = topics_of(broker)[topic_name]
    assert meta.num_partitions == 3
    assert meta.configs == {"cleanup.policy": "compact", "retention.ms": "60000"}  # stored canonical
    assert str(meta.topic_id) == str(result["topic_id"])


def test_kp_create_defaults_from_broker(broker: EmbeddedBroker, kp_admin: Any, topic_name: str) -> None:
    result = kp_create(kp_admin, topic_name)  # -1 / -1
    assert result["error_code"] == 0
    assert (result["num_partitions"], result["replication_factor"]) == (1, 1)


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"num_partitions": 1, "replication_factor": 3}, ErrorCode.INVALID_REPLICATION_FACTOR),
        ({"num_partitions": 1, "replication_factor": 0}, ErrorCode.INVALID_REPLICATION_FACTOR),
        ({"num_partitions": 0, "replication_factor": 1}, ErrorCode.INVALID_PARTITIONS),
        ({"num_partitions": -5, "replication_factor": 1}, ErrorCode.INVALID_PARTITIONS),
        ({"configs": {"retention.ms": "-7"}}, ErrorCode.INVALID_CONFIG),
        ({"configs": {"no.such.config": "1"}}, ErrorCode.INVALID_CONFIG),
        ({"configs": {"message.format.version": "3.0"}}, ErrorCode.INVALID_CONFIG),
        ({"configs": {"remote.storage.enable": "true"}}, ErrorCode.INVALID_CONFIG),
        ({"assignments": {0: [7]}}, ErrorCode.INVALID_REPLICA_ASSIGNMENT),
        ({"assignments": {0: [1], 1: [1, 1]}}, ErrorCode.INVALID_REPLICA_ASSIGNMENT),
        ({"assignments": {0: [1], 2: [1]}}, ErrorCode.INVALID_REPLICA_ASSIGNMENT),
        ({"assignments": {0: [1]}, "num_partitions": 1}, ErrorCode.INVALID_REQUEST),
    ],
)
def test_kp_create_errors(broker: EmbeddedBroker, kp_admin: Any, topic_name: str,
                          options: dict[str, Any], code: ErrorCode) -> None:
    result = kp_create(kp_admin, topic_name, **options)
    assert result["error_code"] == code
    assert result["error_message"]
    assert topic_name not in topics_of(broker)


def test_kp_create_manual_assignment(broker: EmbeddedBroker, kp_admin: Any, topic_name: str) -> None:
    result = kp_create(kp_admin, topic_name, assignments={0: [1], 1: [1]})
    assert result["error_code"] == 0 and result["num_partitions"] == 2
    assert topics_of(broker)[topic_name].num_partitions == 2


def test_kp_create_existing_and_bad_names(broker: EmbeddedBroker, kp_admin: Any, topic_name: str) -> None:
    assert kp_create(kp_admin, topic_name)["error_code"] == 0
    assert kp_create(kp_admin, topic_name)["error_code"] == ErrorCode.TOPIC_ALREADY_EXISTS
    for bad in ("bad name", "..", "x" * 250, "a/b"):
        assert kp_create(kp_admin, bad)["error_code"] == ErrorCode.INVALID_TOPIC_EXCEPTION
    assert kp_create(kp_admin, "dots.here")["error_code"] == 0
    assert kp_create(kp_admin, "dots_here")["error_code"] == ErrorCode.INVALID_TOPIC_EXCEPTION


def test_kp_create_validate_only_creates_nothing(broker: EmbeddedBroker, kp_admin: Any, topic_name: str) -> None:
    result = kp_create(kp_admin, topic_name, num_partitions=4, validate_only=True)
    assert result["error_code"] == 0 and result["num_partitions"] == 4
    assert topic_name not in topics_of(broker)
    bad = kp_create(kp_admin, topic_name, configs={"cleanup.policy": "forever"}, validate_only=True)
    assert bad["error_code"] == ErrorCode.INVALID_CONFIG


def test_kp_delete_topics_by_name_and_unknown(broker: EmbeddedBroker, kp_admin: Any, topic_name: str) -> None:
    from kafka.errors import UnknownTopicOrPartitionError

    kp_create(kp_admin, topic_name)
    kp_admin.delete_topics([topic_name])
    assert topic_name not in topics_of(broker)
    with pytest.raises(UnknownTopicOrPartitionError):
        kp_admin.delete_topics([topic_name])


def test_kp_delete_topic_by_id(broker: EmbeddedBroker, kp_admin: Any, topic_name: str) -> None:
    from kafka.errors import UnknownTopicIdError

    kp_create(kp_admin, topic_name)
    topic_id = topics_of(broker)[topic_name].topic_id
    kp_admin.delete_topics([topic_id])
    assert topic_name not in topics_of(broker)
    with pytest.raises(UnknownTopicIdError):
        kp_admin.delete_topics([uuid.uuid4()])


def test_kp_create_partitions(broker: EmbeddedBroker, kp_admin: Any, topic_name: str) -> None:
    kp_create(kp_admin, topic_name, num_partitions=2)
    response = kp_admin.create_partitions({topic_name: 4}, validate_only=True, raise_errors=False)
    assert response.results[0].error_code == 0
    assert topics_of(broker)[topic_name].num_partitions == 2
    kp_admin.create_partitions({topic_name: 4})
    assert topics_of(broker)[topic_name].num_partitions == 4
    for count in (4, 3):
        response = kp_admin.create_partitions({topic_name: count}, raise_errors=False)
        assert response.results[0].error_code == ErrorCode.INVALID_PARTITIONS
    response = kp_admin.create_partitions({"missing-topic": 3}, raise_errors=False)
    assert response.results[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    response = kp_admin.create_partitions({topic_name: {"count": 5, "assignments": [[2]]}}, raise_errors=False)
    assert response.results[0].error_code == ErrorCode.INVALID_REPLICA_ASSIGNMENT


def test_kp_describe_configs_topic_and_broker(broker: EmbeddedBroker, kp_admin: Any, topic_name: str) -> None:
    from kafka.admin import ConfigResource, ConfigResourceType

    kp_create(kp_admin, topic_name, configs={"cleanup.policy": "compact"})
    result = kp_admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic_name)],
                                       include_synonyms=True, config_filter="ALL")
    configs = result["topic"][topic_name]
    assert len(configs) == 34
    policy = configs["cleanup.policy"]
    assert policy["value"] == "compact" and policy["config_source"] == "DYNAMIC_TOPIC_CONFIG"
    assert [s["name"] for s in policy["synonyms"]] == ["cleanup.policy", "log.cleanup.policy"]
    assert configs["retention.ms"]["config_source"] == "DEFAULT_CONFIG"
    assert configs["retention.ms"]["config_type"] == "LONG"
    result = kp_admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")], config_filter="ALL")
    broker_configs = result["broker"]["1"]
    assert broker_configs["node.id"]["value"] == "1"
    assert broker_configs["num.partitions"]["read_only"] is True


def test_kp_describe_configs_unknown_topic_is_empty(broker: EmbeddedBroker, kp_admin: Any) -> None:
    from kafka.admin import ConfigResource, ConfigResourceType

    # kafka-python drops per-resource errors here; the raw-protocol tests below check the code.
    result = kp_admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "no-such-topic")])
    assert result == {"topic": {"no-such-topic": {}}}


def test_kp_incremental_alter_configs(broker: EmbeddedBroker, kp_admin: Any, topic_name: str) -> None:
    from kafka.admin import AlterConfigOp, ConfigResource, ConfigResourceType

    kp_create(kp_admin, topic_name, configs={"retention.ms": "1000", "cleanup.policy": "delete"})
    resource = ConfigResource(ConfigResourceType.TOPIC, topic_name, configs={
        "retention.ms": (AlterConfigOp.DELETE, None),
        "cleanup.policy": (AlterConfigOp.APPEND, "compact"),
        "segment.ms": (AlterConfigOp.SET, "3600000"),
    })
    kp_admin.alter_configs([resource], incremental=True)
    assert topics_of(broker)[topic_name].configs == {"cleanup.policy": "delete,compact", "segment.ms": "3600000"}
    subtract = ConfigResource(ConfigResourceType.TOPIC, topic_name,
                              configs={"cleanup.policy": (AlterConfigOp.SUBTRACT, "delete")})
    kp_admin.alter_configs([subtract], incremental=True)
    assert topics_of(broker)[topic_name].configs["cleanup.policy"] == "compact"


def test_kp_alter_configs_errors_and_validate_only(broker: EmbeddedBroker, kp_admin: Any, topic_name: str) -> None:
    from kafka.admin import AlterConfigOp, ConfigResource, ConfigResourceType

    kp_create(kp_admin, topic_name)
    bad = ConfigResource(ConfigResourceType.TOPIC, topic_name, configs={"segment.bytes": "10"})
    result = kp_admin.alter_configs([bad], incremental=True)
    assert "InvalidConfigurationError" in str(result["topic"][topic_name])
    assert "segment.bytes" in str(result["topic"][topic_name])
    append_to_long = ConfigResource(ConfigResourceType.TOPIC, topic_name,
                                    configs={"retention.ms": (AlterConfigOp.APPEND, "5")})
    result = kp_admin.alter_configs([append_to_long], incremental=True)
    assert "InvalidConfigurationError" in str(result["topic"][topic_name])
    good = ConfigResource(ConfigResourceType.TOPIC, topic_name, configs={"retention.ms": "5"})
    kp_admin.alter_configs([good], validate_only=True, incremental=True)
    assert topics_of(broker)[topic_name].configs == {}
    kp_admin.alter_configs([good], incremental=True)
    assert topics_of(broker)[topic_name].configs == {"retention.ms": "5"}


def test_kp_full_alter_configs_replaces_overrides(broker: EmbeddedBroker, kp_admin: Any, topic_name: str) -> None:
    from kafka.admin import ConfigResource, ConfigResourceType

    kp_create(kp_admin, topic_name, configs={"retention.ms": "1000", "cleanup.policy": "compact"})
    resource = ConfigResource(ConfigResourceType.TOPIC, topic_name, configs={"segment.ms": "7200000"})
    kp_admin.alter_configs([resource], incremental=False)
    configs = topics_of(broker)[topic_name].configs
    assert configs.get("segment.ms") == "7200000"
    # kafka-python fills in the other modified keys itself (see its docstring); either way the
    # override set on the broker is exactly what the client sent last.
    assert set(configs) <= {"segment.ms", "retention.ms", "cleanup.policy"}


def test_kp_describe_cluster(broker: EmbeddedBroker, kp_admin: Any) -> None:
    cluster = kp_admin.describe_cluster()
    assert cluster["cluster_id"] == broker.broker.cluster_id == "kafkaish-memory"
    assert cluster["controller_id"] == 1
    assert [b["broker_id"] for b in cluster["brokers"]] == [1]


def test_kp_describe_log_dirs_sizes(broker: EmbeddedBroker, kp_admin: Any, topic_name: str) -> None:
    kp_create(kp_admin, topic_name, num_partitions=2)
    produce(broker, topic_name, 20)
    (result,) = kp_admin.describe_log_dirs()
    (log_dir,) = result["log_dirs"] if "log_dirs" in result else result["results"]
    sizes = {(t["name"], p["partition_index"]): p["partition_size"]
             for t in log_dir["topics"] for p in t["partitions"]}
    assert sizes[(topic_name, 0)] > 20 * 100
    assert sizes[(topic_name, 1)] == 0


def test_kp_delete_records(broker: EmbeddedBroker, kp_admin: Any, topic_name: str) -> None:
    from kafka import TopicPartition
    from kafka.errors import OffsetOutOfRangeError

    kp_create(kp_admin, topic_name)
    produce(broker, topic_name, 10)
    result = kp_admin.delete_records({TopicPartition(topic_name, 0): 4})
    assert result[TopicPartition(topic_name, 0)]["low_watermark"] == 4
    log_start = broker.call(lambda: broker.broker.storage.log(topic_name, 0).log_start_offset)  # type: ignore[union-attr]
    assert log_start == 4
    with pytest.raises(OffsetOutOfRangeError):
        kp_admin.delete_records({TopicPartition(topic_name, 0): 11})


def test_kp_elect_leaders_not_needed(broker: EmbeddedBroker, kp_admin: Any, topic_name: str) -> None:
    kp_create(kp_admin, topic_name, num_partitions=2)
    result = kp_admin.elect_leaders(0, {topic_name: [0, 1]}, raise_errors=False)
    assert result.error_code == 0
    codes = [p.error_code for t in result.replica_election_results for p in t.partition_result]
    assert codes == [ErrorCode.ELECTION_NOT_NEEDED] * 2
    result = kp_admin.elect_leaders(0, {"no-such-topic": [0]}, raise_errors=False)
    codes = [p.error_code for t in result.replica_election_results for p in t.partition_result]
    assert codes == [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]


def test_kp_partition_reassignments(broker: EmbeddedBroker, kp_admin: Any, topic_name: str) -> None:
    from kafka import TopicPartition

    kp_create(kp_admin, topic_name)
    assert not kp_admin.list_partition_reassignments()
    result = kp_admin.alter_partition_reassignments({
        TopicPartition(topic_name, 0): [1], TopicPartition("no-such-topic", 0): [1],
    })
    from kafka.errors import UnknownTopicOrPartitionError

    assert result[TopicPartition(topic_name, 0)] is None
    assert result[TopicPartition("no-such-topic", 0)] is UnknownTopicOrPartitionError


def test_kp_describe_topic_partitions_paginates(broker: EmbeddedBroker, kp_admin: Any, topic_name: str) -> None:
    kp_create(kp_admin, topic_name, num_partitions=5)
    first = kp_admin.describe_topic_partitions([topic_name], response_partition_limit=2)
    text = json.dumps(first, default=str)
    assert '"partition_index": 2' in text  # the next cursor points at partition 2
    (topic,) = first["topics"]
    assert [p["partition_index"] for p in topic["partitions"]] == [0, 1]


# =========================================================================== aiokafka


def run_aiokafka(kb: EmbeddedBroker, fn: Any) -> Any:
    from aiokafka.admin import AIOKafkaAdminClient

    async def main() -> Any:
        admin = AIOKafkaAdminClient(bootstrap_servers=kb.bootstrap)
        await admin.start()
        try:
            return await fn(admin)
        finally:
            await admin.close()

    return asyncio.run(main())


def test_aiokafka_create_and_errors(broker: EmbeddedBroker, topic_name: str) -> None:
    from aiokafka.admin import NewTopic

    async def scenario(admin: Any) -> list[int]:
        codes = []
        for topic in (
            NewTopic(topic_name, 2, 1, topic_configs={"retention.ms": "1000"}),
            NewTopic(topic_name, 1, 1),
            NewTopic(topic_name + "-rf", 1, 2),
            NewTopic(topic_name + "-p", 0, 1),
            NewTopic("bad name", 1, 1),
            NewTopic(topic_name + "-c", 1, 1, topic_configs={"nope": "1"}),
        ):
            response = await admin.create_topics([topic])
            codes.append(response.topic_errors[0][1])
        return codes

    assert run_aiokafka(broker, scenario) == [
        0, ErrorCode.TOPIC_ALREADY_EXISTS, ErrorCode.INVALID_REPLICATION_FACTOR, ErrorCode.INVALID_PARTITIONS,
        ErrorCode.INVALID_TOPIC_EXCEPTION, ErrorCode.INVALID_CONFIG,
    ]
    assert topics_of(broker)[topic_name].configs == {"retention.ms": "1000"}


def test_aiokafka_configs_partitions_records_delete(broker: EmbeddedBroker, topic_name: str) -> None:
    from aiokafka.admin import NewPartitions, NewTopic, RecordsToDelete
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
    from aiokafka.errors import InvalidPartitionsError
    from aiokafka.structs import TopicPartition

    async def setup(admin: Any) -> None:
        await admin.create_topics([NewTopic(topic_name, 1, 1)])

    run_aiokafka(broker, setup)
    produce(broker, topic_name, 5)

    async def scenario(admin: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic_name, {"retention.ms": "2000"})])
        (described,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic_name)])
        entries = {e[0]: (e[1], e[3]) for e in described.resources[0][4]}
        out["retention"] = entries["retention.ms"]
        await admin.create_partitions({topic_name: NewPartitions(3)})
        try:
            await admin.create_partitions({topic_name: NewPartitions(2)})
        except InvalidPartitionsError:
            out["shrink"] = "refused"
        out["deleted"] = await admin.delete_records({TopicPartition(topic_name, 0): RecordsToDelete(2)})
        out["cluster"] = await admin.describe_cluster()
        out["delete"] = (await admin.delete_topics([topic_name, "no-such-topic"])).topic_error_codes
        return out

    out = run_aiokafka(broker, scenario)
    assert out["retention"] == ("2000", 1)  # DYNAMIC_TOPIC_CONFIG
    assert out["shrink"] == "refused"
    assert out["deleted"] == {TopicPartition(topic_name, 0): 2}
    assert out["cluster"]["controller_id"] == 1
    assert dict(out["delete"]) == {topic_name: 0, "no-such-topic": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}
    assert topic_name not in topics_of(broker)


# =========================================================================== confluent-kafka


@pytest.fixture
def ck_admin(broker: EmbeddedBroker) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": broker.bootstrap})


def ck_outcomes(futures: dict[Any, Any]) -> dict[Any, Any]:
    from confluent_kafka import KafkaException

    out = {}
    for key, future in futures.items():
        try:
            out[key] = ("ok", future.result(timeout=30))
        except KafkaException as e:
            out[key] = ("error", e.args[0].code())
    return out


def test_ck_create_topics_and_errors(broker: EmbeddedBroker, ck_admin: Any, topic_name: str) -> None:
    from confluent_kafka.admin import NewTopic

    futures = ck_admin.create_topics([
        NewTopic(topic_name, 2, 1, config={"cleanup.policy": "compact"}),
        NewTopic(topic_name + "-rf", 1, 3),
        NewTopic(topic_name + "-cfg", 1, 1, config={"retention.ms": "x"}),
        NewTopic(topic_name + "-asg", 1, replica_assignment=[[7]]),
        NewTopic(topic_name + "-p", 0, 1),
    ])
    out = ck_outcomes(futures)
    assert out[topic_name][0] == "ok"
    assert out[topic_name + "-rf"] == ("error", ErrorCode.INVALID_REPLICATION_FACTOR)
    assert out[topic_name + "-cfg"] == ("error", ErrorCode.INVALID_CONFIG)
    assert out[topic_name + "-asg"] == ("error", ErrorCode.INVALID_REPLICA_ASSIGNMENT)
    assert out[topic_name + "-p"] == ("error", ErrorCode.INVALID_PARTITIONS)
    assert set(topics_of(broker)) == {topic_name}
    again = ck_outcomes(ck_admin.create_topics([NewTopic(topic_name, 1, 1)]))
    assert again[topic_name] == ("error", ErrorCode.TOPIC_ALREADY_EXISTS)
    validated = ck_outcomes(ck_admin.create_topics([NewTopic(topic_name + "-v", 1, 1)], validate_only=True))
    assert validated[topic_name + "-v"][0] == "ok" and topic_name + "-v" not in topics_of(broker)


def test_ck_configs(broker: EmbeddedBroker, ck_admin: Any, topic_name: str) -> None:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType

    ck_outcomes(ck_admin.create_topics([NewTopic(topic_name, 1, 1, config={"cleanup.policy": "compact"})]))
    resource = ConfigResource(ResourceType.TOPIC, topic_name)
    described = ck_outcomes(ck_admin.describe_configs([resource]))[resource][1]
    assert described["cleanup.policy"].value == "compact" and described["cleanup.policy"].source == 1
    assert described["retention.ms"].is_default
    incremental = ConfigResource(ResourceType.TOPIC, topic_name, incremental_configs=[
        ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.APPEND),
        ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET),
    ])
    assert ck_outcomes(ck_admin.incremental_alter_configs([incremental]))[incremental][0] == "ok"
    assert topics_of(broker)[topic_name].configs == {"cleanup.policy": "compact,delete", "retention.ms": "1000"}
    bad = ConfigResource(ResourceType.TOPIC, topic_name, incremental_configs=[
        ConfigEntry("min.insync.replicas", "0", incremental_operation=AlterConfigOpType.SET)])
    assert ck_outcomes(ck_admin.incremental_alter_configs([bad]))[bad] == ("error", ErrorCode.INVALID_CONFIG)
    full = ConfigResource(ResourceType.TOPIC, topic_name, set_config={"segment.ms": "3600000"})
    with pytest.deprecated_call():  # AlterConfigs (full replacement) on purpose
        futures = ck_admin.alter_configs([full])
    assert ck_outcomes(futures)[full][0] == "ok"
    assert topics_of(broker)[topic_name].configs == {"segment.ms": "3600000"}
    missing = ConfigResource(ResourceType.TOPIC, "no-such-topic")
    assert ck_outcomes(ck_admin.describe_configs([missing]))[missing] == ("error", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)


def test_ck_partitions_records_elect_delete(broker: EmbeddedBroker, ck_admin: Any, topic_name: str) -> None:
    from confluent_kafka import ElectionType, KafkaException, TopicPartition
    from confluent_kafka.admin import NewPartitions, NewTopic

    ck_outcomes(ck_admin.create_topics([NewTopic(topic_name, 2, 1)]))
    produce(broker, topic_name, 6)
    assert ck_outcomes(ck_admin.create_partitions([NewPartitions(topic_name, 3)]))[topic_name][0] == "ok"
    shrink = ck_outcomes(ck_admin.create_partitions([NewPartitions(topic_name, 1)]))
    assert shrink[topic_name] == ("error", ErrorCode.INVALID_PARTITIONS)
    assert topics_of(broker)[topic_name].num_partitions == 3
    deleted = ck_admin.delete_records([TopicPartition(topic_name, 0, 3)])
    ((_, future),) = deleted.items()
    assert future.result(timeout=30).low_watermark == 3
    too_far = ck_admin.delete_records([TopicPartition(topic_name, 0, 99)])
    ((_, future),) = too_far.items()
    with pytest.raises(KafkaException) as info:
        future.result(timeout=30)
    assert info.value.args[0].code() == ErrorCode.OFFSET_OUT_OF_RANGE
    elected = ck_admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(topic_name, 0)]).result(timeout=30)
    ((_, error),) = elected.items()
    assert error.code() == ErrorCode.ELECTION_NOT_NEEDED
    out = ck_outcomes(ck_admin.delete_topics([topic_name, "no-such-topic"]))
    assert out[topic_name][0] == "ok"
    assert out["no-such-topic"] == ("error", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)


# =========================================================================== CLI


def cli(kb: EmbeddedBroker, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kafkaish", "topics", *args, "--bootstrap-server", kb.bootstrap],
                          capture_output=True, text=True, timeout=60)


def test_cli_create_list_describe_alter_delete(broker: EmbeddedBroker, topic_name: str) -> None:
    done = cli(broker, "create", topic_name, "--partitions", "3", "--config", "cleanup.policy=compact")
    assert done.returncode == 0, done.stderr
    assert topics_of(broker)[topic_name].num_partitions == 3
    listed = cli(broker, "list", "--json")
    assert json.loads(listed.stdout) == [topic_name]
    described = json.loads(cli(broker, "describe", topic_name, "--json").stdout)
    assert described[0]["configs"] == {"cleanup.policy": "compact"}
    assert len(described[0]["partitions"]) == 3
    text = cli(broker, "describe", topic_name).stdout
    assert f"Topic: {topic_name}" in text and "PartitionCount: 3" in text
    done = cli(broker, "alter-config", topic_name, "--set", "retention.ms=1000", "--delete", "cleanup.policy")
    assert done.returncode == 0, done.stderr
    assert topics_of(broker)[topic_name].configs == {"retention.ms": "1000"}
    done = cli(broker, "delete", topic_name)
    assert done.returncode == 0, done.stderr
    assert topic_name not in topics_of(broker)


def test_cli_errors(broker: EmbeddedBroker, topic_name: str) -> None:
    bad = cli(broker, "create", topic_name, "--replication-factor", "2")
    assert bad.returncode == 1 and "INVALID_REPLICATION_FACTOR" in bad.stderr
    bad = cli(broker, "create", topic_name, "--config", "retention.ms=-9")
    assert bad.returncode == 1 and "INVALID_CONFIG" in bad.stderr and "retention.ms" in bad.stderr
    bad = cli(broker, "delete", topic_name)
    assert bad.returncode == 1 and "UNKNOWN_TOPIC_OR_PARTITION" in bad.stderr
    assert cli(broker, "delete", topic_name, "--if-exists").returncode == 0
    assert cli(broker, "create", topic_name).returncode == 0
    assert cli(broker, "create", topic_name).returncode == 1
    assert cli(broker, "create", topic_name, "--if-not-exists").returncode == 0
    bad = cli(broker, "alter-config", topic_name, "--set", "segment.bytes=5")
    assert bad.returncode == 1 and "INVALID_CONFIG" in bad.stderr
    assert cli(broker, "create", "x", "--validate-only").returncode == 0
    assert "x" not in topics_of(broker)
    bad = cli(broker, "describe", "missing-topic")
    assert bad.returncode == 1 and "UNKNOWN_TOPIC_OR_PARTITION" in bad.stderr
    assert "missing-topic" not in topics_of(broker)  # describe never auto-creates
    bad = cli(broker, "alter-config", topic_name)
    assert bad.returncode == 1 and "nothing to change" in bad.stderr


def test_cli_connection_refused() -> None:
    done = subprocess.run([sys.executable, "-m", "kafkaish", "topics", "list", "--bootstrap-server", "127.0.0.1:1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "cannot connect" in done.stderr
