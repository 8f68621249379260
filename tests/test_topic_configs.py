"""Unit tests for the topic/broker config catalogs and topic name rules."""

from __future__ import annotations

import pytest

from kafkaish.admin.broker_configs import BROKER_CONFIGS, BrokerView, broker_synonyms
from kafkaish.admin.topic_configs import (
    REMOVED_TOPIC_CONFIGS,
    TOPIC_CONFIGS,
    ConfigSource,
    ConfigType,
    check_combination,
    list_items,
    validate,
    validate_configs,
)
from kafkaish.admin.topic_names import (
    MAX_NAME_LENGTH,
    check_no_collision,
    colliding_topic,
    collision_warning,
    topic_name_problem,
    validate_topic_name,
)
from kafkaish.wire.errors import ErrorCode, KafkaError

# Kafka 4.0's non-internal topic configs (LogConfig), checked by name so a slip shows up.
KAFKA_40_TOPIC_CONFIGS = {
    "cleanup.policy", "compression.gzip.level", "compression.lz4.level", "compression.type",
    "compression.zstd.level", "delete.retention.ms", "file.delete.delay.ms", "flush.messages",
    "flush.ms", "follower.replication.throttled.replicas", "index.interval.bytes",
    "leader.replication.throttled.replicas", "local.retention.bytes", "local.retention.ms",
    "max.compaction.lag.ms", "max.message.bytes", "message.downconversion.enable",
    "message.timestamp.after.max.ms", "message.timestamp.before.max.ms", "message.timestamp.type",
    "min.cleanable.dirty.ratio", "min.compaction.lag.ms", "min.insync.replicas", "preallocate",
    "remote.log.copy.disable", "remote.log.delete.on.disable", "remote.storage.enable",
    "retention.bytes", "retention.ms", "segment.bytes", "segment.index.bytes", "segment.jitter.ms",
    "segment.ms", "unclean.leader.election.enable",
}


def invalid_config(name: str, value: str | None) -> str:
    with pytest.raises(KafkaError) as info:
        validate(name, value)
    assert info.value.code is ErrorCode.INVALID_CONFIG
    assert info.value.message
    return info.value.message


# --------------------------------------------------------------------------- catalog


def test_catalog_has_every_kafka_40_topic_config() -> None:
    assert set(TOPIC_CONFIGS) == KAFKA_40_TOPIC_CONFIGS


@pytest.mark.parametrize("name", sorted(TOPIC_CONFIGS))
def test_default_is_canonical_and_valid(name: str) -> None:
    definition = TOPIC_CONFIGS[name]
    assert definition.default is not None
    assert validate(name, definition.default) == definition.default
    assert definition.doc and len(definition.doc) > 10


@pytest.mark.parametrize("name", sorted(TOPIC_CONFIGS))
def test_every_synonym_is_a_known_broker_config(name: str) -> None:
    for synonym in TOPIC_CONFIGS[name].synonyms:
        assert synonym.name in BROKER_CONFIGS


def test_known_defaults_and_types() -> None:
    expect = {
        "retention.ms": (ConfigType.LONG, "604800000"),
        "segment.bytes": (ConfigType.INT, "1073741824"),
        "max.message.bytes": (ConfigType.INT, "1048588"),
        "cleanup.policy": (ConfigType.LIST, "delete"),
        "min.cleanable.dirty.ratio": (ConfigType.DOUBLE, "0.5"),
        "preallocate": (ConfigType.BOOLEAN, "false"),
        "compression.type": (ConfigType.STRING, "producer"),
        "message.timestamp.after.max.ms": (ConfigType.LONG, "3600000"),
        "local.retention.ms": (ConfigType.LONG, "-2"),
    }
    for name, (ctype, default) in expect.items():
        assert (TOPIC_CONFIGS[name].type, TOPIC_CONFIGS[name].default) == (ctype, default), name


def test_wire_ids_of_types_and_sources() -> None:
    assert [ConfigType.BOOLEAN, ConfigType.LONG, ConfigType.LIST, ConfigType.PASSWORD] == [1, 5, 7, 9]
    assert ConfigSource.DYNAMIC_TOPIC_CONFIG == ConfigSource.TOPIC_CONFIG == 1
    assert ConfigSource.STATIC_BROKER_CONFIG == 4 and ConfigSource.DEFAULT_CONFIG == 5


# --------------------------------------------------------------------------- validate


@pytest.mark.parametrize(
    ("name", "raw", "canonical"),
    [
        ("cleanup.policy", " compact , delete ", "compact,delete"),
        ("cleanup.policy", "", ""),
        ("retention.ms", " 1000 ", "1000"),
        ("retention.ms", "-1", "-1"),
        ("retention.bytes", "-7", "-7"),
        ("preallocate", "TRUE", "true"),
        ("min.cleanable.dirty.ratio", "1", "1.0"),
        ("min.cleanable.dirty.ratio", "0.0001", "1.0E-4"),
        ("compression.gzip.level", "-1", "-1"),
        ("compression.gzip.level", "9", "9"),
        ("compression.zstd.level", "-131072", "-131072"),
        ("segment.bytes", "1048576", "1048576"),
        ("leader.replication.throttled.replicas", "*", "*"),
        ("follower.replication.throttled.replicas", "0:1, 1:1", "0:1,1:1"),
        ("message.timestamp.type", "LogAppendTime", "LogAppendTime"),
    ],
)
def test_validate_returns_canonical_text(name: str, raw: str, canonical: str) -> None:
    assert validate(name, raw) == canonical


