"""The catalog of Apache Kafka topic configs (Kafka 4.0's ``LogConfig``), with parsing and validation.

Each entry gives the ConfigDef type, the default (as the string DescribeConfigs shows), a
validator, a short documentation string of our own, and the broker configs that supply the
default when a topic has no override (``ServerTopicConfigSynonyms``: ``retention.ms`` <-
``log.retention.ms``, ``log.retention.minutes``, ``log.retention.hours``; the first one set
wins, hour and minute synonyms are scaled to milliseconds).

Values are handled as Kafka's ``ConfigDef`` does: a raw string is parsed by type (trimmed;
LIST split on commas), checked by the validator, and shown again through
``ConfigDef.convertToString`` (LIST joined by ",", BOOLEAN lower-case, numbers re-printed).
That canonical string is what ``validate`` returns and what we store.

Kafka 4.0 removed ``message.format.version`` (KIP-724) and
``message.timestamp.difference.max.ms`` (KIP-937); they are refused like any unknown name,
with a message saying so. ``message.downconversion.enable`` is kept as a no-op, as 4.x does.
"""

from __future__ import annotations

import math
from decimal import Decimal
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

from kafkaish.wire.constants import ConfigSource  # noqa: F401 - re-exported to the config catalogs
from kafkaish.wire.errors import ErrorCode, KafkaError

LONG_MAX = 2**63 - 1
INT_MAX = 2**31 - 1
_BOUNDS = {"INT": (-(2**31), INT_MAX), "LONG": (-(2**63), LONG_MAX), "SHORT": (-(2**15), 2**15 - 1)}


class ConfigType(IntEnum):
    """DescribeConfigs v3+ ``ConfigType`` (KIP-569, ``DescribeConfigsResponse.ConfigType``)."""

    UNKNOWN = 0
    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


def config_error(message: str) -> KafkaError:
    return KafkaError(ErrorCode.INVALID_CONFIG, message)


def _invalid(name: str, raw: object, reason: str) -> KafkaError:
    # Kafka's ConfigException text has this shape; admin tools show it verbatim.
    return config_error(f"Invalid value {raw} for configuration {name}: {reason}")


# --------------------------------------------------------------------------- parsing by type

ConfigValue = bool | int | float | str | list[str] | None


