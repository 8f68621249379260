"""TransactionCoordinator: every state and error path, with a fake clock and a dict StateStore."""

from __future__ import annotations


import pytest

from kafkaish.coordinator.txn import (
    MarkerWrite,
    TransactionCoordinator,
    TxnConfig,
    TxnState,
)
from kafkaish.coordinator.txn_metadata import (
    VALID_PREVIOUS,
    IllegalTransitionError,
    TransactionMetadata,
)
from kafkaish.wire.errors import ErrorCode
from tests.fakes import DictStore

E = ErrorCode
TID = "tx-1"
T0 = 1_000_000
TIMEOUT = 60_000




class Clock:
    def __init__(self) -> None:
        self.now = T0

    def advance(self, ms: int) -> int:
        self.now += ms
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> DictStore:
    return DictStore()


@pytest.fixture
def coord(store: DictStore) -> TransactionCoordinator:
    return TransactionCoordinator(store, TxnConfig(marker_retry_ms=1_000, id_expiration_ms=10_000_000))


def init(coord: TransactionCoordinator, clock: Clock, tid: str = TID, **kw: int):
    return coord.init_producer_id(tid, kw.pop("timeout", TIMEOUT), clock.now, **kw)


def begin(coord: TransactionCoordinator, clock: Clock, tid: str = TID, parts=(("a", 0),)) -> tuple[int, int]:
    res = init(coord, clock, tid)
    assert res.error == E.NONE
    assert coord.add_partitions(tid, res.producer_id, res.producer_epoch, parts, clock.now) == E.NONE
    return res.producer_id, res.producer_epoch


def run_plan(coord: TransactionCoordinator, clock: Clock, plan: MarkerWrite | None) -> None:
    assert plan is not None
    assert coord.complete(plan, clock.now)


# ---------------------------------------------------------------------- InitProducerId


def test_idempotent_producer_gets_a_new_id_each_time(coord, clock) -> None:
    first = coord.init_producer_id(None, 0, clock.now)
    second = coord.init_producer_id(None, 0, clock.now, producer_id=first.producer_id, producer_epoch=0)
    assert (first.error, first.producer_epoch) == (E.NONE, 0)
    assert second.producer_id == first.producer_id + 1 and second.producer_epoch == 0


def test_transactional_init_starts_at_epoch_zero_then_bumps(coord, clock) -> None:
    first = init(coord, clock)
    second = init(coord, clock)
    assert (first.error, first.producer_epoch) == (E.NONE, 0)
    assert (second.producer_id, second.producer_epoch) == (first.producer_id, 1)
    assert coord.state_of(TID) == TxnState.EMPTY


def test_bad_init_requests(coord, clock) -> None:
    assert init(coord, clock, tid="").error == E.INVALID_REQUEST
    assert init(coord, clock, producer_id=5).error == E.INVALID_REQUEST  # pid without epoch
    assert init(coord, clock, producer_epoch=5).error == E.INVALID_REQUEST
    assert init(coord, clock, timeout=0).error == E.INVALID_TRANSACTION_TIMEOUT
    assert init(coord, clock, timeout=900_001).error == E.INVALID_TRANSACTION_TIMEOUT
    assert init(coord, clock, timeout=900_000).error == E.NONE
    assert coord.state_of("nope") is None


def test_timeout_limit_is_configurable(store, clock) -> None:
    coord = TransactionCoordinator(store, TxnConfig(max_timeout_ms=5_000))
    assert init(coord, clock, timeout=5_001).error == E.INVALID_TRANSACTION_TIMEOUT
    assert init(coord, clock, timeout=5_000).error == E.NONE


