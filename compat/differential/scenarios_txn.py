"""Differential scenarios: transactions (KIP-98) and their admin views."""
from __future__ import annotations

from engine import Ctx
from ops import (ADD_OFFSETS_TO_TXN, ADD_PARTITIONS_TO_TXN, DESCRIBE_TRANSACTIONS, END_TXN, FETCH,
                 INIT_PRODUCER_ID, LIST_OFFSETS, LIST_TRANSACTIONS, OFFSET_FETCH, PRODUCE, TXN_OFFSET_COMMIT,
                 batch, consume, coordinator, create_topic, fetch, init_producer, list_offsets, produce, rq,
                 scenario, until)
from scenarios_groups import offset_fetch


class Txn:
    def __init__(self, c: Ctx, tid: str, pid: int, epoch: int) -> None:
        self.c, self.tid, self.pid, self.epoch, self.seq = c, tid, pid, epoch, 0

    def add(self, check: str | None, topic: str, partitions: list[int], **kw) -> object:
        return self.c.call(check, rq(ADD_PARTITIONS_TO_TXN, v3_and_below_transactional_id=self.tid,
                                     v3_and_below_producer_id=self.pid, v3_and_below_producer_epoch=self.epoch,
                                     v3_and_below_topics=[{"name": topic, "partitions": partitions}]), 3, **kw)

    def produce(self, check: str | None, topic: str, values: list[str], partition: int = 0, **kw) -> object:
        r = produce(self.c, check, topic, batch(self.c, values, producer_id=self.pid, producer_epoch=self.epoch,
                                                base_sequence=self.seq, transactional=True),
                    partition=partition, transactional_id=self.tid, **kw)
        self.seq += len(values)
        return r

    def end(self, check: str | None, commit: bool, **kw) -> object:
        return self.c.call(check, rq(END_TXN, transactional_id=self.tid, producer_id=self.pid,
                                     producer_epoch=self.epoch, committed=commit), **kw)


def begin(c: Ctx, check: str | None, tid: str, timeout_ms: int = 60000) -> Txn:
    coordinator(c, tid, 1)
    r = init_producer(c, check, tid, timeout_ms)
    return Txn(c, tid, r.producer_id, r.producer_epoch)


def describe_txn(c: Ctx, check: str, tid: str, **kw) -> object:
    return c.call(check, rq(DESCRIBE_TRANSACTIONS, transactional_ids=[tid]), **kw)


def settled(c: Ctx, tid: str) -> None:
    """Wait until the transaction is no longer Prepare* (Kafka writes the markers asynchronously)."""
    until(c, lambda: (r := c.call(None, rq(DESCRIBE_TRANSACTIONS, transactional_ids=[tid]))) and
          not r.transaction_states[0].transaction_state.startswith("Prepare"), "the markers")


@scenario(INIT_PRODUCER_ID, ADD_PARTITIONS_TO_TXN, PRODUCE, ADD_OFFSETS_TO_TXN, TXN_OFFSET_COMMIT, END_TXN,
          DESCRIBE_TRANSACTIONS, LIST_TRANSACTIONS, LIST_OFFSETS, FETCH, OFFSET_FETCH)
def txn_commit(c: Ctx) -> None:
    t, g, tid = c.name("t"), c.name("g"), c.name("txn")
    create_topic(c, t, 2)
    coordinator(c, tid, 1, check="find_txn_coordinator")
    x = begin(c, "init_producer_id", tid)
    describe_txn(c, "describe_empty", tid)
    x.add("add_partitions", t, [0, 1])
    x.add("add_partitions_again", t, [0])
    x.produce("produce_p0", t, ["a", "b"])
    x.produce("produce_p1", t, ["c"], partition=1)
    list_offsets(c, "lso_read_committed", t, -1, isolation=1)
    list_offsets(c, "latest_read_uncommitted", t, -1, isolation=0)
    fetch(c, "fetch_read_committed_open", t, isolation=1)
    describe_txn(c, "describe_ongoing", tid)
    c.call("list_ongoing", rq(LIST_TRANSACTIONS, state_filters=["Ongoing"], producer_id_filters=[x.pid]))
    c.call("list_unknown_state_filter", rq(LIST_TRANSACTIONS, state_filters=["Bogus"], producer_id_filters=[x.pid]))
    coordinator(c, g, 0)
    c.call("add_offsets", rq(ADD_OFFSETS_TO_TXN, transactional_id=tid, producer_id=x.pid, producer_epoch=x.epoch,
                             group_id=g))
    c.call("txn_offset_commit", rq(TXN_OFFSET_COMMIT, transactional_id=tid, group_id=g, producer_id=x.pid,
                                   producer_epoch=x.epoch, generation_id=-1, member_id="", group_instance_id=None,
                                   topics=[{"name": t, "partitions": [
                                       {"partition_index": 0, "committed_offset": 2, "committed_metadata": None}]}]))
    offset_fetch(c, "offsets_pending_require_stable", g, t, require_stable=True)
    x.end("end_commit", True)
    settled(c, tid)
    describe_txn(c, "describe_complete", tid)
    consume(c, "consume_read_committed", t, isolation=1)
    fetch(c, "fetch_read_committed_after", t, isolation=1)
    offset_fetch(c, "offsets_committed", g, t, finding="#18.4")
    list_offsets(c, "lso_after_commit", t, -1, isolation=1)
    x.end("end_commit_retry", True)
    x.end("end_abort_after_commit", False)
    c.call("list_complete", rq(LIST_TRANSACTIONS, state_filters=["CompleteCommit"], producer_id_filters=[x.pid]))


