"""Broker configs and the DescribeConfigs view of topic and broker configs.

A small catalog of Kafka broker configs (names, types and Kafka 4.0 defaults) lets
DescribeConfigs answer for the BROKER resource, and supplies the broker-level defaults of topic
configs. ``BrokerView`` holds the broker's config layers in Kafka's order of precedence
(``DynamicBrokerConfig``): per-broker dynamic, cluster-wide dynamic default, static
(server.properties; for kafkaish: the running Settings), then the built-in defaults.

How an entry is described follows Kafka's ``ConfigHelper.createTopicConfigEntry`` /
``createBrokerConfigEntry``: the synonyms list starts with the topic override (if any), then
every set broker synonym layer by layer; the entry's source is that of the first synonym, or
DEFAULT_CONFIG when there is none. Deliberate simplification: Kafka drops leading synonyms whose
name differs from the primary broker name (meant for listener overrides), which hides e.g. a
static ``log.retention.hours``; we keep them so the reported source matches the value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kafkaish.admin.topic_configs import (
    LONG_MAX,
    TOPIC_CONFIGS,
    ConfigSource,
    ConfigType,
    TopicConfigDef,
    parse_value,
    value_to_string,
)


@dataclass(frozen=True, slots=True)
class BrokerConfigDef:
    name: str
    type: ConfigType
    default: str | None
    doc: str
    dynamic: bool = False  # may be changed at runtime (Kafka's DynamicBrokerConfig.ALL_DYNAMIC_CONFIGS)

    @property
    def sensitive(self) -> bool:
        return self.type is ConfigType.PASSWORD


@dataclass(frozen=True, slots=True)
class SynonymEntry:
    name: str
    value: str | None
    source: ConfigSource


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    """One DescribeConfigsResourceResult, independent of the wire version."""

    name: str
    value: str | None
    source: ConfigSource
    read_only: bool
    sensitive: bool
    type: ConfigType
    doc: str | None
    synonyms: tuple[SynonymEntry, ...] = ()

    @property
    def is_default(self) -> bool:
        """DescribeConfigs v0's IsDefault."""
        return self.source is ConfigSource.DEFAULT_CONFIG


_B, _S, _I, _L, _D, _LIST, _SH, _P, _C = (
    ConfigType.BOOLEAN, ConfigType.STRING, ConfigType.INT, ConfigType.LONG, ConfigType.DOUBLE,
    ConfigType.LIST, ConfigType.SHORT, ConfigType.PASSWORD, ConfigType.CLASS,
)
_LMAX = str(LONG_MAX)


def _b(name: str, ctype: ConfigType, default: str | None, doc: str, dynamic: bool = False) -> BrokerConfigDef:
    return BrokerConfigDef(name, ctype, default, doc, dynamic)


# Broker configs that are the primary synonym of a topic config are dynamic (DynamicLogConfig).
_PRIMARY = {d.synonyms[0].name for d in TOPIC_CONFIGS.values() if d.synonyms}