def test_init_while_ongoing_fences_and_aborts(coord, clock) -> None:
    pid, epoch = begin(coord, clock, parts=[("a", 0), ("b", 1)])
    coord.add_offsets(TID, pid, epoch, "g1", clock.now)
    res = init(coord, clock)
    assert res.error == E.CONCURRENT_TRANSACTIONS
    (plan,) = res.markers
    assert plan == MarkerWrite(TID, pid, epoch + 1, False, 0, (("a", 0), ("b", 1)), ("g1",))
    assert coord.state_of(TID) == TxnState.PREPARE_ABORT
    # the zombie is fenced everywhere
    assert coord.add_partitions(TID, pid, epoch, [("c", 0)], clock.now) == E.PRODUCER_FENCED
    assert coord.end_txn(TID, pid, epoch, True, clock.now).error == E.PRODUCER_FENCED
    # the new producer must wait for the markers
    assert init(coord, clock).error == E.CONCURRENT_TRANSACTIONS
    run_plan(coord, clock, plan)
    assert coord.state_of(TID) == TxnState.COMPLETE_ABORT
    retry = init(coord, clock)
    assert (retry.error, retry.producer_id, retry.producer_epoch) == (E.NONE, pid, epoch + 2)


def test_init_while_preparing_is_concurrent(coord, clock) -> None:
    pid, epoch = begin(coord, clock)
    coord.end_txn(TID, pid, epoch, True, clock.now)
    assert init(coord, clock).error == E.CONCURRENT_TRANSACTIONS
    assert coord.state_of(TID) == TxnState.PREPARE_COMMIT


def test_init_after_complete_clears_the_old_transaction(coord, clock) -> None:
    pid, epoch = begin(coord, clock)
    run_plan(coord, clock, coord.end_txn(TID, pid, epoch, True, clock.now).markers)
    res = init(coord, clock, timeout=30_000)
    (desc,) = coord.describe([TID])
    assert (desc.state, desc.partitions, desc.timeout_ms, desc.start_ms) == ("Empty", (), 30_000, -1)
    assert res.producer_epoch == epoch + 1


def test_epoch_exhaustion_rotates_the_producer_id(clock) -> None:
    meta = TransactionMetadata(TID, producer_id=7, producer_epoch=32_765, state=TxnState.COMPLETE_COMMIT)
    store = DictStore({"txn:" + TID: meta.encode(), "producer_id_block": b"1000"})
    coord = TransactionCoordinator.restore(store, clock.now)
    assert init(coord, clock).producer_epoch == 32_766  # last usable epoch
    rotated = init(coord, clock)
    assert (rotated.error, rotated.producer_id, rotated.producer_epoch) == (E.NONE, 1000, 0)


def test_fence_at_the_last_epoch_then_rotates(clock) -> None:
    meta = TransactionMetadata(TID, producer_id=7, producer_epoch=32_766, state=TxnState.ONGOING, partitions={("a", 0)}, start_ms=clock.now)
    coord = TransactionCoordinator.restore(DictStore({"txn:" + TID: meta.encode()}), clock.now)
    (plan,) = init(coord, clock).markers
    assert plan.producer_epoch == 32_767  # the spare epoch is used by the fence only
    run_plan(coord, clock, plan)
    res = init(coord, clock)
    assert res.error == E.NONE and res.producer_id != 7 and res.producer_epoch == 0


# ------------------------------------------------------------- KIP-360 (pid + epoch given)


def test_kip360_bump_and_retry_of_the_bump(coord, clock) -> None:
    first = init(coord, clock)
    pid = first.producer_id
    bumped = init(coord, clock, producer_id=pid, producer_epoch=0)
    assert (bumped.error, bumped.producer_epoch) == (E.NONE, 1)
    retried = init(coord, clock, producer_id=pid, producer_epoch=0)  # response was lost
    assert (retried.error, retried.producer_epoch) == (E.NONE, 1)
    assert init(coord, clock, producer_id=pid, producer_epoch=1).producer_epoch == 2


