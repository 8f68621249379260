"""Group configs (KIP-848): DescribeConfigs / AlterConfigs / IncrementalAlterConfigs for
resource type GROUP, as Kafka 4.0's ``GroupConfig`` and ``GroupConfigManager`` answer them.

Five configs, INT each: ``consumer.session.timeout.ms`` and ``consumer.heartbeat.interval.ms``
(default: the broker's ``group.consumer.*`` settings) and the share-group ones. A value must
be at least 1 (1000 for ``share.record.lock.duration.ms``) and lie within the broker's
``group.consumer.min/max.*`` (``group.share.min/max.*``) bounds, with Kafka's messages.
Overrides are kept in a state store and applied at once to the group's KIP-848 session timeout
and heartbeat interval; share-group ones are kept and described (kafkaish has no share groups).
Any group name may be described, existing or not; the empty name is INVALID_REQUEST.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kafkaish.admin.broker_configs import ConfigEntry, SynonymEntry
from kafkaish.admin.topic_configs import ConfigSource, ConfigType, config_error
from kafkaish.wire.constants import AlterConfigOpType
from kafkaish.wire.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from kafkaish.config import Settings
    from kafkaish.coordinator.group import GroupCoordinator
    from kafkaish.storage.engine import StorageEngine

_STORE = "admin.group_configs"


@dataclass(frozen=True, slots=True)
class GroupConfigDef:
    name: str
    default: int
    at_least: int
    bounds: tuple[str, int, int]  # broker config prefix (group.consumer.min... / max...), min, max
    doc: str
    field: str | None = None  # the GroupConfig field it overrides for KIP-848 groups
    setting: str | None = None  # the broker Settings attribute giving its default


GROUP_CONFIGS: dict[str, GroupConfigDef] = {d.name: d for d in (
    GroupConfigDef("consumer.heartbeat.interval.ms", 5000, 1, ("group.consumer.%s.heartbeat.interval.ms", 5000, 15000),
                   "Heartbeat interval the coordinator tells the group's consumer-protocol members.",
                   "consumer_heartbeat_interval_ms", "group_consumer_heartbeat_interval_ms"),
    GroupConfigDef("consumer.session.timeout.ms", 45000, 1, ("group.consumer.%s.session.timeout.ms", 45000, 60000),
                   "How long a consumer-protocol member may go without a heartbeat before it is removed.",
                   "consumer_session_timeout_ms", "group_consumer_session_timeout_ms"),
    GroupConfigDef("share.heartbeat.interval.ms", 5000, 1, ("group.share.%s.heartbeat.interval.ms", 5000, 15000),
                   "Heartbeat interval of share-group members."),
    GroupConfigDef("share.record.lock.duration.ms", 30000, 1000,
                   ("group.share.%s.record.lock.duration.ms", 15000, 60000),
                   "How long a share-group member holds the records it acquired."),
    GroupConfigDef("share.session.timeout.ms", 45000, 1, ("group.share.%s.session.timeout.ms", 45000, 60000),
                   "How long a share-group member may go without a heartbeat before it is removed."),
)}


class GroupConfigs:
    """The GROUP config resources of one cluster (Kafka's GroupConfigManager)."""

    def __init__(self, settings: "Settings", storage: "StorageEngine", groups: "GroupCoordinator") -> None:
        self.settings = settings
        self.storage = storage
        self.groups = groups
        for group_id, overrides in self._stored().items():  # kept across restarts
            self._apply(group_id, overrides)

    def _default(self, d: GroupConfigDef) -> int:
        value = getattr(self.settings, d.setting, None) if d.setting else None
        return d.default if value is None else int(value)

    def _stored(self) -> dict[str, dict[str, str]]:
        items = self.storage.state_store(_STORE).items()
        return {group: json.loads(raw) for group, raw in items.items()}

    def describe(self, group_id: str, keys: "Sequence[str] | None", include_synonyms: bool,
                 include_docs: bool) -> list[ConfigEntry]:
        if not group_id:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Group name must not be empty")
        overrides = self._stored().get(group_id, {})
        out = []
        for name, d in sorted(GROUP_CONFIGS.items()):
            if keys and name not in keys:
                continue
            value = overrides.get(name, str(self._default(d)))
            source = ConfigSource.GROUP_CONFIG if name in overrides else ConfigSource.DEFAULT_CONFIG
            out.append(ConfigEntry(name=name, value=value, source=source, read_only=False, sensitive=False,
                                   type=ConfigType.INT, doc=d.doc if include_docs else None,
                                   synonyms=(SynonymEntry(name, value, source),) if include_synonyms else ()))
        return out

    def _validate(self, name: str, raw: str) -> str:
        d = GROUP_CONFIGS[name]
        try:
            value = int(raw.strip())
        except ValueError:
            raise config_error(f"Invalid value {raw} for configuration {name}: Not a number of type INT") from None
        if value < d.at_least:
            raise config_error(f"Invalid value {raw} for configuration {name}: Value must be at least {d.at_least}")
        pattern, low, high = d.bounds
        default = self._default(d)  # kafkaish's faster defaults stay within their own bounds
        if value < min(low, default):
            raise config_error(f"{name} must be greater than or equal to {pattern % 'min'}")
        if value > max(high, default):
            raise config_error(f"{name} must be less than or equal to {pattern % 'max'}")
        return str(value)

    def alter(self, group_id: str, changes: "Sequence[tuple[str, int | None, str | None]]",
              incremental: bool, validate_only: bool) -> None:
        if not group_id:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Default group resources are not allowed.")
        updated: dict[str, str] = dict(self._stored().get(group_id, {})) if incremental else {}
        for name, op, value in changes:
            if name not in GROUP_CONFIGS:
                raise config_error(f"Unknown group config name: {name}")
            kind = AlterConfigOpType.SET if op is None else op
            if kind == AlterConfigOpType.DELETE or (value is None and not incremental):
                updated.pop(name, None)
            elif kind == AlterConfigOpType.SET and value is not None:
                updated[name] = self._validate(name, value)
            elif kind in (AlterConfigOpType.APPEND, AlterConfigOpType.SUBTRACT):
                raise config_error(f"Can't {AlterConfigOpType(kind).name} to key {name} because its type is not LIST.")
            else:
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Null value not supported for : {name}")
        if validate_only:
            return
        raw = json.dumps(updated, sort_keys=True).encode() if updated else None
        self.storage.state_store(_STORE).put(group_id, raw)
        self._apply(group_id, updated)

    def _apply(self, group_id: str, overrides: dict[str, str]) -> None:
        fields: dict[str, Any] = {d.field: int(overrides[n]) for n, d in GROUP_CONFIGS.items()
                                  if d.field and n in overrides}
        self.groups.set_group_overrides(group_id, fields)
