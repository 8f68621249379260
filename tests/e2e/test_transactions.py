"""Exactly-once with real clients: idempotent retries, transactions, read_committed, fencing.

kafka-python, aiokafka and confluent-kafka against the in-process broker (``broker`` fixture);
the producer-crash test runs the producer in a subprocess and SIGKILLs it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from typing import Any

import pytest

from kafkaish.testing import FaultAction
from kafkaish.wire.records import decode_records, iter_batches
from tests.e2e.txn_clients import CONSUME, TRANSACT, Step, by_partition, write_sentinels

CLIENTS = sorted(TRANSACT)


def create_topic(bootstrap: str, name: str, parts: int) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(name, parts, 1)])
    admin.close()


def stored_values(kb: Any, topic: str, partition: int) -> list[bytes]:
    """Every data record in the partition's log, control batches skipped."""

    def read() -> list[bytes]:
        data = bytes(kb.broker.storage.log(topic, partition).read(0, 1 << 24).records)
        return [r.value for pos, h in iter_batches(data) if not h.is_control for r in decode_records(data, pos)]

    return kb.call(read)


def wait_for(predicate: Any, what: str, timeout: float = 60) -> None:
    """Wait for a condition the broker reaches on its own (a deadline, not a timed assertion)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


# ---------------------------------------------------------------------------- idempotence


def _produce_idempotent(client: str, bootstrap: str, topic: str, values: list[bytes]) -> None:
    if client == "kafka-python":
        from kafka import KafkaProducer

        p = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=20)
        futures = [p.send(topic, v, partition=0) for v in values]
        p.flush(60)
        offsets = [f.get(timeout=60).offset for f in futures]  # raises if the client saw an error
        p.close()
        assert offsets == list(range(len(values)))
    elif client == "aiokafka":
        import asyncio

        from aiokafka import AIOKafkaProducer

        async def run() -> None:
            p = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=20)
            await p.start()
            try:
                futs = [await p.send(topic, v, partition=0) for v in values]
                metas = await asyncio.gather(*futs)
                assert [m.offset for m in metas] == list(range(len(values)))
            finally:
                await p.stop()

        asyncio.run(run())
    else:
        from confluent_kafka import Producer

        p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20})
        reports: list[Any] = []
        for v in values:
            p.produce(topic, value=v, partition=0, on_delivery=lambda err, msg: reports.append((err, msg.offset())))
        assert p.flush(60) == 0
        assert reports == [(None, i) for i in range(len(values))]


@pytest.mark.parametrize("client", CLIENTS)
def test_idempotent_retry_after_lost_response_is_stored_once(broker, topic_name, client) -> None:
    create_topic(broker.bootstrap, topic_name, 1)
    fired: list[int] = []

    def lose_response(request: Any) -> FaultAction:
        # Store the batch as the broker would, then drop the connection: the client never sees
        # the answer and resends the same batch (same producer id, epoch and sequence).
        for t in request.body.topic_data:
            for p in t.partition_data:
                broker.broker.storage.log(t.name, p.index).append(bytes(p.records), now_ms=broker.broker.now_ms())
        fired.append(1)
        return FaultAction.CLOSE

    broker.control(lose_response, api_key=0)
    values = [b"v%03d" % i for i in range(30)]
    _produce_idempotent(client, broker.bootstrap, topic_name, values)
    assert fired == [1]
    assert stored_values(broker, topic_name, 0) == values


# --------------------------------------------------------------------------- transactions

COMMITTED_AND_ABORTED = [
    Step([(0, b"c1-0"), (1, b"c1-1"), (0, b"c1-2")], commit=True),
    Step([(0, b"a2-0"), (1, b"a2-1")], commit=False),
    Step([(1, b"c3-0"), (0, b"c3-1")], commit=True),
]


@pytest.mark.parametrize("producer", CLIENTS)
def test_committed_and_aborted_transactions_across_partitions(broker, topic_name, producer) -> None:
    create_topic(broker.bootstrap, topic_name, 2)
    TRANSACT[producer](broker.bootstrap, topic_name, f"txn-{uuid.uuid4().hex[:8]}", COMMITTED_AND_ABORTED)
    write_sentinels(broker.bootstrap, topic_name, 2)
    committed = {0: [b"c1-0", b"c1-2", b"c3-1"], 1: [b"c1-1", b"c3-0"]}
    everything = {0: [b"c1-0", b"c1-2", b"a2-0", b"c3-1"], 1: [b"c1-1", b"a2-1", b"c3-0"]}
    for consumer in CLIENTS:
        assert by_partition(CONSUME[consumer](broker.bootstrap, topic_name, 2, "read_committed")) == committed, consumer
        assert by_partition(CONSUME[consumer](broker.bootstrap, topic_name, 2, "read_uncommitted")) == everything, consumer


@pytest.mark.parametrize("producer", CLIENTS)
def test_empty_transactions_commit_and_abort(broker, topic_name, producer) -> None:
    create_topic(broker.bootstrap, topic_name, 1)
    steps = [Step([], commit=True), Step([], commit=False), Step([(0, b"only")], commit=True)]
    TRANSACT[producer](broker.bootstrap, topic_name, f"empty-{topic_name}", steps)
    write_sentinels(broker.bootstrap, topic_name, 1)
    assert CONSUME[producer](broker.bootstrap, topic_name, 1, "read_committed") == [(0, b"only")]


def test_read_committed_consumer_stops_before_an_open_transaction(broker, topic_name) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    create_topic(broker.bootstrap, topic_name, 1)
    plain = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for i in range(3):
        plain.send(topic_name, b"before-%d" % i, partition=0)
    plain.flush()
    txn = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=f"open-{topic_name}")
    txn.init_transactions()
    txn.begin_transaction()
    txn.send(topic_name, b"open-0", partition=0)
    txn.send(topic_name, b"open-1", partition=0)
    txn.flush()
    plain.send(topic_name, b"after-0", partition=0)
    plain.flush()

    tp = TopicPartition(topic_name, 0)
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, isolation_level="read_committed")
    consumer.assign([tp])
    consumer.seek_to_beginning()
    got: list[bytes] = []
    polls = 0
    while len(got) < 3 or polls < 10:  # keep polling a while after the visible records
        got += [m.value for msgs in consumer.poll(timeout_ms=100).values() for m in msgs]
        polls += 1
        assert polls < 600, got
    assert got == [b"before-0", b"before-1", b"before-2"]
    assert consumer.end_offsets([tp]) == {tp: 3}  # ListOffsets read_committed: the LSO
    assert consumer.position(tp) == 3
    uncommitted = KafkaConsumer(bootstrap_servers=broker.bootstrap)
    assert uncommitted.end_offsets([tp]) == {tp: 6}
    uncommitted.close()

    txn.commit_transaction()
    txn.close()
    while len(got) < 6:
        got += [m.value for msgs in consumer.poll(timeout_ms=100).values() for m in msgs]
        polls += 1
        assert polls < 1200, got
    consumer.close()
    plain.close()
    assert got[3:] == [b"open-0", b"open-1", b"after-0"]


# ------------------------------------------------------------------ consume-transform-produce


def _transform(client: str, bootstrap: str, src: str, dst: str, group: str, txn_id: str) -> None:
    """Read 10 records; commit the first five transformed with offset 5, abort the rest with 10."""
    if client == "kafka-python":
        from kafka import KafkaConsumer, KafkaProducer, TopicPartition
        from kafka.structs import OffsetAndMetadata

        tp = TopicPartition(src, 0)
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                 isolation_level="read_committed", auto_offset_reset="earliest")
        consumer.assign([tp])
        records: list[Any] = []
        while len(records) < 10:
            records += [m for msgs in consumer.poll(timeout_ms=200).values() for m in msgs]
        producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=txn_id)
        producer.init_transactions()
        for lo, hi, commit in ((0, 5, True), (5, 10, False)):
            producer.begin_transaction()
            for m in records[lo:hi]:
                producer.send(dst, m.value.upper(), partition=0)
            producer.send_offsets_to_transaction({tp: OffsetAndMetadata(hi, "", -1)}, group)
            producer.commit_transaction() if commit else producer.abort_transaction()
        producer.close()
        consumer.close()
    elif client == "aiokafka":
        import asyncio

        asyncio.run(_transform_aiokafka(bootstrap, src, dst, group, txn_id))
    else:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                             "isolation.level": "read_committed"})
        consumer.assign([TopicPartition(src, 0, OFFSET_BEGINNING)])
        records = []
        while len(records) < 10:
            records += [m for m in consumer.consume(10, timeout=0.2) if not m.error()]
        producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id})
        producer.init_transactions(30)
        for lo, hi, commit in ((0, 5, True), (5, 10, False)):
            producer.begin_transaction()
            for m in records[lo:hi]:
                producer.produce(dst, value=m.value().upper(), partition=0)
            producer.send_offsets_to_transaction([TopicPartition(src, 0, hi)], consumer.consumer_group_metadata(), 30)
            producer.commit_transaction(30) if commit else producer.abort_transaction(30)
        consumer.close()


async def _transform_aiokafka(bootstrap: str, src: str, dst: str, group: str, txn_id: str) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    tp = TopicPartition(src, 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                isolation_level="read_committed", auto_offset_reset="earliest")
    await consumer.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=txn_id)
    await producer.start()
    try:
        consumer.assign([tp])
        records: list[Any] = []
        while len(records) < 10:
            records += [m for msgs in (await consumer.getmany(timeout_ms=200)).values() for m in msgs]
        for lo, hi, commit in ((0, 5, True), (5, 10, False)):
            await producer.begin_transaction()
            for m in records[lo:hi]:
                await producer.send_and_wait(dst, m.value.upper(), partition=0)
            await producer.send_offsets_to_transaction({tp: hi}, group)
            await (producer.commit_transaction() if commit else producer.abort_transaction())
    finally:
        await producer.stop()
        await consumer.stop()


@pytest.mark.parametrize("client", CLIENTS)
def test_consume_transform_produce_commits_offsets_atomically(broker, topic_name, client) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    src, dst, group = topic_name, topic_name + "-out", f"g-{topic_name}"
    create_topic(broker.bootstrap, src, 1)
    create_topic(broker.bootstrap, dst, 1)
    plain = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for i in range(10):
        plain.send(src, b"rec-%d" % i, partition=0)
    plain.close()
    _transform(client, broker.bootstrap, src, dst, group, f"ctp-{topic_name}")
    write_sentinels(broker.bootstrap, dst, 1)
    out = CONSUME["kafka-python"](broker.bootstrap, dst, 1, "read_committed")
    assert [v for _, v in out] == [b"REC-%d" % i for i in range(5)]
    checker = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False)
    assert checker.committed(TopicPartition(src, 0)) == 5  # the aborted transaction's offset 10 is not
    checker.close()


# --------------------------------------------------------------------------------- fencing


def _fence(client: str, bootstrap: str, topic: str, txn_id: str) -> None:
    """A opens a transaction; B with the same transactional id fences it; A's commit must fail."""
    if client == "kafka-python":
        from kafka import KafkaProducer

        a = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=txn_id)
        a.init_transactions()
        a.begin_transaction()
        a.send(topic, b"zombie", partition=0)
        a.flush()
        TRANSACT[client](bootstrap, topic, txn_id, [Step([(0, b"winner")], commit=True)])
        with pytest.raises(Exception):
            a.commit_transaction()
        a.close(timeout=5)
    elif client == "aiokafka":
        import asyncio

        asyncio.run(_fence_aiokafka(bootstrap, topic, txn_id))
    else:
        from confluent_kafka import KafkaException, Producer

        a = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id})
        a.init_transactions(30)
        a.begin_transaction()
        a.produce(topic, value=b"zombie", partition=0)
        a.flush(30)
        TRANSACT[client](bootstrap, topic, txn_id, [Step([(0, b"winner")], commit=True)])
        with pytest.raises(KafkaException) as info:
            a.commit_transaction(30)
        assert info.value.args[0].fatal()


