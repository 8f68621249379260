"""Describe and alter topic and broker configs, as Kafka's ``ConfigHelper`` and
``ConfigurationControlManager`` do.

Topic overrides live in storage (``StorageEngine.set_topic_configs``, full replacement), so a
change takes effect at once and survives a restart. Broker configs come from the running
Settings (static) plus dynamic values set through AlterConfigs / IncrementalAlterConfigs on
the BROKER resource; the dynamic ones are kept in the ``admin.broker_configs`` state store.
They show in DescribeConfigs and become the defaults of topic configs, pushed into storage
(``set_topic_defaults``) when the manager starts and after every change.

The ``ConfigManager`` belongs to one broker (``Broker.configs``): it knows that broker's node id
and listener, and keeps its dynamic configs as instance state.

Resource types are Kafka's ``ConfigResource.Type`` ids; config operations are
``AlterConfigOp.OpType`` (KIP-339).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TYPE_CHECKING

from kafkaish.admin.broker_configs import (
    AT_LEAST,
    BROKER_CONFIGS,
    FIXED_AT_START,
    LISTENER_PREFIX_ONLY,
    PER_BROKER_ONLY,
    BrokerView,
    ConfigEntry,
    canonical,
)
from kafkaish.admin.group_configs import GroupConfigs
from kafkaish.admin.loggers import alter_loggers, describe_loggers
from kafkaish.admin.topic_configs import (
    TOPIC_CONFIGS,
    config_def,
    config_error,
    list_items,
    parse_value,
    validate_configs,
)
from kafkaish.admin.topic_names import validate_topic_name
from kafkaish.config_quick import kafka_values
from kafkaish.listeners import protocol_map
from kafkaish.sasl import MECHANISMS
from kafkaish.storage import StorageEngine
from kafkaish.wire.constants import AlterConfigOpType as OpType
from kafkaish.wire.constants import ConfigResourceType as ResourceType
from kafkaish.wire.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kafkaish.config import Settings


#: Kafka leaves log.retention.ms unset and keeps 7 days through log.retention.hours = 168.
DEFAULT_RETENTION_MS = int(TOPIC_CONFIGS["retention.ms"].default or 0)
_STORE = "admin.broker_configs"


class ConfigManager:
    """Describe and alter the configs of topics, this broker and its loggers."""

    def __init__(self, settings: Settings, storage: StorageEngine, node_id: int,
                 listeners: Callable[[], tuple[str, str]]) -> None:
        self.settings = settings
        self.storage = storage
        self.node_id = node_id
        self._listeners = listeners  # (listeners, advertised.listeners): ports are known only once listening
        stored = storage.state_store(_STORE).items()
        self._dynamic_default: dict[str, str] = json.loads(stored.get("default", b"{}"))
        self._dynamic_broker: dict[str, str] = json.loads(stored.get("broker", b"{}"))
        self.group_configs: GroupConfigs | None = None  # GROUP resources (KIP-848), set by the broker
        self.apply_topic_defaults()

    def settings_values(self) -> dict[str, object]:
        """The running Settings under Kafka's broker config names."""
        settings = self.settings
        listeners, advertised = self._listeners()
        values: dict[str, object] = {
            "process.roles": "broker,controller",
            # One broker: the internal topics can only have one replica.
            "offsets.topic.replication.factor": 1,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "share.coordinator.state.topic.replication.factor": 1,
            "share.coordinator.state.topic.min.isr": 1,
            "listeners": listeners,
            "advertised.listeners": advertised,
            "sasl.enabled.mechanisms": ",".join(MECHANISMS),
            "ssl.client.auth": settings.ssl_client_auth,
        }
        if settings.listener_security_protocol_map:
            values["listener.security.protocol.map"] = ",".join(
                f"{name}:{protocol}" for name, protocol in protocol_map(settings.listener_security_protocol_map).items())
        for kafka_name, value in kafka_values(settings).items():
            if kafka_name in BROKER_CONFIGS and kafka_name != "log.retention.ms":
                values[kafka_name] = value
        # KIP-848 bounds: kafkaish's faster defaults lie below Kafka's minimums, which then move
        # down with them (a group config may choose anything from there up)
        for name, default_name in (("group.consumer.min.heartbeat.interval.ms", "group.consumer.heartbeat.interval.ms"),
                                   ("group.consumer.min.session.timeout.ms", "group.consumer.session.timeout.ms")):
            values[name] = min(int(BROKER_CONFIGS[name].default or 0), int(values[default_name]))  # type: ignore[call-overload]
        if settings.log_retention_ms != DEFAULT_RETENTION_MS:
            values["log.retention.ms"] = settings.log_retention_ms
        if not settings.in_memory:
            values["log.dirs"] = self.storage.log_dir
        return values

    def broker_view(self) -> BrokerView:
        """Settings plus the dynamic broker configs, as a BrokerView."""
        view = BrokerView.from_values(self.node_id, self.settings_values())
        view.dynamic_default.update(self._dynamic_default)
        view.dynamic_broker.update(self._dynamic_broker)
        return view

    def dynamic_value(self, name: str) -> str | None:
        """A dynamic broker config as set by AlterConfigs (this broker's own, else the cluster
        default), None when unset: for configs handlers read per request without a BrokerView."""
        value = self._dynamic_broker.get(name)
        return value if value is not None else self._dynamic_default.get(name)

    def apply_topic_defaults(self) -> None:
        """Push the broker-level topic defaults (static settings + dynamic configs) into storage."""
        self.storage.set_topic_defaults(self.broker_view().topic_defaults())

    def _broker_scope(self, resource_name: str | None) -> bool:
        """True for this broker's own configs, False for cluster-wide defaults (empty name)."""
        if not resource_name:
            return False
        try:
            node = int(resource_name)
        except ValueError:
            raise KafkaError(ErrorCode.INVALID_REQUEST,
                             f"Broker id must be an integer, but it is: {resource_name}") from None
        if node != self.node_id:
            raise KafkaError(ErrorCode.INVALID_REQUEST,
                             f"Unexpected broker id, expected {self.node_id} or empty string, but received {resource_name}")
        return True

    def describe(self, resource_type: int, resource_name: str, keys: Sequence[str] | None,
                 include_synonyms: bool, include_docs: bool) -> list[ConfigEntry]:
        """Config entries of one resource; raises KafkaError (UNKNOWN_TOPIC_OR_PARTITION has no message)."""
        view = self.broker_view()
        if resource_type == ResourceType.TOPIC:
            validate_topic_name(resource_name)
            meta = self.storage.topics().get(resource_name)
            if meta is None:
                raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
            return view.topic_entries(meta.configs, keys, include_synonyms=include_synonyms, include_docs=include_docs)
        if resource_type == ResourceType.BROKER:
            per_broker = self._broker_scope(resource_name)
            return view.broker_entries(per_broker, keys, include_synonyms=include_synonyms, include_docs=include_docs)
        if resource_type == ResourceType.BROKER_LOGGER:
            self._logger_scope(resource_name)
            return describe_loggers(keys)
        if resource_type == ResourceType.GROUP and self.group_configs is not None:
            return self.group_configs.describe(resource_name, keys, include_synonyms, include_docs)
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type: {_type_name(resource_type)}")

    def _logger_scope(self, resource_name: str | None) -> None:
        """BROKER_LOGGER resources must name this broker (no cluster-wide form)."""
        if not resource_name:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Broker id must not be empty")
        self._broker_scope(resource_name)

    def alter_topic(self, name: str, changes: Sequence[tuple[str, int | None, str | None]],
                    incremental: bool, validate_only: bool) -> dict[str, str]:
        """AlterConfigs (``incremental`` False: the new full override set) or IncrementalAlterConfigs.

        ``changes`` are (config, op, value); op is ignored for full replacement. Returns the
        canonical override set that is (or, with validate_only, would be) in force.
        """
        _check_unique(changes)
        validate_topic_name(name)
        meta = self.storage.topics().get(name)
        if meta is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{name}' does not exist.")
        view = self.broker_view()
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
            self.storage.set_topic_configs(name, normalized)
        return normalized

    def alter_broker(self, resource_name: str, changes: Sequence[tuple[str, int | None, str | None]],
                     incremental: bool, validate_only: bool) -> dict[str, str]:
        """Change dynamic broker configs (cluster default for "" or this broker's id)."""
        _check_unique(changes)
        per_broker = self._broker_scope(resource_name)
        layer = self._dynamic_broker if per_broker else self._dynamic_default
        updated: dict[str, str] = dict(layer) if incremental else {}
        view = self.broker_view()
        for config, op, value in changes:
            definition = BROKER_CONFIGS.get(config)
            if definition is None:  # DynamicBrokerConfig keeps names Kafka does not define (plugin configs)
                if value is None or op == OpType.DELETE:
                    updated.pop(config, None)
                else:
                    updated[config] = value
                continue
            if not definition.dynamic:
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Cannot update these configs dynamically: Set({config})")
            if config in LISTENER_PREFIX_ONLY:
                raise KafkaError(ErrorCode.INVALID_REQUEST, "These security configs can be dynamically updated "
                                 f"only per-listener using the listener prefix: HashSet({config})")
            if config in PER_BROKER_ONLY and not per_broker:
                raise KafkaError(ErrorCode.INVALID_REQUEST, "Cannot update these configs at default cluster level, "
                                 f"broker id must be specified: Set({config})")
            if config in FIXED_AT_START:  # dynamic in Kafka, fixed at start here
                raise KafkaError(ErrorCode.INVALID_REQUEST,
                                 f"kafkaish cannot update {config} while running; restart it with the new value")
            if incremental:
                current = {config: view.broker_value(config) or ""} if config not in updated else {}
                _apply_op(updated, current, config, op if op is not None else 0, value,
                          definition.type.name == "LIST")
            elif value is not None:
                updated[config] = value
        for config in list(updated):
            if config in BROKER_CONFIGS:
                updated[config] = _checked_broker_value(config, updated[config], view.broker_value(config))
        if not validate_only:
            layer.clear()
            layer.update(updated)
            store = self.storage.state_store(_STORE)
            store.put("broker" if per_broker else "default", json.dumps(layer, sort_keys=True).encode())
            self.apply_topic_defaults()
        return updated

    def alter(self, resource_type: int, resource_name: str,
              changes: Sequence[tuple[str, int | None, str | None]], incremental: bool, validate_only: bool) -> None:
        """Dispatch an alter of one resource; raises KafkaError."""
        if resource_type == ResourceType.TOPIC:
            self.alter_topic(resource_name, changes, incremental, validate_only)
        elif resource_type == ResourceType.BROKER:
            self.alter_broker(resource_name, changes, incremental, validate_only)
        elif resource_type == ResourceType.BROKER_LOGGER:
            if not incremental:  # as Kafka: only IncrementalAlterConfigs may change log levels
                raise KafkaError(ErrorCode.INVALID_REQUEST,
                                 "AlterConfigs does not support the resource type BROKER_LOGGER; use IncrementalAlterConfigs")
            _check_unique(changes)
            self._logger_scope(resource_name)
            alter_loggers(changes, validate_only)
        elif resource_type == ResourceType.GROUP and self.group_configs is not None:
            _check_unique(changes)
            self.group_configs.alter(resource_name, changes, incremental, validate_only)
        else:
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type: {_type_name(resource_type)}")


