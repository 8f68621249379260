"""Idempotent acks=all producers and a consumer group of each Python client keep going through
leader moves and a broker stop/start on a 3-broker kafkaish: the compat runners' ``cluster_failover``
scenario (compat/cluster_chaos.py) run against an in-process cluster, so tests and the compat table
check the same thing; and a transaction in flight across a coordinator move."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from kafkaish.admin.cluster import java_string_hash
from kafkaish.testing import EmbeddedBroker, run_broker
from tests.cluster.chaos import COMPAT, create_topic, read_committed


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
    assert read_committed(kb3, topic_name) == (sorted(b"t%d" % i for i in range(20)) if commit else [])


@pytest.mark.parametrize("commit", [True, False])
def test_aiokafka_transaction_in_flight_across_a_transaction_state_leader_move(kb3, topic_name, commit) -> None:
    """The control plane moves the leader of the transactional id's __transaction_state partition
    mid-transaction: the coordinator moves, aiokafka gets NOT_COORDINATOR, finds it again and ends
    the transaction there."""
    import asyncio

    from aiokafka import AIOKafkaProducer

    create_topic(kb3, topic_name)
    tid = f"tx-{topic_name}"

    async def main() -> tuple[int, int]:
        producer = AIOKafkaProducer(bootstrap_servers=kb3.bootstrap, transactional_id=tid, retry_backoff_ms=20)
        await producer.start()
        try:
            await producer.begin_transaction()
            for i in range(20):
                await producer.send(topic_name, key=b"k%d" % i, value=b"t%d" % i)
            await producer.flush()
            moved = await asyncio.to_thread(_move_transaction_coordinator, kb3, tid)
            await (producer.commit_transaction() if commit else producer.abort_transaction())
            return moved
        finally:
            await producer.stop()

    before, after = asyncio.run(main())
    assert before != after == kb3.call(lambda: kb3.broker.cluster.coordinator(tid, 1))
    assert read_committed(kb3, topic_name) == (sorted(b"t%d" % i for i in range(20)) if commit else [])


def _move_transaction_coordinator(kb: EmbeddedBroker, transactional_id: str) -> tuple[int, int]:
    """Move the leader of the id's __transaction_state partition to another in-sync replica
    (the transaction coordinator moves with it); returns (old, new) leader."""
    p = (java_string_hash(transactional_id) & 0x7FFFFFFF) % 50
    state = kb.inspect.topic("__transaction_state")["partitions"][p]
    moved = kb.move_leader("__transaction_state", p, next(n for n in state["isr"] if n != state["leader"]))
    return state["leader"], moved["leader"]


@pytest.mark.parametrize("commit", [True, False])
def test_kafka_python_transaction_in_flight_across_a_transaction_state_leader_move(kb3, topic_name, commit) -> None:
    from kafka import KafkaProducer

    create_topic(kb3, topic_name)
    tid = f"tx-{topic_name}"
    producer = KafkaProducer(bootstrap_servers=kb3.bootstrap, transactional_id=tid, retry_backoff_ms=20)
    try:
        producer.init_transactions()
        producer.begin_transaction()
        for i in range(20):
            producer.send(topic_name, key=b"k%d" % i, value=b"t%d" % i)
        producer.flush(30)
        before, after = _move_transaction_coordinator(kb3, tid)
        producer.commit_transaction() if commit else producer.abort_transaction()
    finally:
        producer.close(5)
    assert before != after == kb3.call(lambda: kb3.broker.cluster.coordinator(tid, 1))
    assert read_committed(kb3, topic_name) == (sorted(b"t%d" % i for i in range(20)) if commit else [])