def test_kip360_stale_epoch_or_unknown_id_is_fenced(coord, clock) -> None:
    pid = init(coord, clock).producer_id
    init(coord, clock)  # another producer instance took epoch 1 (last epoch forgotten)
    init(coord, clock)  # and 2
    assert init(coord, clock, producer_id=pid, producer_epoch=0).error == E.PRODUCER_FENCED
    assert init(coord, clock, producer_id=pid + 50, producer_epoch=2).error == E.PRODUCER_FENCED


def test_kip360_new_transactional_id_accepts_any_previous_identity(coord, clock) -> None:
    res = init(coord, clock, producer_id=4242, producer_epoch=3)
    assert (res.error, res.producer_epoch) == (E.NONE, 0)


def test_kip360_retry_after_rotation_is_recognised(clock) -> None:
    meta = TransactionMetadata(TID, producer_id=7, producer_epoch=32_766, state=TxnState.EMPTY)
    coord = TransactionCoordinator.restore(DictStore({"txn:" + TID: meta.encode()}), clock.now)
    rotated = init(coord, clock, producer_id=7, producer_epoch=32_766)
    assert rotated.producer_id != 7 and rotated.producer_epoch == 0
    again = init(coord, clock, producer_id=7, producer_epoch=32_766)
    assert (again.error, again.producer_id, again.producer_epoch) == (E.NONE, rotated.producer_id, 0)


# ----------------------------------------------------------------- AddPartitions/Offsets


def test_add_partitions_opens_and_extends_the_transaction(coord, clock) -> None:
    pid, epoch = begin(coord, clock, parts=[("a", 0)])
    start = clock.now
    clock.advance(10)
    assert coord.add_partitions(TID, pid, epoch, [("a", 0)], clock.now) == E.NONE  # no-op
    assert coord.add_partitions(TID, pid, epoch, [("b", 2)], clock.now) == E.NONE
    (desc,) = coord.describe([TID])
    assert (desc.state, desc.partitions, desc.start_ms) == ("Ongoing", (("a", 0), ("b", 2)), start)


def test_add_errors(coord, clock) -> None:
    pid, epoch = begin(coord, clock)
    assert coord.add_partitions("other", pid, epoch, [("a", 0)], clock.now) == E.INVALID_PRODUCER_ID_MAPPING
    assert coord.add_partitions(TID, pid + 1, epoch, [("a", 0)], clock.now) == E.INVALID_PRODUCER_ID_MAPPING
    assert coord.add_partitions(TID, pid, epoch + 1, [("a", 0)], clock.now) == E.PRODUCER_FENCED
    assert coord.add_offsets(TID, pid, epoch - 1, "g", clock.now) == E.PRODUCER_FENCED
    coord.end_txn(TID, pid, epoch, False, clock.now)
    assert coord.add_partitions(TID, pid, epoch, [("z", 0)], clock.now) == E.CONCURRENT_TRANSACTIONS
    assert coord.add_offsets(TID, pid, epoch, "g", clock.now) == E.CONCURRENT_TRANSACTIONS


def test_add_offsets_alone_opens_a_transaction(coord, clock) -> None:
    res = init(coord, clock)
    assert coord.add_offsets(TID, res.producer_id, 0, "grp", clock.now) == E.NONE
    assert coord.add_offsets(TID, res.producer_id, 0, "grp", clock.now) == E.NONE
    plan = coord.end_txn(TID, res.producer_id, 0, True, clock.now).markers
    assert plan is not None and (plan.partitions, plan.groups, plan.commit) == ((), ("grp",), True)


def test_verify_partitions(coord, clock) -> None:
    pid, epoch = begin(coord, clock, parts=[("a", 0)])
    assert coord.verify_partitions(TID, pid, epoch, [("a", 0), ("a", 1)]) == {
        ("a", 0): E.NONE,
        ("a", 1): E.TRANSACTION_ABORTABLE,  # TransactionCoordinator.handleVerifyPartitionsInTransaction
    }
    assert coord.verify_partitions(TID, pid, epoch + 1, [("a", 0)]) == {("a", 0): E.PRODUCER_FENCED}
    coord.end_txn(TID, pid, epoch, True, clock.now)
    assert coord.verify_partitions(TID, pid, epoch, [("a", 0)]) == {("a", 0): E.CONCURRENT_TRANSACTIONS}