def _parse_int(name: str, raw: str, kind: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise _invalid(name, raw, f"Not a number of type {kind}") from None
    low, high = _BOUNDS[kind]
    if not low <= value <= high:
        raise _invalid(name, raw, f"Not a number of type {kind}")
    return value


def _parse_double(name: str, raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise _invalid(name, raw, "Not a number of type DOUBLE") from None
    return value


def _parse_bool(name: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text not in ("true", "false"):
        raise _invalid(name, raw, "Expected value to be either true or false")
    return text == "true"


def parse_value(name: str, ctype: ConfigType, raw: str) -> ConfigValue:
    """Parse ``raw`` as ``ConfigDef.parseType`` would; KafkaError(INVALID_CONFIG) if it cannot."""
    if ctype is ConfigType.BOOLEAN:
        return _parse_bool(name, raw)
    if ctype in (ConfigType.INT, ConfigType.LONG, ConfigType.SHORT):
        return _parse_int(name, raw, ctype.name)
    if ctype is ConfigType.DOUBLE:
        return _parse_double(name, raw)
    if ctype is ConfigType.LIST:
        text = raw.strip()
        return [item.strip() for item in text.split(",")] if text else []
    if ctype is ConfigType.PASSWORD:
        return raw  # never trimmed: whitespace may be part of a secret
    return raw.strip()


def _java_double(value: float) -> str:
    """``Double.toString``: '0.5', '1.0', '1.0E-4' (scientific below 1e-3 and from 1e7)."""
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if math.isnan(value):
        return "NaN"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e7):
        mantissa, exponent = format(Decimal(repr(value)).normalize(), "E").split("E")
        return f"{mantissa if '.' in mantissa else mantissa + '.0'}E{int(exponent)}"
    return repr(float(value))


def value_to_string(ctype: ConfigType, value: ConfigValue) -> str | None:
    """``ConfigDef.convertToString``: the canonical text of a parsed value."""
    if value is None:
        return None
    if ctype is ConfigType.LIST:
        assert isinstance(value, list)
        return ",".join(value)
    if ctype is ConfigType.BOOLEAN:
        return "true" if value else "false"
    if ctype is ConfigType.DOUBLE:
        assert isinstance(value, (int, float))
        return _java_double(float(value))
    return str(value)


# --------------------------------------------------------------------------- validators


class Validator(Protocol):
    def problem(self, value: ConfigValue) -> str | None: ...
    def describe(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Range:
    """``ConfigDef.Range``: an inclusive numeric range; either end may be open."""

    low: float | None = None
    high: float | None = None

    def problem(self, value: ConfigValue) -> str | None:
        assert isinstance(value, (int, float))
        if self.low is not None and value < self.low:
            if self.high is None:
                return f"Value must be at least {_num(self.low)}"
            return f"Value must be between {_num(self.low)} and {_num(self.high)}"
        if self.high is not None and value > self.high:
            if self.low is None:
                return f"Value must be no more than {_num(self.high)}"
            return f"Value must be between {_num(self.low)} and {_num(self.high)}"
        return None

    def describe(self) -> str:
        low = "..." if self.low is None else _num(self.low)
        if self.high is None:
            return f"[{low},...]"
        return f"[{low},...,{_num(self.high)}]"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True, slots=True)
class RangeOrExactly:
    """A range plus one extra allowed value, e.g. gzip level 1..9 or -1 (the library default)."""

    range: Range
    extra: int

    def problem(self, value: ConfigValue) -> str | None:
        if value == self.extra:
            return None
        reason = self.range.problem(value)
        return None if reason is None else f"{reason}, or exactly {self.extra}"

    def describe(self) -> str:
        return f"{self.range.describe()} or {self.extra}"


@dataclass(frozen=True, slots=True)
class OneOf:
    """``ConfigDef.ValidString.in``: the value must be one of these strings (case-sensitive)."""

    allowed: tuple[str, ...]

    def problem(self, value: ConfigValue) -> str | None:
        if value in self.allowed:
            return None
        return f"String must be one of: {', '.join(self.allowed)}"

    def describe(self) -> str:
        return "[" + ", ".join(self.allowed) + "]"


@dataclass(frozen=True, slots=True)
class EachOneOf:
    """``ConfigDef.ValidList.in``: every list item must be one of these strings."""

    allowed: tuple[str, ...]

    def problem(self, value: ConfigValue) -> str | None:
        assert isinstance(value, list)
        for item in value:
            if item not in self.allowed:
                return f"Each item must be one of: {', '.join(self.allowed)} (got '{item}')"
        return None

    def describe(self) -> str:
        return "[" + ", ".join(self.allowed) + "]"


@dataclass(frozen=True, slots=True)
class ThrottledReplicas:
    """``ThrottledReplicaListValidator``: '*' or a list of 'partition:broker' pairs."""

    def problem(self, value: ConfigValue) -> str | None:
        assert isinstance(value, list)
        if value == ["*"]:
            return None
        for item in value:
            left, sep, right = item.partition(":")
            if not (sep and left.strip().isdigit() and right.strip().isdigit()):
                return "must be '*' or a list of replicas written as partitionId:brokerId,partitionId:brokerId,..."
        return None

    def describe(self) -> str:
        return "[partitionId]:[brokerId],[partitionId]:[brokerId],..."


# --------------------------------------------------------------------------- the catalog


@dataclass(frozen=True, slots=True)
class Synonym:
    """A broker config that supplies a topic default; its value times ``scale`` is the topic value."""

    name: str
    scale: int = 1


@dataclass(frozen=True, slots=True)
class TopicConfigDef:
    name: str
    type: ConfigType
    default: str | None  # canonical text, as DescribeConfigs shows it
    doc: str
    validator: Validator | None = None
    synonyms: tuple[Synonym, ...] = field(default=())

    @property
    def sensitive(self) -> bool:
        return self.type is ConfigType.PASSWORD

    @property
    def is_list(self) -> bool:
        return self.type is ConfigType.LIST


def _d(
    name: str,
    ctype: ConfigType,
    default: str | None,
    doc: str,
    validator: Validator | None = None,
    *synonyms: str | Synonym,
) -> TopicConfigDef:
    syns = tuple(s if isinstance(s, Synonym) else Synonym(s) for s in synonyms)
    return TopicConfigDef(name, ctype, default, doc, validator, syns)


_B, _S, _I, _L, _D, _LIST = (
    ConfigType.BOOLEAN,
    ConfigType.STRING,
    ConfigType.INT,
    ConfigType.LONG,
    ConfigType.DOUBLE,
    ConfigType.LIST,
)
_HOUR, _MINUTE = 3_600_000, 60_000
_LMAX = str(LONG_MAX)
COMPRESSION_TYPES = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")

_CATALOG: tuple[TopicConfigDef, ...] = (
    _d("cleanup.policy", _LIST, "delete",
       "How old segments are removed: 'delete' drops them by age or size, 'compact' keeps only "
       "the latest record per key; both may be listed.",
       EachOneOf(("compact", "delete")), "log.cleanup.policy"),
    _d("compression.gzip.level", _I, "-1", "Compression level used when compression.type is gzip.",
       RangeOrExactly(Range(1, 9), -1), "compression.gzip.level"),
    _d("compression.lz4.level", _I, "9", "Compression level used when compression.type is lz4.",
       Range(1, 17), "compression.lz4.level"),
    _d("compression.type", _S, "producer",
       "Codec the broker stores batches with; 'producer' keeps whatever the producer sent, "
       "'uncompressed' stores them plain.", OneOf(COMPRESSION_TYPES), "compression.type"),
    _d("compression.zstd.level", _I, "3", "Compression level used when compression.type is zstd.",
       Range(-131072, 22), "compression.zstd.level"),
    _d("delete.retention.ms", _L, "86400000",
       "How long tombstones stay readable in a compacted topic before compaction may drop them.",
       Range(0), "log.cleaner.delete.retention.ms"),
    _d("file.delete.delay.ms", _L, "60000", "Delay before a deleted segment's files leave the disk.",
       Range(0), "log.segment.delete.delay.ms"),
    _d("flush.messages", _L, _LMAX, "Force an fsync after this many appended messages.",
       Range(1), "log.flush.interval.messages"),
    _d("flush.ms", _L, _LMAX, "Force an fsync when data has waited this long unflushed.",
       Range(0), "log.flush.interval.ms", "log.flush.scheduler.interval.ms"),
    _d("follower.replication.throttled.replicas", _LIST, "",
       "Replicas whose follower-side replication is throttled ('*' for all).", ThrottledReplicas()),
    _d("index.interval.bytes", _I, "4096", "Bytes of log between two offset-index entries.",
       Range(0), "log.index.interval.bytes"),
    _d("leader.replication.throttled.replicas", _LIST, "",
       "Replicas whose leader-side replication is throttled ('*' for all).", ThrottledReplicas()),
    _d("local.retention.bytes", _L, "-2",
       "Bytes kept on local disk when tiered storage is on; -2 means use retention.bytes.",
       Range(-2), "log.local.retention.bytes"),
    _d("local.retention.ms", _L, "-2",
       "Time data stays on local disk when tiered storage is on; -2 means use retention.ms.",
       Range(-2), "log.local.retention.ms"),
    _d("max.compaction.lag.ms", _L, _LMAX,
       "Longest time a record may stay uncompacted in a compacted topic.",
       Range(1), "log.cleaner.max.compaction.lag.ms"),
    _d("max.message.bytes", _I, "1048588",
       "Largest record batch (after compression) the topic accepts.", Range(0), "message.max.bytes"),
    _d("message.downconversion.enable", _B, "true",
       "Kept for compatibility; down-conversion to old message formats no longer exists, so it has no effect.",
       None, "log.message.downconversion.enable"),
    _d("message.timestamp.after.max.ms", _L, "3600000",
       "With CreateTime, reject records whose timestamp is further than this ahead of the broker clock.",
       Range(0), "log.message.timestamp.after.max.ms"),
    _d("message.timestamp.before.max.ms", _L, _LMAX,
       "With CreateTime, reject records whose timestamp is further than this behind the broker clock.",
       Range(0), "log.message.timestamp.before.max.ms"),
    _d("message.timestamp.type", _S, "CreateTime",
       "Whether record timestamps are the producer's (CreateTime) or the broker's append time (LogAppendTime).",
       OneOf(("CreateTime", "LogAppendTime")), "log.message.timestamp.type"),
    _d("min.cleanable.dirty.ratio", _D, "0.5",
       "Share of uncompacted log that makes a partition eligible for compaction.",
       Range(0, 1), "log.cleaner.min.cleanable.ratio"),
    _d("min.compaction.lag.ms", _L, "0", "Shortest time a record stays uncompacted.",
       Range(0), "log.cleaner.min.compaction.lag.ms"),
    _d("min.insync.replicas", _I, "1",
       "Replicas that must acknowledge an acks=all write for it to succeed.", Range(1), "min.insync.replicas"),
    _d("preallocate", _B, "false", "Preallocate segment files on creation.", None, "log.preallocate"),
    _d("remote.log.copy.disable", _B, "false",
       "Stop copying segments to tiered storage while keeping what is already there readable."),
    _d("remote.log.delete.on.disable", _B, "false",
       "Delete tiered data when tiered storage is turned off for the topic."),
    _d("remote.storage.enable", _B, "false", "Move closed segments to tiered (remote) storage."),
    _d("retention.bytes", _L, "-1",
       "Largest size a partition may grow to before old segments are deleted; -1 for no limit.",
       None, "log.retention.bytes"),
    _d("retention.ms", _L, "604800000",
       "How long records are kept before their segment may be deleted; -1 keeps them forever.",
       Range(-1), "log.retention.ms", Synonym("log.retention.minutes", _MINUTE),
       Synonym("log.retention.hours", _HOUR)),
    _d("segment.bytes", _I, "1073741824", "Size at which the active segment is closed and a new one begun.",
       Range(1024 * 1024), "log.segment.bytes"),
    _d("segment.index.bytes", _I, "10485760", "Size of the offset and time index file of each segment.",
       Range(4), "log.index.size.max.bytes"),
    _d("segment.jitter.ms", _L, "0", "Random reduction of segment.ms so segments do not all roll at once.",
       Range(0), "log.roll.jitter.ms", Synonym("log.roll.jitter.hours", _HOUR)),
    _d("segment.ms", _L, "604800000", "Age at which the active segment is rolled even if not full.",
       Range(1), "log.roll.ms", Synonym("log.roll.hours", _HOUR)),
    _d("unclean.leader.election.enable", _B, "false",
       "Allow an out-of-sync replica to become leader, at the risk of losing data.",
       None, "unclean.leader.election.enable"),
)

TOPIC_CONFIGS: dict[str, TopicConfigDef] = {d.name: d for d in _CATALOG}

REMOVED_TOPIC_CONFIGS: dict[str, str] = {
    "message.format.version": "removed in Kafka 4.0 with message formats v0 and v1 (KIP-724)",
    "message.timestamp.difference.max.ms": (
        "removed in Kafka 4.0; use message.timestamp.before.max.ms and message.timestamp.after.max.ms (KIP-937)"
    ),
}


def config_def(name: str) -> TopicConfigDef:
    """The definition of topic config ``name``; INVALID_CONFIG if Kafka has no such topic config."""
    found = TOPIC_CONFIGS.get(name)
    if found is None:
        why = REMOVED_TOPIC_CONFIGS.get(name)
        suffix = f" ({why})" if why else ""
        raise config_error(f"Unknown topic config name: {name}{suffix}")
    return found


def parse(name: str, raw: str | None) -> ConfigValue:
    """Parse and check one topic config value; KafkaError(INVALID_CONFIG) when it is not acceptable."""
    definition = config_def(name)
    if raw is None:
        raise config_error(f"Null value not supported for topic config: {name}")
    value = parse_value(name, definition.type, raw)
    if definition.validator is not None:
        reason = definition.validator.problem(value)
        if reason is not None:
            raise _invalid(name, raw.strip(), reason)
    return value


def validate(name: str, value: str | None) -> str:
    """Check one topic config and return its canonical text (what DescribeConfigs will show)."""
    parsed = parse(name, value)
    text = value_to_string(config_def(name).type, parsed)
    assert text is not None
    return text


def _long_of(configs: Mapping[str, str], name: str) -> int:
    raw = configs.get(name, TOPIC_CONFIGS[name].default)
    return int(raw) if raw is not None else 0


def check_combination(effective: Mapping[str, str]) -> None:
    """Rules spanning several configs (``LogConfig.validateValues`` and the tiered-storage checks).

    ``effective`` holds every topic config's canonical value (overrides over defaults).
    """
    min_lag = _long_of(effective, "min.compaction.lag.ms")
    max_lag = _long_of(effective, "max.compaction.lag.ms")
    if min_lag > max_lag:
        raise config_error(
            f"conflicting topic configs: min.compaction.lag.ms ({min_lag}) > max.compaction.lag.ms ({max_lag})"
        )
    if effective.get("remote.storage.enable", "false") == "true":
        # kafkaish has no tiered storage: Kafka answers this way when
        # remote.log.storage.system.enable is false on the broker.
        raise config_error(
            "Tiered storage is disabled on this broker, so a topic cannot set remote.storage.enable=true"
        )


def validate_configs(configs: Mapping[str, str | None], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Validate a set of overrides; return them canonicalised.

    ``base`` holds the effective values of configs not in ``configs`` (broker defaults or other
    overrides) for the cross-config rules; the catalog defaults fill any gap.
    """
    normalized = {name: validate(name, value) for name, value in configs.items()}
    effective = {n: d.default for n, d in TOPIC_CONFIGS.items() if d.default is not None}
    effective.update(base or {})
    effective.update(normalized)
    check_combination(effective)
    return normalized


def list_items(value: str | None) -> list[str]:
    """The items of a LIST config's canonical text ('' is the empty list)."""
    return [item.strip() for item in value.split(",")] if value and value.strip() else []


def documentation(name: str) -> str | None:
    found = TOPIC_CONFIGS.get(name)
    return None if found is None else found.doc
