"""Regression: a topic keeps the replicas it was created with even when the requesting client
leaves mid-request (the first FindCoordinator creates ``__transaction_state``)."""

from __future__ import annotations

import socket
import time

from kafkaish.admin.cluster import java_string_hash
from kafkaish.testing import run_broker
from kafkaish.wire.codec import ClientCodec
from kafkaish.wire.messages.find_coordinator import FindCoordinatorRequest
from tests.cluster.chaos import create_topic


def test_internal_topic_created_for_a_client_that_left_keeps_three_replicas() -> None:
    """librdkafka drops its bootstrap connection, with a FindCoordinator in flight, once it knows
    the brokers. The server cancelled that request after the storage had created the
    transaction state topic but before its placement was recorded; the next lookup gave each
    partition one replica, so stopping that broker left the transaction without a coordinator
    (test_confluent_kafka_transaction_in_flight_across_a_coordinator_move timed out)."""
    tid = "tx-client-left"
    with run_broker(brokers=3, admin_port=0) as kb:
        host, port = kb.bootstrap.split(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(ClientCodec().encode_request(FindCoordinatorRequest(key=tid, key_type=1), 1)[1])
        deadline = time.monotonic() + 20
        while not kb.call(lambda: kb.broker.storage.has_partition("__transaction_state", 49)):
            assert time.monotonic() < deadline, "__transaction_state was not created"
            time.sleep(0.01)
        # topic changes run one at a time: once this one is created, the first one is complete
        create_topic(kb, "after-the-transaction-state")
        p = (java_string_hash(tid) & 0x7FFFFFFF) % 50
        state = kb.inspect.topic("__transaction_state")["partitions"][p]
        assert len(state["replicas"]) == 3 and sorted(state["isr"]) == [1, 2, 3], state
        coordinator = state["leader"]
        kb.stop_broker(coordinator)
        assert kb.call(lambda: kb.broker.cluster.coordinator(tid, 1)) not in (-1, coordinator)
