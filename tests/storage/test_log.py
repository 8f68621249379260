"""The storage contract, run against every engine (memory and file)."""

from __future__ import annotations

import time
import uuid

import pytest

from kafkaish.storage.engine import StorageEngine
from kafkaish.storage.types import ReadResult
from kafkaish.storage.region import as_bytes
from kafkaish.wire.errors import ErrorCode, KafkaError
from kafkaish.wire.records import build_batch, decode_records, iter_batches, parse_header

from .conftest import batch, new_topic


def rec(result: ReadResult) -> bytes:
    """The records of a read as bytes (the zero-copy file engine returns a FileRegion)."""
    return as_bytes(result.records)


def values(data: bytes) -> list[tuple[int, bytes | None]]:
    return [(r.offset, r.value) for pos, _ in iter_batches(data) for r in decode_records(data, pos)]


def raises(code: ErrorCode):
    class _Ctx:
        def __enter__(self) -> None:
            self.cm = pytest.raises(KafkaError)
            self.info = self.cm.__enter__()

        def __exit__(self, *exc: object) -> bool:
            handled = self.cm.__exit__(*exc)
            assert self.info.value.code == code, self.info.value
            return handled

    return _Ctx()


# ------------------------------------------------------------------------------------- topics
def test_topic_crud(engine: StorageEngine) -> None:
    tid = uuid.uuid4()
    meta = engine.create_topic("a", 2, {"retention.ms": "1000"}, tid)
    assert (meta.name, meta.topic_id, meta.num_partitions, meta.configs) == ("a", tid, 2, {"retention.ms": "1000"})
    assert engine.topics() == {"a": meta}
    with raises(ErrorCode.TOPIC_ALREADY_EXISTS):
        engine.create_topic("a", 1, {}, uuid.uuid4())
    assert engine.add_partitions("a", 3).num_partitions == 3
    assert engine.log("a", 2).partition == 2
    with raises(ErrorCode.INVALID_PARTITIONS):
        engine.add_partitions("a", 2)
    assert engine.set_topic_configs("a", {"cleanup.policy": "compact"}).configs == {"cleanup.policy": "compact"}
    assert engine.log("a", 0).config.compact
    with raises(ErrorCode.INVALID_CONFIG):
        engine.set_topic_configs("a", {"retention.ms": "soon"})
    engine.delete_topic("a")
    assert engine.topics() == {}
    with raises(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION):
        engine.log("a", 0)
    with raises(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION):
        engine.delete_topic("a")


def test_recreated_topic_starts_empty(engine: StorageEngine) -> None:
    new_topic(engine)
    engine.log("t", 0).append(batch(b"x"), now_ms=1)
    engine.delete_topic("t")
    new_topic(engine)
    assert engine.log("t", 0).log_end_offset == 0


# ------------------------------------------------------------------------------------- append
def test_append_assigns_offsets_and_read_returns_whole_batches(engine: StorageEngine) -> None:
    new_topic(engine)
    log = engine.log("t", 0)
    r1 = log.append(batch(b"a", b"b", b"c"), now_ms=5)
    r2 = log.append(batch(b"d"), now_ms=6)
    assert (r1.base_offset, r1.last_offset, r1.log_append_time, r1.duplicate) == (0, 2, -1, False)
    assert (r2.base_offset, r2.last_offset) == (3, 3)
    assert log.log_end_offset == log.high_watermark == log.last_stable_offset == 4
    res = log.read(1, 1 << 20)
    assert values(rec(res)) == [(0, b"a"), (1, b"b"), (2, b"c"), (3, b"d")]
    assert (res.high_watermark, res.last_stable_offset, res.log_start_offset, res.aborted_transactions) == (4, 4, 0, None)
    assert [h.base_offset for _, h in iter_batches(rec(res))] == [0, 3]


def test_read_returns_at_least_one_batch_and_respects_max_bytes(engine: StorageEngine) -> None:
    new_topic(engine)
    log = engine.log("t", 0)
    sizes = [log.append(batch(b"v" * 100), now_ms=1) and len(batch(b"v" * 100)) for _ in range(5)]
    assert len(rec(log.read(0, 1))) == sizes[0]
    assert len(rec(log.read(0, sizes[0] * 2 + 10))) == sizes[0] * 2
    assert len(rec(log.read(4, 1))) == sizes[0]


