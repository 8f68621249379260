"""``--brokers N`` with several listeners: every node listens on each of them, and Metadata,
FindCoordinator and DescribeCluster name each node's endpoint of the listener the client came
through, as Kafka answers per listener name."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kafkaish.cli.certs import CertFiles
from kafkaish.listeners import shifted_listeners
from kafkaish.testing import EmbeddedBroker
from kafkaish.wire.messages.describe_cluster import DescribeClusterRequest
from kafkaish.wire.messages.metadata import MetadataRequest
from kafkaish.wire.messages.sasl_authenticate import SaslAuthenticateRequest
from kafkaish.wire.messages.sasl_handshake import SaslHandshakeRequest
from tests.security.conftest import USERS, tls_settings
from tests.security.test_sasl_required import Raw


@pytest.fixture(scope="module")
def cluster(certs: CertFiles) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(brokers=3, listeners=["PLAINTEXT://127.0.0.1:0", "SASL_SSL://127.0.0.1:0"],
                        sasl_users=USERS, **tls_settings(certs)) as kb:
        yield kb


def node_listeners(kb: EmbeddedBroker) -> dict[str, dict[int, tuple[str, int]]]:
    """listener name -> node id -> where that node listens (its bound ports)."""
    out: dict[str, dict[int, tuple[str, int]]] = {}
    for server in kb._servers:  # noqa: SLF001 - the bound ports of every node
        for listener in server.listeners:
            out.setdefault(listener.spec.name, {})[server.broker.node_id] = ("127.0.0.1", listener.port)
    return out


def test_each_node_advertises_the_listener_the_client_came_through(cluster: EmbeddedBroker, certs: CertFiles) -> None:
    bound = node_listeners(cluster)
    assert len(bound["SASL_SSL"]) == 3 and len(set(bound["SASL_SSL"].values())) == 3
    secure = Raw(cluster.listeners["SASL_SSL"], str(certs.ca))
    assert secure.call(SaslHandshakeRequest(mechanism="PLAIN"), 1).error_code == 0
    assert secure.call(SaslAuthenticateRequest(auth_bytes=b"\x00alice\x00alice-secret"), 1).error_code == 0
    plain = Raw(cluster.listeners["PLAINTEXT"])
    for listener, c in (("SASL_SSL", secure), ("PLAINTEXT", plain)):
        brokers = {b.node_id: (b.host, b.port) for b in c.call(MetadataRequest(topics=[]), 9).brokers}
        assert brokers == bound[listener]
        described = c.call(DescribeClusterRequest(include_cluster_authorized_operations=False), 0).brokers
        assert {b.broker_id: (b.host, b.port) for b in described} == bound[listener]
        c.close()


def test_sasl_ssl_client_reaches_every_leader_of_the_cluster(cluster: EmbeddedBroker, certs: CertFiles,
                                                             topic_name: str) -> None:
    conf = {"bootstrap.servers": cluster.listeners["SASL_SSL"], "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": "alice", "sasl.password": "alice-secret",
            "ssl.ca.location": str(certs.ca)}
    admin = AdminClient(conf)
    admin.create_topics([NewTopic(topic_name, 3, 3)])[topic_name].result(15)
    leaders = {p.id: p.leader for p in admin.list_topics(topic_name, timeout=15).topics[topic_name].partitions.values()}
    assert set(leaders.values()) == {1, 2, 3}  # a leader on each node: the client must reach all three
    producer = Producer({**conf, "enable.idempotence": True})
    for p in range(3):
        producer.produce(topic_name, f"v{p}".encode(), partition=p)
    assert producer.flush(30) == 0
    consumer = Consumer({**conf, "group.id": f"g-{topic_name}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic_name])
    got: set[bytes] = set()
    deadline = time.monotonic() + 30
    try:
        while len(got) < 3 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                got.add(msg.value())
    finally:
        consumer.close()
    assert got == {b"v0", b"v1", b"v2"}


def test_fixed_listener_ports_are_shifted_per_node() -> None:
    texts = ["PLAINTEXT://127.0.0.1:9092", "SASL_SSL://:9192", "SSL://127.0.0.1:0"]
    assert shifted_listeners(texts, {}, 2) == ["PLAINTEXT://127.0.0.1:9094", "SASL_SSL://:9194", "SSL://127.0.0.1:0"]
    with pytest.raises(ValueError, match="past port 65535"):
        shifted_listeners(["PLAINTEXT://127.0.0.1:65535"], {}, 1)
