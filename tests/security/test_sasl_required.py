"""SASL listeners serve nothing before authentication, and every failed step closes the connection
(Kafka's SaslServerAuthenticator), checked frame by frame with a raw client."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import ssl

import pytest

from kafkaish.cli.certs import CertFiles
from kafkaish.testing import EmbeddedBroker
from kafkaish.wire.codec import ClientCodec
from kafkaish.wire.messages.api_versions import ApiVersionsRequest
from kafkaish.wire.messages.create_topics import CreateTopicsRequest
from kafkaish.wire.messages.fetch import FetchRequest
from kafkaish.wire.messages.metadata import MetadataRequest
from kafkaish.wire.messages.produce import ProduceRequest
from kafkaish.wire.messages.sasl_authenticate import SaslAuthenticateRequest
from kafkaish.wire.messages.sasl_handshake import SaslHandshakeRequest

SASL_AUTHENTICATION_FAILED, ILLEGAL_SASL_STATE, UNSUPPORTED_SASL_MECHANISM = 58, 34, 33


class Raw:
    """A raw-frame client over TCP or TLS."""

    def __init__(self, bootstrap: str, ca: str | None = None, timeout: float = 10) -> None:
        host, port = bootstrap.split(":")
        sock = socket.create_connection((host, int(port)), timeout=timeout)
        if ca is not None:
            sock = ssl.create_default_context(cafile=ca).wrap_socket(sock, server_hostname=host)
        self.sock = sock
        self.codec = ClientCodec()

    def send(self, msg, version: int) -> None:  # type: ignore[no-untyped-def]
        self.sock.sendall(self.codec.encode_request(msg, version)[1])

    def call(self, msg, version: int):  # type: ignore[no-untyped-def]
        self.send(msg, version)
        while (got := self.codec.next_response()) is None:
            chunk = self.sock.recv(1 << 20)
            assert chunk, "connection closed"
            self.codec.receive_data(chunk)
        return got[1]

    def closed_unanswered(self, timeout: float = 5) -> bool:
        """The server closed the connection without sending a byte."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 16)
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False
        assert data == b"", f"the server answered {len(data)} bytes"
        return True

    def close(self) -> None:
        self.sock.close()


def raw(kb: EmbeddedBroker, listener: str, certs: CertFiles) -> Raw:
    return Raw(kb.listeners[listener], str(certs.ca) if listener.endswith("SSL") else None)


def _produce(topic: str) -> ProduceRequest:
    return ProduceRequest(transactional_id=None, acks=-1, timeout_ms=5000, topic_data=[
        ProduceRequest.TopicProduceData(name=topic, partition_data=[
            ProduceRequest.PartitionProduceData(index=0, records=None)])])


def _fetch(topic: str) -> FetchRequest:
    return FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=1 << 20, isolation_level=0,
                        session_id=0, session_epoch=-1, topics=[FetchRequest.FetchTopic(topic=topic, partitions=[
                            FetchRequest.FetchPartition(partition=0, current_leader_epoch=-1, fetch_offset=0,
                                                        last_fetched_epoch=-1, log_start_offset=-1,
                                                        partition_max_bytes=1 << 20)])],
                        forgotten_topics_data=[], rack_id="")


def _create(topic: str) -> CreateTopicsRequest:
    return CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name=topic, num_partitions=1, replication_factor=1, assignments=[], configs=[])],
        timeout_ms=5000, validate_only=False)


UNAUTHENTICATED = {
    "Produce": lambda t: (_produce(t), 7),
    "Fetch": lambda t: (_fetch(t), 11),
    "Metadata": lambda t: (MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=t)],
                                           allow_auto_topic_creation=True), 9),
    "CreateTopics": lambda t: (_create(t), 5),
}


