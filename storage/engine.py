"""The storage interface every engine implements, and the topic bookkeeping engines share.

This module owns ``StorageEngine``, the contract in docs/INTERFACES.md "Storage"; its value types
(``TopicMeta``, ``AppendResult``, ``ReadResult``, ``LogConfig``, ``StateStore``...) live in
``kafkaish.storage.types``, the fsync policy in ``kafkaish.storage.sync`` and
``open_engine(url_or_path, **options)`` in ``kafkaish.storage``. The partition log itself (Kafka's
UnifiedLog) is ``kafkaish.storage.log.PartitionLog``; engines differ only in where segments and
metadata live (``memory.py``: RAM; ``file.py``: a Kafka-style data directory) and in how they make
writes durable (see ``kafkaish.storage.file`` for the fsync policy).

Durability (``open_engine(..., fsync=...)``; details in ``kafkaish.storage.file``):
``always`` -- an append returns only once its data is fsynced; inside ``engine.group_commit()``
the fsyncs of all appends in the block happen once, when it exits, or with ``defer=True`` at the
next ``sync_pending()`` (answer acks after that); the high watermark waits for the fsync;
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
import time
import uuid

from kafkaish.storage import cleaner
from kafkaish.storage.log import PartitionLog
from kafkaish.storage.sync import SyncPolicy
from kafkaish.storage.types import DEFAULT_MAX_MESSAGE_BYTES, LogConfig, StateStore, TopicMeta
from kafkaish.wire.errors import ErrorCode, KafkaError


class StorageEngine(abc.ABC):
    """Topics, their partition logs and state stores. Shared bookkeeping lives here; subclasses
    persist metadata and make segments (``_new_log``, ``_save_topics``, ``_drop_log``).

    Threading: topic CRUD, appends and reads run on the server's event-loop thread;
    ``run_maintenance`` may run on one worker thread at a time (it takes ``_maintenance_lock``)
    and touches each log only under that log's own short lock.

    Identity and location: ``cluster_id`` (set by each engine: a data directory keeps the one it
    was created with), ``log_dir`` and ``disk_usage()``.
    """

    cluster_id: str

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
        self.topic_defaults: dict[str, str] = {}  # broker-level topic configs (set_topic_defaults)

    # -- identity and location -------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def log_dir(self) -> str:
        """The single log directory, as DescribeLogDirs and ``log.dirs`` report it."""

    @abc.abstractmethod
    def disk_usage(self) -> tuple[int, int]:
        """(total, usable) bytes of the log directory's file system; (-1, -1) when unknown."""

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
        merged = {**self.topic_defaults, **configs}
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
                _yield_gil()
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
                _yield_gil()

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

    def has_partition(self, topic: str, partition: int) -> bool:
        """Whether ``topic`` exists and has ``partition`` (Kafka's metadata-cache lookup)."""
        return (topic, partition) in self._logs

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
    def group_commit(self, defer: bool = False) -> contextlib.AbstractContextManager[None]:
        """With fsync=always: appends inside the block are fsynced together when it exits.

        With ``defer`` they are not: the caller answers acks only after a later ``sync_pending()``
        (the server runs it on a worker thread, ``kafkaish.flusher``). Until then the high
        watermark stays below them, so no reader sees data a machine crash could still lose.
        Outside a block, every append fsyncs before it returns.
        """
        return self.sync_policy.group_commit(defer)

    @property
    def acks_wait_for_sync(self) -> bool:
        """fsync=always: produce acks wait for the fsync, and the high watermark for both."""
        return self.sync_policy.mode == "always"

    def sync_pending(self) -> list[PartitionLog]:
        """fsync what deferred group commits wrote (safe on a worker thread); returns the logs
        whose high watermark this may have advanced. Raises KafkaError if an fsync failed."""
        return [obj for obj in self.sync_policy.sync_all() if isinstance(obj, PartitionLog)]

    def run_maintenance(self, now_ms: int, retention: bool = True) -> None:
        """Retention (when ``retention``), compaction, segment.ms rolls and interval fsync. One caller
        at a time; safe on a worker thread while appends run elsewhere (each step holds a log lock
        briefly)."""
        if not self._maintenance_lock.acquire(blocking=False):
            return  # another thread is already doing it
        try:
            with self._meta_lock:
                logs = list(self._logs.values())
            for log in logs:
                cleaner.maintain(log.maintenance(), now_ms, retention)
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


def _yield_gil() -> None:
    """Let the event-loop thread run between partitions: a CPU-bound worker thread otherwise holds
    the GIL for whole switch intervals, and every client waits in line for it."""
    time.sleep(0)
