"""Describe and alter topic and broker configs, as Kafka's ``ConfigHelper`` and
``ConfigurationControlManager`` do.

Topic overrides live in storage (``StorageEngine.set_topic_configs``, full replacement), so a
change takes effect at once and survives a restart. Broker configs come from the running
Settings (static) plus dynamic values set through AlterConfigs / IncrementalAlterConfigs on
the BROKER resource; the dynamic ones are kept in the ``admin.broker_configs`` state store.
They show in DescribeConfigs and become the defaults of topic configs there; the storage
engine itself still reads only topic overrides and its own Settings.

Resource types are Kafka's ``ConfigResource.Type`` ids; config operations are
``AlterConfigOp.OpType`` (KIP-339).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kafkaish.broker_configs import BROKER_CONFIGS, BrokerView, ConfigEntry, canonical
from kafkaish.broker_loggers import alter_loggers, describe_loggers
from kafkaish.topic_configs import TOPIC_CONFIGS, config_def, config_error, list_items, validate_configs
from kafkaish.topic_names import validate_topic_name
from kafkaish.wire.constants import AlterConfigOpType as OpType
from kafkaish.wire.constants import ConfigResourceType as ResourceType
from kafkaish.wire.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kafkaish.broker import Broker


DEFAULT_RETENTION_MS = 604_800_000
_STORE = "admin.broker_configs"
# (Kafka broker config, kafkaish Settings attribute)
_SETTINGS_MAP: tuple[tuple[str, str], ...] = (
    ("num.partitions", "default_partitions"),
    ("auto.create.topics.enable", "auto_create_topics"),
    ("message.max.bytes", "message_max_bytes"),
    ("socket.request.max.bytes", "socket_request_max_bytes"),
    ("group.initial.rebalance.delay.ms", "group_initial_rebalance_delay_ms"),
    ("group.min.session.timeout.ms", "group_min_session_timeout_ms"),
    ("group.max.session.timeout.ms", "group_max_session_timeout_ms"),
    ("transaction.max.timeout.ms", "transaction_max_timeout_ms"),
    ("log.segment.bytes", "log_segment_bytes"),
    ("log.retention.check.interval.ms", "log_retention_check_interval_ms"),
)


def settings_values(broker: "Broker") -> dict[str, object]:
    """The running Settings under Kafka's broker config names."""
    settings = broker.config
    values: dict[str, object] = {
        "process.roles": "broker,controller",
        # One broker: the internal topics can only have one replica.
        "offsets.topic.replication.factor": 1,
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "listeners": f"PLAINTEXT://{settings.host}:{settings.port}",
        "advertised.listeners": f"PLAINTEXT://{broker.advertised_host}:{broker.advertised_port}",
    }
    for kafka_name, attribute in _SETTINGS_MAP:
        value = getattr(settings, attribute, None)
        if value is not None:
            values[kafka_name] = value
    retention = getattr(settings, "log_retention_ms", None)
    if retention is not None and retention != DEFAULT_RETENTION_MS:
        values["log.retention.ms"] = retention  # Kafka leaves it unset and uses log.retention.hours
    if not getattr(settings, "in_memory", True):
        values["log.dirs"] = str(log_dir(broker))
    return values


def log_dir(broker: "Broker") -> str:
    """The broker's single log directory, as DescribeLogDirs reports it."""
    settings = broker.config
    if getattr(settings, "in_memory", False):
        return "memory://"
    return str(settings.data_dir.resolve())


@dataclass(slots=True)
class _Dynamic:
    default: dict[str, str]
    per_broker: dict[str, str]


_DYNAMIC: "weakref.WeakKeyDictionary[Broker, _Dynamic]" = weakref.WeakKeyDictionary()


def _dynamic(broker: "Broker") -> _Dynamic:
    found = _DYNAMIC.get(broker)
    if found is None:
        stored = broker.storage.state_store(_STORE).items()
        found = _Dynamic(
            default=json.loads(stored.get("default", b"{}")),
            per_broker=json.loads(stored.get("broker", b"{}")),
        )
        _DYNAMIC[broker] = found
    return found


def broker_view(broker: "Broker") -> BrokerView:
    """Settings plus the dynamic broker configs, as a BrokerView."""
    view = BrokerView.from_values(broker.node_id, settings_values(broker))
    dynamic = _dynamic(broker)
    view.dynamic_default.update(dynamic.default)
    view.dynamic_broker.update(dynamic.per_broker)
    return view


# --------------------------------------------------------------------------- describe


def _broker_scope(broker: "Broker", resource_name: str | None) -> bool:
    """True for this broker's own configs, False for cluster-wide defaults (empty name)."""
    if not resource_name:
        return False
    try:
        node = int(resource_name)
    except ValueError:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Broker id must be an integer, but it is: {resource_name}") from None
    if node != broker.node_id:
        raise KafkaError(ErrorCode.INVALID_REQUEST,
                         f"Unexpected broker id, expected {broker.node_id} or empty string, but received {resource_name}")
    return True


def describe(broker: "Broker", resource_type: int, resource_name: str, keys: Sequence[str] | None,
             include_synonyms: bool, include_docs: bool) -> list[ConfigEntry]:
    """Config entries of one resource; raises KafkaError (UNKNOWN_TOPIC_OR_PARTITION has no message)."""
    view = broker_view(broker)
    if resource_type == ResourceType.TOPIC:
        validate_topic_name(resource_name)
        meta = broker.storage.topics().get(resource_name)
        if meta is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        return view.topic_entries(meta.configs, keys, include_synonyms=include_synonyms, include_docs=include_docs)
    if resource_type == ResourceType.BROKER:
        per_broker = _broker_scope(broker, resource_name)
        return view.broker_entries(per_broker, keys, include_synonyms=include_synonyms, include_docs=include_docs)
    if resource_type == ResourceType.BROKER_LOGGER:
        _logger_scope(broker, resource_name)
        return describe_loggers(keys)
    raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type: {_type_name(resource_type)}")


