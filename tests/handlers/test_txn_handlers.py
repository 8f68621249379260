"""Transaction handlers driven directly (no sockets): marker writes, version mapping, admin views.

Each response is also encoded at the request's version, so a field the codec cannot carry fails here.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from kafkaish.broker import Broker
from kafkaish.config import load_settings
from kafkaish.coordinator.txn import TxnState
from kafkaish.handlers import txn as h
from kafkaish.wire.errors import ErrorCode, KafkaError
from kafkaish.wire.messages.add_offsets_to_txn import AddOffsetsToTxnRequest
from kafkaish.wire.messages.add_partitions_to_txn import AddPartitionsToTxnRequest
from kafkaish.wire.messages.describe_producers import DescribeProducersRequest
from kafkaish.wire.messages.describe_transactions import DescribeTransactionsRequest
from kafkaish.wire.messages.end_txn import EndTxnRequest
from kafkaish.wire.messages.init_producer_id import InitProducerIdRequest
from kafkaish.wire.messages.list_transactions import ListTransactionsRequest
from kafkaish.wire.messages.txn_offset_commit import TxnOffsetCommitRequest
from kafkaish.wire.records import build_batch, decode_records, iter_batches, parse_control_record
from tests.fakes import call_handler

E = ErrorCode
TID = "app-1"
TOPIC = "orders"
APT = AddPartitionsToTxnRequest
TOC = TxnOffsetCommitRequest


@pytest.fixture
def broker() -> Broker:
    b = Broker(load_settings(in_memory=True))
    b.storage.create_topic(TOPIC, 2, {}, uuid.uuid4())
    yield b
    b.close()


def call(broker: Broker, fn: Any, req: Any, version: int) -> Any:
    return call_handler(broker, fn, req, version)


def init(broker: Broker, version: int = 4, tid: str | None = TID, **kw: Any) -> Any:
    return call(broker, h.init_producer_id, InitProducerIdRequest(transactional_id=tid, transaction_timeout_ms=kw.pop("timeout", 60_000), **kw), version)


def add(broker: Broker, pid: int, epoch: int, parts: dict[str, list[int]], version: int = 3) -> dict[tuple[str, int], int]:
    topics = [APT.AddPartitionsToTxnTopic(name=t, partitions=ps) for t, ps in parts.items()]
    req = APT(v3_and_below_transactional_id=TID, v3_and_below_producer_id=pid, v3_and_below_producer_epoch=epoch,
              v3_and_below_topics=topics)
    resp = call(broker, h.add_partitions_to_txn, req, version)
    return {(t.name, r.partition_index): r.partition_error_code for t in resp.results_by_topic_v3_and_below
            for r in t.results_by_partition}


def end(broker: Broker, pid: int, epoch: int, commit: bool, version: int = 3) -> int:
    req = EndTxnRequest(transactional_id=TID, producer_id=pid, producer_epoch=epoch, committed=commit)
    return call(broker, h.end_txn, req, version).error_code


def produce(broker: Broker, pid: int, epoch: int, seq: int, partition: int = 0, n: int = 2) -> int:
    now_ms = broker.now_ms()
    batch = build_batch([(b"k", b"v%d" % i) for i in range(n)], producer_id=pid, producer_epoch=epoch,
                        base_sequence=seq, transactional=True, timestamp_ms=now_ms)
    return broker.storage.log(TOPIC, partition).append(batch, now_ms=now_ms).base_offset


def markers(broker: Broker, partition: int) -> list[tuple[int, int, bool]]:
    """(offset, producer epoch, commit) of every control batch in the partition."""
    data = broker.storage.log(TOPIC, partition).read(0, 1 << 20).records
    out = []
    for pos, hdr in iter_batches(bytes(data)):
        if hdr.is_control:
            kind, _ = parse_control_record(decode_records(bytes(data), pos)[0])
            out.append((hdr.base_offset, hdr.producer_epoch, int(kind) == 1))
    return out


def begin(broker: Broker, partitions: list[int] = [0]) -> tuple[int, int]:
    r = init(broker)
    assert r.error_code == E.NONE
    assert set(add(broker, r.producer_id, r.producer_epoch, {TOPIC: partitions}).values()) == {E.NONE}
    return r.producer_id, r.producer_epoch


# ------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4, 5])
def test_idempotent_init_producer_id(broker, version) -> None:
    a, b = init(broker, version, tid=None), init(broker, version, tid=None)
    assert (a.error_code, a.producer_epoch, b.producer_epoch) == (E.NONE, 0, 0)
    assert a.producer_id != b.producer_id


def test_commit_writes_markers_and_releases_the_lso(broker) -> None:
    pid, epoch = begin(broker, [0, 1])
    first = produce(broker, pid, epoch, 0, partition=0)
    log0 = broker.storage.log(TOPIC, 0)
    assert log0.last_stable_offset == first
    assert log0.read(0, 1 << 20, read_committed=True).records == b""  # nothing decided yet
    assert end(broker, pid, epoch, True) == E.NONE
    assert markers(broker, 0) == [(2, epoch, True)]
    assert markers(broker, 1) == [(0, epoch, True)]  # a marker even where nothing was written
    assert log0.last_stable_offset == log0.log_end_offset == 3
    assert log0.read(0, 1 << 20, read_committed=True).aborted_transactions == []
    assert broker.txns.state_of(TID) == TxnState.COMPLETE_COMMIT
    assert end(broker, pid, epoch, True) == E.NONE  # retried EndTxn
    assert end(broker, pid, epoch, False) == E.INVALID_TXN_STATE


def test_abort_is_listed_for_read_committed(broker) -> None:
    pid, epoch = begin(broker)
    produce(broker, pid, epoch, 0)
    assert end(broker, pid, epoch, False) == E.NONE
    res = broker.storage.log(TOPIC, 0).read(0, 1 << 20, read_committed=True)
    assert res.aborted_transactions == [(pid, 0)]
    assert markers(broker, 0) == [(2, epoch, False)]


@pytest.mark.parametrize(("version", "fenced"), [(0, E.INVALID_PRODUCER_EPOCH), (1, E.INVALID_PRODUCER_EPOCH),
                                                 (2, E.PRODUCER_FENCED), (3, E.PRODUCER_FENCED)])
def test_second_producer_fences_the_first(broker, version, fenced) -> None:
    pid, epoch = begin(broker)
    produce(broker, pid, epoch, 0)
    assert init(broker).error_code == E.CONCURRENT_TRANSACTIONS
    assert markers(broker, 0) == [(2, epoch + 1, False)]  # aborted with the bumped epoch
    with pytest.raises(KafkaError) as zombie:
        produce(broker, pid, epoch, 2)
    assert zombie.value.code == E.INVALID_PRODUCER_EPOCH
    assert end(broker, pid, epoch, True, version) == fenced
    again = init(broker)
    assert (again.error_code, again.producer_id, again.producer_epoch) == (E.NONE, pid, epoch + 2)


@pytest.mark.parametrize(("version", "fenced"), [(3, E.INVALID_PRODUCER_EPOCH), (4, E.PRODUCER_FENCED)])
def test_init_producer_id_kip360_fenced_by_version(broker, version, fenced) -> None:
    r = init(broker)
    init(broker)
    init(broker)
    stale = init(broker, version, producer_id=r.producer_id, producer_epoch=0)
    assert stale.error_code == fenced


@pytest.mark.parametrize(
    ("api_key", "version", "expected"),
    [
        (22, 3, E.INVALID_PRODUCER_EPOCH),
        (22, 4, E.PRODUCER_FENCED),
        (24, 1, E.INVALID_PRODUCER_EPOCH),
        (24, 2, E.PRODUCER_FENCED),
        (25, 0, E.INVALID_PRODUCER_EPOCH),
        (25, 2, E.PRODUCER_FENCED),
        (26, 1, E.INVALID_PRODUCER_EPOCH),
        (26, 2, E.PRODUCER_FENCED),
        (28, 0, E.PRODUCER_FENCED),
    ],
)
def test_fenced_error_by_request_version(api_key: int, version: int, expected: ErrorCode) -> None:
    # the coordinator answers PRODUCER_FENCED; the handlers map it to what each request version knows
    assert h.fenced_error(api_key, version) == expected
    assert h.client_error(E.PRODUCER_FENCED, api_key, version) == expected
    assert h.client_error(E.CONCURRENT_TRANSACTIONS, api_key, version) == E.CONCURRENT_TRANSACTIONS


def test_invalid_timeout(broker) -> None:
    assert init(broker, timeout=900_001).error_code == E.INVALID_TRANSACTION_TIMEOUT


def test_add_partitions_unknown_topic_touches_nothing(broker) -> None:
    r = init(broker)
    errors = add(broker, r.producer_id, r.producer_epoch, {TOPIC: [0, 7], "missing": [0]}, version=0)
    assert errors == {(TOPIC, 0): E.OPERATION_NOT_ATTEMPTED, (TOPIC, 7): E.UNKNOWN_TOPIC_OR_PARTITION,
                      ("missing", 0): E.UNKNOWN_TOPIC_OR_PARTITION}
    assert broker.txns.state_of(TID) == TxnState.EMPTY


@pytest.mark.parametrize(("version", "fenced"), [(1, E.INVALID_PRODUCER_EPOCH), (2, E.PRODUCER_FENCED)])
def test_add_partitions_fenced_by_version(broker, version, fenced) -> None:
    r = init(broker)
    assert add(broker, r.producer_id, r.producer_epoch + 1, {TOPIC: [0]}, version) == {(TOPIC, 0): fenced}


def test_add_partitions_batched_v4_and_verify_only(broker) -> None:
    r = init(broker)
    txn = APT.AddPartitionsToTxnTransaction
    topics = [APT.AddPartitionsToTxnTopic(name=TOPIC, partitions=[0])]
    req = APT(transactions=[
        txn(transactional_id=TID, producer_id=r.producer_id, producer_epoch=0, verify_only=True, topics=topics)])
    (res,) = call(broker, h.add_partitions_to_txn, req, 5).results_by_transaction
    assert res.topic_results[0].results_by_partition[0].partition_error_code == E.TRANSACTION_ABORTABLE
    req.transactions[0].verify_only = False
    (res,) = call(broker, h.add_partitions_to_txn, req, 4).results_by_transaction
    assert (res.transactional_id, res.topic_results[0].results_by_partition[0].partition_error_code) == (TID, 0)
    assert broker.txns.state_of(TID) == TxnState.ONGOING


@pytest.mark.parametrize(("version", "fenced"), [(0, E.INVALID_PRODUCER_EPOCH), (3, E.PRODUCER_FENCED)])
def test_add_offsets(broker, version, fenced) -> None:
    r = init(broker)
    ok = AddOffsetsToTxnRequest(transactional_id=TID, producer_id=r.producer_id, producer_epoch=0, group_id="g")
    assert call(broker, h.add_offsets_to_txn, ok, version).error_code == E.NONE
    ok.producer_epoch = 5
    assert call(broker, h.add_offsets_to_txn, ok, version).error_code == fenced


def txn_offset_commit(broker: Broker, pid: int, epoch: int, offset: int, version: int = 3) -> dict:
    req = TOC(transactional_id=TID, group_id="g", producer_id=pid, producer_epoch=epoch, topics=[
        TOC.TxnOffsetCommitRequestTopic(name=TOPIC, partitions=[
            TOC.TxnOffsetCommitRequestPartition(partition_index=0, committed_offset=offset, committed_metadata="m")]),
        TOC.TxnOffsetCommitRequestTopic(name="missing", partitions=[
            TOC.TxnOffsetCommitRequestPartition(partition_index=0, committed_offset=1)])])
    resp = call(broker, h.txn_offset_commit, req, version)
    return {(t.name, p.partition_index): p.error_code for t in resp.topics for p in t.partitions}


@pytest.mark.parametrize("commit", [True, False])
def test_txn_offset_commit_follows_the_transaction(broker, commit) -> None:
    pid, epoch = begin(broker)
    assert set(txn_offset_commit(broker, pid, epoch, 5).values()) == {E.INVALID_TXN_STATE}  # no AddOffsets
    call(broker, h.add_offsets_to_txn,
         AddOffsetsToTxnRequest(transactional_id=TID, producer_id=pid, producer_epoch=epoch, group_id="g"), 3)
    assert txn_offset_commit(broker, pid, epoch, 5, version=0) == {
        (TOPIC, 0): E.NONE, ("missing", 0): E.UNKNOWN_TOPIC_OR_PARTITION}
    assert broker.groups.has_pending("g", TOPIC, 0)
    assert end(broker, pid, epoch, commit) == E.NONE
    assert not broker.groups.has_pending("g", TOPIC, 0)
    (fetched,) = broker.groups.fetch_offsets("g", [(TOPIC, [0])], broker.now_ms()).partitions
    assert fetched.offset == (5 if commit else -1)
    assert set(txn_offset_commit(broker, pid, epoch - 1, 9).values()) == {E.INVALID_PRODUCER_EPOCH}


def test_ticker_aborts_a_timed_out_transaction(broker) -> None:
    broker.clock.freeze()
    pid, epoch = begin(broker)
    produce(broker, pid, epoch, 0)
    broker.clock.advance(60_000)
    assert markers(broker, 0) == []  # Kafka: aborted once start + timeout < now
    broker.clock.advance(1)  # the advance runs the coordinator's timers at once
    assert markers(broker, 0) == [(2, epoch + 1, False)]
    assert broker.storage.log(TOPIC, 0).last_stable_offset == 3
    assert end(broker, pid, epoch, True) == E.PRODUCER_FENCED


def test_marker_for_a_deleted_topic_is_skipped(broker) -> None:
    pid, epoch = begin(broker, [0])
    broker.storage.create_topic("gone", 1, {}, uuid.uuid4())
    add(broker, pid, epoch, {"gone": [0]})
    broker.storage.delete_topic("gone")
    assert end(broker, pid, epoch, True) == E.NONE
    assert broker.txns.state_of(TID) == TxnState.COMPLETE_COMMIT
    assert markers(broker, 0) == [(0, epoch, True)]


def test_restored_coordinator_finishes_an_interrupted_commit(broker) -> None:
    pid, epoch = begin(broker)
    produce(broker, pid, epoch, 0)
    plan = broker.txns.end_txn(TID, pid, epoch, True, broker.now_ms()).markers  # "crash" before markers
    assert plan is not None and markers(broker, 0) == []
    restarted = Broker(broker.settings, storage=broker.storage)  # a new coordinator over the same state store
    restarted.tick()
    assert markers(broker, 0) == [(2, epoch, True)]
    assert restarted.txns.state_of(TID) == TxnState.COMPLETE_COMMIT


def test_describe_and_list_transactions(broker) -> None:
    pid, epoch = begin(broker, [0, 1])
    resp = call(broker, h.describe_transactions, DescribeTransactionsRequest(transactional_ids=[TID, "nope"]), 0)
    found, missing = resp.transaction_states
    assert (found.transaction_state, found.producer_id, found.transaction_timeout_ms) == ("Ongoing", pid, 60_000)
    assert [(t.topic, t.partitions) for t in found.topics] == [(TOPIC, [0, 1])]
    assert missing.error_code == E.TRANSACTIONAL_ID_NOT_FOUND
    listed = call(broker, h.list_transactions, ListTransactionsRequest(state_filters=["Ongoing", "Nope"]), 1)
    assert [(t.transactional_id, t.transaction_state) for t in listed.transaction_states] == [(TID, "Ongoing")]
    assert listed.unknown_state_filters == ["Nope"]
    none = call(broker, h.list_transactions, ListTransactionsRequest(producer_id_filters=[pid + 1]), 0)
    assert none.transaction_states == []


def test_describe_producers(broker) -> None:
    pid, epoch = begin(broker)
    produce(broker, pid, epoch, 0, n=3)
    req = DescribeProducersRequest(topics=[DescribeProducersRequest.TopicRequest(name=TOPIC, partition_indexes=[0, 1, 9])])
    (topic,) = call(broker, h.describe_producers, req, 0).topics
    p0, p1, p9 = topic.partitions
    (state,) = p0.active_producers
    assert (state.producer_id, state.producer_epoch, state.last_sequence, state.current_txn_start_offset) == (
        pid, epoch, 2, 0)
    assert p1.active_producers == [] and p1.error_code == E.NONE
    assert p9.error_code == E.UNKNOWN_TOPIC_OR_PARTITION


def test_commit_interrupted_by_a_broker_restart_completes_from_disk(tmp_path) -> None:
    first = Broker(load_settings(data_dir=str(tmp_path)))
    first.storage.create_topic(TOPIC, 2, {}, uuid.uuid4())
    pid, epoch = begin(first, [0, 1])
    produce(first, pid, epoch, 0, partition=1)
    assert first.txns.end_txn(TID, pid, epoch, True, first.now_ms()).markers is not None  # then "crash"
    first.close()

    second = Broker(load_settings(data_dir=str(tmp_path)))
    try:
        assert second.txns.state_of(TID) == TxnState.PREPARE_COMMIT
        assert second.storage.log(TOPIC, 1).last_stable_offset == 0  # the open txn survived too
        second.tick()
        assert markers(second, 1) == [(2, epoch, True)]
        assert second.storage.log(TOPIC, 1).last_stable_offset == 3
        assert second.txns.state_of(TID) == TxnState.COMPLETE_COMMIT
        fresh = init(second, tid=None)
        assert fresh.producer_id > pid  # ids handed out before the restart are never reused
    finally:
        second.close()


def test_transaction_max_timeout_comes_from_the_settings() -> None:
    b = Broker(load_settings(in_memory=True, transaction_max_timeout_ms=5_000))
    try:
        assert init(b, timeout=5_001).error_code == E.INVALID_TRANSACTION_TIMEOUT
        assert init(b, timeout=5_000).error_code == E.NONE
    finally:
        b.close()


def test_pending_txn_offsets_survive_a_broker_restart(tmp_path) -> None:
    first = Broker(load_settings(data_dir=str(tmp_path)))
    first.storage.create_topic(TOPIC, 1, {}, uuid.uuid4())
    pid, epoch = begin(first)
    call(first, h.add_offsets_to_txn,
         AddOffsetsToTxnRequest(transactional_id=TID, producer_id=pid, producer_epoch=epoch, group_id="g"), 3)
    assert txn_offset_commit(first, pid, epoch, 5)[(TOPIC, 0)] == E.NONE
    first.close()
    second = Broker(load_settings(data_dir=str(tmp_path)))
    try:
        assert end(second, pid, epoch, True) == E.NONE
        (fetched,) = second.groups.fetch_offsets("g", [(TOPIC, [0])], second.now_ms()).partitions
        assert fetched.offset == 5  # the committed transaction's offsets must not be lost
    finally:
        second.close()


def test_markers_are_fsynced_together_before_the_transaction_completes(tmp_path) -> None:
    b = Broker(load_settings(data_dir=str(tmp_path), fsync="always"))
    try:
        b.storage.create_topic(TOPIC, 2, {}, uuid.uuid4())
        pid, epoch = begin(b, [0, 1])
        events: list[str] = []
        policy, txns = b.storage.sync_policy, b.txns
        sync_all, complete = policy.sync_all, txns.complete
        policy.sync_all = lambda: (events.append("sync markers"), sync_all())[1]  # type: ignore[method-assign]
        txns.complete = lambda plan, now: (events.append("complete"), complete(plan, now))[1]  # type: ignore[method-assign]
        assert end(b, pid, epoch, True) == E.NONE
        assert events == ["sync markers", "complete"]  # one fsync for both markers, then Complete*
        assert markers(b, 0) == [(0, epoch, True)] and markers(b, 1) == [(0, epoch, True)]
    finally:
        b.close()