# ---------------------------------------------------------------------------- EndTxn


def test_commit_plans_markers_then_completes(coord, clock, store) -> None:
    pid, epoch = begin(coord, clock, parts=[("b", 1), ("a", 0)])
    coord.add_offsets(TID, pid, epoch, "g", clock.now)
    res = coord.end_txn(TID, pid, epoch, True, clock.now)
    assert res.error == E.NONE
    assert res.markers == MarkerWrite(TID, pid, epoch, True, 0, (("a", 0), ("b", 1)), ("g",))
    assert coord.state_of(TID) == TxnState.PREPARE_COMMIT
    assert TransactionMetadata.decode(store.data["txn:" + TID]).state == TxnState.PREPARE_COMMIT
    run_plan(coord, clock, res.markers)
    assert coord.state_of(TID) == TxnState.COMPLETE_COMMIT
    assert TransactionMetadata.decode(store.data["txn:" + TID]).state == TxnState.COMPLETE_COMMIT


def test_abort_plans_abort_markers(coord, clock) -> None:
    pid, epoch = begin(coord, clock)
    plan = coord.end_txn(TID, pid, epoch, False, clock.now).markers
    assert plan is not None and not plan.commit and plan.producer_epoch == epoch
    run_plan(coord, clock, plan)
    assert coord.state_of(TID) == TxnState.COMPLETE_ABORT


@pytest.mark.parametrize("commit", [True, False])
def test_end_txn_retries_and_mismatches(coord, clock, commit: bool) -> None:
    pid, epoch = begin(coord, clock)
    plan = coord.end_txn(TID, pid, epoch, commit, clock.now).markers
    assert coord.end_txn(TID, pid, epoch, commit, clock.now).error == E.CONCURRENT_TRANSACTIONS
    assert coord.end_txn(TID, pid, epoch, not commit, clock.now).error == E.INVALID_TXN_STATE
    run_plan(coord, clock, plan)
    assert coord.end_txn(TID, pid, epoch, commit, clock.now) == coord.end_txn(TID, pid, epoch, commit, clock.now)
    assert coord.end_txn(TID, pid, epoch, commit, clock.now).error == E.NONE
    assert coord.end_txn(TID, pid, epoch, commit, clock.now).markers is None
    assert coord.end_txn(TID, pid, epoch, not commit, clock.now).error == E.INVALID_TXN_STATE


def test_end_txn_errors(coord, clock) -> None:
    res = init(coord, clock)
    pid = res.producer_id
    assert coord.end_txn(TID, pid, 0, True, clock.now).error == E.INVALID_TXN_STATE  # Empty
    assert coord.end_txn("unknown", pid, 0, True, clock.now).error == E.INVALID_PRODUCER_ID_MAPPING
    assert coord.end_txn(TID, pid + 1, 0, True, clock.now).error == E.INVALID_PRODUCER_ID_MAPPING
    assert coord.end_txn(TID, pid, 1, True, clock.now).error == E.PRODUCER_FENCED


def test_next_transaction_starts_with_no_partitions(coord, clock) -> None:
    pid, epoch = begin(coord, clock, parts=[("a", 0)])
    run_plan(coord, clock, coord.end_txn(TID, pid, epoch, True, clock.now).markers)
    clock.advance(5)
    assert coord.add_partitions(TID, pid, epoch, [("b", 0)], clock.now) == E.NONE
    (desc,) = coord.describe([TID])
    assert (desc.state, desc.partitions, desc.start_ms) == ("Ongoing", (("b", 0),), clock.now)
    plan = coord.end_txn(TID, pid, epoch, False, clock.now).markers
    assert plan is not None and plan.partitions == (("b", 0),)