async def _fence_aiokafka(bootstrap: str, topic: str, txn_id: str) -> None:
    from aiokafka import AIOKafkaProducer

    a = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=txn_id)
    await a.start()
    try:
        await a.begin_transaction()
        await a.send_and_wait(topic, b"zombie", partition=0)
        import asyncio

        await asyncio.to_thread(TRANSACT["aiokafka"], bootstrap, topic, txn_id, [Step([(0, b"winner")], commit=True)])
        with pytest.raises(Exception):
            await a.commit_transaction()
    finally:
        await a.stop()


@pytest.mark.parametrize("client", CLIENTS)
def test_second_producer_fences_the_first_and_aborts_its_transaction(broker, topic_name, client) -> None:
    create_topic(broker.bootstrap, topic_name, 1)
    _fence(client, broker.bootstrap, topic_name, f"fence-{topic_name}")
    write_sentinels(broker.bootstrap, topic_name, 1)
    assert CONSUME[client](broker.bootstrap, topic_name, 1, "read_committed") == [(0, b"winner")]
    assert CONSUME[client](broker.bootstrap, topic_name, 1, "read_uncommitted") == [(0, b"zombie"), (0, b"winner")]


# --------------------------------------------------------------------------- producer crash

CRASHING_PRODUCER = textwrap.dedent(
    """
    import sys, time
    client, bootstrap, topic, txn_id, timeout_ms = sys.argv[1:6]
    if client == "confluent-kafka":
        from confluent_kafka import Producer
        p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id, "transaction.timeout.ms": int(timeout_ms)})
        p.init_transactions(30)
        p.begin_transaction()
        for i in range(20):
            p.produce(topic, value=b"doomed-%d" % i, partition=i % 2)
        assert p.flush(30) == 0
    else:
        from kafka import KafkaProducer
        p = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=txn_id, transaction_timeout_ms=int(timeout_ms))
        p.init_transactions()
        p.begin_transaction()
        for i in range(20):
            p.send(topic, b"doomed-%d" % i, partition=i % 2)
        p.flush()
    print("in-transaction", flush=True)
    time.sleep(600)
    """
)


