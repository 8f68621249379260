"""The storage interface every engine implements, the shared topic bookkeeping, and ``open_engine``.

This module owns the contract in docs/INTERFACES.md "Storage": ``StorageEngine``, ``TopicMeta``,
``AppendResult``, ``ReadResult``, ``StateStore`` and ``open_engine(url_or_path, **options)``.
The partition log itself (Kafka's UnifiedLog) is ``kafkaish.storage.log.PartitionLog``; engines
differ only in where segments and metadata live (``memory.py``: RAM; ``file.py``: a Kafka-style data
directory) and in how they make writes durable (see ``kafkaish.storage.file`` for the fsync policy).

Durability (``open_engine(..., fsync=...)``; details in ``kafkaish.storage.file``):
``always`` -- an append returns only once its data is fsynced; inside ``engine.group_commit()``
the fsyncs of all appends in the block happen once, when it exits (answer acks after that);
``interval`` -- ``run_maintenance`` fsyncs every ``fsync_interval_ms``; ``never`` -- only
``close()`` fsyncs. File engine: a process crash loses nothing acknowledged in any mode (the
page cache survives); a machine crash loses nothing acknowledged only with ``always``.

Topic configs are the Kafka names (``retention.ms``...) with Kafka's defaults; ``LogConfig`` parses
them once per create/alter so a bad value is answered with INVALID_CONFIG instead of failing later.
"""

from __future__ import annotations

import abc
import contextlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from kafkaish.wire.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kafkaish.storage.log import PartitionLog

DAY_MS = 24 * 3600 * 1000
DEFAULT_MAX_MESSAGE_BYTES = 1048588  # Kafka's message.max.bytes / max.message.bytes default
FSYNC_MODES = ("always", "interval", "never")


@dataclass(frozen=True, slots=True)
class TopicMeta:
    name: str
    topic_id: uuid.UUID
    num_partitions: int
    configs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AppendResult:
    base_offset: int
    last_offset: int
    log_append_time: int  # -1 unless the topic uses LogAppendTime
    log_start_offset: int
    duplicate: bool = False  # idempotent retry answered from producer state, nothing appended


@dataclass(frozen=True, slots=True)
class ReadResult:
    records: Any  # bytes (whole batches), b"" when nothing is readable
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

    @classmethod
    def from_configs(cls, configs: dict[str, str], *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> LogConfig:
        """Parse Kafka topic configs; raise KafkaError(INVALID_CONFIG) for values we cannot use."""
        try:
            policy = {p.strip() for p in configs.get("cleanup.policy", "delete").split(",") if p.strip()}
            ts_type = configs.get("message.timestamp.type", "CreateTime")
            if not policy <= {"delete", "compact"} or ts_type not in ("CreateTime", "LogAppendTime"):
                raise ValueError("cleanup.policy / message.timestamp.type")
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
            )
        except ValueError as exc:
            raise KafkaError(ErrorCode.INVALID_CONFIG, f"invalid topic config: {exc}") from None
        if cfg.segment_bytes < 14 or cfg.segment_ms < 1 or cfg.index_interval_bytes < 0:
            raise KafkaError(ErrorCode.INVALID_CONFIG, "segment.bytes/segment.ms/index.interval.bytes out of range")
        return cfg


class StateStore(abc.ABC):
    """A durable small key-value map for coordinators (group offsets, transaction state)."""

    @abc.abstractmethod
    def put(self, key: str, value: bytes | None) -> None:
        """Set ``key`` (None deletes); durable according to the engine's fsync policy."""

    @abc.abstractmethod
    def items(self) -> dict[str, bytes]:
        """A copy of every live key."""


class Syncable(Protocol):
    def sync(self) -> None: ...


class SyncPolicy:
    """Decides when written data is fsynced: the ``fsync`` option of ``open_engine``.

    ``always``: ``wrote(obj)`` syncs ``obj`` before returning, unless the calling thread is inside
    ``group_commit()``; then it is queued and synced once when the outermost block exits (one
    fdatasync per touched file for a whole event-loop batch of produce requests).
    ``interval``: queued; ``sync_due(now_ms)`` (called by run_maintenance) syncs every
    ``interval_ms``. ``never``: queued and only synced by ``sync_all()`` (flush/close).
    """

    def __init__(self, mode: str = "interval", interval_ms: int = 1000) -> None:
        if mode not in FSYNC_MODES:
            raise ValueError(f"fsync must be one of {FSYNC_MODES}, not {mode!r}")
        self.mode = mode
        self.interval_ms = interval_ms
        self._dirty: dict[int, Syncable] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._last_sync_ms = 0

    def wrote(self, obj: Syncable) -> None:
        if self.mode == "always" and not getattr(self._local, "depth", 0):
            obj.sync()
            return
        with self._lock:
            self._dirty[id(obj)] = obj

    def forget(self, obj: Syncable) -> None:
        with self._lock:
            self._dirty.pop(id(obj), None)

    @contextlib.contextmanager
    def group_commit(self) -> Iterator[None]:
        self._local.depth = getattr(self._local, "depth", 0) + 1
        try:
            yield
        finally:
            self._local.depth -= 1
            if self._local.depth == 0 and self.mode == "always":
                self.sync_all()

    def sync_due(self, now_ms: int) -> None:
        if self.mode == "interval" and now_ms - self._last_sync_ms >= self.interval_ms:
            self._last_sync_ms = now_ms
            self.sync_all()

    def sync_all(self) -> None:
        with self._lock:
            pending = list(self._dirty.values())
            self._dirty.clear()
        first_error: Exception | None = None
        for obj in pending:  # sync everything we can, then report the first failure
            try:
                obj.sync()
            except Exception as exc:  # noqa: BLE001 - re-raised below
                first_error = first_error or exc
        if first_error is not None:
            raise first_error