def test_stale_plan_does_not_complete(coord, clock) -> None:
    pid, epoch = begin(coord, clock)
    plan = coord.end_txn(TID, pid, epoch, True, clock.now).markers
    assert plan is not None
    from dataclasses import replace

    assert not coord.complete(replace(plan, commit=False), clock.now)
    assert not coord.complete(replace(plan, producer_epoch=epoch + 1), clock.now)
    assert not coord.complete(replace(plan, transactional_id="x"), clock.now)
    assert coord.complete(plan, clock.now)
    assert not coord.complete(plan, clock.now)  # already complete


# ------------------------------------------------------------------------------ time


def test_timeout_aborts_with_a_bumped_epoch(coord, clock) -> None:
    pid, epoch = begin(coord, clock)
    assert coord.tick(clock.advance(TIMEOUT)) == []  # start + timeout is not yet past
    (plan,) = coord.tick(clock.advance(1))
    assert (plan.commit, plan.producer_epoch, plan.partitions) == (False, epoch + 1, (("a", 0),))
    run_plan(coord, clock, plan)
    assert coord.state_of(TID) == TxnState.COMPLETE_ABORT
    assert coord.end_txn(TID, pid, epoch, True, clock.now).error == E.PRODUCER_FENCED
    assert coord.end_txn(TID, pid, epoch, False, clock.now).error == E.PRODUCER_FENCED
    assert coord.tick(clock.advance(TIMEOUT * 10)) == []


def test_timeout_counts_from_the_transaction_start(coord, clock) -> None:
    pid, epoch = begin(coord, clock)
    clock.advance(TIMEOUT - 10)
    coord.add_partitions(TID, pid, epoch, [("b", 0)], clock.now)  # activity does not extend it
    assert len(coord.tick(clock.advance(11))) == 1


def test_empty_and_completed_transactions_never_time_out(coord, clock) -> None:
    init(coord, clock)
    assert coord.tick(clock.advance(TIMEOUT * 2)) == []
    assert coord.state_of(TID) == TxnState.EMPTY


def test_uncompleted_plan_is_reoffered_after_the_retry_interval(coord, clock) -> None:
    pid, epoch = begin(coord, clock)
    plan = coord.end_txn(TID, pid, epoch, True, clock.now).markers
    assert coord.tick(clock.advance(999)) == []
    assert coord.tick(clock.advance(1)) == [plan]
    assert coord.tick(clock.advance(999)) == []
    assert coord.pending_markers() == [plan]
    run_plan(coord, clock, plan)
    assert coord.tick(clock.advance(5_000)) == []
    assert coord.pending_markers() == []


def test_idle_transactional_ids_expire(store, clock) -> None:
    coord = TransactionCoordinator(store, TxnConfig(id_expiration_ms=100_000))
    pid, epoch = begin(coord, clock, tid="busy")
    init(coord, clock, tid="idle", timeout=900_000)
    coord.tick(clock.advance(99_999))
    assert coord.state_of("idle") == TxnState.EMPTY
    coord.tick(clock.advance(1))
    assert coord.state_of("idle") is None
    assert "txn:idle" not in store.data
    assert coord.describe(["idle"])[0].error == E.TRANSACTIONAL_ID_NOT_FOUND
    assert coord.state_of("busy") in (TxnState.PREPARE_ABORT,)  # timed out, not expired


# ----------------------------------------------------------------------- durability