def _logger_scope(broker: "Broker", resource_name: str | None) -> None:
    """BROKER_LOGGER resources must name this broker (no cluster-wide form)."""
    if not resource_name:
        raise KafkaError(ErrorCode.INVALID_REQUEST, "Broker id must not be empty")
    _broker_scope(broker, resource_name)


def _type_name(resource_type: int) -> str:
    try:
        return ResourceType(resource_type).name
    except ValueError:
        return str(resource_type)


# --------------------------------------------------------------------------- alter


def _check_unique(changes: Sequence[tuple[str, Any, Any]]) -> None:
    names = [c[0] for c in changes]
    if len(set(names)) != len(names):
        raise KafkaError(ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys")


def _apply_op(current: dict[str, str], defaults: Mapping[str, str], name: str, op: int,
              value: str | None, is_list: bool) -> None:
    """Apply one IncrementalAlterConfigs operation to ``current`` (the override map)."""
    try:
        kind = OpType(op)
    except ValueError:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown alter config operation type {op}") from None
    if kind is OpType.DELETE:
        current.pop(name, None)
        return
    if value is None:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Null value not supported for : {name}")
    if kind is OpType.SET:
        current[name] = value
        return
    if not is_list:
        raise config_error(f"Can't {kind.name} to key {name} because its type is not LIST.")
    items = list_items(current.get(name, defaults.get(name)))
    changes = list_items(value)
    if kind is OpType.APPEND:
        items += [item for item in changes if item not in items]
    else:
        items = [item for item in items if item not in changes]
    current[name] = ",".join(items)


def alter_topic(broker: "Broker", name: str, changes: Sequence[tuple[str, int | None, str | None]],
                incremental: bool, validate_only: bool) -> dict[str, str]:
    """AlterConfigs (``incremental`` False: the new full override set) or IncrementalAlterConfigs.

    ``changes`` are (config, op, value); op is ignored for full replacement. Returns the
    canonical override set that is (or, with validate_only, would be) in force.
    """
    _check_unique(changes)
    validate_topic_name(name)
    meta = broker.storage.topics().get(name)
    if meta is None:
        raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{name}' does not exist.")
    view = broker_view(broker)
    defaults = view.topic_defaults()
    overrides: dict[str, str] = dict(meta.configs) if incremental else {}
    for config, op, value in changes:
        if not incremental:
            if value is None:
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Null value not supported for : {config}")
            overrides[config] = value
            continue
        definition = config_def(config)  # unknown names fail even for DELETE, as in Kafka
        _apply_op(overrides, {**defaults, **meta.configs}, config, op if op is not None else 0, value,
                  definition.is_list)
    normalized = validate_configs(overrides, base=defaults)
    if not validate_only and normalized != meta.configs:
        broker.storage.set_topic_configs(name, normalized)
    return normalized


def alter_broker(broker: "Broker", resource_name: str, changes: Sequence[tuple[str, int | None, str | None]],
                 incremental: bool, validate_only: bool) -> dict[str, str]:
    """Change dynamic broker configs (cluster default for "" or this broker's id)."""
    _check_unique(changes)
    per_broker = _broker_scope(broker, resource_name)
    dynamic = _dynamic(broker)
    layer = dynamic.per_broker if per_broker else dynamic.default
    updated: dict[str, str] = dict(layer) if incremental else {}
    view = broker_view(broker)
    for config, op, value in changes:
        definition = BROKER_CONFIGS.get(config)
        if definition is None:
            raise config_error(f"Unknown broker config name: {config}")
        if not definition.dynamic:
            raise config_error(f"Cannot update these configs dynamically: [{config}]")
        if incremental:
            current = {config: view.broker_value(config) or ""} if config not in updated else {}
            _apply_op(updated, current, config, op if op is not None else 0, value,
                      definition.type.name == "LIST")
        elif value is not None:
            updated[config] = value
    for config in list(updated):
        updated[config] = canonical(BROKER_CONFIGS[config].type, updated[config], config) or ""
    if not validate_only:
        layer.clear()
        layer.update(updated)
        store = broker.storage.state_store(_STORE)
        store.put("broker" if per_broker else "default", json.dumps(layer, sort_keys=True).encode())
        apply_topic_defaults(broker)
    return updated


def apply_topic_defaults(broker: "Broker") -> None:
    """Push the broker-level topic defaults (static settings + dynamic configs) into storage."""
    broker.storage.set_topic_defaults(broker_view(broker).topic_defaults())


def alter(broker: "Broker", resource_type: int, resource_name: str,
          changes: Sequence[tuple[str, int | None, str | None]], incremental: bool, validate_only: bool) -> None:
    """Dispatch an alter of one resource; raises KafkaError."""
    if resource_type == ResourceType.TOPIC:
        alter_topic(broker, resource_name, changes, incremental, validate_only)
    elif resource_type == ResourceType.BROKER:
        alter_broker(broker, resource_name, changes, incremental, validate_only)
    elif resource_type == ResourceType.BROKER_LOGGER:
        if not incremental:  # as Kafka: only IncrementalAlterConfigs may change log levels
            raise KafkaError(ErrorCode.INVALID_REQUEST,
                             "AlterConfigs does not support the resource type BROKER_LOGGER; use IncrementalAlterConfigs")
        _check_unique(changes)
        _logger_scope(broker, resource_name)
        alter_loggers(changes, validate_only)
    else:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type: {_type_name(resource_type)}")


def topic_config_names() -> list[str]:
    return sorted(TOPIC_CONFIGS)