@pytest.mark.parametrize(
    ("name", "raw", "fragment"),
    [
        ("retention.ms", "-2", "at least -1"),
        ("retention.ms", "abc", "LONG"),
        ("retention.ms", "9223372036854775808", "LONG"),
        ("segment.bytes", "1048575", "at least 1048576"),
        ("segment.bytes", "2147483648", "INT"),
        ("max.message.bytes", "-1", "at least 0"),
        ("min.insync.replicas", "0", "at least 1"),
        ("min.cleanable.dirty.ratio", "1.5", "between 0 and 1"),
        ("compression.type", "brotli", "one of"),
        ("compression.gzip.level", "0", "-1"),
        ("compression.lz4.level", "18", "between 1 and 17"),
        ("cleanup.policy", "compact,forever", "forever"),
        ("message.timestamp.type", "createtime", "CreateTime"),
        ("preallocate", "yes", "true or false"),
        ("leader.replication.throttled.replicas", "0:1,x", "partitionId:brokerId"),
    ],
)
def test_invalid_values_name_the_config_and_reason(name: str, raw: str, fragment: str) -> None:
    message = invalid_config(name, raw)
    assert name in message and fragment in message


def test_unknown_name_is_invalid_config() -> None:
    assert "Unknown topic config name: no.such.config" in invalid_config("no.such.config", "1")


@pytest.mark.parametrize("name", sorted(REMOVED_TOPIC_CONFIGS))
def test_removed_configs_are_refused_with_a_reason(name: str) -> None:
    message = invalid_config(name, "1")
    assert name in message and "4.0" in message


def test_null_value_is_invalid_config() -> None:
    assert "retention.ms" in invalid_config("retention.ms", None)


def test_compaction_lag_conflict() -> None:
    with pytest.raises(KafkaError) as info:
        validate_configs({"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"})
    assert info.value.code is ErrorCode.INVALID_CONFIG
    assert "min.compaction.lag.ms" in (info.value.message or "")


def test_compaction_lag_conflict_against_base_value() -> None:
    with pytest.raises(KafkaError):
        validate_configs({"min.compaction.lag.ms": "10"}, base={"max.compaction.lag.ms": "5"})
    assert validate_configs({"min.compaction.lag.ms": "5"}, base={"max.compaction.lag.ms": "5"}) == {
        "min.compaction.lag.ms": "5"
    }


def test_remote_storage_is_refused_because_tiered_storage_is_off() -> None:
    with pytest.raises(KafkaError) as info:
        validate_configs({"remote.storage.enable": "true"})
    assert info.value.code is ErrorCode.INVALID_CONFIG
    check_combination({"remote.storage.enable": "false"})


def test_validate_configs_normalizes_all() -> None:
    assert validate_configs({"cleanup.policy": "compact", "retention.ms": " 5"}) == {
        "cleanup.policy": "compact",
        "retention.ms": "5",
    }


def test_list_items() -> None:
    assert list_items("") == [] and list_items(None) == []
    assert list_items("a, b") == ["a", "b"]


# --------------------------------------------------------------------------- topic names


@pytest.mark.parametrize("name", ["a", "A-b_c.d", "x" * MAX_NAME_LENGTH, "...", "_", "-"])
def test_legal_topic_names(name: str) -> None:
    assert topic_name_problem(name) is None
    assert validate_topic_name(name) == name


@pytest.mark.parametrize("name", ["", None, ".", "..", "x" * (MAX_NAME_LENGTH + 1), "a b", "a/b", "é", "a:b"])
def test_illegal_topic_names(name: str | None) -> None:
    with pytest.raises(KafkaError) as info:
        validate_topic_name(name)
    assert info.value.code is ErrorCode.INVALID_TOPIC_EXCEPTION
    assert info.value.message


def test_collision_is_between_dot_and_underscore_only() -> None:
    assert colliding_topic("a.b", ["a_b", "c"]) == "a_b"
    assert colliding_topic("a_b", ["a.b"]) == "a.b"
    assert colliding_topic("a.b", ["a.b"]) is None  # the same topic is not a collision
    assert colliding_topic("ab", ["a_b"]) is None
    with pytest.raises(KafkaError) as info:
        check_no_collision("x.y", ["x_y"])
    assert info.value.code is ErrorCode.INVALID_TOPIC_EXCEPTION
    check_no_collision("x.y", ["x-y"])


def test_collision_chars_only_warn() -> None:
    assert collision_warning("a.b") is not None
    assert collision_warning("ab") is None
    assert topic_name_problem("a.b") is None


# --------------------------------------------------------------------------- broker view