#: broker config -> the topic configs it is the broker-level default of (with the scale)
_TOPIC_DEFAULT_OF: dict[str, list[tuple[str, int]]] = {}
for _topic_def in TOPIC_CONFIGS.values():
    for _synonym in _topic_def.synonyms:
        _TOPIC_DEFAULT_OF.setdefault(_synonym.name, []).append((_topic_def.name, _synonym.scale))


def _checked_broker_value(config: str, raw: str, current: str | None) -> str:
    """Canonical text of a dynamic broker config's new value. As Kafka's ConfigAdminManager, a
    value of the wrong type, below the config's minimum, or one the topic configs it is the
    default of refuse (DynamicLogConfig validates them as LogConfig does), is INVALID_REQUEST
    for a BROKER resource."""
    try:
        text = canonical(BROKER_CONFIGS[config].type, raw, config) or ""
        if config in AT_LEAST and text and int(text) < AT_LEAST[config]:
            raise KafkaError(ErrorCode.INVALID_REQUEST,
                             f"Invalid value {raw} for configuration {config}: Value must be at least {AT_LEAST[config]}")
        _check_thread_count(config, text, current)
        for topic_name, scale in _TOPIC_DEFAULT_OF.get(config, ()):
            definition = TOPIC_CONFIGS[topic_name]
            if definition.validator is None or text == "":
                continue
            value = parse_value(topic_name, definition.type, text)
            if scale != 1 and isinstance(value, int):
                value *= scale
            reason = definition.validator.problem(value)
            if reason is not None:
                raise KafkaError(ErrorCode.INVALID_CONFIG, f"Invalid value {raw} for configuration {config}: {reason}")
    except KafkaError as e:
        if e.code != ErrorCode.INVALID_CONFIG:
            raise
        raise KafkaError(ErrorCode.INVALID_REQUEST, e.message) from None
    return text


# DynamicThreadPool / DynamicLogConfig: a thread count changes by at most a factor of two at once
_THREAD_POOLS = frozenset({"num.io.threads", "num.network.threads", "num.replica.fetchers",
                           "num.recovery.threads.per.data.dir", "background.threads"})


def _check_thread_count(config: str, text: str, current: str | None) -> None:
    if not text or not current or (config not in _THREAD_POOLS and config != "log.cleaner.threads"):
        return
    new, old = int(text), int(current)
    if new > 2 * old:
        raise KafkaError(ErrorCode.INVALID_REQUEST, (
            f"Log cleaner threads cannot be increased to more than double the current value {old}"
            if config == "log.cleaner.threads" else
            f"Dynamic thread count update validation failed for {config}={new}, "
            f"value should not be greater than double the current value {old}"))
    if config != "log.cleaner.threads" and new < old // 2:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Dynamic thread count update validation failed for "
                         f"{config}={new}, value should be at least half the current value {old}")


def _type_name(resource_type: int) -> str:
    try:
        return ResourceType(resource_type).name
    except ValueError:
        return str(resource_type)


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
