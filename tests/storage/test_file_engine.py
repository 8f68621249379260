"""File-engine-only behaviour: restarts, crash recovery, indexes, fsync policy, disk errors."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from kafkaish.storage import StorageEngine, open_engine
from kafkaish.storage.region import FileRegion, as_bytes
from kafkaish.wire.errors import ErrorCode, KafkaError
from kafkaish.wire.records import decode_records, iter_batches

from .conftest import batch, new_topic


def read_all(log) -> list[tuple[int, bytes | None]]:
    out: list[tuple[int, bytes | None]] = []
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        data = as_bytes(log.read(offset, 1 << 20).records)
        out += [(r.offset, r.value) for pos, _ in iter_batches(data) for r in decode_records(data, pos)]
        offset = out[-1][0] + 1
    return out


def crash_after(data_dir: Path, body: str, fsync: str = "never") -> None:
    """Run ``body`` against an engine in a child process that then dies without closing it."""
    script = textwrap.dedent(f"""
        import os, uuid
        from kafkaish.storage import open_engine
        from tests.storage.conftest import batch
        engine = open_engine({str(data_dir)!r}, fsync={fsync!r})
    """) + textwrap.dedent(body) + "\nos._exit(0)\n"
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", script], check=True, cwd=root, timeout=60)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def reopen(data_dir: Path, **options: object) -> StorageEngine:
    return open_engine(str(data_dir), **{"fsync": "never", **options})


def segment_files(data_dir: Path, ext: str) -> list[Path]:
    return sorted((data_dir / "t-0").glob(f"*.{ext}"))


# ---------------------------------------------------------------------------- persistence
def test_restart_keeps_topics_data_offsets_and_state(data_dir: Path) -> None:
    engine = open_engine(str(data_dir), fsync="always", cluster_id="abc")
    tid = uuid.uuid4()
    engine.create_topic("t", 2, {"segment.bytes": "200"}, tid)
    log = engine.log("t", 0)
    for i in range(6):
        log.append(batch(b"v%d" % i), now_ms=1)
    log.delete_records(2)
    engine.state_store("offsets").put("g", b"42")
    engine.close()

    engine = reopen(data_dir)
    assert engine.cluster_id == "abc"
    assert engine.topics()["t"].topic_id == tid and engine.topics()["t"].configs == {"segment.bytes": "200"}
    log = engine.log("t", 0)
    assert (log.log_start_offset, log.log_end_offset) == (2, 6)
    assert read_all(log) == [(i, b"v%d" % i) for i in range(2, 6)]
    assert log.append(batch(b"v6"), now_ms=1).base_offset == 6
    assert engine.state_store("offsets").items() == {"g": b"42"}
    assert engine.log("t", 1).log_end_offset == 0
    engine.close()


def test_second_engine_on_same_directory_is_refused(data_dir: Path) -> None:
    engine = reopen(data_dir)
    with pytest.raises(RuntimeError):
        reopen(data_dir)
    engine.close()


def test_deleted_topic_leaves_no_directory(data_dir: Path) -> None:
    engine = reopen(data_dir)
    new_topic(engine)
    engine.log("t", 0).append(batch(b"x"), now_ms=1)
    engine.delete_topic("t")
    assert not (data_dir / "t-0").exists()
    engine.close()
    assert reopen(data_dir).topics() == {}


def test_unclean_restart_restores_producer_state(data_dir: Path) -> None:
    crash_after(data_dir, """
        engine.create_topic("t", 1, {}, uuid.uuid4())
        log = engine.log("t", 0)
        log.append(batch(b"a", producer_id=5, producer_epoch=0, base_sequence=0), now_ms=1)
        log.append(batch(b"t", producer_id=6, producer_epoch=0, base_sequence=0, transactional=True), now_ms=1)
    """)
    engine = reopen(data_dir)
    log = engine.log("t", 0)
    assert log.log_end_offset == 2 and log.last_stable_offset == 1
    dup = log.append(batch(b"a", producer_id=5, producer_epoch=0, base_sequence=0), now_ms=2)
    assert dup.duplicate and dup.base_offset == 0
    with pytest.raises(KafkaError) as info:
        log.append(batch(b"b", producer_id=5, producer_epoch=0, base_sequence=3), now_ms=2)
    assert info.value.code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    engine.close()


# ------------------------------------------------------------------------------- torn tails
def _three_batches_then_damage(data_dir: Path, damage) -> tuple[StorageEngine, int]:
    engine = reopen(data_dir)
    new_topic(engine)
    for v in (b"a", b"b", b"c"):
        engine.log("t", 0).append(batch(v), now_ms=1)
    engine.close()
    os.unlink(data_dir / ".kafka_cleanshutdown")  # as after a crash
    (path,) = segment_files(data_dir, "log")
    size = path.stat().st_size
    damage(path, size)
    return reopen(data_dir), size


def _flip_byte(path: Path, from_end: int) -> None:
    data = bytearray(path.read_bytes())
    data[-from_end] ^= 1
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("damage", "end"), [
    pytest.param(lambda p, n: os.truncate(p, n - 7), 2, id="truncated-mid-batch"),
    pytest.param(lambda p, n: p.write_bytes(p.read_bytes() + b"\0" * 7 + b"\3garbage!"), 3, id="garbage-appended"),
    pytest.param(lambda p, n: _flip_byte(p, 3), 2, id="flipped-byte-in-last-batch"),
    pytest.param(lambda p, n: _flip_byte(p, n - 17 - len(batch(b"a"))), 1, id="flipped-crc-of-middle-batch"),
])
def test_torn_tail_is_truncated_on_recovery(data_dir: Path, damage, end: int, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        engine, _ = _three_batches_then_damage(data_dir, damage)
    log = engine.log("t", 0)
    assert log.log_end_offset == end
    assert any("truncating" in r.message for r in caplog.records)
    assert log.append(batch(b"d"), now_ms=1).base_offset == end
    assert [v for _, v in read_all(log)] == [b"a", b"b", b"c"][:end] + [b"d"]
    engine.close()


def test_crash_mid_write_in_child_process_recovers(data_dir: Path) -> None:
    crash_after(data_dir, """
        engine.create_topic("t", 1, {"segment.bytes": "300"}, uuid.uuid4())
        for i in range(10):
            engine.log("t", 0).append(batch(b"v%d" % i), now_ms=1)
        seg = engine.log("t", 0).active_segment
        os.write(seg.fd, batch(b"torn")[:30])  # a write cut short by the crash
    """, fsync="always")
    engine = reopen(data_dir)
    log = engine.log("t", 0)
    assert log.log_end_offset == 10
    assert read_all(log) == [(i, b"v%d" % i) for i in range(10)]
    engine.close()


# --------------------------------------------------------------------------------- indexes
@pytest.mark.parametrize("how", ["deleted", "garbage"])
def test_damaged_index_files_are_rebuilt(data_dir: Path, how: str) -> None:
    engine = reopen(data_dir)
    new_topic(engine, segment_bytes="1000", index_interval_bytes="100")
    for i in range(40):
        engine.log("t", 0).append(batch(b"v%d" % i, ts=1000 + i), now_ms=1)
    engine.close()
    for path in segment_files(data_dir, "index") + segment_files(data_dir, "timeindex"):
        if how == "deleted":
            path.unlink()
        else:
            path.write_bytes(b"\x7f" * 13)
    engine = reopen(data_dir)
    log = engine.log("t", 0)
    assert len(log.segments()) > 2
    assert read_all(log) == [(i, b"v%d" % i) for i in range(40)]
    assert log.offset_for_timestamp(1025) == (25, 1025)
    assert as_bytes(log.read(33, 1).records) and decode_records(as_bytes(log.read(33, 1).records))[0].offset == 33
    engine.close()
    assert all(p.stat().st_size % 8 == 0 and p.stat().st_size > 0 for p in segment_files(data_dir, "index")[:-1])


def test_reads_use_the_index(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = reopen(data_dir)
    new_topic(engine)
    for i in range(500):
        engine.log("t", 0).append(batch(b"x" * 100), now_ms=1)
    read_bytes = []
    real_pread = os.pread
    monkeypatch.setattr(os, "pread", lambda fd, n, pos: read_bytes.append(n) or real_pread(fd, n, pos))
    data = engine.log("t", 0).read(400, 1).records
    assert decode_records(data)[0].offset == 400
    assert sum(read_bytes) < 64 * 1024  # a 90 kB segment, never read whole
    engine.close()


# ------------------------------------------------------------------------------ compaction
def test_compaction_survives_restart(data_dir: Path) -> None:
    engine = reopen(data_dir)
    new_topic(engine, cleanup_policy="compact", segment_bytes="400")
    for i in range(20):
        engine.log("t", 0).append(batch(b"%d" % i, keys=[b"k%d" % (i % 3)]), now_ms=1)
    engine.run_maintenance(2)
    before = read_all(engine.log("t", 0))
    assert len(before) < 20
    (data_dir / "t-0" / "00000000000000000000.cleaned.log").write_bytes(b"leftover")
    engine.close()
    engine = reopen(data_dir)
    assert read_all(engine.log("t", 0)) == before
    assert not list((data_dir / "t-0").glob("*.cleaned.*"))
    engine.close()


def test_retention_deletes_segment_files(data_dir: Path) -> None:
    engine = reopen(data_dir)
    new_topic(engine, segment_bytes="100", retention_ms="1000")
    for ts in (1000, 2000, 3000):
        engine.log("t", 0).append(batch(b"x", ts=ts), now_ms=ts)
    assert len(segment_files(data_dir, "log")) == 3
    engine.run_maintenance(3500)
    assert [p.name for p in segment_files(data_dir, "log")] == [f"{2:020d}.log"]
    engine.close()
    engine = reopen(data_dir)
    assert engine.log("t", 0).log_start_offset == 2
    engine.close()


# ----------------------------------------------------------------------------------- fsync
def _count_syncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: calls.append(fd) or real(fd))
    return calls


def test_fsync_always_syncs_each_append_or_once_per_group(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = reopen(data_dir, fsync="always")
    new_topic(engine, partitions=2)
    calls = _count_syncs(monkeypatch)
    engine.log("t", 0).append(batch(b"a"), now_ms=1)
    engine.log("t", 0).append(batch(b"b"), now_ms=1)
    assert len(calls) == 2
    with engine.group_commit():
        for p in (0, 1, 0, 1, 0):
            engine.log("t", p).append(batch(b"c"), now_ms=1)
        engine.state_store("s").put("k", b"v")
        assert len(calls) == 2
    assert len(calls) == 5  # one per touched file: two partitions and the state store
    engine.close()


def test_fsync_interval_syncs_from_maintenance(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = reopen(data_dir, fsync="interval", fsync_interval_ms=1000)
    new_topic(engine)
    calls = _count_syncs(monkeypatch)
    engine.log("t", 0).append(batch(b"a"), now_ms=1)
    assert calls == []
    engine.run_maintenance(5000)
    assert len(calls) == 1
    engine.log("t", 0).append(batch(b"b"), now_ms=1)
    engine.run_maintenance(5500)  # not yet due
    assert len(calls) == 1
    engine.run_maintenance(6000)
    assert len(calls) == 2
    engine.close()


# ------------------------------------------------------------------------------- disk full
def test_disk_full_is_a_storage_error_and_the_log_stays_usable(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = reopen(data_dir)
    new_topic(engine)
    log = engine.log("t", 0)
    log.append(batch(b"a"), now_ms=1)
    real_write = os.write
    calls = {"n": 0}

    def full_disk(fd: int, data) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data)[:10])  # a short write, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(KafkaError) as info:
        log.append(batch(b"b"), now_ms=1)
    assert info.value.code == ErrorCode.KAFKA_STORAGE_ERROR
    with pytest.raises(KafkaError) as info:
        engine.state_store("s").put("k", b"v")
    assert info.value.code == ErrorCode.KAFKA_STORAGE_ERROR
    monkeypatch.setattr(os, "write", real_write)
    assert log.append(batch(b"c"), now_ms=1).base_offset == 1
    assert read_all(log) == [(0, b"a"), (1, b"c")]
    engine.close()
    engine = reopen(data_dir)
    assert read_all(engine.log("t", 0)) == [(0, b"a"), (1, b"c")]
    assert engine.state_store("s").items() == {}
    engine.close()


def test_zero_copy_region_outlives_retention_of_its_segment(data_dir: Path) -> None:
    engine = reopen(data_dir, zero_copy=True)
    new_topic(engine, segment_bytes="100", retention_ms="1000")
    log = engine.log("t", 0)
    for ts in (1000, 5000):
        log.append(batch(b"old" if ts == 1000 else b"new", ts=ts), now_ms=ts)
    region = log.read(0, 1 << 20).records
    assert isinstance(region, FileRegion) and len(region) == len(batch(b"old"))
    engine.run_maintenance(5500)  # deletes segment 0 and closes its descriptor
    assert log.log_start_offset == 1 and not (data_dir / "t-0" / f"{0:020d}.log").exists()
    chunks: list[object] = []
    region.write_to(chunks)
    (fd, offset, count), = chunks
    assert decode_records(os.pread(fd, count, offset))[0].value == b"old"
    engine.close()


def test_trailing_partial_header_after_clean_shutdown_is_recovered(data_dir: Path) -> None:
    engine = reopen(data_dir)
    new_topic(engine)
    engine.log("t", 0).append(batch(b"a"), now_ms=1)
    engine.close()
    (path,) = segment_files(data_dir, "log")
    path.write_bytes(path.read_bytes() + b"\x00" * 20)  # marker says clean, the tail disagrees
    engine = reopen(data_dir)
    assert engine.log("t", 0).append(batch(b"b"), now_ms=1).base_offset == 1
    assert [v for _, v in read_all(engine.log("t", 0))] == [b"a", b"b"]
    engine.close()


def test_create_topic_on_a_full_disk_leaves_nothing_behind(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = reopen(data_dir)
    import kafkaish.storage.file as file_engine

    def no_space(path: str, data: bytes, *, fsync: bool = True) -> None:
        raise file_engine.storage_error(OSError(errno.ENOSPC, "full"), f"write {path}")

    monkeypatch.setattr(file_engine, "atomic_write", no_space)
    with pytest.raises(KafkaError) as info:
        new_topic(engine, partitions=2)
    assert info.value.code == ErrorCode.KAFKA_STORAGE_ERROR
    monkeypatch.undo()
    assert engine.topics() == {} and not (data_dir / "t-0").exists()
    new_topic(engine)
    assert engine.log("t", 0).append(batch(b"x"), now_ms=1).base_offset == 0
    engine.close()