class StorageEngine(abc.ABC):
    """Topics, their partition logs and state stores. Shared bookkeeping lives here; subclasses
    persist metadata and make segments (``_new_log``, ``_save_topics``, ``_drop_log``).

    Threading: topic CRUD, appends and reads run on the server's event-loop thread;
    ``run_maintenance`` may run on one worker thread at a time (it takes ``_maintenance_lock``)
    and touches each log only under that log's own short lock.
    """

    def __init__(self, *, fsync: str = "interval", fsync_interval_ms: int = 1000,
                 message_max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self.sync_policy = SyncPolicy(fsync, fsync_interval_ms)
        self.message_max_bytes = message_max_bytes
        self._topics: dict[str, TopicMeta] = {}
        self._logs: dict[tuple[str, int], PartitionLog] = {}
        self._stores: dict[str, StateStore] = {}
        self._pending: set[str] = set()  # topics being created or grown off the lock
        self._meta_lock = threading.RLock()
        self._maintenance_lock = threading.Lock()
        self._closed = False

    # -- hooks ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def _new_log(self, topic: str, partition: int, config: LogConfig) -> PartitionLog: ...

    @abc.abstractmethod
    def _save_topics(self) -> None: ...

    @abc.abstractmethod
    def _drop_log(self, log: PartitionLog) -> None: ...

    @abc.abstractmethod
    def _new_state_store(self, name: str) -> StateStore: ...

    # -- topics --------------------------------------------------------------------------------
    def log_config(self, configs: dict[str, str]) -> LogConfig:
        """A topic's effective config: its overrides over the broker-level defaults."""
        merged = {**getattr(self, "topic_defaults", {}), **configs}
        return LogConfig.from_configs(merged, max_message_bytes=self.message_max_bytes)

    def set_topic_defaults(self, defaults: dict[str, str]) -> None:
        """Broker-level topic defaults (``log.retention.ms`` -> ``retention.ms``...); applied at once
        to every topic without its own override, as Kafka's dynamic broker configs are."""
        with self._meta_lock:
            self.topic_defaults = dict(defaults)
            for name, meta in self._topics.items():
                config = self.log_config(meta.configs)
                for p in range(meta.num_partitions):
                    self._logs[(name, p)].config = config

    # Creating or deleting many partitions takes seconds on the file engine (a directory, files
    # and fsyncs each), so callers may run these on a worker thread: the slow part runs outside
    # ``_meta_lock`` (a name being created is reserved in ``_pending``) and the topic appears
    # or disappears in one step under the lock, so the event loop never waits for it.
    def create_topic(self, name: str, num_partitions: int, configs: dict[str, str],
                     topic_id: uuid.UUID) -> TopicMeta:
        with self._meta_lock:
            if name in self._topics or name in self._pending:
                raise KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, f"topic {name!r} already exists")
            if num_partitions < 1:
                raise KafkaError(ErrorCode.INVALID_PARTITIONS, "num_partitions must be >= 1")
            config = self.log_config(configs)
            self._pending.add(name)
        meta = TopicMeta(name, topic_id, num_partitions, dict(configs))
        try:
            logs = self._new_logs(name, range(num_partitions), config)
            with self._meta_lock:
                self._logs.update(logs)
                self._topics[name] = meta
                try:
                    self._save_topics()
                except KafkaError:  # e.g. a full disk: leave no half-created topic behind
                    del self._topics[name]
                    for key in logs:
                        self._logs.pop(key, None)
                    for log in logs.values():
                        self._drop_log(log)
                    raise
        finally:
            with self._meta_lock:
                self._pending.discard(name)
        return meta

    def _new_logs(self, name: str, partitions: range, config: LogConfig) -> dict[tuple[str, int], PartitionLog]:
        logs: dict[tuple[str, int], PartitionLog] = {}
        try:
            for p in partitions:
                logs[(name, p)] = self._new_log(name, p, config)
        except KafkaError:
            for log in logs.values():
                self._drop_log(log)
            raise
        return logs

    def delete_topic(self, name: str) -> None:
        with self._meta_lock:
            meta = self._meta(name)
            del self._topics[name]
            self._save_topics()
            logs = [self._logs.pop((name, p), None) for p in range(meta.num_partitions)]
        for log in logs:
            if log is not None:
                self._drop_log(log)

    def add_partitions(self, name: str, total: int) -> TopicMeta:
        with self._meta_lock:
            meta = self._meta(name)
            if name in self._pending:
                raise KafkaError(ErrorCode.REASSIGNMENT_IN_PROGRESS, f"topic {name!r} is being changed")
            if total <= meta.num_partitions:
                raise KafkaError(ErrorCode.INVALID_PARTITIONS,
                                 f"topic has {meta.num_partitions} partitions; {total} is not more")
            config = self.log_config(meta.configs)
            self._pending.add(name)
        try:
            logs = self._new_logs(name, range(meta.num_partitions, total), config)
            with self._meta_lock:
                current = self._topics.get(name)
                if current is None or current.topic_id != meta.topic_id:  # deleted meanwhile
                    for log in logs.values():
                        self._drop_log(log)
                    raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"unknown topic {name!r}")
                self._logs.update(logs)
                new = TopicMeta(name, meta.topic_id, total, current.configs)
                self._topics[name] = new
                self._save_topics()
        finally:
            with self._meta_lock:
                self._pending.discard(name)
        return new

    def set_topic_configs(self, name: str, configs: dict[str, str]) -> TopicMeta:
        with self._meta_lock:
            meta = self._meta(name)
            config = self.log_config(configs)
            new = TopicMeta(name, meta.topic_id, meta.num_partitions, dict(configs))
            self._topics[name] = new
            self._save_topics()
            for p in range(meta.num_partitions):
                self._logs[(name, p)].config = config
            return new

    def topics(self) -> dict[str, TopicMeta]:
        with self._meta_lock:
            return dict(self._topics)

    def log(self, topic: str, partition: int) -> PartitionLog:
        log = self._logs.get((topic, partition))
        if log is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"{topic}-{partition}")
        return log

    def state_store(self, name: str) -> StateStore:
        with self._meta_lock:
            store = self._stores.get(name)
            if store is None:
                store = self._stores[name] = self._new_state_store(name)
            return store

    def _meta(self, name: str) -> TopicMeta:
        meta = self._topics.get(name)
        if meta is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"unknown topic {name!r}")
        return meta

    # -- durability and housekeeping -----------------------------------------------------------
    def group_commit(self) -> contextlib.AbstractContextManager[None]:
        """With fsync=always: appends inside the block are fsynced together when it exits.

        The server wraps one event-loop batch of produce handling in it and sends acks after
        the block exits. Outside a block, every append fsyncs before it returns.
        """
        return self.sync_policy.group_commit()

    def run_maintenance(self, now_ms: int, retention: bool = True) -> None:
        """Retention (when ``retention``), compaction, segment.ms rolls and interval fsync. One caller
        at a time; safe on a worker thread while appends run elsewhere (each step holds a log lock
        briefly)."""
        from kafkaish.storage import cleaner

        if not self._maintenance_lock.acquire(blocking=False):
            return  # another thread is already doing it
        try:
            with self._meta_lock:
                logs = list(self._logs.values())
            for log in logs:
                cleaner.maintain(log, now_ms, retention)
            self.sync_policy.sync_due(now_ms)
            self._after_maintenance(now_ms)
        finally:
            self._maintenance_lock.release()

    def _after_maintenance(self, now_ms: int) -> None:
        """Hook for engines that checkpoint periodically."""

    def flush(self) -> None:
        self.sync_policy.sync_all()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._maintenance_lock, self._meta_lock:
            try:
                self.flush()
            finally:  # close every log even if a queued fsync failed (each close fsyncs again)
                for log in self._logs.values():
                    log.close()
                self._logs.clear()


def open_engine(url_or_path: str, **options: Any) -> StorageEngine:
    """``memory://`` -> MemoryEngine; a path or ``file:///path`` -> FileEngine (data directory).

    Options: ``fsync`` ("always" | "interval" | "never", default "interval"),
    ``fsync_interval_ms`` (1000), ``message_max_bytes`` (broker default for max.message.bytes),
    ``cluster_id`` (file engine: used when the directory is new), ``zero_copy`` (file engine:
    ``read`` returns ``FileRegion`` objects for sendfile instead of bytes; default False).
    """
    if url_or_path.startswith("memory:"):
        from kafkaish.storage.memory import MemoryEngine

        options.pop("cluster_id", None)
        options.pop("zero_copy", None)
        return MemoryEngine(**options)
    from kafkaish.storage.file import FileEngine

    path = url_or_path[len("file://"):] if url_or_path.startswith("file://") else url_or_path
    return FileEngine(path, **options)