@pytest.mark.parametrize("api", list(UNAUTHENTICATED))
@pytest.mark.parametrize("listener", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_unauthenticated_request_on_a_sasl_listener_is_never_answered(secured: EmbeddedBroker, certs: CertFiles,
                                                                      topic_name: str, listener: str,
                                                                      api: str) -> None:
    c = raw(secured, listener, certs)
    msg, version = UNAUTHENTICATED[api](topic_name)
    c.send(msg, version)
    assert c.closed_unanswered()
    assert topic_name not in secured.call(lambda: secured.broker.storage.topics())  # type: ignore[union-attr]


@pytest.mark.parametrize("api", list(UNAUTHENTICATED))
def test_after_the_handshake_only_sasl_authenticate_is_served(secured: EmbeddedBroker, certs: CertFiles,
                                                              topic_name: str, api: str) -> None:
    c = raw(secured, "SASL_PLAINTEXT", certs)
    assert c.call(ApiVersionsRequest(), 0).error_code == 0  # ApiVersions is served before the handshake
    assert c.call(SaslHandshakeRequest(mechanism="PLAIN"), 1).error_code == 0
    msg, version = UNAUTHENTICATED[api](topic_name)
    c.send(msg, version)
    assert c.closed_unanswered()


def test_sasl_authenticate_before_the_handshake_closes(secured: EmbeddedBroker, certs: CertFiles) -> None:
    c = raw(secured, "SASL_PLAINTEXT", certs)
    c.send(SaslAuthenticateRequest(auth_bytes=b"\x00alice\x00alice-secret"), 1)
    assert c.closed_unanswered()


def test_failed_authentication_is_answered_then_closed(secured: EmbeddedBroker, certs: CertFiles) -> None:
    c = raw(secured, "SASL_SSL", certs)
    assert c.call(SaslHandshakeRequest(mechanism="PLAIN"), 1).error_code == 0
    resp = c.call(SaslAuthenticateRequest(auth_bytes=b"\x00alice\x00guess"), 1)
    assert resp.error_code == SASL_AUTHENTICATION_FAILED
    assert resp.error_message == "Authentication failed: Invalid username or password"
    assert c.closed_unanswered()


def test_unsupported_mechanism_is_answered_then_closed(secured: EmbeddedBroker, certs: CertFiles) -> None:
    c = raw(secured, "SASL_PLAINTEXT", certs)
    resp = c.call(SaslHandshakeRequest(mechanism="GSSAPI"), 1)
    assert resp.error_code == UNSUPPORTED_SASL_MECHANISM
    assert resp.mechanisms == ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
    assert c.closed_unanswered()


def test_plain_with_no_users_configured_refuses_everyone_on_a_sasl_listener(broker_factory) -> None:
    kb = broker_factory(listeners=["SASL_PLAINTEXT://127.0.0.1:0"])
    c = Raw(kb.bootstrap)
    assert c.call(SaslHandshakeRequest(mechanism="PLAIN"), 1).error_code == 0
    assert c.call(SaslAuthenticateRequest(auth_bytes=b"\x00anyone\x00anything"), 1).error_code == \
        SASL_AUTHENTICATION_FAILED


def test_oversized_token_before_authentication_closes(secured: EmbeddedBroker, certs: CertFiles) -> None:
    c = raw(secured, "SASL_PLAINTEXT", certs)
    assert c.call(SaslHandshakeRequest(mechanism="SCRAM-SHA-256"), 1).error_code == 0
    c.send(SaslAuthenticateRequest(auth_bytes=b"n,,n=alice,r=" + b"x" * (1 << 20)), 1)  # over 512 KiB
    assert c.closed_unanswered()


def test_oversized_frame_before_the_handshake_closes(secured: EmbeddedBroker, certs: CertFiles,
                                                     topic_name: str) -> None:
    c = raw(secured, "SASL_PLAINTEXT", certs)
    c.send(ApiVersionsRequest(client_software_name="x" * (1 << 20), client_software_version="1"), 3)
    assert c.closed_unanswered()


def _scram_client_final(user: str, password: str, c: Raw, nonce: str) -> tuple[bytes, bytes]:
    """Run client-first; return (the valid client-final, the server's expected signature)."""
    bare = f"n={user},r={nonce}"
    first = c.call(SaslAuthenticateRequest(auth_bytes=b"n,," + bare.encode()), 1)
    assert first.error_code == 0
    server_first = first.auth_bytes.decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    without_proof = f"c=biws,r={attrs['r']}"
    auth_message = f"{bare},{server_first},{without_proof}".encode()
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    signature = hmac.new(hashlib.sha256(client_key).digest(), auth_message, "sha256").digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    return f"{without_proof},p={proof}".encode(), hmac.new(server_key, auth_message, "sha256").digest()


def test_scram_exchange_authenticates_then_serves(secured: EmbeddedBroker, certs: CertFiles) -> None:
    c = raw(secured, "SASL_PLAINTEXT", certs)
    assert c.call(SaslHandshakeRequest(mechanism="SCRAM-SHA-256"), 1).error_code == 0
    final, server_signature = _scram_client_final("alice", "alice-secret", c, "fyko+d2lbbFgONRv9qkxdawL")
    resp = c.call(SaslAuthenticateRequest(auth_bytes=final), 1)
    assert resp.error_code == 0 and resp.auth_bytes == b"v=" + base64.b64encode(server_signature)
    assert c.call(MetadataRequest(topics=[]), 9).brokers  # served now


def test_tampered_scram_proof_is_refused_and_closed(secured: EmbeddedBroker, certs: CertFiles) -> None:
    c = raw(secured, "SASL_PLAINTEXT", certs)
    assert c.call(SaslHandshakeRequest(mechanism="SCRAM-SHA-256"), 1).error_code == 0
    final, _ = _scram_client_final("alice", "alice-secret", c, "tamper-nonce")
    tampered = final[:-6] + (b"AAAA==" if not final.endswith(b"AAAA==") else b"BBBB==")
    resp = c.call(SaslAuthenticateRequest(auth_bytes=tampered), 1)
    assert resp.error_code == SASL_AUTHENTICATION_FAILED
    assert c.closed_unanswered()


def test_replayed_scram_proof_is_refused(secured: EmbeddedBroker, certs: CertFiles) -> None:
    nonce = "replayed-nonce"
    first = raw(secured, "SASL_PLAINTEXT", certs)
    assert first.call(SaslHandshakeRequest(mechanism="SCRAM-SHA-256"), 1).error_code == 0
    final, _ = _scram_client_final("alice", "alice-secret", first, nonce)
    assert first.call(SaslAuthenticateRequest(auth_bytes=final), 1).error_code == 0
    # an eavesdropper replays the same client-first and client-final on a new connection
    second = raw(secured, "SASL_PLAINTEXT", certs)
    assert second.call(SaslHandshakeRequest(mechanism="SCRAM-SHA-256"), 1).error_code == 0
    assert second.call(SaslAuthenticateRequest(auth_bytes=f"n,,n=alice,r={nonce}".encode()), 1).error_code == 0
    resp = second.call(SaslAuthenticateRequest(auth_bytes=final), 1)
    assert resp.error_code == SASL_AUTHENTICATION_FAILED  # the server's nonce differs every exchange
    assert second.closed_unanswered()


def test_second_handshake_after_success_is_illegal(secured: EmbeddedBroker, certs: CertFiles) -> None:
    c = raw(secured, "SASL_SSL", certs)
    assert c.call(SaslHandshakeRequest(mechanism="PLAIN"), 1).error_code == 0
    assert c.call(SaslAuthenticateRequest(auth_bytes=b"\x00bob\x00b0b"), 1).error_code == 0
    assert c.call(SaslHandshakeRequest(mechanism="PLAIN"), 1).error_code == ILLEGAL_SASL_STATE


def test_refusals_are_logged(broker_factory, caplog: pytest.LogCaptureFixture, topic_name: str) -> None:
    kb = broker_factory(listeners=["SASL_PLAINTEXT://127.0.0.1:0"], sasl_users={"alice": "pw"})
    caplog.set_level("INFO", logger="kafkaish")
    c = Raw(kb.bootstrap)
    c.send(_create(topic_name), 5)
    assert c.closed_unanswered()
    assert "Unexpected Kafka request of type CREATE_TOPICS during SASL handshake" in caplog.text
    c = Raw(kb.bootstrap)
    assert c.call(SaslHandshakeRequest(mechanism="PLAIN"), 1).error_code == 0
    assert c.call(SaslAuthenticateRequest(auth_bytes=b"\x00alice\x00nope"), 1).error_code == SASL_AUTHENTICATION_FAILED
    assert c.closed_unanswered()
    assert "SASL authentication of" in caplog.text and "Invalid username or password" in caplog.text