@pytest.mark.parametrize("ending", ["timed-out", "fenced"])
@pytest.mark.parametrize("client", ["confluent-kafka", "kafka-python"])
def test_killed_producer_records_never_become_visible(broker, topic_name, client, ending) -> None:
    create_topic(broker.bootstrap, topic_name, 2)
    txn_id = f"crash-{topic_name}"
    timeout_ms = "2000" if ending == "timed-out" else "60000"  # fenced: the timeout must not win the race
    proc = subprocess.Popen([sys.executable, "-c", CRASHING_PRODUCER, client, broker.bootstrap, topic_name, txn_id,
                             timeout_ms],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "in-transaction"
        assert len(stored_values(broker, topic_name, 0)) == 10  # the records are in the log...
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        if proc.stdout:
            proc.stdout.close()
    state = lambda: broker.call(lambda: broker.broker.txns.state_of(txn_id).state_name)  # noqa: E731
    if ending == "timed-out":
        wait_for(lambda: state() == "CompleteAbort", "the coordinator to abort the expired transaction")
    else:
        assert state() == "Ongoing"
        TRANSACT[client](broker.bootstrap, topic_name, txn_id, [Step([(1, b"successor")], commit=True)])
    write_sentinels(broker.bootstrap, topic_name, 2)
    expected = [] if ending == "timed-out" else [(1, b"successor")]
    assert CONSUME[client](broker.bootstrap, topic_name, 2, "read_committed") == expected  # ...but never visible
    everything = CONSUME[client](broker.bootstrap, topic_name, 2, "read_uncommitted")
    assert sum(1 for _, v in everything if v.startswith(b"doomed-")) == 20