def test_read_bounds(engine: StorageEngine) -> None:
    new_topic(engine)
    log = engine.log("t", 0)
    log.append(batch(b"a"), now_ms=1)
    assert rec(log.read(1, 100)) == b""
    with raises(ErrorCode.OFFSET_OUT_OF_RANGE):
        log.read(2, 100)
    with raises(ErrorCode.OFFSET_OUT_OF_RANGE):
        log.read(-1, 100)


def test_append_rejects_bad_batches(make_engine) -> None:
    engine = make_engine(fsync="never", message_max_bytes=500)
    new_topic(engine)
    new_topic(engine, "small", max_message_bytes="100")
    new_topic(engine, "c", cleanup_policy="compact")
    corrupt = bytearray(batch(b"x"))
    corrupt[-1] ^= 0xFF
    with raises(ErrorCode.CORRUPT_MESSAGE):
        engine.log("t", 0).append(bytes(corrupt), now_ms=1)
    with raises(ErrorCode.MESSAGE_TOO_LARGE):
        engine.log("t", 0).append(batch(b"x" * 600), now_ms=1)
    with raises(ErrorCode.MESSAGE_TOO_LARGE):
        engine.log("small", 0).append(batch(b"x" * 80), now_ms=1)
    with raises(ErrorCode.INVALID_RECORD):
        engine.log("c", 0).append(batch(b"x", keys=[None]), now_ms=1)
    with raises(ErrorCode.CORRUPT_MESSAGE):
        engine.log("t", 0).append(b"\x00" * 10, now_ms=1)
    assert engine.log("c", 0).append(batch(b"x"), now_ms=1).base_offset == 0
    assert engine.log("t", 0).log_end_offset == 0


def test_log_append_time(engine: StorageEngine) -> None:
    new_topic(engine, message_timestamp_type="LogAppendTime")
    log = engine.log("t", 0)
    res = log.append(batch(b"a", b"b", ts=7), now_ms=123_456)
    assert res.log_append_time == 123_456
    data = rec(log.read(0, 1000))
    header = parse_header(data)
    assert header.timestamp_type == 1 and header.max_timestamp == 123_456
    assert [r.timestamp for r in decode_records(data)] == [123_456, 123_456]


# ----------------------------------------------------------------------------- timestamps
def test_offset_for_timestamp(engine: StorageEngine) -> None:
    new_topic(engine)
    log = engine.log("t", 0)
    assert log.offset_for_timestamp(0) is None
    from kafkaish.wire.records import Record

    log.append(batch(b"a", b"b", ts=1000), now_ms=1)  # 0, 1
    log.append(build_batch([Record(0, 2000, b"k", b"c"), Record(1, 2500, b"k", b"d")]), now_ms=1)  # 2, 3
    log.append(batch(b"e", ts=3000), now_ms=1)  # 4
    assert log.offset_for_timestamp(500) == (0, 1000)
    assert log.offset_for_timestamp(1000) == (0, 1000)
    assert log.offset_for_timestamp(1500) == (2, 2000)
    assert log.offset_for_timestamp(2200) == (3, 2500)
    assert log.offset_for_timestamp(3000) == (4, 3000)
    assert log.offset_for_timestamp(3001) is None
    assert log.offset_for_timestamp(-2) == (0, -1)
    assert log.offset_for_timestamp(-1) == (5, -1)
    assert log.offset_for_timestamp(-3) == (4, 3000)
    assert log.max_timestamp_offset() == (4, 3000)
    log.delete_records(3)
    assert log.offset_for_timestamp(500) == (3, 2500)
    assert log.offset_for_timestamp(-2) == (3, -1)


# ---------------------------------------------------------------------------- delete records
def test_delete_records(engine: StorageEngine) -> None:
    new_topic(engine)
    log = engine.log("t", 0)
    for i in range(5):
        log.append(batch(b"%d" % i), now_ms=1)
    assert log.delete_records(2) == 2
    assert log.log_start_offset == 2
    assert log.delete_records(1) == 2  # never moves back
    with raises(ErrorCode.OFFSET_OUT_OF_RANGE):
        log.read(1, 100)
    assert values(rec(log.read(2, 100)))[0] == (2, b"2")
    with raises(ErrorCode.OFFSET_OUT_OF_RANGE):
        log.delete_records(6)
    assert log.delete_records(-1) == 5
    assert rec(log.read(5, 100)) == b""
    assert log.append(batch(b"x"), now_ms=1).log_start_offset == 5


