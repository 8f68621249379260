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