@scenario(INIT_PRODUCER_ID, ADD_PARTITIONS_TO_TXN, PRODUCE, END_TXN, FETCH, LIST_OFFSETS)
def txn_abort(c: Ctx) -> None:
    t, tid = c.name("t"), c.name("txn")
    create_topic(c, t, 1)
    produce(c, None, t, batch(c, ["before"]))
    x = begin(c, None, tid)
    x.add(None, t, [0])
    x.produce("produce", t, ["a", "b"])
    x.end("end_abort", False)
    settled(c, tid)
    describe_txn(c, "describe_aborted", tid)
    fetch(c, "fetch_read_committed", t, isolation=1)
    fetch(c, "fetch_read_uncommitted", t, isolation=0)
    consume(c, "consume_read_committed", t, isolation=1)
    produce(c, None, t, batch(c, ["after"]))
    list_offsets(c, "lso", t, -1, isolation=1)
    # a second transaction in the same producer session
    x.seq = x.seq  # sequences continue
    x.add("add_second", t, [0])
    x.produce("produce_second", t, ["c"])
    x.end("end_commit_second", True)
    settled(c, tid)
    consume(c, "consume_after_second", t, isolation=1)


@scenario(INIT_PRODUCER_ID, ADD_PARTITIONS_TO_TXN, PRODUCE, END_TXN, ADD_OFFSETS_TO_TXN, TXN_OFFSET_COMMIT,
          DESCRIBE_TRANSACTIONS)
def txn_fencing(c: Ctx) -> None:
    t, tid = c.name("t"), c.name("txn")
    create_topic(c, t, 1)
    old = begin(c, None, tid)
    old.add(None, t, [0])
    old.produce(None, t, ["a"])
    new = begin(c, "init_again_bumps_epoch", tid)
    c.observe("epoch_bumped", {"same_pid": new.pid == old.pid, "epoch_delta": new.epoch - old.epoch})
    old.produce("old_epoch_produce", t, ["b"])
    old.add("old_epoch_add_partitions", t, [0])
    old.end("old_epoch_end_txn", True)
    c.call("old_epoch_add_offsets", rq(ADD_OFFSETS_TO_TXN, transactional_id=tid, producer_id=old.pid,
                                       producer_epoch=old.epoch, group_id=c.name("g")))
    new.end("end_without_transaction", True)
    wrong = Txn(c, tid, new.pid + 77, new.epoch)
    wrong.add("wrong_producer_id", t, [0])
    new.add("unknown_topic_in_batch", c.name("missing"), [0])
    c.call("add_two_topics_one_unknown", rq(ADD_PARTITIONS_TO_TXN, v3_and_below_transactional_id=tid,
                                            v3_and_below_producer_id=new.pid, v3_and_below_producer_epoch=new.epoch,
                                            v3_and_below_topics=[{"name": t, "partitions": [0]},
                                                                 {"name": c.name("missing"), "partitions": [0]}]), 3)
    init_producer(c, "timeout_too_large", c.name("big"), 3_600_000)
    init_producer(c, "idempotent_only", None)
    describe_txn(c, "describe_unknown", c.name("nobody"), finding="D20")
    c.call("unknown_txn_id_end", rq(END_TXN, transactional_id=c.name("nobody"), producer_id=new.pid,
                                    producer_epoch=0, committed=True))
    c.call("txn_offset_commit_fenced", rq(TXN_OFFSET_COMMIT, transactional_id=tid, group_id=c.name("g"),
                                          producer_id=old.pid, producer_epoch=old.epoch, generation_id=-1,
                                          member_id="", topics=[{"name": t, "partitions": [
                                              {"partition_index": 0, "committed_offset": 1}]}]))
    # KIP-890 part 1: a partition the transaction never added (TRANSACTION_ABORTABLE from v11, else
    # INVALID_TXN_STATE), a producer the coordinator does not know or has fenced
    new.produce("produce_without_add_partitions", t, ["z"])
    new.produce("produce_without_add_partitions_v10", t, ["z"], version=10, conn="v10")
    Txn(c, tid, new.pid, new.epoch + 3).produce("produce_future_epoch_not_added", t, ["w"], conn="future")
    Txn(c, c.name("nobody2"), new.pid, new.epoch).produce("produce_unknown_transactional_id", t, ["w"], conn="unknown")
    produce(c, "transactional_batch_without_id", t, batch(c, ["q"], producer_id=new.pid, producer_epoch=new.epoch,
                                                          base_sequence=0, transactional=True), conn="no-id")
    # InitProducerId v3+ with the current producer id/epoch (KIP-360) bumps the epoch
    c.call("init_with_current_epoch", rq(INIT_PRODUCER_ID, transactional_id=tid, transaction_timeout_ms=60000,
                                         producer_id=new.pid, producer_epoch=new.epoch),
           keep=lambda v: {"error_code": v["error_code"]})