def test_topic_defaults_follow_static_broker_config_with_scaling() -> None:
    view = BrokerView.from_values(1, {"log.retention.hours": 2, "log.cleanup.policy": ["compact"]})
    entries = {e.name: e for e in view.topic_entries({}, include_synonyms=True)}
    retention = entries["retention.ms"]
    assert retention.value == str(2 * 3_600_000)
    # ConfigHelper.configSynonyms drops what comes before log.retention.ms, which is unset: Kafka
    # answers no synonyms and DEFAULT_CONFIG (checked on Kafka 4.0 with log.retention.hours=2)
    assert retention.source is ConfigSource.DEFAULT_CONFIG and retention.synonyms == ()
    assert entries["cleanup.policy"].value == "compact"
    assert view.topic_defaults()["retention.ms"] == "7200000"


def test_first_synonym_wins() -> None:
    view = BrokerView.from_values(1, {"log.retention.ms": 5, "log.retention.hours": 2})
    (entry,) = view.topic_entries({}, ["retention.ms"], include_synonyms=True)
    assert entry.value == "5" and entry.source is ConfigSource.STATIC_BROKER_CONFIG
    assert [(s.name, s.value) for s in entry.synonyms] == [
        ("log.retention.ms", "5"), ("log.retention.hours", "2"), ("log.retention.hours", "168")]


def test_topic_override_comes_first() -> None:
    view = BrokerView.from_values(1, {})
    (entry,) = view.topic_entries({"cleanup.policy": "compact"}, ["cleanup.policy"], include_synonyms=True)
    assert entry.source is ConfigSource.DYNAMIC_TOPIC_CONFIG and entry.value == "compact"
    assert [s.source for s in entry.synonyms] == [ConfigSource.DYNAMIC_TOPIC_CONFIG, ConfigSource.DEFAULT_CONFIG]
    assert entry.synonyms[1].name == "log.cleanup.policy" and entry.synonyms[1].value == "delete"
    assert not entry.read_only and not entry.is_default


def test_unset_topic_config_is_default() -> None:
    view = BrokerView.from_values(1, {})
    (entry,) = view.topic_entries({}, ["remote.storage.enable"], include_synonyms=True, include_docs=True)
    assert entry.source is ConfigSource.DEFAULT_CONFIG and entry.is_default
    assert entry.value == "false" and entry.synonyms == () and entry.doc


def test_synonyms_and_docs_only_when_asked() -> None:
    view = BrokerView.from_values(1, {})
    (entry,) = view.topic_entries({"retention.ms": "1"}, ["retention.ms"])
    assert entry.synonyms == () and entry.doc is None and entry.source is ConfigSource.DYNAMIC_TOPIC_CONFIG


def test_names_filter_and_all() -> None:
    view = BrokerView.from_values(1, {})
    assert len(view.topic_entries({})) == len(TOPIC_CONFIGS)
    assert len(view.topic_entries({}, [])) == len(TOPIC_CONFIGS)
    assert [e.name for e in view.topic_entries({}, ["segment.ms", "nope"])] == ["segment.ms"]


def test_broker_entries_per_broker() -> None:
    view = BrokerView.from_values(3, {"num.partitions": 4, "auto.create.topics.enable": True})
    entries = {e.name: e for e in view.broker_entries(True, include_synonyms=True)}
    assert entries["num.partitions"].value == "4"
    assert entries["num.partitions"].source is ConfigSource.STATIC_BROKER_CONFIG
    assert entries["auto.create.topics.enable"].source is ConfigSource.DEFAULT_CONFIG  # equal to default
    assert entries["node.id"].value == "3" and entries["broker.id"].value == "3"
    assert entries["log.retention.ms"].read_only is False
    assert entries["num.partitions"].read_only is True
    password = entries["ssl.keystore.password"]
    assert password.sensitive and password.value is None and password.type is ConfigType.PASSWORD


def test_broker_cluster_default_resource_lists_dynamic_defaults_only() -> None:
    view = BrokerView.from_values(1, {"num.partitions": 4})
    assert view.broker_entries(False) == []
    view.dynamic_default["log.retention.ms"] = "100"
    (entry,) = view.broker_entries(False)
    assert entry.name == "log.retention.ms" and entry.value == "100"
    assert entry.source is ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG


def test_dynamic_default_beats_static_for_topics() -> None:
    view = BrokerView.from_values(1, {"log.retention.ms": 50})
    view.dynamic_default["log.retention.ms"] = "100"
    (entry,) = view.topic_entries({}, ["retention.ms"], include_synonyms=True)
    assert entry.value == "100" and entry.source is ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG
    assert [s.value for s in entry.synonyms[:2]] == ["100", "50"]


def test_from_values_rejects_unknown_names() -> None:
    with pytest.raises(KeyError):
        BrokerView.from_values(1, {"no.such.broker.config": 1})


def test_broker_synonym_groups() -> None:
    assert broker_synonyms("log.retention.hours") == ("log.retention.ms", "log.retention.minutes", "log.retention.hours")
    assert broker_synonyms("num.partitions") == ("num.partitions",)
