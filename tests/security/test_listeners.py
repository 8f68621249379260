"""Listeners per security protocol, with real clients: each client round-trips through every
listener with the right credentials; wrong or missing ones are refused and get no data."""

from __future__ import annotations

import pytest

from kafkaish.cli.certs import CertFiles
from kafkaish.testing import EmbeddedBroker
from tests.security.security_clients import CLIENTS, Auth, refused, roundtrip

MODES = ["PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SSL+client-cert", "SASL_SSL"]


def auth_for(mode: str, certs: CertFiles, mechanism: str) -> tuple[str, Auth]:
    """(listener name, client settings) of one mode."""
    if mode == "PLAINTEXT":
        return "PLAINTEXT", Auth()
    if mode == "SASL_PLAINTEXT":
        return "SASL_PLAINTEXT", Auth("SASL_PLAINTEXT", mechanism, "alice", "alice-secret")
    if mode == "SSL":
        return "SSL", Auth("SSL", ca=certs.ca)
    if mode == "SSL+client-cert":
        cert, key = certs.clients["alice"]
        return "SSL", Auth("SSL", ca=certs.ca, cert=cert, key=key)
    return "SASL_SSL", Auth("SASL_SSL", mechanism, "bob", "b0b", ca=certs.ca)


MECHANISM = {"kafka-python": "SCRAM-SHA-512", "aiokafka": "SCRAM-SHA-256", "confluent-kafka": "PLAIN"}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("client", CLIENTS)
def test_client_round_trips_through_each_listener(secured: EmbeddedBroker, certs: CertFiles, topic_name: str,
                                                  client: str, mode: str) -> None:
    listener, auth = auth_for(mode, certs, MECHANISM[client])
    value = f"{client}/{mode}".encode()
    assert roundtrip(client, secured.listeners[listener], topic_name, auth, value) == [value]


@pytest.mark.parametrize(("client", "mechanism"), [
    ("kafka-python", "PLAIN"), ("kafka-python", "SCRAM-SHA-512"), ("aiokafka", "SCRAM-SHA-256"),
    ("confluent-kafka", "PLAIN"), ("confluent-kafka", "SCRAM-SHA-256")])
@pytest.mark.parametrize("listener", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_wrong_password_is_refused_and_gets_no_data(secured: EmbeddedBroker, certs: CertFiles, topic_name: str,
                                                    client: str, listener: str, mechanism: str) -> None:
    ca = certs.ca if listener == "SASL_SSL" else None
    auth = Auth(listener, mechanism, "alice", "not-her-password", ca=ca)
    refused(client, secured.listeners[listener], topic_name, auth)
    assert topic_name not in secured.call(lambda: secured.broker.storage.topics())  # type: ignore[union-attr]


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("listener", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_no_credentials_on_a_sasl_listener_is_refused(secured: EmbeddedBroker, certs: CertFiles, topic_name: str,
                                                      client: str, listener: str) -> None:
    auth = Auth("SSL", ca=certs.ca) if listener == "SASL_SSL" else Auth()
    refused(client, secured.listeners[listener], topic_name, auth)
    assert topic_name not in secured.call(lambda: secured.broker.storage.topics())  # type: ignore[union-attr]


@pytest.mark.parametrize("client", CLIENTS)
def test_unknown_user_is_refused(secured: EmbeddedBroker, topic_name: str, client: str) -> None:
    refused(client, secured.listeners["SASL_PLAINTEXT"], topic_name,
            Auth("SASL_PLAINTEXT", "PLAIN", "nobody", "alice-secret"))


@pytest.mark.parametrize("client", CLIENTS)
def test_plaintext_client_on_a_tls_listener_gets_nothing(secured: EmbeddedBroker, topic_name: str,
                                                         client: str) -> None:
    refused(client, secured.listeners["SSL"], topic_name, Auth())
    assert topic_name not in secured.call(lambda: secured.broker.storage.topics())  # type: ignore[union-attr]
