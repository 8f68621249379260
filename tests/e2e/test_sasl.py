"""Clients configured with SASL_PLAINTEXT (PLAIN, SCRAM-SHA-256/512) work unchanged."""

from __future__ import annotations

import asyncio
import socket

import pytest
from confluent_kafka import KafkaError, Producer

from kafkaish.wire.codec import ClientCodec
from kafkaish.wire.messages.sasl_handshake import SaslHandshakeRequest

USERS = {"alice": "alice-secret", "bob": "b0b"}
SCRAM = ["SCRAM-SHA-256", "SCRAM-SHA-512"]


@pytest.fixture
def sasl_broker(broker_factory):
    return broker_factory(sasl_users=USERS)


def ck_conf(bootstrap: str, mechanism: str, user: str, password: str) -> dict[str, object]:
    return {"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": mechanism,
            "sasl.username": user, "sasl.password": password}


@pytest.mark.parametrize("mechanism", ["PLAIN", *SCRAM])
def test_confluent_kafka_authenticates_and_produces(sasl_broker, topic_name, mechanism):
    delivered = []
    p = Producer(ck_conf(sasl_broker.bootstrap, mechanism, "alice", "alice-secret"))
    p.produce(topic_name, b"v", on_delivery=lambda err, m: delivered.append(err))
    assert p.flush(30) == 0 and delivered == [None]


@pytest.mark.parametrize("mechanism", ["PLAIN", *SCRAM])
def test_wrong_password_is_an_authentication_failure(sasl_broker, mechanism):
    errors: list[KafkaError] = []
    p = Producer({**ck_conf(sasl_broker.bootstrap, mechanism, "alice", "wrong"),
                  "error_cb": errors.append, "log_level": 0})
    for _ in range(50):
        p.poll(0.1)
        if errors:
            break
    assert errors and errors[0].code() == KafkaError._AUTHENTICATION
    assert "invalid" in errors[0].str().lower() or "failed" in errors[0].str().lower()


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_kafka_python_authenticates(sasl_broker, topic_name, mechanism):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    auth = dict(security_protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism,
                sasl_plain_username="bob", sasl_plain_password="b0b")
    p = KafkaProducer(bootstrap_servers=sasl_broker.bootstrap, **auth)
    assert p.send(topic_name, b"x").get(30).offset == 0
    p.close()
    c = KafkaConsumer(bootstrap_servers=sasl_broker.bootstrap, **auth)
    tp = TopicPartition(topic_name, 0)
    assert c.end_offsets([tp])[tp] == 1
    c.close()


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
def test_aiokafka_authenticates(sasl_broker, topic_name, mechanism):
    from aiokafka import AIOKafkaProducer

    async def run() -> int:
        p = AIOKafkaProducer(bootstrap_servers=sasl_broker.bootstrap, security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism=mechanism, sasl_plain_username="alice",
                             sasl_plain_password="alice-secret")
        await p.start()
        try:
            return (await p.send_and_wait(topic_name, b"x")).offset
        finally:
            await p.stop()

    assert asyncio.run(run()) == 0


def test_plain_accepts_anyone_when_no_users_are_configured(broker, topic_name):
    delivered = []
    p = Producer(ck_conf(broker.bootstrap, "PLAIN", "anyone", "anything"))
    p.produce(topic_name, b"v", on_delivery=lambda err, m: delivered.append(err))
    assert p.flush(30) == 0 and delivered == [None]


def test_unknown_mechanism_gets_the_enabled_list(broker):
    host, port = broker.bootstrap.split(":")
    codec = ClientCodec()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(codec.encode_request(SaslHandshakeRequest(mechanism="GSSAPI"), 1)[1])
        while (got := codec.next_response()) is None:
            codec.receive_data(s.recv(65536))
    resp = got[1]
    assert resp.error_code == 33  # UNSUPPORTED_SASL_MECHANISM
    assert resp.mechanisms == ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


def test_serve_flag_configures_users(server_process, topic_name):
    sp = server_process("--in-memory", "--sasl-user", "carol:pw")
    delivered = []
    p = Producer(ck_conf(sp.bootstrap, "SCRAM-SHA-256", "carol", "pw"))
    p.produce(topic_name, b"v", on_delivery=lambda err, m: delivered.append(err))
    assert p.flush(30) == 0 and delivered == [None]


def _raw_call(sock: socket.socket, codec: ClientCodec, msg, version: int):  # type: ignore[no-untyped-def]
    sock.sendall(codec.encode_request(msg, version)[1])
    while (got := codec.next_response()) is None:
        codec.receive_data(sock.recv(65536))
    return got[1]


def test_second_handshake_is_illegal_and_connection_state_is_dropped_on_close(broker):
    import time

    from kafkaish.wire.messages.sasl_authenticate import SaslAuthenticateRequest

    host, port = broker.bootstrap.split(":")
    codec = ClientCodec()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        assert _raw_call(s, codec, SaslHandshakeRequest(mechanism="PLAIN"), 1).error_code == 0
        assert _raw_call(s, codec, SaslAuthenticateRequest(auth_bytes=b"\x00u\x00p"), 1).error_code == 0
        assert _raw_call(s, codec, SaslHandshakeRequest(mechanism="PLAIN"), 1).error_code == 34  # ILLEGAL_SASL_STATE
        assert broker.call(lambda: [st.get("sasl_user") for st in broker.broker._connections.values()]) == ["u"]
    deadline = time.monotonic() + 10
    while broker.call(lambda: len(broker.broker._connections)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert broker.call(lambda: len(broker.broker._connections)) == 0