def test_restore_finishes_a_commit_interrupted_by_a_crash(store, clock) -> None:
    coord = TransactionCoordinator.restore(store, clock.now)
    pid, epoch = begin(coord, clock, parts=[("a", 0), ("a", 1)])
    coord.add_offsets(TID, pid, epoch, "g", clock.now)
    coord.end_txn(TID, pid, epoch, True, clock.now)  # crash before the markers are written
    reborn = TransactionCoordinator.restore(DictStore(store.data), clock.advance(3))
    assert reborn.coordinator_epoch == coord.coordinator_epoch + 1
    (plan,) = reborn.tick(clock.now)
    assert plan == MarkerWrite(TID, pid, epoch, True, reborn.coordinator_epoch, (("a", 0), ("a", 1)), ("g",))
    run_plan(reborn, clock, plan)
    assert reborn.state_of(TID) == TxnState.COMPLETE_COMMIT
    assert reborn.end_txn(TID, pid, epoch, True, clock.now).error == E.NONE


def test_restore_keeps_an_ongoing_transaction_until_it_times_out(store, clock) -> None:
    coord = TransactionCoordinator(store)
    pid, epoch = begin(coord, clock)
    reborn = TransactionCoordinator.restore(DictStore(store.data), clock.advance(1_000))
    assert reborn.state_of(TID) == TxnState.ONGOING
    assert reborn.tick(clock.now) == []
    assert reborn.add_partitions(TID, pid, epoch, [("b", 0)], clock.now) == E.NONE  # producer goes on
    (plan,) = reborn.tick(clock.advance(TIMEOUT))
    assert (plan.commit, plan.producer_epoch, plan.partitions) == (False, epoch + 1, (("a", 0), ("b", 0)))


def test_restore_never_reissues_producer_ids(store, clock) -> None:
    coord = TransactionCoordinator(store, TxnConfig(producer_id_block_size=10))
    issued = {coord.init_producer_id(None, 0, clock.now).producer_id for _ in range(13)}
    issued.add(init(coord, clock).producer_id)
    reborn = TransactionCoordinator.restore(DictStore(store.data), clock.now, TxnConfig(producer_id_block_size=10))
    fresh = {reborn.init_producer_id(None, 0, clock.now).producer_id for _ in range(25)}
    assert not issued & fresh
    # one durable write per block, not per id
    assert [k for k, _ in store.puts].count("producer_id_block") == 2


def test_restore_of_an_empty_store(clock) -> None:
    store = DictStore()
    coord = TransactionCoordinator.restore(store, clock.now)
    assert coord.coordinator_epoch == 0 and coord.pending_markers() == []
    assert TransactionCoordinator.restore(store, clock.now).coordinator_epoch == 1


def test_every_state_change_is_persisted(store, clock, coord) -> None:
    pid, epoch = begin(coord, clock)
    plan = coord.end_txn(TID, pid, epoch, True, clock.now).markers
    run_plan(coord, clock, plan)
    states = [TransactionMetadata.decode(v).state for k, v in store.puts if k == "txn:" + TID and v]
    assert states == [TxnState.EMPTY, TxnState.ONGOING, TxnState.PREPARE_COMMIT, TxnState.COMPLETE_COMMIT]


def test_metadata_round_trip_and_version_check() -> None:
    meta = TransactionMetadata(
        "t\u00e9", 5, 3, 4, 2, 1234, TxnState.PREPARE_ABORT, {("x", 1), ("y", 0)}, {"g"}, 10, 20
    )
    assert TransactionMetadata.decode(meta.encode()) == meta
    with pytest.raises(ValueError):
        TransactionMetadata.decode(meta.encode().replace(b'"v":1', b'"v":2'))


# ------------------------------------------------------------------ queries & tables


