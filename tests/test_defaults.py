"""Each Kafka default is one fact: every place that states it agrees, or differs on purpose.

A default can be stated by the ``Settings`` field, the broker and topic config catalogs
(``kafkaish.admin``), a coordinator config dataclass (``GroupConfig``/``TxnConfig``, whose fields
name their Kafka config) and storage's ``LogConfig``. Where kafkaish deliberately departs from
Kafka, the departure is listed here with its reason, and must stay a departure.
"""

from __future__ import annotations

import dataclasses

import pytest

from kafkaish.admin.broker_configs import BROKER_CONFIGS
from kafkaish.admin.configs import DEFAULT_RETENTION_MS
from kafkaish.admin.topic_configs import TOPIC_CONFIGS
from kafkaish.config import SETTINGS_TO_KAFKA, Settings, component_config
from kafkaish.coordinator.group_results import GroupConfig
from kafkaish.coordinator.txn_results import TxnConfig
from kafkaish.storage.engine import DEFAULT_MAX_MESSAGE_BYTES, LogConfig

#: Kafka config -> kafkaish's own default, and why it is not Kafka's.
KAFKAISH_DEFAULTS: dict[str, object] = {
    # CI users turn Kafka's 3000 ms off; 100 ms still lets members started together share
    # the first generation (scripts/bench_groups.py, docs/GROUPS.md).
    "group.initial.rebalance.delay.ms": 100,
    # KIP-848 members see assignment changes only at their next heartbeat (Kafka: 5000 ms).
    "group.consumer.heartbeat.interval.ms": 500,
    # Kafka has no usable default (-1: must be set); a single broker is node 1.
    "node.id": 1,
    # Bounded, so clients sending incomplete frames cannot exhaust memory (Kafka: -1, unbounded).
    "queued.max.request.bytes": 268_435_456,
}
#: Coordinator config fields that carry kafkaish's default rather than Kafka's (the broker
#: always builds them from Settings; the dataclass default serves the pure coordinator tests).
COMPONENT_KAFKAISH = {("GroupConfig", "group.initial.rebalance.delay.ms")}


def _text(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _kafka_default(name: str) -> str | None:
    """Kafka's default as the catalogs state it (log.retention.ms through retention.ms's synonyms)."""
    if name == "log.retention.ms":
        return TOPIC_CONFIGS["retention.ms"].default
    definition = BROKER_CONFIGS.get(name)
    return None if definition is None else definition.default


def _component_defaults() -> dict[str, list[tuple[str, int]]]:
    """Kafka config -> [(dataclass, default in the config's own unit)] from the coordinators' configs."""
    out: dict[str, list[tuple[str, int]]] = {}
    for cls in (GroupConfig, TxnConfig):
        for f in dataclasses.fields(cls):
            name = f.metadata.get("kafka")
            if name is not None:
                out.setdefault(name, []).append((cls.__name__, f.default // f.metadata.get("scale", 1)))
    return out


@pytest.mark.parametrize("attribute", sorted(SETTINGS_TO_KAFKA))
def test_settings_default_is_kafkas_unless_listed(attribute: str) -> None:
    name = SETTINGS_TO_KAFKA[attribute]
    ours = Settings.model_fields[attribute].default
    kafka = _kafka_default(name)
    components = {value for cls, value in _component_defaults().get(name, []) if (cls, name) not in COMPONENT_KAFKAISH}
    if kafka is None and components:
        kafka = _text(components.pop())
    if name in KAFKAISH_DEFAULTS:
        assert ours == KAFKAISH_DEFAULTS[name] and _text(ours) != kafka, f"{name}: no longer a deliberate departure"
    elif kafka is not None:
        assert _text(ours) == kafka, f"Settings.{attribute} = {ours!r} but Kafka's {name} default is {kafka}"
    assert not components or {_text(c) for c in components} == {kafka}, f"{name}: coordinator configs disagree"


def test_coordinator_config_defaults_are_kafkas() -> None:
    for name, stated in _component_defaults().items():
        for cls, value in stated:
            expected = KAFKAISH_DEFAULTS[name] if (cls, name) in COMPONENT_KAFKAISH else _kafka_default(name)
            if expected is not None:
                assert _text(value) == _text(expected), f"{cls}: {name} = {value}, not {expected}"


def test_the_broker_builds_coordinator_configs_from_settings() -> None:
    settings = Settings(in_memory=True)
    group = component_config(GroupConfig, settings)
    assert (group.initial_rebalance_delay_ms, group.consumer_heartbeat_interval_ms) == (100, 500)
    assert group.offsets_retention_ms == settings.offsets_retention_minutes * 60_000
    assert component_config(TxnConfig, settings).max_timeout_ms == settings.transaction_max_timeout_ms


def test_storage_log_defaults_are_the_topic_catalogs() -> None:
    log = LogConfig()
    stated = {
        "retention.ms": log.retention_ms, "retention.bytes": log.retention_bytes,
        "segment.bytes": log.segment_bytes, "segment.ms": log.segment_ms,
        "max.message.bytes": log.max_message_bytes, "min.compaction.lag.ms": log.min_compaction_lag_ms,
        "delete.retention.ms": log.delete_retention_ms, "min.cleanable.dirty.ratio": log.min_cleanable_dirty_ratio,
        "index.interval.bytes": log.index_interval_bytes,
        "cleanup.policy": ",".join(p for p, on in (("compact", log.compact), ("delete", log.delete)) if on),
        "message.timestamp.type": "LogAppendTime" if log.log_append_time else "CreateTime",
    }
    assert {n: _text(v) for n, v in stated.items()} == {n: TOPIC_CONFIGS[n].default for n in stated}
    assert DEFAULT_MAX_MESSAGE_BYTES == int(BROKER_CONFIGS["message.max.bytes"].default)
    assert DEFAULT_RETENTION_MS == log.retention_ms