# ----------------------------------------------------------------------- producer state
def test_idempotent_duplicate_and_out_of_order(engine: StorageEngine) -> None:
    new_topic(engine)
    log = engine.log("t", 0)
    b0 = batch(b"a", b"b", producer_id=7, producer_epoch=0, base_sequence=0)
    first = log.append(b0, now_ms=1)
    dup = log.append(b0, now_ms=2)
    assert dup.duplicate and (dup.base_offset, dup.last_offset) == (first.base_offset, first.last_offset)
    assert log.log_end_offset == 2
    with raises(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER):
        log.append(batch(b"c", producer_id=7, producer_epoch=0, base_sequence=5), now_ms=3)
    assert log.append(batch(b"c", producer_id=7, producer_epoch=0, base_sequence=2), now_ms=3).base_offset == 2


def test_transactions_lso_and_aborted_list(engine: StorageEngine) -> None:
    new_topic(engine)
    log = engine.log("t", 0)
    log.append(batch(b"plain"), now_ms=1)  # 0
    txn = dict(producer_id=9, producer_epoch=1, transactional=True)
    log.append(batch(b"t1", base_sequence=0, **txn), now_ms=1)  # 1
    assert log.last_stable_offset == 1
    committed = log.read(0, 1 << 20, read_committed=True)
    assert values(rec(committed)) == [(0, b"plain")] and committed.aborted_transactions == []
    assert rec(log.read(1, 1 << 20, read_committed=True)) == b""
    marker = log.append_control(producer_id=9, producer_epoch=1, commit=False, coordinator_epoch=0, now_ms=2)
    assert marker == 2 and log.last_stable_offset == log.high_watermark == 3
    res = log.read(0, 1 << 20, read_committed=True)
    assert res.aborted_transactions == [(9, 1)]
    assert parse_header(rec(res)[len(batch(b"plain")) + len(batch(b"t1", base_sequence=0, **txn)):]).is_control
    assert log.read(0, 1 << 20).aborted_transactions is None
    with raises(ErrorCode.INVALID_PRODUCER_EPOCH):
        log.append_control(producer_id=9, producer_epoch=0, commit=True, coordinator_epoch=0, now_ms=3)


# ------------------------------------------------------------------------------ segments
def test_roll_by_segment_bytes_and_read_across(engine: StorageEngine) -> None:
    one = len(batch(b"x" * 50))
    new_topic(engine, segment_bytes=str(one * 2 + 1))
    log = engine.log("t", 0)
    for i in range(7):
        log.append(batch(b"%d" % i + b"x" * 49), now_ms=1)
    assert [s.base_offset for s in log.segments()] == [0, 2, 4, 6]
    got = []
    offset = 0
    while offset < log.log_end_offset:
        data = rec(log.read(offset, 1 << 20))
        got += values(data)
        offset = got[-1][0] + 1
    assert [o for o, _ in got] == list(range(7))
    assert log.size_bytes() == one * 7


def test_roll_by_segment_ms(engine: StorageEngine) -> None:
    new_topic(engine, segment_ms="1000")
    log = engine.log("t", 0)
    log.append(batch(b"a", ts=10_000), now_ms=10_000)
    log.append(batch(b"b", ts=10_500), now_ms=10_500)
    log.append(batch(b"c", ts=11_000), now_ms=11_000)  # not more than segment.ms after the first
    log.append(batch(b"d", ts=11_001), now_ms=11_001)
    log.append(batch(b"old", ts=5), now_ms=11_002)  # replayed old data does not roll
    assert [s.base_offset for s in log.segments()] == [0, 3]
    engine.run_maintenance(12_001)  # an idle segment rolls after segment.ms of wall time
    assert [s.base_offset for s in log.segments()] == [0, 3, 5]


def test_retention_by_time(engine: StorageEngine) -> None:
    one = len(batch(b"x"))
    new_topic(engine, segment_bytes=str(one), retention_ms="1000")
    log = engine.log("t", 0)
    for ts in (1000, 2000, 3000):
        log.append(batch(b"x", ts=ts), now_ms=ts)
    engine.run_maintenance(2500)
    assert log.log_start_offset == 1
    engine.run_maintenance(3500)
    assert log.log_start_offset == 2 and [s.base_offset for s in log.segments()] == [2]  # active kept
    with raises(ErrorCode.OFFSET_OUT_OF_RANGE):
        log.read(1, 100)
    engine.run_maintenance(100_000)  # an expired active segment is rolled, then deleted
    assert log.log_start_offset == 3 and [s.base_offset for s in log.segments()] == [3]
    assert rec(log.read(3, 100)) == b"" and log.append(batch(b"y"), now_ms=100_001).base_offset == 3


