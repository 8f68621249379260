"""Broker configs and the DescribeConfigs view of topic and broker configs.

Kafka 4.0's broker configs (names, types, defaults, dynamic or not: ``kafka_broker_configs``,
generated from the reference broker, with what 4.0 changed since) let DescribeConfigs answer for
the BROKER resource as a default KRaft broker does, configs kafkaish does not use included (with
Kafka's defaults), and supply the broker-level defaults of topic configs. ``BrokerView`` holds
the broker's config layers in Kafka's order of precedence
(``DynamicBrokerConfig``): per-broker dynamic, cluster-wide dynamic default, static
(server.properties; for kafkaish: the running Settings), then the built-in defaults.

How an entry is described follows Kafka's ``ConfigHelper.createTopicConfigEntry`` /
``createBrokerConfigEntry``: the synonyms list starts with the topic override (if any), then
every set broker synonym layer by layer, from the main broker name on (``configSynonyms`` drops
those before it); the entry's source is that of the first synonym, or DEFAULT_CONFIG when there
is none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kafkaish.admin.kafka_broker_configs import KAFKA_BROKER_CONFIGS
from kafkaish.admin.topic_configs import (
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


def _doc(name: str) -> str:
    return _DOCS.get(name, _NOT_USED)


_NOT_USED = "A Kafka broker config; described with Kafka's default, kafkaish does not use it."
# kafkaish's own one-line documentation of the broker configs it uses (Kafka's texts are not
# copied); every other config is described with _NOT_USED.
_DOCS: dict[str, str] = {
    "advertised.listeners": "Listeners published to clients in Metadata.",
    "auto.create.topics.enable": "Create a topic when a client asks for metadata of an unknown one.",
    "broker.id": "Identifier of this broker (same as node.id).",
    "broker.rack": "Rack of this broker, for rack-aware replica placement.",
    "compression.gzip.level": "Default gzip level for topics that recompress.",
    "compression.lz4.level": "Default lz4 level for topics that recompress.",
    "compression.type": "Default compression.type of topics.",
    "compression.zstd.level": "Default zstd level for topics that recompress.",
    "connections.max.idle.ms": "Idle connections are closed after this long.",
    "default.replication.factor": "Replication factor of topics created without one.",
    "delete.topic.enable": "Allow DeleteTopics.",
    "fetch.max.bytes": "Most bytes one Fetch response may carry.",
    "group.initial.rebalance.delay.ms": "How long a new group waits for more members before its first rebalance.",
    "group.max.session.timeout.ms": "Largest session timeout a group member may ask for.",
    "group.consumer.heartbeat.interval.ms": "Heartbeat interval the coordinator gives consumer-protocol members (KIP-848).",
    "group.consumer.min.heartbeat.interval.ms": "Smallest heartbeat interval a group config may set.",
    "group.consumer.max.heartbeat.interval.ms": "Largest heartbeat interval a group config may set.",
    "group.consumer.session.timeout.ms": "How long a consumer-protocol member may go without a heartbeat.",
    "group.consumer.min.session.timeout.ms": "Smallest session timeout a group config may set.",
    "group.consumer.max.session.timeout.ms": "Largest session timeout a group config may set.",
    "group.max.size": "Most members one consumer group may hold.",
    "group.min.session.timeout.ms": "Smallest session timeout a group member may ask for.",
    "listeners": "Addresses the broker listens on.",
    "log.cleaner.delete.retention.ms": "Default delete.retention.ms of topics.",
    "log.cleaner.enable": "Run the log cleaner (needed for compacted topics).",
    "log.cleaner.max.compaction.lag.ms": "Default max.compaction.lag.ms of topics.",
    "log.cleaner.min.cleanable.ratio": "Default min.cleanable.dirty.ratio of topics.",
    "log.cleaner.min.compaction.lag.ms": "Default min.compaction.lag.ms of topics.",
    "log.cleanup.policy": "Default cleanup.policy of topics.",
    "log.dir": "Data directory, used when log.dirs is not set.",
    "log.dirs": "Data directories of this broker.",
    "log.flush.interval.messages": "Default flush.messages of topics.",
    "log.flush.interval.ms": "Default flush.ms of topics; log.flush.scheduler.interval.ms when unset.",
    "log.flush.scheduler.interval.ms": "How often the flusher checks whether logs need an fsync.",
    "log.index.interval.bytes": "Default index.interval.bytes of topics.",
    "log.index.size.max.bytes": "Default segment.index.bytes of topics.",
    "log.local.retention.bytes": "Default local.retention.bytes of topics.",
    "log.local.retention.ms": "Default local.retention.ms of topics.",
    "log.message.downconversion.enable": "Default message.downconversion.enable of topics (no effect).",
    "log.message.timestamp.after.max.ms": "Default message.timestamp.after.max.ms of topics.",
    "log.message.timestamp.before.max.ms": "Default message.timestamp.before.max.ms of topics.",
    "log.message.timestamp.type": "Default message.timestamp.type of topics.",
    "log.preallocate": "Default preallocate of topics.",
    "log.retention.bytes": "Default retention.bytes of topics.",
    "log.retention.check.interval.ms": "How often retention is enforced.",
    "log.retention.hours": "Default retention of topics in hours, when the ms and minutes forms are unset.",
    "log.retention.minutes": "Default retention of topics in minutes, when log.retention.ms is unset.",
    "log.retention.ms": "Default retention.ms of topics.",
    "log.roll.hours": "Default segment.ms of topics in hours, when log.roll.ms is unset.",
    "log.roll.jitter.hours": "Default segment.jitter.ms of topics in hours.",
    "log.roll.jitter.ms": "Default segment.jitter.ms of topics.",
    "log.roll.ms": "Default segment.ms of topics.",
    "log.segment.bytes": "Default segment.bytes of topics.",
    "log.segment.delete.delay.ms": "Default file.delete.delay.ms of topics.",
    "max.connections": "Most connections the broker accepts at once.",
    "max.connections.per.ip": "Most connections from one address.",
    "message.max.bytes": "Default max.message.bytes of topics.",
    "min.insync.replicas": "Default min.insync.replicas of topics.",
    "node.id": "Identifier of this node in the cluster.",
    "num.io.threads": "Threads that handle requests.",
    "num.network.threads": "Threads that read and write sockets.",
    "num.partitions": "Partition count of topics created without one.",
    "num.recovery.threads.per.data.dir": "Threads per data directory for log recovery.",
    "offset.metadata.max.bytes": "Largest metadata string an offset commit may carry.",
    "offsets.retention.minutes": "How long committed offsets of an empty group are kept.",
    "offsets.topic.num.partitions": "Partitions of __consumer_offsets.",
    "offsets.topic.replication.factor": "Replication factor of __consumer_offsets.",
    "process.roles": "KRaft roles of this node (broker, controller).",
    "producer.id.expiration.ms": "How long an idle producer id's state is kept.",
    "queued.max.request.bytes": "Bytes of requests buffered before reading stops.",
    "sasl.enabled.mechanisms": "SASL mechanisms the broker accepts.",
    "sasl.kerberos.min.time.before.relogin": "Login thread sleep time between refresh attempts.",
    "sasl.server.max.receive.size": "Largest frame read before SASL authentication.",
    "socket.request.max.bytes": "Largest request the broker reads.",
    "ssl.client.auth": "Whether SSL listeners ask clients for a certificate.",
    "ssl.keystore.password": "Password of the TLS key store.",
    "transaction.max.timeout.ms": "Largest transaction timeout a producer may ask for.",
    "transaction.state.log.min.isr": "min.insync.replicas of __transaction_state.",
    "transaction.state.log.num.partitions": "Partitions of __transaction_state.",
    "transaction.state.log.replication.factor": "Replication factor of __transaction_state.",
    "transactional.id.expiration.ms": "How long an idle transactional id is kept.",
    "unclean.leader.election.enable": "Default unclean.leader.election.enable of topics.",
}

# Kafka 4.0 changed these defaults after the trunk snapshot the table was generated from (KIP-1030).
_KAFKA_4_0_DEFAULTS = {"log.message.timestamp.after.max.ms": "3600000", "num.recovery.threads.per.data.dir": "2"}
# Read-only in Kafka 4.0, dynamic in the snapshot (kafka-python's suite checks advertised.listeners
# against 4.0: STATIC_BROKER_CONFIG, read-only).
_KAFKA_4_0_READ_ONLY = frozenset({"advertised.listeners"})
# Removed in Kafka 4.0 with message formats v0/v1 (KIP-724) and by KIP-937.
_REMOVED_IN_4_0 = frozenset({"log.message.format.version", "log.message.timestamp.difference.max.ms"})

BROKER_CONFIGS: dict[str, BrokerConfigDef] = {
    name: BrokerConfigDef(name, ConfigType(ctype), _KAFKA_4_0_DEFAULTS.get(name, default), _doc(name),
                          dynamic and name not in _KAFKA_4_0_READ_ONLY)
    for name, ctype, default, dynamic in KAFKA_BROKER_CONFIGS
    if name not in _REMOVED_IN_4_0
}

# The smallest value Kafka's ConfigDef accepts for the dynamic broker configs that are no topic
# default (checked against the reference broker); the topic defaults are checked as topic configs.
AT_LEAST: dict[str, int] = {
    "background.threads": 1, "log.cleaner.backoff.ms": 0, "log.cleaner.io.buffer.size": 0,
    "log.cleaner.threads": 0, "max.connection.creation.rate": 0, "max.connections": 0,
    "max.connections.per.ip": 0, "num.io.threads": 1, "num.network.threads": 1,
    "num.recovery.threads.per.data.dir": 1, "num.replica.fetchers": 1, "producer.id.expiration.ms": 1,
    "remote.fetch.max.wait.ms": 1, "remote.list.offsets.request.timeout.ms": 1,
    "remote.log.index.file.cache.total.size.bytes": 1, "remote.log.manager.copy.max.bytes.per.second": 1,
    "remote.log.manager.fetch.max.bytes.per.second": 1,
}

# Kafka's internal broker configs kafkaish has: described only when set (KafkaConfig lists an
# internal config among its values once server.properties names it).
INTERNAL = frozenset({"log.initial.task.delay.ms"})
BROKER_CONFIGS["log.initial.task.delay.ms"] = BrokerConfigDef(
    "log.initial.task.delay.ms", ConfigType.LONG, "30000", "Delay of the first retention check after start.")

# Dynamic in Kafka, but kafkaish cannot change them while it runs (its listeners, their TLS
# client authentication and the connection limits are fixed at start): an alter is refused.
FIXED_AT_START = frozenset({"advertised.listeners", "listeners", "listener.security.protocol.map",
                            "ssl.client.auth", "max.connections", "max.connections.per.ip"})

# Dynamic only per broker, never as the cluster default (DynamicBrokerConfig.PerBrokerConfigs:
# the listener and security configs; checked against the reference broker).
PER_BROKER_ONLY = frozenset(
    {"listeners", "listener.security.protocol.map", "principal.builder.class"}
    | {n for n, d in BROKER_CONFIGS.items() if d.dynamic and n.startswith(("ssl.", "sasl."))})
# Key and trust stores change only per listener, through a listener-prefixed name
# (listener.name.NAME.ssl.keystore.location): the bare name is refused (DynamicBrokerConfig).
LISTENER_PREFIX_ONLY = frozenset({
    "ssl.key.password", "ssl.keystore.certificate.chain", "ssl.keystore.key", "ssl.keystore.location",
    "ssl.keystore.password", "ssl.keystore.type", "ssl.truststore.certificates", "ssl.truststore.location",
    "ssl.truststore.password", "ssl.truststore.type"})

# Broker configs that stand for one another (DynamicBrokerConfig.brokerConfigSynonyms).
_SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("log.retention.ms", "log.retention.minutes", "log.retention.hours"),
    ("log.roll.ms", "log.roll.hours"),
    ("log.roll.jitter.ms", "log.roll.jitter.hours"),
    ("log.flush.interval.ms", "log.flush.scheduler.interval.ms"),
)  # node.id and broker.id are described apart, each with its own value (KafkaConfig.brokerId = nodeId)


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
        pool = {n: d for n, d in pool.items() if n not in INTERNAL or n in self.static or n in self.dynamic_broker}
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
