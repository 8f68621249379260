"""KIP-368 re-authentication (``connections.max.reauth.ms``): the session lifetime SaslAuthenticate
answers, a connection closed when used after its session ended, re-authentication that renews it,
and the principal and mechanism it must keep (Kafka's SaslServerAuthenticator)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer

from kafkaish.testing import EmbeddedBroker
from kafkaish.wire.messages.metadata import MetadataRequest
from kafkaish.wire.messages.sasl_authenticate import SaslAuthenticateRequest
from kafkaish.wire.messages.sasl_handshake import SaslHandshakeRequest
from tests.security.test_sasl_required import SASL_AUTHENTICATION_FAILED, Raw

USERS = {"alice": "alice-pw", "bob": "bob-pw"}
LIFETIME_MS = 60000


@pytest.fixture
def kb() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(listeners=["SASL_PLAINTEXT://127.0.0.1:0"], sasl_users=USERS,
                        connections_max_reauth_ms=LIFETIME_MS) as broker:
        yield broker


def plain(c: Raw, user: str, password: str | None = None, mechanism: str = "PLAIN"):  # type: ignore[no-untyped-def]
    assert c.call(SaslHandshakeRequest(mechanism=mechanism), 1).error_code == 0
    return c.call(SaslAuthenticateRequest(auth_bytes=f"\x00{user}\x00{password or USERS[user]}".encode()), 1)


def test_session_lifetime_is_answered_and_an_expired_session_is_closed(kb: EmbeddedBroker) -> None:
    c = Raw(kb.bootstrap)
    kb.freeze()
    assert plain(c, "alice").session_lifetime_ms == LIFETIME_MS
    kb.advance(LIFETIME_MS - 1)
    assert c.call(MetadataRequest(topics=[]), 9).brokers  # still within the session
    kb.advance(2)
    c.send(MetadataRequest(topics=[]), 9)
    assert c.closed_unanswered()


def test_reauthentication_renews_the_session(kb: EmbeddedBroker) -> None:
    c = Raw(kb.bootstrap)
    kb.freeze()
    plain(c, "alice")
    kb.advance(LIFETIME_MS - 1000)
    again = plain(c, "alice")
    assert (again.error_code, again.session_lifetime_ms) == (0, LIFETIME_MS)
    kb.advance(LIFETIME_MS - 1000)  # past the first session's end, within the second's
    assert c.call(MetadataRequest(topics=[]), 9).brokers
    assert ("SASL_PLAINTEXT", "User:alice", True) in kb.sessions()
    kb.advance(LIFETIME_MS)  # the expired session may still re-authenticate: a handshake is not refused
    assert plain(c, "alice").error_code == 0
    assert c.call(MetadataRequest(topics=[]), 9).brokers
    c.close()


def test_reauthentication_cannot_change_the_principal(kb: EmbeddedBroker) -> None:
    c = Raw(kb.bootstrap)
    plain(c, "alice")
    refused = plain(c, "bob")
    assert refused.error_code == SASL_AUTHENTICATION_FAILED
    assert refused.error_message == "Cannot change principals during re-authentication from User.alice: User.bob"
    assert c.closed_unanswered()


def test_reauthentication_cannot_change_the_mechanism(kb: EmbeddedBroker) -> None:
    c = Raw(kb.bootstrap)
    plain(c, "alice")
    assert c.call(SaslHandshakeRequest(mechanism="SCRAM-SHA-256"), 1).error_code == 0  # refused at the next step
    refused = c.call(SaslAuthenticateRequest(auth_bytes=b"n,,n=alice,r=abc"), 1)
    assert refused.error_code == SASL_AUTHENTICATION_FAILED
    assert refused.error_message == ("SASL mechanism 'SCRAM-SHA-256' requested by client is not supported for "
                                     "re-authentication of mechanism 'PLAIN'")
    assert c.closed_unanswered()


def test_only_sasl_authenticate_is_served_during_reauthentication(kb: EmbeddedBroker) -> None:
    c = Raw(kb.bootstrap)
    plain(c, "alice")
    assert c.call(SaslHandshakeRequest(mechanism="PLAIN"), 1).error_code == 0
    c.send(MetadataRequest(topics=[]), 9)
    assert c.closed_unanswered()


def test_without_connections_max_reauth_ms_sessions_never_end(broker_factory) -> None:
    kb = broker_factory(listeners=["SASL_PLAINTEXT://127.0.0.1:0"], sasl_users=USERS)
    c = Raw(kb.bootstrap)
    kb.freeze()
    assert plain(c, "alice").session_lifetime_ms == 0
    kb.advance(10 * 24 * 3600 * 1000)
    assert c.call(MetadataRequest(topics=[]), 9).brokers
    assert c.call(SaslHandshakeRequest(mechanism="PLAIN"), 1).error_code == 34  # ILLEGAL_SASL_STATE


def test_librdkafka_reauthenticates_and_keeps_producing(caplog: pytest.LogCaptureFixture, topic_name: str) -> None:
    caplog.set_level(logging.INFO)
    with EmbeddedBroker(listeners=["SASL_PLAINTEXT://127.0.0.1:0"], sasl_users=USERS,
                        connections_max_reauth_ms=1000) as kb:
        producer = Producer({"bootstrap.servers": kb.bootstrap, "security.protocol": "SASL_PLAINTEXT",
                             "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "alice",
                             "sasl.password": USERS["alice"], "linger.ms": 0})
        errors: list[object] = []
        deadline = time.monotonic() + 10
        sent = 0
        while time.monotonic() < deadline and not any("re-authenticated" in r.getMessage() for r in caplog.records):
            producer.produce(topic_name, b"v", on_delivery=lambda err, msg: errors.append(err) if err else None)
            sent += 1
            producer.flush(5)
            time.sleep(0.1)
        for _ in range(5):  # and on after it
            producer.produce(topic_name, b"v", on_delivery=lambda err, msg: errors.append(err) if err else None)
            sent += 1
        assert producer.flush(10) == 0
    assert errors == []
    assert any("re-authenticated as 'alice'" in r.getMessage() for r in caplog.records)
    assert not any("session expired" in r.getMessage() for r in caplog.records)