def test_retention_of_records_without_timestamp_uses_last_modified_time(engine: StorageEngine) -> None:
    # LogSegment.largestTimestamp: no record timestamp (-1) -> the segment's last-modified time
    one = len(batch(b"x", ts=-1))
    new_topic(engine, segment_bytes=str(one), retention_ms="60000")
    log = engine.log("t", 0)
    now = int(time.time() * 1000)
    for _ in range(3):
        log.append(batch(b"x", ts=-1), now_ms=now)
    engine.run_maintenance(now + 1000)
    assert log.log_start_offset == 0 and len(log.segments()) == 3
    engine.run_maintenance(now + 120_000)  # retention.ms after the last write: all expired
    assert log.log_start_offset == 3


def test_retention_runs_only_when_due(engine: StorageEngine) -> None:
    new_topic(engine, retention_ms="1000")
    log = engine.log("t", 0)
    log.append(batch(b"x", ts=1000), now_ms=1000)
    engine.run_maintenance(100_000, retention=False)
    assert log.log_start_offset == 0 and log.log_end_offset == 1
    engine.run_maintenance(100_000)
    assert log.log_start_offset == 1


def test_retention_by_bytes(engine: StorageEngine) -> None:
    one = len(batch(b"x"))
    new_topic(engine, segment_bytes=str(one), retention_bytes=str(2 * one))
    log = engine.log("t", 0)
    for i in range(5):
        log.append(batch(b"x"), now_ms=1)
    engine.run_maintenance(2)
    assert log.size_bytes() == 2 * one and log.log_start_offset == 3


def test_delete_records_frees_segments(engine: StorageEngine) -> None:
    one = len(batch(b"x"))
    new_topic(engine, segment_bytes=str(one), retention_ms="-1")
    log = engine.log("t", 0)
    for _ in range(4):
        log.append(batch(b"x"), now_ms=1)
    log.delete_records(2)
    engine.run_maintenance(10**13)
    assert [s.base_offset for s in log.segments()] == [2, 3, 4] and log.log_start_offset == 2  # 4: segment.ms roll


# ------------------------------------------------------------------------------ compaction
def test_compaction_keeps_latest_per_key(engine: StorageEngine) -> None:
    new_topic(engine, cleanup_policy="compact", segment_bytes="300", delete_retention_ms="1000")
    log = engine.log("t", 0)
    writes = [(b"a", b"1"), (b"b", b"1"), (b"a", b"2"), (b"c", b"1"), (b"b", None), (b"a", b"3"), (b"d", b"x")]
    for i, (k, v) in enumerate(writes):
        log.append(batch(v, keys=[k], ts=1000 + i), now_ms=1000 + i)
    log.append(batch(b"tail", keys=[b"z"], ts=2000, compression=1), now_ms=2000)
    log.maintenance().roll()
    log.append(batch(b"active", keys=[b"a"], ts=2001), now_ms=2001)
    engine.run_maintenance(1500)
    kept = values(rec(log.read(0, 1 << 20)))
    offsets = []
    offset = 0
    while offset < log.log_end_offset:
        data = rec(log.read(offset, 1 << 20))
        offsets += values(data)
        offset = offsets[-1][0] + 1
    assert offsets == [(3, b"1"), (4, None), (5, b"3"), (6, b"x"), (7, b"tail"), (8, b"active")]
    assert kept[0] == (3, b"1")
    engine.run_maintenance(10_000)  # tombstone b (ts 1004) is past delete.retention.ms
    remaining = []
    offset = 0
    while offset < log.log_end_offset:
        remaining += values(rec(log.read(offset, 1 << 20)))
        offset = remaining[-1][0] + 1
    assert remaining == [(3, b"1"), (5, b"3"), (6, b"x"), (7, b"tail"), (8, b"active")]
    assert log.log_start_offset == 0 and rec(log.read(0, 100))  # reads below the gap still work


