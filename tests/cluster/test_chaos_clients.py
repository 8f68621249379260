"""Idempotent acks=all producers and a consumer group of each client keep going through leader
moves and a broker stop/start on a 3-broker kafkaish; every acknowledged record is read exactly
once, in order, with no gap (``tests/cluster/chaos.py``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from kafkaish.testing import EmbeddedBroker, run_broker
from tests.cluster.chaos import check_exactly_once, create_topic, run_chaos


@pytest.fixture
def kb3() -> Iterator[EmbeddedBroker]:
    with run_broker(brokers=3) as kb:
        yield kb


def _consume_until(poll, acked: list, consumed: list, stop: threading.Event, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        poll()
        if stop.is_set() and len(consumed) >= len(acked):
            return


def test_kafka_python_producer_and_group_survive_leader_moves_and_a_restart(kb3, topic_name) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    create_topic(kb3, topic_name)
    acked: list[tuple[int, int, bytes]] = []
    consumed: list[tuple[int, int, bytes]] = []
    done = threading.Event()
    flushed = threading.Event()  # every send answered: ``acked`` is final
    producer = KafkaProducer(bootstrap_servers=kb3.bootstrap, acks="all", enable_idempotence=True,
                             retry_backoff_ms=20, reconnect_backoff_ms=20, reconnect_backoff_max_ms=200,
                             request_timeout_ms=5000, linger_ms=2)

    def produce() -> None:
        i = 0
        while not done.is_set():
            value = b"v%d" % i
            producer.send(topic_name, key=b"k%d" % (i % 7), value=value).add_callback(
                lambda md, value=value: acked.append((md.partition, md.offset, value)))
            i += 1
            time.sleep(0.003)
        producer.flush(30)
        flushed.set()

    consumer = KafkaConsumer(topic_name, bootstrap_servers=kb3.bootstrap, group_id=topic_name,
                             auto_offset_reset="earliest", retry_backoff_ms=20, reconnect_backoff_ms=20,
                             reconnect_backoff_max_ms=200, request_timeout_ms=5000, fetch_max_wait_ms=100)
    sent = threading.Thread(target=produce, daemon=True)
    sent.start()

    def poll() -> None:
        for records in consumer.poll(timeout_ms=100).values():
            consumed.extend((r.partition, r.offset, r.value) for r in records)

    reader = threading.Thread(target=_consume_until, args=(poll, acked, consumed, flushed), daemon=True)
    reader.start()
    seen = run_chaos(kb3, topic_name)
    done.set()
    sent.join(40)
    reader.join(40)
    producer.close()
    consumer.close()
    assert len({tuple(s) for s in seen}) > 2, "the leaders did move"
    check_exactly_once(acked, consumed)


def test_confluent_kafka_producer_and_group_survive_leader_moves_and_a_restart(kb3, topic_name) -> None:
    from confluent_kafka import Consumer, Producer

    create_topic(kb3, topic_name)
    acked: list[tuple[int, int, bytes]] = []
    consumed: list[tuple[int, int, bytes]] = []
    done = threading.Event()
    flushed = threading.Event()  # every send answered: ``acked`` is final
    common = {"bootstrap.servers": kb3.bootstrap, "retry.backoff.ms": 20, "reconnect.backoff.ms": 20,
              "reconnect.backoff.max.ms": 200, "topic.metadata.refresh.interval.ms": 1000}
    producer = Producer({**common, "enable.idempotence": True, "acks": "all", "linger.ms": 2})

    def delivered(err, msg) -> None:  # type: ignore[no-untyped-def]
        assert err is None, err
        acked.append((msg.partition(), msg.offset(), msg.value()))

    def produce() -> None:
        i = 0
        while not done.is_set():
            producer.produce(topic_name, key=b"k%d" % (i % 7), value=b"v%d" % i, on_delivery=delivered)
            producer.poll(0)
            i += 1
            time.sleep(0.003)
        assert producer.flush(30) == 0
        flushed.set()

    consumer = Consumer({**common, "group.id": topic_name, "auto.offset.reset": "earliest",
                         "fetch.wait.max.ms": 100})
    consumer.subscribe([topic_name])
    sent = threading.Thread(target=produce, daemon=True)
    sent.start()

    def poll() -> None:
        msg = consumer.poll(0.1)
        if msg is not None and msg.error() is None:
            consumed.append((msg.partition(), msg.offset(), msg.value()))

    reader = threading.Thread(target=_consume_until, args=(poll, acked, consumed, flushed), daemon=True)
    reader.start()
    run_chaos(kb3, topic_name)
    done.set()
    sent.join(40)
    reader.join(40)
    consumer.close()
    check_exactly_once(acked, consumed)


def test_aiokafka_producer_and_group_survive_leader_moves_and_a_restart(kb3, topic_name) -> None:
    import asyncio

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    create_topic(kb3, topic_name)
    acked: list[tuple[int, int, bytes]] = []
    consumed: list[tuple[int, int, bytes]] = []
    done = threading.Event()
    flushed = threading.Event()  # every send answered: ``acked`` is final

    async def main() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kb3.bootstrap, acks="all", enable_idempotence=True,
                                    retry_backoff_ms=20, request_timeout_ms=5000, linger_ms=2)
        consumer = AIOKafkaConsumer(topic_name, bootstrap_servers=kb3.bootstrap, group_id=topic_name,
                                    auto_offset_reset="earliest", retry_backoff_ms=20, fetch_max_wait_ms=100)
        await producer.start()
        await consumer.start()

        async def produce() -> None:
            i = 0
            while not done.is_set():
                value = b"v%d" % i
                md = await producer.send_and_wait(topic_name, key=b"k%d" % (i % 7), value=value)
                acked.append((md.partition, md.offset, value))
                i += 1
            flushed.set()

        async def consume() -> None:
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline and not (flushed.is_set() and len(consumed) >= len(acked)):
                batches = await consumer.getmany(timeout_ms=100)
                for records in batches.values():
                    consumed.extend((r.partition, r.offset, r.value) for r in records)

        tasks = [asyncio.ensure_future(produce()), asyncio.ensure_future(consume())]
        await asyncio.to_thread(run_chaos, kb3, topic_name)
        done.set()
        await asyncio.gather(*tasks)
        await producer.stop()
        await consumer.stop()

    asyncio.run(main())
    check_exactly_once(acked, consumed)


@pytest.mark.parametrize("commit", [True, False])
def test_confluent_kafka_transaction_in_flight_across_a_coordinator_move(kb3, topic_name, commit) -> None:
    from confluent_kafka import Consumer, Producer

    create_topic(kb3, topic_name)
    tid = f"tx-{topic_name}"
    producer = Producer({"bootstrap.servers": kb3.bootstrap, "transactional.id": tid, "retry.backoff.ms": 20,
                         "reconnect.backoff.ms": 20, "reconnect.backoff.max.ms": 200})
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(20):
        producer.produce(topic_name, key=b"k%d" % i, value=b"t%d" % i)
    producer.flush(30)
    coordinator = kb3.call(lambda: kb3.broker.cluster.coordinator(tid, 1))
    kb3.stop_broker(coordinator)  # the transaction coordinator moves to another node
    assert kb3.call(lambda: kb3.broker.cluster.coordinator(tid, 1)) != coordinator
    if commit:
        producer.commit_transaction(30)
    else:
        producer.abort_transaction(30)
    kb3.start_broker(coordinator)
    consumer = Consumer({"bootstrap.servers": kb3.bootstrap, "group.id": topic_name, "auto.offset.reset": "earliest",
                         "isolation.level": "read_committed", "enable.partition.eof": True})
    consumer.subscribe([topic_name])
    got, eof = [], set()
    deadline = time.monotonic() + 20
    while len(eof) < 3 and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error() is not None:
            eof.add(msg.partition())
        else:
            got.append(msg.value())
    consumer.close()
    assert len(eof) == 3
    assert sorted(got) == (sorted(b"t%d" % i for i in range(20)) if commit else [])