_CATALOG: tuple[BrokerConfigDef, ...] = (
    _b("advertised.listeners", _S, None, "Listeners published to clients in Metadata."),
    _b("auto.create.topics.enable", _B, "true", "Create a topic when a client asks for metadata of an unknown one."),
    _b("broker.id", _I, "-1", "Identifier of this broker (same as node.id)."),
    _b("broker.rack", _S, None, "Rack of this broker, for rack-aware replica placement."),
    _b("compression.gzip.level", _I, "-1", "Default gzip level for topics that recompress."),
    _b("compression.lz4.level", _I, "9", "Default lz4 level for topics that recompress."),
    _b("compression.type", _S, "producer", "Default compression.type of topics."),
    _b("compression.zstd.level", _I, "3", "Default zstd level for topics that recompress."),
    _b("connections.max.idle.ms", _L, "600000", "Idle connections are closed after this long."),
    _b("default.replication.factor", _I, "1", "Replication factor of topics created without one."),
    _b("delete.topic.enable", _B, "true", "Allow DeleteTopics."),
    _b("fetch.max.bytes", _I, "57671680", "Most bytes one Fetch response may carry."),
    _b("group.initial.rebalance.delay.ms", _I, "3000", "How long a new group waits for more members before its first rebalance."),
    _b("group.max.session.timeout.ms", _I, "1800000", "Largest session timeout a group member may ask for."),
    _b("group.max.size", _I, "2147483647", "Most members one consumer group may hold."),
    _b("group.min.session.timeout.ms", _I, "6000", "Smallest session timeout a group member may ask for."),
    _b("listener.security.protocol.map", _S, "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT",
       "Security protocol of each listener name."),
    _b("listeners", _S, "PLAINTEXT://:9092", "Addresses the broker listens on."),
    _b("log.cleaner.delete.retention.ms", _L, "86400000", "Default delete.retention.ms of topics."),
    _b("log.cleaner.enable", _B, "true", "Run the log cleaner (needed for compacted topics)."),
    _b("log.cleaner.max.compaction.lag.ms", _L, _LMAX, "Default max.compaction.lag.ms of topics."),
    _b("log.cleaner.min.cleanable.ratio", _D, "0.5", "Default min.cleanable.dirty.ratio of topics."),
    _b("log.cleaner.min.compaction.lag.ms", _L, "0", "Default min.compaction.lag.ms of topics."),
    _b("log.cleanup.policy", _LIST, "delete", "Default cleanup.policy of topics."),
    _b("log.dir", _S, "/tmp/kafka-logs", "Data directory, used when log.dirs is not set."),
    _b("log.dirs", _LIST, None, "Data directories of this broker."),
    _b("log.flush.interval.messages", _L, _LMAX, "Default flush.messages of topics."),
    _b("log.flush.interval.ms", _L, None, "Default flush.ms of topics; log.flush.scheduler.interval.ms when unset."),
    _b("log.flush.scheduler.interval.ms", _L, _LMAX, "How often the flusher checks whether logs need an fsync."),
    _b("log.index.interval.bytes", _I, "4096", "Default index.interval.bytes of topics."),
    _b("log.index.size.max.bytes", _I, "10485760", "Default segment.index.bytes of topics."),
    _b("log.local.retention.bytes", _L, "-2", "Default local.retention.bytes of topics."),
    _b("log.local.retention.ms", _L, "-2", "Default local.retention.ms of topics."),
    _b("log.message.downconversion.enable", _B, "true", "Default message.downconversion.enable of topics (no effect)."),
    _b("log.message.timestamp.after.max.ms", _L, "3600000", "Default message.timestamp.after.max.ms of topics."),
    _b("log.message.timestamp.before.max.ms", _L, _LMAX, "Default message.timestamp.before.max.ms of topics."),
    _b("log.message.timestamp.type", _S, "CreateTime", "Default message.timestamp.type of topics."),
    _b("log.preallocate", _B, "false", "Default preallocate of topics."),
    _b("log.retention.bytes", _L, "-1", "Default retention.bytes of topics."),
    _b("log.retention.check.interval.ms", _L, "300000", "How often retention is enforced."),
    _b("log.retention.hours", _I, "168", "Default retention of topics in hours, when the ms and minutes forms are unset."),
    _b("log.retention.minutes", _I, None, "Default retention of topics in minutes, when log.retention.ms is unset."),
    _b("log.retention.ms", _L, None, "Default retention.ms of topics."),
    _b("log.roll.hours", _I, "168", "Default segment.ms of topics in hours, when log.roll.ms is unset."),
    _b("log.roll.jitter.hours", _I, "0", "Default segment.jitter.ms of topics in hours."),
    _b("log.roll.jitter.ms", _L, None, "Default segment.jitter.ms of topics."),
    _b("log.roll.ms", _L, None, "Default segment.ms of topics."),
    _b("log.segment.bytes", _I, "1073741824", "Default segment.bytes of topics."),
    _b("log.segment.delete.delay.ms", _L, "60000", "Default file.delete.delay.ms of topics."),
    _b("max.connections", _I, "2147483647", "Most connections the broker accepts at once."),
    _b("max.connections.per.ip", _I, "2147483647", "Most connections from one address."),
    _b("message.max.bytes", _I, "1048588", "Default max.message.bytes of topics."),
    _b("min.insync.replicas", _I, "1", "Default min.insync.replicas of topics."),
    _b("node.id", _I, "-1", "Identifier of this node in the cluster."),
    _b("num.io.threads", _I, "8", "Threads that handle requests.", dynamic=True),
    _b("num.network.threads", _I, "3", "Threads that read and write sockets.", dynamic=True),
    _b("num.partitions", _I, "1", "Partition count of topics created without one."),
    _b("num.recovery.threads.per.data.dir", _I, "2", "Threads per data directory for log recovery.", dynamic=True),
    _b("offsets.retention.minutes", _I, "10080", "How long committed offsets of an empty group are kept."),
    _b("offsets.topic.num.partitions", _I, "50", "Partitions of __consumer_offsets."),
    _b("offsets.topic.replication.factor", _SH, "3", "Replication factor of __consumer_offsets."),
    _b("process.roles", _LIST, "", "KRaft roles of this node (broker, controller)."),
    _b("producer.id.expiration.ms", _I, "86400000", "How long an idle producer id's state is kept."),
    _b("queued.max.request.bytes", _L, "-1", "Bytes of requests buffered before reading stops."),
    _b("sasl.enabled.mechanisms", _LIST, "GSSAPI", "SASL mechanisms the broker accepts.", dynamic=True),
    _b("sasl.kerberos.min.time.before.relogin", _L, "60000", "Login thread sleep time between refresh attempts.",
       dynamic=True),
    _b("sasl.server.max.receive.size", _I, "524288", "Largest frame read before SASL authentication."),
    _b("socket.request.max.bytes", _I, "104857600", "Largest request the broker reads."),
    _b("ssl.client.auth", _S, "none", "Whether SSL listeners ask clients for a certificate."),
    _b("ssl.keystore.password", _P, None, "Password of the TLS key store.", dynamic=True),
    _b("transaction.max.timeout.ms", _I, "900000", "Largest transaction timeout a producer may ask for."),
    _b("transaction.state.log.min.isr", _I, "2", "min.insync.replicas of __transaction_state."),
    _b("transaction.state.log.num.partitions", _I, "50", "Partitions of __transaction_state."),
    _b("transaction.state.log.replication.factor", _SH, "3", "Replication factor of __transaction_state."),
    _b("transactional.id.expiration.ms", _I, "604800000", "How long an idle transactional id is kept."),
    _b("unclean.leader.election.enable", _B, "false", "Default unclean.leader.election.enable of topics."),
)

