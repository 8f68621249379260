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
from tests.e2e.txn_clients import CONSUME, SENTINEL, TRANSACT, Step, by_partition, write_sentinels

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
