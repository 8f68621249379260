"""Reset, snapshot and restore the broker's whole state (topics with records and configs,
groups and committed offsets, producer and transaction state; not dynamic broker configs).

A snapshot is a directory (or, for a path ending in ``.zip``, one zip file) holding
``snapshot.json`` (topics, configs, log start offsets, coordinator state) and one file of raw
record batches per partition, offsets included. Restoring appends those batches as a follower
does (``PartitionLog.append_as_follower``), so producer state, open transactions and the last
stable offset come back exactly, then reloads the coordinators from their state, as a broker
restart would. Every function runs on the broker's event loop.
"""

from __future__ import annotations

import base64
import io
import json
import os
import uuid
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kafkaish.admin.topic_names import is_internal
from kafkaish.storage.log import iter_log_batches

if TYPE_CHECKING:
    from kafkaish.broker import Broker

FORMAT = "kafkaish-snapshot"
VERSION = 1


class SnapshotError(ValueError):
    """The snapshot path or file is unusable (HTTP 400, naming the field ``path``)."""


def _stores() -> dict[str, str]:
    """The coordinators' state stores (``StorageEngine.state_store`` names), by what they hold."""
    from kafkaish.broker import GROUPS_STATE_STORE, TXNS_STATE_STORE

    return {"groups": GROUPS_STATE_STORE, "transactions": TXNS_STATE_STORE}


async def _delete_topic(broker: Broker, name: str) -> None:
    await broker.topics.delete_topic(name)  # as DeleteTopics: in turn with other topic changes, offsets too


