"""ProducerStateManager: dedupe window, sequence/epoch rules, transactions, snapshots."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkaish.storage.producer_state import (
    BATCHES_TO_RETAIN,
    CorruptSnapshotError,
    ProducerStateManager,
)
from kafkaish.wire.errors import ErrorCode, KafkaError
from kafkaish.wire.records import BatchHeader

INT32_MAX = 2**31 - 1
PID = 4000


def header(
    pid: int = PID,
    epoch: int = 0,
    seq: int = 0,
    count: int = 1,
    *,
    txn: bool = False,
    control: bool = False,
    ts: int = 1_000,
) -> BatchHeader:
    return BatchHeader(
        base_offset=0,
        batch_length=49 + count,
        partition_leader_epoch=-1,
        magic=2,
        crc=0,
        attributes=(0x10 if txn else 0) | (0x20 if control else 0),
        last_offset_delta=count - 1,
        base_timestamp=ts,
        max_timestamp=ts,
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=seq,
        records_count=count,
    )


class FakeLog:
    """The PartitionLog side of the contract: check, assign offsets, store, report."""

    def __init__(self, state: ProducerStateManager | None = None, end: int = 0) -> None:
        self.state = state or ProducerStateManager()
        self.end = end
        self.stored: list[tuple[int, int]] = []

    def append(self, h: BatchHeader, log_append_time: int = -1) -> tuple[int, int, int]:
        dup = self.state.check_append(h)
        if dup is not None:
            return dup
        first, last = self.end, self.end + h.last_offset_delta
        self.end = last + 1
        self.stored.append((first, last))
        self.state.on_append(h, first, last, log_append_time)
        return first, last, log_append_time

    def marker(self, pid: int, epoch: int, commit: bool) -> int:
        offset = self.end
        self.end += 1
        self.state.on_control(pid, epoch, commit, offset)
        return offset


def error_of(fn, *args) -> ErrorCode:
    with pytest.raises(KafkaError) as info:
        fn(*args)
    return info.value.code


# ------------------------------------------------------------------------ idempotence


def test_non_idempotent_batches_skip_every_check() -> None:
    log = FakeLog()
    # aiokafka/kafkajs send base_sequence 0 with producer id -1 on every batch
    assert log.append(header(pid=-1, seq=0)) == (0, 0, -1)
    assert log.append(header(pid=-1, seq=0)) == (1, 1, -1)
    assert log.state.active_producers() == []


def test_in_sequence_batches_are_stored() -> None:
    log = FakeLog()
    assert log.append(header(seq=0, count=3)) == (0, 2, -1)
    assert log.append(header(seq=3, count=2)) == (3, 4, -1)
    assert log.stored == [(0, 2), (3, 4)]


def test_retried_batch_answers_original_offsets_without_storing() -> None:
    log = FakeLog()
    log.append(header(seq=0, count=3), log_append_time=777)
    log.append(header(seq=3, count=2))
    assert log.append(header(seq=0, count=3)) == (0, 2, 777)
    assert log.append(header(seq=3, count=2)) == (3, 4, -1)
    assert log.stored == [(0, 2), (3, 4)]


def test_dedupe_window_is_the_last_five_batches() -> None:
    log = FakeLog()
    assert BATCHES_TO_RETAIN == 5  # ProducerStateEntry.NUM_BATCHES_TO_RETAIN
    for seq in range(6):
        log.append(header(seq=seq))
    # seq 1..5 are retained, seq 0 fell out of the window: it is now simply out of order
    assert log.append(header(seq=1)) == (1, 1, -1)
    assert error_of(log.append, header(seq=0)) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert len(log.stored) == 6


def test_duplicate_needs_matching_last_sequence() -> None:
    log = FakeLog()
    log.append(header(seq=0, count=3))
    assert error_of(log.append, header(seq=0, count=2)) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER


def test_sequence_gap_is_out_of_order() -> None:
    log = FakeLog()
    log.append(header(seq=0))
    assert error_of(log.append, header(seq=2)) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER


def test_first_batch_of_an_unknown_producer_may_start_anywhere() -> None:
    # ProducerAppendInfo: no state (e.g. retention removed it) -> any sequence accepted
    log = FakeLog()
    assert log.append(header(seq=42)) == (0, 0, -1)
    assert log.append(header(seq=43)) == (1, 1, -1)


def test_sequence_wraps_to_zero_after_int32_max() -> None:
    log = FakeLog()
    log.append(header(seq=INT32_MAX - 1, count=2))  # last sequence INT32_MAX
    assert log.append(header(seq=0, count=1)) == (2, 2, -1)
    assert error_of(log.append, header(seq=2)) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER


def test_batch_straddling_the_wrap_is_deduplicated() -> None:
    log = FakeLog()
    log.append(header(seq=INT32_MAX - 1, count=4))  # sequences MAX-1, MAX, 0, 1
    assert log.append(header(seq=INT32_MAX - 1, count=4)) == (0, 3, -1)
    assert log.append(header(seq=2)) == (4, 4, -1)


def test_older_epoch_is_rejected() -> None:
    log = FakeLog()
    log.append(header(epoch=3, seq=0))
    assert error_of(log.append, header(epoch=2, seq=1)) == ErrorCode.INVALID_PRODUCER_EPOCH


def test_newer_epoch_must_restart_at_sequence_zero() -> None:
    log = FakeLog()
    log.append(header(epoch=0, seq=0))
    assert error_of(log.append, header(epoch=1, seq=1)) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert log.append(header(epoch=1, seq=0)) == (1, 1, -1)


def test_new_epoch_clears_the_dedupe_window() -> None:
    log = FakeLog()
    log.append(header(epoch=0, seq=0))
    log.append(header(epoch=1, seq=0))
    # the epoch-0 batch cannot be a duplicate any more; its epoch is simply fenced
    assert error_of(log.append, header(epoch=0, seq=0)) == ErrorCode.INVALID_PRODUCER_EPOCH


def test_producers_are_independent() -> None:
    log = FakeLog()
    log.append(header(pid=1, seq=0))
    log.append(header(pid=2, seq=7))
    assert log.append(header(pid=1, seq=1)) == (2, 2, -1)
    assert log.append(header(pid=2, seq=8)) == (3, 3, -1)


def test_control_batch_skips_sequence_checks_but_not_epoch() -> None:
    state = ProducerStateManager()
    state.on_append(header(epoch=2, seq=10), 0, 0, -1)
    assert state.check_append(header(epoch=2, seq=-1, control=True, txn=True)) is None
    assert error_of(state.check_append, header(epoch=1, seq=-1, control=True, txn=True)) == (
        ErrorCode.INVALID_PRODUCER_EPOCH
    )
    state.on_append(header(epoch=5, seq=-1, control=True, txn=True), 1, 1, -1)  # ignored
    assert state.active_producers()[0].producer_epoch == 2


# ------------------------------------------------------------------------ transactions


def test_transaction_sets_first_unstable_offset_until_commit() -> None:
    log = FakeLog(end=10)
    assert log.state.first_unstable_offset() is None
    log.append(header(seq=0, count=2, txn=True))
    log.append(header(seq=2, txn=True))
    assert log.state.first_unstable_offset() == 10
    log.marker(PID, 0, commit=True)
    assert log.state.first_unstable_offset() is None
    assert log.state.aborted_transactions(0, 100) == []


def test_earliest_open_transaction_bounds_the_lso() -> None:
    log = FakeLog()
    log.append(header(pid=1, seq=0, txn=True))  # 0
    log.append(header(pid=2, seq=0, txn=True))  # 1
    assert log.state.first_unstable_offset() == 0
    log.marker(1, 0, commit=True)  # 2
    assert log.state.first_unstable_offset() == 1
    log.marker(2, 0, commit=False)  # 3
    assert log.state.first_unstable_offset() is None


def test_abort_is_listed_for_overlapping_fetches() -> None:
    log = FakeLog(end=5)
    log.append(header(seq=0, count=3, txn=True))  # 5..7
    marker = log.marker(PID, 0, commit=False)  # 8
    assert marker == 8
    assert log.state.aborted_transactions(0, 9) == [(PID, 5)]
    assert log.state.aborted_transactions(8, 9) == [(PID, 5)]  # last_offset >= fetch offset
    assert log.state.aborted_transactions(9, 20) == []  # wholly before the fetch
    assert log.state.aborted_transactions(0, 5) == []  # first_offset >= upper bound


def test_aborted_search_returns_only_overlapping_entries() -> None:
    log = FakeLog()
    for pid in (1, 2, 3):
        log.append(header(pid=pid, txn=True))
        log.marker(pid, 0, commit=False)
    # [0,1] pid 1, [2,3] pid 2, [4,5] pid 3
    assert log.state.aborted_transactions(0, 6) == [(1, 0), (2, 2), (3, 4)]
    assert log.state.aborted_transactions(2, 4) == [(2, 2)]
    assert log.state.aborted_transactions(3, 5) == [(2, 2), (3, 4)]


def test_interleaved_aborts_found_past_an_early_short_one() -> None:
    # pid 1 opens at 0, pid 2 opens and aborts inside it; pid 1 aborts later.
    log = FakeLog()
    log.append(header(pid=1, txn=True))  # 0
    log.append(header(pid=2, txn=True))  # 1
    log.marker(2, 0, commit=False)  # 2, LSO after it is 0 (pid 1 still open)
    log.marker(1, 0, commit=False)  # 3
    assert log.state.aborted_transactions(0, 4) == [(2, 1), (1, 0)]
    assert log.state.aborted_transactions(0, 2) == [(2, 1), (1, 0)]  # pid 1 began before pid 2's marker
    assert log.state.aborted_transactions(3, 4) == [(1, 0)]


def test_marker_without_data_records_nothing_but_fences_the_epoch() -> None:
    log = FakeLog()
    log.marker(PID, 3, commit=False)
    assert log.state.aborted_transactions(0, 100) == []
    assert error_of(log.append, header(epoch=2, seq=0, txn=True)) == ErrorCode.INVALID_PRODUCER_EPOCH


def test_bumped_marker_epoch_fences_the_zombie_and_resets_sequences() -> None:
    log = FakeLog()
    log.append(header(epoch=0, seq=0, txn=True))
    log.marker(PID, 1, commit=False)  # the coordinator aborted with a bumped epoch
    assert error_of(log.append, header(epoch=0, seq=1, txn=True)) == ErrorCode.INVALID_PRODUCER_EPOCH
    assert error_of(log.append, header(epoch=2, seq=5, txn=True)) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert log.append(header(epoch=2, seq=0, txn=True)) == (2, 2, -1)


def test_plain_write_inside_own_open_transaction_is_invalid() -> None:
    log = FakeLog()
    log.append(header(seq=0, txn=True))
    assert error_of(log.append, header(seq=1)) == ErrorCode.INVALID_TXN_STATE
    log.marker(PID, 0, commit=True)
    assert log.append(header(seq=1)) == (2, 2, -1)


def test_transactional_batch_with_lower_epoch_is_rejected() -> None:
    log = FakeLog()
    log.append(header(epoch=4, seq=0, txn=True))
    assert error_of(log.append, header(epoch=3, seq=1, txn=True)) == ErrorCode.INVALID_PRODUCER_EPOCH


def test_next_transaction_of_same_producer_reopens() -> None:
    log = FakeLog()
    log.append(header(seq=0, txn=True))
    log.marker(PID, 0, commit=True)
    log.append(header(seq=1, txn=True))  # offset 2
    assert log.state.first_unstable_offset() == 2
    assert log.state.active_producers()[0].current_txn_start_offset == 2


def test_log_start_offset_drops_aborts_wholly_below() -> None:
    log = FakeLog()
    log.append(header(pid=1, txn=True))  # 0
    log.marker(1, 0, commit=False)  # 1
    log.append(header(pid=2, txn=True))  # 2
    log.marker(2, 0, commit=False)  # 3
    log.state.on_log_start_offset(1)  # marker 1 still retained
    assert log.state.aborted_transactions(0, 10) == [(1, 0), (2, 2)]
    log.state.on_log_start_offset(2)
    assert log.state.aborted_transactions(0, 10) == [(2, 2)]


# --------------------------------------------------------------------- describe/expiry


def test_active_producers_describe_state() -> None:
    log = FakeLog()
    log.append(header(epoch=1, seq=0, count=4, txn=True, ts=5_000))
    (info,) = log.state.active_producers()
    assert (info.producer_id, info.producer_epoch, info.last_sequence) == (PID, 1, 3)
    assert (info.last_timestamp, info.current_txn_start_offset) == (5_000, 0)


def test_log_append_time_is_the_last_timestamp() -> None:
    log = FakeLog()
    log.append(header(ts=5), log_append_time=9_000)
    assert log.state.active_producers()[0].last_timestamp == 9_000


def test_idle_producers_expire_unless_in_a_transaction() -> None:
    log = FakeLog()
    log.append(header(pid=1, ts=1_000))
    log.append(header(pid=2, ts=1_000, txn=True))
    assert log.state.remove_expired_producers(now_ms=1_500, expiration_ms=1_000) == 0
    assert log.state.remove_expired_producers(now_ms=2_000, expiration_ms=1_000) == 1
    assert [p.producer_id for p in log.state.active_producers()] == [2]
    # the expired producer has no state: any sequence is accepted again
    assert log.append(header(pid=1, seq=99)) == (2, 2, -1)


# --------------------------------------------------------------------------- snapshots


def busy_state() -> FakeLog:
    log = FakeLog(end=100)
    for i in range(7):  # offsets 100..113, sequences 0..13
        log.append(header(pid=1, epoch=2, seq=2 * i, count=2), log_append_time=50 + i)
    log.append(header(pid=2, seq=0, txn=True))  # 114
    log.marker(2, 0, commit=False)  # 115
    log.append(header(pid=3, seq=0, count=3, txn=True))  # 116..118
    log.append(header(pid=2, seq=1, txn=True))  # 119
    return log


def test_snapshot_round_trip_keeps_every_behaviour() -> None:
    log = busy_state()
    restored = ProducerStateManager.restore(log.state.snapshot())
    assert restored.snapshot() == log.state.snapshot()
    assert restored.first_unstable_offset() == log.state.first_unstable_offset() == 116
    assert restored.aborted_transactions(0, 1_000) == [(2, 114)]
    assert sorted(restored.active_producers(), key=lambda p: p.producer_id) == sorted(
        log.state.active_producers(), key=lambda p: p.producer_id
    )
    again = FakeLog(restored, end=log.end)
    assert again.append(header(pid=1, epoch=2, seq=12, count=2)) == (112, 113, 56)  # dedupe survives
    assert error_of(again.append, header(pid=1, epoch=2, seq=2, count=2)) == (
        ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER  # window of 5 survives too
    )
    again.marker(3, 0, commit=True)
    assert again.state.first_unstable_offset() == 119


def test_empty_snapshot_round_trip() -> None:
    restored = ProducerStateManager.restore(ProducerStateManager().snapshot())
    assert restored.first_unstable_offset() is None
    assert restored.active_producers() == []


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b[:5],  # shorter than the header
        lambda b: b"XXXX" + b[4:],  # magic
        lambda b: b[:4] + b"\x00\x09" + b[6:],  # version
        lambda b: b[:-1] + bytes([b[-1] ^ 1]),  # body bit flip -> CRC
        lambda b: b[:-8],  # truncated body (CRC catches it)
    ],
)
def test_corrupt_snapshot_is_refused(mangle) -> None:
    data = busy_state().state.snapshot()
    with pytest.raises(CorruptSnapshotError):
        ProducerStateManager.restore(mangle(data))


def test_snapshot_with_valid_crc_but_bad_length_is_refused() -> None:
    import struct
    import zlib

    data = busy_state().state.snapshot()
    for body in (data[10:-3], data[10:] + b"\x00"):
        forged = data[:6] + struct.pack(">I", zlib.crc32(body)) + body
        with pytest.raises(CorruptSnapshotError):
            ProducerStateManager.restore(forged)


# ------------------------------------------------------------------- model-based search

OPS = st.lists(
    st.tuples(st.sampled_from(["data", "txn", "commit", "abort"]), st.integers(1, 4), st.integers(1, 3)),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(ops=OPS, probes=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=20))
def test_lso_and_aborted_search_match_a_brute_force_model(ops, probes) -> None:
    log = FakeLog()
    seqs: dict[int, int] = {}
    open_at: dict[int, int] = {}  # model: pid -> first offset of its open txn
    aborted: list[tuple[int, int, int]] = []  # model: (pid, first, marker)
    for kind, pid, count in ops:
        if kind in ("commit", "abort"):
            marker = log.marker(pid, 0, commit=kind == "commit")
            first = open_at.pop(pid, None)
            if first is not None and kind == "abort":
                aborted.append((pid, first, marker))
            continue
        if kind == "data" and pid in open_at:
            continue  # a plain write inside its own txn is refused; tested elsewhere
        first, _, _ = log.append(header(pid=pid, seq=seqs.get(pid, 0), count=count, txn=kind == "txn"))
        seqs[pid] = seqs.get(pid, 0) + count
        if kind == "txn":
            open_at.setdefault(pid, first)
    assert log.state.first_unstable_offset() == min(open_at.values(), default=None)
    for fetch, upper in probes:
        want = sorted((p, f) for p, f, m in aborted if m >= fetch and f < upper)
        assert sorted(log.state.aborted_transactions(fetch, upper)) == want
    restored = ProducerStateManager.restore(log.state.snapshot())
    assert restored.aborted_transactions(0, 10_000) == log.state.aborted_transactions(0, 10_000)