def test_compaction_reencodes_with_same_codec(engine: StorageEngine) -> None:
    new_topic(engine, cleanup_policy="compact")
    log = engine.log("t", 0)
    log.append(batch(b"1", b"2", b"3", keys=[b"a", b"b", b"a"], compression=4), now_ms=1)
    log.maintenance().roll()
    log.append(batch(b"z", keys=[b"z"]), now_ms=1)
    engine.run_maintenance(2)
    data = rec(log.read(0, 1 << 20))
    header = parse_header(data)
    assert header.compression == 4 and header.base_offset == 1
    assert values(data) == [(1, b"2"), (2, b"3")]


def test_compaction_keeps_open_transactions(engine: StorageEngine) -> None:
    new_topic(engine, cleanup_policy="compact")
    log = engine.log("t", 0)
    log.append(batch(b"old", keys=[b"k"]), now_ms=1)
    log.append(batch(b"txn", keys=[b"k"], producer_id=3, producer_epoch=0, base_sequence=0, transactional=True), now_ms=1)
    log.append(batch(b"new", keys=[b"k"]), now_ms=1)
    log.maintenance().roll()
    log.append(batch(b"z", keys=[b"z"]), now_ms=1)
    engine.run_maintenance(2)  # segment 0 holds an open transaction: not cleanable
    assert [o for o, _ in values(rec(log.read(0, 1 << 20)))] == [0, 1, 2]
    log.append_control(producer_id=3, producer_epoch=0, commit=True, coordinator_epoch=0, now_ms=3)
    engine.run_maintenance(4)
    assert [o for o, _ in values(rec(log.read(0, 1 << 20)))] == [1, 2]


# ------------------------------------------------------------------------------ state store
def test_state_store(engine: StorageEngine) -> None:
    store = engine.state_store("groups")
    store.put("a", b"1")
    store.put("b", b"2")
    store.put("a", b"3")
    store.put("b", None)
    assert store.items() == {"a": b"3"}
    assert engine.state_store("groups") is store
    assert engine.state_store("txns").items() == {}


def test_group_commit_block(engine: StorageEngine) -> None:
    new_topic(engine)
    with engine.group_commit():
        engine.log("t", 0).append(batch(b"a"), now_ms=1)
        engine.log("t", 0).append(batch(b"b"), now_ms=1)
    engine.flush()
    assert engine.log("t", 0).log_end_offset == 2


def test_maintenance_thread_alongside_appends_and_reads(engine: StorageEngine) -> None:
    """run_maintenance on a worker thread (as the server runs it) while this thread appends and reads."""
    import threading

    new_topic(engine, "c", cleanup_policy="compact,delete", segment_bytes="400", retention_bytes="3000",
              retention_ms="-1")
    log = engine.log("c", 0)
    stop = threading.Event()
    errors: list[BaseException] = []

    def worker() -> None:
        now = 10**12
        try:
            while not stop.is_set():
                now += 1
                engine.run_maintenance(now)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        for i in range(300):
            log.append(batch(b"%d" % i, keys=[b"k%d" % (i % 5)], ts=10**12), now_ms=10**12)
            while True:  # retention may move the log start between the two calls: read again
                try:
                    data = rec(log.read(log.log_start_offset, 2000))
                    break
                except KafkaError as exc:
                    assert exc.code == ErrorCode.OFFSET_OUT_OF_RANGE
            assert values(data), i  # whatever maintenance did, the log start is readable
    finally:
        stop.set()
        thread.join()
    assert errors == []
    engine.run_maintenance(10**12 + 10**6)
    kept, offset = [], log.log_start_offset
    while offset < log.log_end_offset:
        kept += values(rec(log.read(offset, 1 << 20)))
        offset = kept[-1][0] + 1
    assert kept[-5:] == [(o, b"%d" % o) for o in range(295, 300)]
    assert log.size_bytes() <= 3000 + 400 and [o for o, _ in kept] == sorted({o for o, _ in kept})


def test_min_compaction_lag_holds_back_recent_segments(engine: StorageEngine) -> None:
    new_topic(engine, cleanup_policy="compact", min_compaction_lag_ms="1000")
    log = engine.log("t", 0)
    log.append(batch(b"1", b"2", keys=[b"a", b"a"], ts=10_000), now_ms=10_000)
    log.maintenance().roll()
    log.append(batch(b"z", keys=[b"z"], ts=10_000), now_ms=10_000)
    engine.run_maintenance(10_500)  # newest record of segment 0 is younger than the lag
    assert [o for o, _ in values(rec(log.read(0, 1 << 20)))] == [0, 1]
    engine.run_maintenance(11_001)
    assert [o for o, _ in values(rec(log.read(0, 1 << 20)))] == [1]
