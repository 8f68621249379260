"""Idempotent acks=all producers and a consumer group of each Python client keep going through
leader moves and a broker stop/start on a 3-broker kafkaish: the compat runners' ``cluster_failover``
scenario (compat/cluster_chaos.py) run against an in-process cluster, so tests and the compat table
check the same thing; and a transaction in flight across a coordinator move."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from kafkaish.admin.cluster import java_string_hash
from kafkaish.testing import EmbeddedBroker, run_broker
from tests.cluster.chaos import COMPAT, create_topic


@pytest.fixture
def kb3() -> Iterator[EmbeddedBroker]:
    with run_broker(brokers=3, admin_port=0) as kb:
        yield kb


@pytest.mark.parametrize("client", ["kafka-python", "aiokafka", "confluent-kafka"])
def test_producer_and_group_survive_leader_moves_and_a_restart(kb3, client) -> None:
    env = {**os.environ, "COMPAT_BOOTSTRAP": kb3.bootstrap, "COMPAT_STRICT_BOOTSTRAP": kb3.bootstrap,
           "COMPAT_BROKER_MAX_BYTES": "100000", "COMPAT_CLUSTER_BOOTSTRAP": kb3.bootstrap,
           "COMPAT_CLUSTER_ADMIN": kb3.admin_url, "COMPAT_LOG_LEVEL": "WARNING"}
    out = subprocess.run([sys.executable, str(COMPAT / client / "scenarios.py"), "--only", "cluster_failover"],
                         env=env, capture_output=True, text=True, timeout=90)
    assert "PASS cluster_failover" in out.stdout.splitlines(), out.stdout + out.stderr[-4000:]


@pytest.mark.parametrize("commit", [True, False])
def test_confluent_kafka_transaction_in_flight_across_a_coordinator_move(kb3, topic_name, commit) -> None:
    from confluent_kafka import Producer

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
    assert _read_committed(kb3, topic_name) == (sorted(b"t%d" % i for i in range(20)) if commit else [])


def _read_committed(kb: EmbeddedBroker, topic: str) -> list[bytes]:
    """Every record a read_committed consumer gets up to the end of each partition, sorted."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": kb.bootstrap, "group.id": topic, "auto.offset.reset": "earliest",
                         "isolation.level": "read_committed", "enable.partition.eof": True})
    consumer.subscribe([topic])
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
    return sorted(got)


@pytest.mark.parametrize("commit", [True, False])
def test_aiokafka_transaction_in_flight_across_a_transaction_state_leader_move(kb3, topic_name, commit) -> None:
    """The control plane moves the leader of the transactional id's __transaction_state partition
    mid-transaction: the coordinator moves, aiokafka gets NOT_COORDINATOR, finds it again and ends
    the transaction there."""
    import asyncio

    from aiokafka import AIOKafkaProducer

    create_topic(kb3, topic_name)
    tid = f"tx-{topic_name}"
    p = (java_string_hash(tid) & 0x7FFFFFFF) % 50

    async def main() -> tuple[int, int]:
        producer = AIOKafkaProducer(bootstrap_servers=kb3.bootstrap, transactional_id=tid, retry_backoff_ms=20)
        await producer.start()
        try:
            await producer.begin_transaction()
            for i in range(20):
                await producer.send(topic_name, key=b"k%d" % i, value=b"t%d" % i)
            await producer.flush()
            state = await asyncio.to_thread(lambda: kb3.inspect.topic("__transaction_state")["partitions"][p])
            moved = await asyncio.to_thread(kb3.move_leader, "__transaction_state", p,
                                            next(n for n in state["isr"] if n != state["leader"]))
            await (producer.commit_transaction() if commit else producer.abort_transaction())
            return state["leader"], moved["leader"]
        finally:
            await producer.stop()

    before, after = asyncio.run(main())
    assert before != after == kb3.call(lambda: kb3.broker.cluster.coordinator(tid, 1))
    assert _read_committed(kb3, topic_name) == (sorted(b"t%d" % i for i in range(20)) if commit else [])