def test_describe_and_list(coord, clock) -> None:
    begin(coord, clock, tid="t1")
    res2 = init(coord, clock, tid="t2")
    clock.advance(500)
    (d1, d2, d3) = coord.describe(["t1", "t2", "t3"])
    assert (d1.state, d1.partitions, d1.timeout_ms) == ("Ongoing", (("a", 0),), TIMEOUT)
    assert (d2.state, d2.producer_id, d2.error) == ("Empty", res2.producer_id, E.NONE)
    assert d3.error == E.TRANSACTIONAL_ID_NOT_FOUND
    every = coord.list_transactions(now_ms=clock.now)
    assert sorted(t.transactional_id for t in every.transactions) == ["t1", "t2"]
    ongoing = coord.list_transactions(["Ongoing", "Bogus"], now_ms=clock.now)
    assert [t.transactional_id for t in ongoing.transactions] == ["t1"]
    assert ongoing.unknown_state_filters == ("Bogus",)
    by_pid = coord.list_transactions(producer_id_filters=[res2.producer_id], now_ms=clock.now)
    assert [t.state for t in by_pid.transactions] == ["Empty"]
    assert coord.list_transactions(duration_filter_ms=499, now_ms=clock.now).transactions[0].transactional_id == "t1"
    assert coord.list_transactions(duration_filter_ms=500, now_ms=clock.now).transactions == ()


def test_state_names_match_kafka() -> None:
    names = [s.state_name for s in sorted(TxnState)]
    assert names == [
        "Empty", "Ongoing", "PrepareCommit", "PrepareAbort",
        "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence",
    ]  # fmt: skip
    assert TxnState.from_name("PrepareCommit") == TxnState.PREPARE_COMMIT
    assert TxnState.from_name("prepareCommit") is None


@pytest.mark.parametrize("target", list(TxnState))
def test_transition_table_is_enforced(target: TxnState) -> None:
    for source in TxnState:
        meta = TransactionMetadata("t", 1, state=source)
        if source in VALID_PREVIOUS[target]:
            meta.transition(target, 5)
            assert (meta.state, meta.update_ms) == (target, 5)
        else:
            with pytest.raises(IllegalTransitionError):
                meta.transition(target, 5)


def test_check_offset_commit(coord, clock) -> None:
    pid, epoch = begin(coord, clock)
    assert coord.check_offset_commit(TID, pid, epoch, "g") == E.INVALID_TXN_STATE  # group not added
    coord.add_offsets(TID, pid, epoch, "g", clock.now)
    assert coord.check_offset_commit(TID, pid, epoch, "g") == E.NONE
    assert coord.check_offset_commit(TID, pid, epoch, "other") == E.INVALID_TXN_STATE
    assert coord.check_offset_commit(TID, pid, epoch - 1, "g") == E.INVALID_PRODUCER_EPOCH
    assert coord.check_offset_commit(TID, pid + 1, epoch, "g") == E.INVALID_PRODUCER_ID_MAPPING
    assert coord.check_offset_commit("nope", pid, epoch, "g") == E.INVALID_PRODUCER_ID_MAPPING
    plan = coord.end_txn(TID, pid, epoch, True, clock.now).markers
    assert coord.check_offset_commit(TID, pid, epoch, "g") == E.CONCURRENT_TRANSACTIONS
    run_plan(coord, clock, plan)
    assert coord.check_offset_commit(TID, pid, epoch, "g") == E.INVALID_TXN_STATE


def test_short_timeout_started_between_scans_is_not_missed(coord, clock) -> None:
    assert coord.tick(clock.now) == []  # a scan with nothing to do: the next is up to 1 s away
    res = init(coord, clock, timeout=100)
    clock.advance(10)
    coord.add_partitions(TID, res.producer_id, res.producer_epoch, [("a", 0)], clock.now)
    assert coord.tick(clock.advance(100)) == []
    (plan,) = coord.tick(clock.advance(1))
    assert not plan.commit


def test_restore_skips_unreadable_entries(clock, caplog) -> None:
    good = TransactionMetadata("ok", producer_id=3, producer_epoch=1, state=TxnState.EMPTY)
    store = DictStore({"txn:ok": good.encode(), "txn:bad": b"{not json", "txn:old": b'{"v":9}'})
    coord = TransactionCoordinator.restore(store, clock.now)
    assert coord.state_of("ok") == TxnState.EMPTY
    assert coord.state_of("bad") is None and coord.state_of("old") is None
    assert "txn:bad" in caplog.text and "txn:old" in caplog.text
