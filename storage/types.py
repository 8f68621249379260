"""Value types of the storage interface: topic metadata, append/read results, offset lookups,
``LogConfig`` (Kafka's per-topic configs) and the ``StateStore`` coordinators write through.

Everything in ``kafkaish.storage`` and its users import these from here, so the interface module
(``engine.py``) and the modules below it (``log.py``, the engines) never import each other in a
circle.
"""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from kafkaish.storage.region import FileRegion
from kafkaish.wire.errors import ErrorCode, KafkaError

DAY_MS = 24 * 3600 * 1000
DEFAULT_MAX_MESSAGE_BYTES = 1048588  # Kafka's message.max.bytes / max.message.bytes default
_LONG_MAX = 2**63 - 1
# compression.type -> the codec id batches are stored with (BrokerCompressionType); "producer" keeps theirs
_TARGET_CODECS = {"producer": None, "uncompressed": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


@dataclass(frozen=True, slots=True)
class TopicMeta:
    name: str
    topic_id: uuid.UUID
    num_partitions: int
    configs: dict[str, str] = field(default_factory=dict)


class AppendResult(NamedTuple):
    """What one append stored (a named tuple: one per produced partition, issue #15)."""

    base_offset: int
    last_offset: int
    log_append_time: int  # -1 unless the topic uses LogAppendTime
    log_start_offset: int
    duplicate: bool = False  # idempotent retry answered from producer state, nothing appended


@dataclass(frozen=True, slots=True)
class ReadResult:
    records: bytes | FileRegion  # whole batches (a FileRegion from a zero-copy engine), b"" when none
    high_watermark: int
    last_stable_offset: int
    log_start_offset: int
    aborted_transactions: list[tuple[int, int]] | None  # None for read_uncommitted


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Per-topic settings with Kafka's defaults (TopicConfig / LogConfig in Kafka)."""

    retention_ms: int = 7 * DAY_MS
    retention_bytes: int = -1
    segment_bytes: int = 1 << 30
    segment_ms: int = 7 * DAY_MS
    compact: bool = False
    delete: bool = True
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    log_append_time: bool = False
    min_compaction_lag_ms: int = 0
    delete_retention_ms: int = DAY_MS
    min_cleanable_dirty_ratio: float = 0.5
    index_interval_bytes: int = 4096
    compression: int | None = None  # compression.type as a codec id; None = "producer" (as sent)
    timestamp_before_max_ms: int = _LONG_MAX  # message.timestamp.before.max.ms (KIP-937)
    timestamp_after_max_ms: int = 3_600_000  # message.timestamp.after.max.ms (Kafka 4.0: 1 h)

    @classmethod
    def from_configs(cls, configs: dict[str, str], *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> LogConfig:
        """Parse Kafka topic configs; raise KafkaError(INVALID_CONFIG) for values we cannot use."""
        try:
            policy = {p.strip() for p in configs.get("cleanup.policy", "delete").split(",") if p.strip()}
            ts_type = configs.get("message.timestamp.type", "CreateTime")
            codec = configs.get("compression.type", "producer")
            if not policy <= {"delete", "compact"} or ts_type not in ("CreateTime", "LogAppendTime") \
                    or codec not in _TARGET_CODECS:
                raise ValueError("cleanup.policy / message.timestamp.type / compression.type")
            cfg = cls(
                retention_ms=int(configs.get("retention.ms", 7 * DAY_MS)),
                retention_bytes=int(configs.get("retention.bytes", -1)),
                segment_bytes=int(configs.get("segment.bytes", 1 << 30)),
                segment_ms=int(configs.get("segment.ms", 7 * DAY_MS)),
                compact="compact" in policy,
                delete="delete" in policy,
                max_message_bytes=int(configs.get("max.message.bytes", max_message_bytes)),
                log_append_time=ts_type == "LogAppendTime",
                min_compaction_lag_ms=int(configs.get("min.compaction.lag.ms", 0)),
                delete_retention_ms=int(configs.get("delete.retention.ms", DAY_MS)),
                min_cleanable_dirty_ratio=float(configs.get("min.cleanable.dirty.ratio", 0.5)),
                index_interval_bytes=int(configs.get("index.interval.bytes", 4096)),
                compression=_TARGET_CODECS[codec],
                timestamp_before_max_ms=int(configs.get("message.timestamp.before.max.ms", _LONG_MAX)),
                timestamp_after_max_ms=int(configs.get("message.timestamp.after.max.ms", 3_600_000)),
            )
        except ValueError as exc:
            raise KafkaError(ErrorCode.INVALID_CONFIG, f"invalid topic config: {exc}") from None
        if cfg.segment_bytes < 14 or cfg.segment_ms < 1 or cfg.index_interval_bytes < 0:
            raise KafkaError(ErrorCode.INVALID_CONFIG, "segment.bytes/segment.ms/index.interval.bytes out of range")
        return cfg


class OffsetAndTimestamp(NamedTuple):
    """Where an offset lookup landed (Kafka's ``FileRecords.TimestampAndOffset``, offset first)."""

    offset: int
    timestamp: int  # -1 for the earliest/latest sentinels


class StateStore(Protocol):
    """A durable small key-value map for coordinators (group offsets, transaction state).

    Engines subclass it (``StorageEngine.state_store(name)``); coordinators and their test fakes
    only need the shape.
    """

    @abc.abstractmethod
    def put(self, key: str, value: bytes | None) -> None:
        """Set ``key`` (None deletes); durable according to the engine's fsync policy."""

    @abc.abstractmethod
    def items(self) -> dict[str, bytes]:
        """A copy of every live key."""
