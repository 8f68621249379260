"""The file engine (the server's default): a Kafka-style data directory, crash recovery, fsync policy.

Layout (Kafka's vocabulary)::

    <dir>/meta.properties              cluster.id (written once, like Kafka's)
    <dir>/topics.json                  TopicMeta of every topic (atomic: temp, fsync, rename, fsync dir)
    <dir>/.kafka_cleanshutdown         present only after a clean close
    <dir>/.lock                        flock: one server per directory
    <dir>/__state/<name>.kv            StateStore files (kafkaish.storage.state_store)
    <dir>/<topic>-<partition>/
        00000000000000000000.log       segments, named by base offset (LogSegment)
        00000000000000000000.index     sparse offset index (OffsetIndex)
        00000000000000000000.timeindex sparse time index (TimeIndex)
        00000000000000001234.snapshot  producer state as of offset 1234 (ProducerStateManager)
        partition.checkpoint           {"log_start_offset", "recovery_point"} (Kafka's
                                       log-start-offset-checkpoint and recovery-point-offset-checkpoint)

Durability, the ``fsync`` option of ``open_engine``:
  * ``always``: ``append``/``append_control``/``StateStore.put`` return only after fdatasync of the
    segment (or state file). Inside ``engine.group_commit()`` the fsyncs are deferred to the end of
    the block, one per touched file; with ``group_commit(defer=True)`` to the next
    ``sync_pending()``, which the server runs on a worker thread (``kafkaish.flusher``) and answers
    Produce after it, so an acknowledged record survives a crash of the process or the machine.
    The high watermark stays at the recovery point (what is fsynced) meanwhile.
    Rolled segments, new directories and checkpoints are fsynced too.
  * ``interval``: ``run_maintenance`` fsyncs touched files every ``fsync_interval_ms`` (and
    rolled segments when they roll). A process crash loses nothing (the page cache survives);
    a machine crash may lose the last interval.
  * ``never``: no fsync until ``close()``; a process crash loses nothing, a machine crash may lose
    anything not yet written back by the OS.

Recovery on open (Kafka's LogLoader): if ``.kafka_cleanshutdown`` is missing, every segment from
the one holding the checkpointed recovery point (the offset up to which data was known to be
fsynced) is re-read batch by batch (length, magic, CRC); a torn or corrupt tail is truncated with a
warning, later segments are dropped, and their indexes rebuilt. Older segments only get an index
sanity check (a missing or damaged index is rebuilt). Producer state is restored from the newest
snapshot at or below the log end offset, then the batches after it are replayed.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import uuid
from typing import Any

from kafkaish.storage.engine import StorageEngine
from kafkaish.storage.fsutil import atomic_write, fsync_dir, storage_error
from kafkaish.storage.log import PartitionLog, replay_producer_state
from kafkaish.storage.producer_state import CorruptSnapshotError, ProducerStateManager
from kafkaish.storage.segment import LogSegment, Segment
from kafkaish.storage.state_store import FileStateStore
from kafkaish.storage.sync import SyncPolicy
from kafkaish.storage.types import LogConfig, StateStore, TopicMeta
from kafkaish.wire.errors import KafkaError
from kafkaish.wire.records import CorruptRecordError

log = logging.getLogger(__name__)

_SEGMENT_RE = re.compile(r"^(\d{20})\.log$")
_SNAPSHOT_RE = re.compile(r"^(\d{20})\.snapshot$")
_CHECKPOINT = "partition.checkpoint"
_CLEAN_SHUTDOWN = ".kafka_cleanshutdown"
_RECOVERY_CHECKPOINT_INTERVAL_MS = 60_000  # log.flush.offset.checkpoint.interval.ms


def _stem(directory: str, base_offset: int) -> str:
    return os.path.join(directory, f"{base_offset:020d}")


class FileSegmentStore:
    """SegmentStore of one partition directory: segments, snapshots and the checkpoint file."""

    def __init__(self, directory: str, sync_policy: SyncPolicy, zero_copy: bool = False) -> None:
        self.dir = directory
        self.sync_policy = sync_policy
        self.zero_copy = zero_copy
        self.log_start_offset = 0
        self.recovery_point = 0
        self._durable = sync_policy.mode != "never"

    def new_segment(self, base_offset: int, config: LogConfig) -> Segment:
        try:
            segment = LogSegment(_stem(self.dir, base_offset), base_offset, config.index_interval_bytes,
                                 create=True, zero_copy=self.zero_copy)
            if self._durable:
                fsync_dir(self.dir)
        except OSError as exc:
            raise storage_error(exc, f"create segment {base_offset} in {self.dir}") from exc
        return segment

    def new_cleaned(self, base_offset: int, config: LogConfig) -> Segment:
        stem = _stem(self.dir, base_offset) + ".cleaned"
        for ext in (".log", ".index", ".timeindex"):
            if os.path.exists(stem + ext):
                os.unlink(stem + ext)
        return LogSegment(stem, base_offset, config.index_interval_bytes, create=True)

    def install_cleaned(self, old: Segment, new: Segment) -> Segment:
        """Crash-safe swap (Kafka renames .cleaned -> .swap -> .log): drop the old indexes first,
        so a crash at any point leaves either segment with missing indexes, which are rebuilt."""
        assert isinstance(old, LogSegment) and isinstance(new, LogSegment)
        final = old.stem
        for ext in (".index", ".timeindex"):
            if os.path.exists(final + ext):
                os.unlink(final + ext)
        os.replace(new.stem + ".log", final + ".log")
        for ext in (".index", ".timeindex"):
            if os.path.exists(new.stem + ext):
                os.replace(new.stem + ext, final + ext)
        fsync_dir(self.dir)
        new.stem = final
        new.zero_copy = self.zero_copy
        new.offset_index.path, new.time_index.path = final + ".index", final + ".timeindex"
        old.offset_index.close()
        old.time_index.close()
        os.close(old.fd)
        old.fd = -1
        return new

    def delete_segment(self, segment: Segment) -> None:
        assert isinstance(segment, LogSegment)
        segment.delete()

    def save_log_start(self, offset: int) -> None:
        self.log_start_offset = offset
        self.save_checkpoint()

    def save_recovery_point(self, offset: int) -> None:
        if offset != self.recovery_point:
            self.recovery_point = offset
            self.save_checkpoint()

    def save_checkpoint(self) -> None:
        data = {"log_start_offset": self.log_start_offset, "recovery_point": self.recovery_point}
        atomic_write(os.path.join(self.dir, _CHECKPOINT), json.dumps(data).encode(), fsync=self._durable)

    def load_checkpoint(self) -> None:
        try:
            with open(os.path.join(self.dir, _CHECKPOINT), "rb") as f:
                data = json.loads(f.read())
            self.log_start_offset = int(data["log_start_offset"])
            self.recovery_point = int(data["recovery_point"])
        except (OSError, ValueError, KeyError, TypeError):
            self.log_start_offset = self.recovery_point = 0  # recover everything

    def save_producer_snapshot(self, offset: int, data: bytes) -> None:
        """Write ``<offset>.snapshot`` and keep only the two newest (snapshots are an optimisation:
        a failure is logged, recovery then replays more of the log)."""
        try:
            atomic_write(os.path.join(self.dir, f"{offset:020d}.snapshot"), data, fsync=self._durable)
            for old in sorted(self.snapshot_offsets())[:-2]:
                os.unlink(os.path.join(self.dir, f"{old:020d}.snapshot"))
        except (OSError, KafkaError):
            log.warning("cannot write the producer snapshot of %s at %d", self.dir, offset, exc_info=True)

    def snapshot_offsets(self) -> list[int]:
        return [int(m.group(1)) for name in os.listdir(self.dir) if (m := _SNAPSHOT_RE.match(name))]

    def drop(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------- loading
def load_segments(directory: str, config: LogConfig, recovery_point: int, clean: bool,
                  durable: bool = True, zero_copy: bool = False) -> list[Segment]:
    """Open every segment of a partition directory, recovering those that may be torn."""
    for name in os.listdir(directory):
        if ".cleaned." in name or name.endswith(".tmp"):
            os.unlink(os.path.join(directory, name))  # an interrupted compaction or atomic write
    bases = sorted(int(m.group(1)) for name in os.listdir(directory) if (m := _SEGMENT_RE.match(name)))
    first_unsafe = len(bases)
    if not clean:
        first_unsafe = max(0, sum(1 for b in bases if b <= recovery_point) - 1)
    segments: list[Segment] = []
    for i, base in enumerate(bases):
        segment = LogSegment(_stem(directory, base), base, config.index_interval_bytes, zero_copy=zero_copy)
        if segments and segment.base_offset < segments[-1].next_offset:
            log.warning("%s: segment %d overlaps its predecessor; deleting it and later ones", directory, base)
            _delete_from(directory, bases[i:], segment)
            break
        if i >= first_unsafe or not _load_sealed(segment):
            truncated = segment.recover()
            if i + 1 < len(bases):
                segment.seal()
            if durable:
                segment.sync()  # what recovery accepted must be on disk before the recovery point moves
            if truncated and i + 1 < len(bases):
                log.warning("%s: corrupt data inside segment %d; deleting the segments after it", directory, base)
                segments.append(segment)
                _delete_from(directory, bases[i + 1:], None)
                break
        segments.append(segment)
    return segments


def _load_sealed(segment: LogSegment) -> bool:
    try:
        return segment.load_sealed()
    except CorruptRecordError:  # a stale index pointing into the middle of a batch: recover instead
        log.warning("%s: index does not match the segment; rebuilding", segment.stem)
        return False


def _delete_from(directory: str, bases: list[int], opened: LogSegment | None) -> None:
    if opened is not None:
        opened.delete()
    for base in bases:
        for ext in (".log", ".index", ".timeindex"):
            path = _stem(directory, base) + ext
            if os.path.exists(path):
                os.unlink(path)


def restore_producers(store: FileSegmentStore, segments: list[Segment], log_end: int,
                      log_start: int) -> ProducerStateManager:
    """Newest usable snapshot at or below the log end, then replay the batches after it."""
    for offset in sorted(store.snapshot_offsets(), reverse=True):
        path = os.path.join(store.dir, f"{offset:020d}.snapshot")
        if offset > log_end:
            os.unlink(path)  # the log was truncated below it
            continue
        try:
            with open(path, "rb") as f:
                producers = ProducerStateManager.restore(f.read())
        except (OSError, CorruptSnapshotError):
            log.warning("%s: unreadable producer snapshot, trying an older one", path)
            continue
        replay_producer_state(producers, segments, offset)
        producers.on_log_start_offset(log_start)
        return producers
    producers = ProducerStateManager()
    replay_producer_state(producers, segments, 0)
    producers.on_log_start_offset(log_start)
    return producers


class FileEngine(StorageEngine):
    """A data directory (see the module docstring)."""

    def __init__(self, path: str, *, cluster_id: str | None = None, zero_copy: bool = False,
                 **options: Any) -> None:
        super().__init__(**options)
        self.zero_copy = zero_copy
        self.path = os.path.abspath(path)
        os.makedirs(os.path.join(self.path, "__state"), exist_ok=True)
        self._lock_fd = os.open(os.path.join(self.path, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise RuntimeError(f"{self.path} is in use by another kafkaish process") from None
        self.cluster_id = self._load_cluster_id(cluster_id)
        marker = os.path.join(self.path, _CLEAN_SHUTDOWN)
        clean = os.path.exists(marker)
        if clean:
            os.unlink(marker)
            fsync_dir(self.path)
        self._last_checkpoint_ms = 0
        self._load_topics(clean)

    @property
    def log_dir(self) -> str:
        return os.path.realpath(self.path)

    def disk_usage(self) -> tuple[int, int]:
        usage = shutil.disk_usage(self.path)
        return usage.total, usage.free

    # ------------------------------------------------------------------------- metadata files
    def _load_cluster_id(self, wanted: str | None) -> str:
        path = os.path.join(self.path, "meta.properties")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                props = dict(line.strip().split("=", 1) for line in f if "=" in line and not line.startswith("#"))
            if "cluster.id" not in props:  # Kafka refuses to start (MetaProperties.Builder.build)
                raise RuntimeError(f"{path}: cluster.id was not found.")
            return props["cluster.id"]
        cluster_id = wanted or uuid.uuid4().hex[:22]
        atomic_write(path, f"#kafkaish\nversion=1\ncluster.id={cluster_id}\n".encode())
        return cluster_id

    def _load_topics(self, clean: bool) -> None:
        path = os.path.join(self.path, "topics.json")
        if not os.path.exists(path):
            return
        with open(path, "rb") as f:
            entries = json.loads(f.read())["topics"]
        for e in entries:
            meta = TopicMeta(e["name"], uuid.UUID(e["topic_id"]), int(e["num_partitions"]), dict(e["configs"]))
            config = self.log_config(meta.configs)
            self._topics[meta.name] = meta
            for p in range(meta.num_partitions):
                self._logs[(meta.name, p)] = self._open_log(meta.name, p, config, clean)

    def _save_topics(self) -> None:
        entries = [{"name": m.name, "topic_id": str(m.topic_id), "num_partitions": m.num_partitions,
                    "configs": m.configs} for m in self._topics.values()]
        atomic_write(os.path.join(self.path, "topics.json"), json.dumps({"topics": entries}, indent=1).encode(),
                     fsync=self.sync_policy.mode != "never")

    # --------------------------------------------------------------------------------- logs
    def _partition_dir(self, topic: str, partition: int) -> str:
        return os.path.join(self.path, f"{topic}-{partition}")

    def _open_log(self, topic: str, partition: int, config: LogConfig, clean: bool) -> PartitionLog:
        directory = self._partition_dir(topic, partition)
        os.makedirs(directory, exist_ok=True)
        store = FileSegmentStore(directory, self.sync_policy, self.zero_copy)
        store.load_checkpoint()
        segments = load_segments(directory, config, store.recovery_point, clean, self.sync_policy.mode != "never",
                                 self.zero_copy)
        log_end = segments[-1].next_offset if segments else store.log_start_offset
        log_start = min(max(store.log_start_offset, segments[0].base_offset if segments else 0), log_end)
        producers = restore_producers(store, segments, log_end, log_start)
        plog = PartitionLog(topic, partition, config, store, self.sync_policy, segments, log_start, producers)
        store.log_start_offset = plog.log_start_offset
        store.save_recovery_point(plog.log_end_offset)  # everything up to here was just verified
        return plog

    def _new_log(self, topic: str, partition: int, config: LogConfig) -> PartitionLog:
        directory = self._partition_dir(topic, partition)
        if os.path.exists(directory):
            shutil.rmtree(directory)  # left over from a topic deleted by a crashed process
        try:
            os.makedirs(directory)
            if self.sync_policy.mode != "never":
                fsync_dir(self.path)
        except OSError as exc:
            raise storage_error(exc, f"create {directory}") from exc
        try:
            store = FileSegmentStore(directory, self.sync_policy, self.zero_copy)
            store.save_checkpoint()
            plog = PartitionLog(topic, partition, config, store, self.sync_policy, [], 0)  # opens segment 0 last
        except KafkaError:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return plog

    def _drop_log(self, log: PartitionLog) -> None:
        log.drop()

    def _new_state_store(self, name: str) -> StateStore:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
        return FileStateStore(os.path.join(self.path, "__state", f"{safe}.kv"), self.sync_policy)

    # ----------------------------------------------------------------------------- lifecycle
    def _after_maintenance(self, now_ms: int) -> None:
        """Persist recovery points now and then (Kafka: log.flush.offset.checkpoint.interval.ms)."""
        if now_ms - self._last_checkpoint_ms < _RECOVERY_CHECKPOINT_INTERVAL_MS:
            return
        self._last_checkpoint_ms = now_ms
        with self._meta_lock:
            logs = list(self._logs.values())
        for plog in logs:
            plog.maintenance().checkpoint_recovery_point()

    def close(self) -> None:
        if self._closed:
            return
        with self._meta_lock:
            stores = list(self._stores.values())
        super().close()
        for store in stores:
            assert isinstance(store, FileStateStore)
            store.close()
        atomic_write(os.path.join(self.path, _CLEAN_SHUTDOWN), b"")
        os.close(self._lock_fd)