# ------------------------------------------------------------------------------------ reset
async def reset(broker: Broker, topics: Iterable[str] | None = None, groups: Iterable[str] | None = None,
          transactional_ids: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Forget the named topics, groups and transactions; with none named, forget everything."""
    everything = topics is None and groups is None and transactional_ids is None
    # Kafka's internal topics stay: they hold nothing here (offsets and transactions live in the
    # coordinators' state stores) and come back on first use anyway.
    existing = sorted(t for t in broker.storage.topics() if not is_internal(t))
    doomed_topics = existing if everything else [t for t in (topics or ()) if t in broker.storage.topics()]
    for name in doomed_topics:
        await _delete_topic(broker, name)
    if everything:
        dropped_groups = [g.group_id for g in broker.groups.list_groups(broker.now_ms())]
        dropped_txns = [t.transactional_id for t in broker.txns.list_transactions(now_ms=broker.now_ms()).transactions]
        stores = _stores()
        _clear_store(broker, stores["groups"])
        _clear_store(broker, stores["transactions"], keep=("producer_id_block",))
        reload_coordinators(broker)
        broker.faults.clear()
        return {"topics": doomed_topics, "groups": dropped_groups, "transactional_ids": dropped_txns}
    dropped_groups = [g for g in (groups or ()) if _drop_group(broker, g)]
    dropped_txns = [t for t in (transactional_ids or ()) if _drop_txn(broker, t)]
    return {"topics": doomed_topics, "groups": dropped_groups, "transactional_ids": dropped_txns}


def _clear_store(broker: Broker, name: str, keep: Iterable[str] = ()) -> None:
    store = broker.storage.state_store(name)
    for key in list(store.items()):
        if key not in keep:
            store.put(key, None)


def _drop_group(broker: Broker, group_id: str) -> bool:
    """Forget one group and its offsets, members or not (a forced DeleteGroups)."""
    coordinator = broker.groups
    known = group_id in coordinator.groups or bool(coordinator.fetch_offsets(group_id, None, broker.now_ms()).partitions)
    coordinator.groups.pop(group_id, None)
    coordinator.offsets.delete_group(group_id)
    return known


def _drop_txn(broker: Broker, transactional_id: str) -> bool:
    txns = broker.txns
    if txns.state_of(transactional_id) is None:
        return False
    txns._txns.pop(transactional_id, None)
    txns._marker_due.pop(transactional_id, None)
    txns._store.put("txn:" + transactional_id, None)
    return True


def reload_coordinators(broker: Broker) -> None:
    """Reload the group and transaction coordinators from their state stores, as a restarted
    broker does. Each is reloaded in place, so whatever holds it (timers, the marker writer,
    handlers) sees the new state. Parked JoinGroup/SyncGroup requests are forgotten: their
    clients time out and rejoin, as after a coordinator failover."""
    from kafkaish.coordinator.group import GroupCoordinator
    from kafkaish.coordinator.txn import TransactionCoordinator

    stores = _stores()
    g = broker.groups
    fresh_groups = GroupCoordinator(broker.storage.state_store(stores["groups"]), topics=g._topics, config=g.config,
                                    member_id_factory=g._new_id)
    t = broker.txns
    fresh_txns = TransactionCoordinator.restore(broker.storage.state_store(stores["transactions"]), broker.now_ms(),
                                                t.config)
    for old, new in ((g, fresh_groups), (t, fresh_txns)):
        old.__dict__.clear()
        old.__dict__.update(new.__dict__)


# --------------------------------------------------------------------------------- snapshot
class _Dir:
    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, name: str, data: bytes) -> None:
        (self.path / name).write_bytes(data)

    def read(self, name: str) -> bytes:
        return (self.path / name).read_bytes()


class _Zip:
    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf

    def write(self, name: str, data: bytes) -> None:
        self.zf.writestr(name, data)

    def read(self, name: str) -> bytes:
        return self.zf.read(name)


def _is_zip(path: Path) -> bool:
    return path.suffix.lower() == ".zip"


def snapshot(broker: Broker, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Write the whole state to ``path`` (a directory, or a ``.zip`` file); returns a summary."""
    target = Path(path)
    try:
        if _is_zip(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zf:
                return _write(broker, _Zip(zf))
        target.mkdir(parents=True, exist_ok=True)
        return _write(broker, _Dir(target))
    except OSError as e:
        raise SnapshotError(f"cannot write a snapshot to {str(target)!r}: {e.strerror or e}") from None


def _write(broker: Broker, out: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = {"format": FORMAT, "version": VERSION, "cluster_id": broker.cluster_id,
                                "taken_ms": broker.now_ms(), "topics": [], "state": {}}
    records = 0
    user_topics = {n: m for n, m in broker.storage.topics().items() if not is_internal(n)}  # see reset()
    for i, (name, meta) in enumerate(sorted(user_topics.items())):
        partitions = []
        for p in range(meta.num_partitions):
            log_ = broker.storage.log(name, p)
            buf = io.BytesIO()
            start = log_.log_start_offset
            for header, data in iter_log_batches(log_.segments(), 0):
                if header.last_offset >= start:
                    buf.write(bytes(data))
                    records += header.records_count
            file_name = f"t{i}-p{p}.batches"
            out.write(file_name, buf.getvalue())
            partitions.append({"partition": p, "log_start_offset": start, "file": file_name})
        manifest["topics"].append({"name": name, "topic_id": str(meta.topic_id), "configs": dict(meta.configs),
                                   "partitions": partitions})
    for what, store in _stores().items():
        items = broker.storage.state_store(store).items()
        manifest["state"][what] = {k: base64.b64encode(v).decode("ascii") for k, v in items.items()}
    out.write("snapshot.json", json.dumps(manifest, indent=1).encode())
    return {"topics": len(manifest["topics"]), "records": records}


async def restore(broker: Broker, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Replace the broker's state by the snapshot at ``path``; returns a summary."""
    source = Path(path)
    try:
        if _is_zip(source) and source.is_file():
            with zipfile.ZipFile(source) as zf:
                return await _read(broker, _Zip(zf))
        if not (source / "snapshot.json").is_file():
            raise SnapshotError(f"no snapshot at {str(source)!r}")
        return await _read(broker, _Dir(source))
    except (OSError, KeyError, zipfile.BadZipFile) as e:
        raise SnapshotError(f"cannot read the snapshot at {str(source)!r}: {e}") from None


async def _read(broker: Broker, src: Any) -> dict[str, Any]:
    manifest = json.loads(src.read("snapshot.json"))
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise SnapshotError("not a kafkaish snapshot of a known version")
    for name in sorted(t for t in broker.storage.topics() if not is_internal(t)):
        await _delete_topic(broker, name)
    now = broker.now_ms()
    for t in manifest["topics"]:
        broker.storage.create_topic(t["name"], len(t["partitions"]), t["configs"], uuid.UUID(t["topic_id"]))
        for p in t["partitions"]:
            log_ = broker.storage.log(t["name"], p["partition"])
            data = src.read(p["file"])
            if data:
                log_.append_as_follower(data, now_ms=now)
            if p["log_start_offset"] > log_.log_start_offset:
                log_.delete_records(p["log_start_offset"])
    stores = _stores()
    for what, items in manifest["state"].items():
        store = broker.storage.state_store(stores[what])
        for key in list(store.items()):
            if key not in items:
                store.put(key, None)
        for key, value in items.items():
            store.put(key, base64.b64decode(value))
    reload_coordinators(broker)
    for t in manifest["topics"]:
        for p in t["partitions"]:
            broker.data_arrived(t["name"], p["partition"])
    return {"topics": len(manifest["topics"])}