BROKER_CONFIGS: dict[str, BrokerConfigDef] = {
    d.name: (BrokerConfigDef(d.name, d.type, d.default, d.doc, True) if d.name in _PRIMARY else d)
    for d in _CATALOG
}

# Dynamic only per broker, never as the cluster default (DynamicBrokerConfig.PerBrokerConfigs:
# the listener and security configs).
PER_BROKER_ONLY = frozenset({"advertised.listeners", "listeners", "sasl.enabled.mechanisms",
                             "sasl.kerberos.min.time.before.relogin", "ssl.keystore.password"})

# Broker configs that stand for one another (DynamicBrokerConfig.brokerConfigSynonyms).
_SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("log.retention.ms", "log.retention.minutes", "log.retention.hours"),
    ("log.roll.ms", "log.roll.hours"),
    ("log.roll.jitter.ms", "log.roll.jitter.hours"),
    ("log.flush.interval.ms", "log.flush.scheduler.interval.ms"),
    ("node.id", "broker.id"),
)


def broker_synonyms(name: str) -> tuple[str, ...]:
    for group in _SYNONYM_GROUPS:
        if name in group:
            return group
    return (name,)


def canonical(ctype: ConfigType, raw: object, name: str = "") -> str | None:
    """A Settings value (Python object or text) as Kafka's canonical config text."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, (list, tuple)):
        return ",".join(str(item) for item in raw)
    return value_to_string(ctype, parse_value(name, ctype, str(raw)))


@dataclass(slots=True)
class BrokerView:
    """The broker's config layers, highest precedence first, keyed by Kafka broker config name."""

    node_id: int
    static: dict[str, str] = field(default_factory=dict)
    dynamic_default: dict[str, str] = field(default_factory=dict)
    dynamic_broker: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_values(cls, node_id: int, values: Mapping[str, object]) -> BrokerView:
        """Build from running settings: a value different from Kafka's default counts as static."""
        static: dict[str, str] = {}
        # KRaft brokers report their node id under both names (KafkaConfig.brokerId = nodeId).
        merged = {"node.id": node_id, "broker.id": node_id, **values}
        for name, raw in merged.items():
            definition = BROKER_CONFIGS.get(name)
            if definition is None:
                raise KeyError(f"not a known broker config: {name}")
            text = canonical(definition.type, raw)
            if text is not None and text != definition.default:
                static[name] = text
        return cls(node_id=node_id, static=static)

    def _layers(self) -> tuple[tuple[Mapping[str, str], ConfigSource], ...]:
        defaults = {n: d.default for n, d in BROKER_CONFIGS.items() if d.default is not None}
        return (
            (self.dynamic_broker, ConfigSource.DYNAMIC_BROKER_CONFIG),
            (self.dynamic_default, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
            (self.static, ConfigSource.STATIC_BROKER_CONFIG),
            (defaults, ConfigSource.DEFAULT_CONFIG),
        )

    def synonyms(self, names: Iterable[str], sensitive: bool = False) -> list[SynonymEntry]:
        """Every set value of these broker configs, layer by layer (``ConfigHelper.configSynonyms``)."""
        wanted = tuple(names)
        found: list[SynonymEntry] = []
        for layer, source in self._layers():
            for name in wanted:
                if name in layer:
                    found.append(SynonymEntry(name, None if sensitive else layer[name], source))
        return found

    def broker_value(self, name: str) -> str | None:
        for layer, _source in self._layers():
            if name in layer:
                return layer[name]
        return None

    # ------------------------------------------------------------------ topic configs

    def topic_default(self, definition: TopicConfigDef) -> str | None:
        """The value a topic without an override gets: first set synonym (scaled), else the default."""
        scales = {s.name: s.scale for s in definition.synonyms}
        for layer, _source in self._layers()[:3]:
            for synonym in definition.synonyms:
                if synonym.name in layer:
                    return _scaled(definition, layer[synonym.name], scales[synonym.name])
        return definition.default

    def topic_defaults(self) -> dict[str, str]:
        """Effective broker-level value of every topic config (what a new topic inherits)."""
        out: dict[str, str] = {}
        for name, definition in TOPIC_CONFIGS.items():
            value = self.topic_default(definition)
            if value is not None:
                out[name] = value
        return out

    def topic_entry(self, definition: TopicConfigDef, overrides: Mapping[str, str],
                    include_synonyms: bool, include_docs: bool) -> ConfigEntry:
        name = definition.name
        found = self.synonyms([s.name for s in definition.synonyms], definition.sensitive)
        while found and found[0].name != definition.synonyms[0].name:  # ConfigHelper.configSynonyms
            found.pop(0)  # drops all before the main broker name (log.retention.ms has no default)
        if name in overrides:
            override = None if definition.sensitive else overrides[name]
            found.insert(0, SynonymEntry(name, override, ConfigSource.DYNAMIC_TOPIC_CONFIG))
        value = overrides[name] if name in overrides else self.topic_default(definition)
        return ConfigEntry(
            name=name,
            value=None if definition.sensitive else value,
            source=found[0].source if found else ConfigSource.DEFAULT_CONFIG,
            read_only=False,
            sensitive=definition.sensitive,
            type=definition.type,
            doc=definition.doc if include_docs else None,
            synonyms=tuple(found) if include_synonyms else (),
        )

    def topic_entries(self, overrides: Mapping[str, str], names: Iterable[str] | None = None, *,
                      include_synonyms: bool = False, include_docs: bool = False) -> list[ConfigEntry]:
        """DescribeConfigs entries of a topic; ``names`` None or empty means all (unknown names are skipped)."""
        wanted = set(names) if names else None
        return [
            self.topic_entry(definition, overrides, include_synonyms, include_docs)
            for name, definition in sorted(TOPIC_CONFIGS.items())
            if wanted is None or name in wanted
        ]

    # ------------------------------------------------------------------ broker configs

    def broker_entry(self, definition: BrokerConfigDef, per_broker: bool,
                     include_synonyms: bool, include_docs: bool) -> ConfigEntry:
        name = definition.name
        found = self.synonyms(broker_synonyms(name), definition.sensitive)
        while found and found[0].name != name:  # Kafka keeps only the entries from this name on
            found.pop(0)
        if not per_broker:
            found = [s for s in found if s.source is ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG]
        value = self.broker_value(name) if per_broker else self.dynamic_default.get(name)
        return ConfigEntry(
            name=name,
            value=None if definition.sensitive else value,
            source=found[0].source if found else ConfigSource.DEFAULT_CONFIG,
            read_only=not definition.dynamic,
            sensitive=definition.sensitive,
            type=definition.type,
            doc=definition.doc if include_docs else None,
            synonyms=tuple(found) if include_synonyms else (),
        )

    def broker_entries(self, per_broker: bool, names: Iterable[str] | None = None, *,
                       include_synonyms: bool = False, include_docs: bool = False) -> list[ConfigEntry]:
        """Entries for the BROKER resource: this broker's id (``per_broker``) or "" (cluster defaults only)."""
        wanted = set(names) if names else None
        pool = BROKER_CONFIGS if per_broker else {n: BROKER_CONFIGS[n] for n in self.dynamic_default if n in BROKER_CONFIGS}
        entries = [
            self.broker_entry(definition, per_broker, include_synonyms, include_docs)
            for name, definition in sorted(pool.items())
            if wanted is None or name in wanted
        ]
        return entries + [e for e in self._custom_entries(per_broker, include_synonyms)
                          if wanted is None or e.name in wanted]

    def _custom_entries(self, per_broker: bool, include_synonyms: bool) -> list[ConfigEntry]:
        """Dynamic configs Kafka does not define (plugin configs): kept and described as Kafka does,
        with an unknown type and a hidden value (KafkaConfig.maybeSensitive)."""
        layers = [(self.dynamic_broker, ConfigSource.DYNAMIC_BROKER_CONFIG)] if per_broker else []
        layers.append((self.dynamic_default, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG))
        out: dict[str, ConfigEntry] = {}
        for layer, source in layers:
            for name in sorted(n for n in layer if n not in BROKER_CONFIGS and n not in out):
                synonyms = tuple(SynonymEntry(name, None, s) for lay, s in layers if name in lay)
                out[name] = ConfigEntry(name=name, value=None, source=source, read_only=True, sensitive=True,
                                        type=ConfigType.UNKNOWN, doc=None,
                                        synonyms=synonyms if include_synonyms else ())
        return list(out.values())


def _scaled(definition: TopicConfigDef, raw: str, scale: int) -> str | None:
    if scale == 1:
        return canonical(definition.type, raw)
    return str(int(raw) * scale)
