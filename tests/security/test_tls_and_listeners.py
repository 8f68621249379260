"""TLS (server certificate, client certificates, principals), what each listener advertises, the
``--listener`` flags, DescribeConfigs of the listeners and ``kafkaish certs``."""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from kafkaish.cli.certs import CertFiles
from kafkaish.testing import EmbeddedBroker
from kafkaish.wire.messages.describe_cluster import DescribeClusterRequest
from kafkaish.wire.messages.describe_configs import DescribeConfigsRequest
from kafkaish.wire.messages.find_coordinator import FindCoordinatorRequest
from kafkaish.wire.messages.metadata import MetadataRequest
from kafkaish.wire.messages.sasl_authenticate import SaslAuthenticateRequest
from kafkaish.wire.messages.sasl_handshake import SaslHandshakeRequest
from tests.security.conftest import tls_settings
from tests.security.security_clients import Auth, refused, roundtrip
from tests.security.test_sasl_required import Raw


def _tls_raw(bootstrap: str, certs: CertFiles, client: str | None = None) -> Raw:
    raw = Raw.__new__(Raw)
    host, port = bootstrap.split(":")
    import socket

    from kafkaish.wire.codec import ClientCodec

    context = ssl.create_default_context(cafile=str(certs.ca))
    if client is not None:
        context.load_cert_chain(*map(str, certs.clients[client]))
    raw.sock = context.wrap_socket(socket.create_connection((host, int(port)), timeout=10), server_hostname=host)
    raw.codec = ClientCodec()
    return raw


def test_client_certificate_subject_is_the_principal(secured: EmbeddedBroker, certs: CertFiles) -> None:
    c = _tls_raw(secured.listeners["SSL"], certs, "alice")
    assert c.call(MetadataRequest(topics=[]), 9).brokers
    principals = {p for listener, p, _ in secured.sessions() if listener == "SSL"}
    assert "User:CN=alice" in principals  # Kafka's default ssl.principal.mapping.rules: the whole DN
    anonymous = _tls_raw(secured.listeners["SSL"], certs)
    assert anonymous.call(MetadataRequest(topics=[]), 9).brokers
    assert "User:ANONYMOUS" in {p for listener, p, _ in secured.sessions() if listener == "SSL"}
    c.close()
    anonymous.close()


def test_sasl_user_is_the_principal_on_sasl_ssl(secured: EmbeddedBroker, certs: CertFiles) -> None:
    c = _tls_raw(secured.listeners["SASL_SSL"], certs, "alice")
    assert c.call(SaslHandshakeRequest(mechanism="PLAIN"), 1).error_code == 0
    assert c.call(SaslAuthenticateRequest(auth_bytes=b"\x00bob\x00b0b"), 1).error_code == 0
    assert ("SASL_SSL", "User:bob", True) in secured.sessions()  # SASL's name wins over the certificate's
    c.close()


@pytest.mark.parametrize("listener", ["PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL"])
def test_metadata_find_coordinator_and_describe_cluster_advertise_the_listener_used(
        secured: EmbeddedBroker, certs: CertFiles, listener: str) -> None:
    bootstrap = secured.listeners[listener]
    c = _tls_raw(bootstrap, certs) if listener.endswith("SSL") else Raw(bootstrap)
    if listener.startswith("SASL"):
        assert c.call(SaslHandshakeRequest(mechanism="PLAIN"), 1).error_code == 0
        assert c.call(SaslAuthenticateRequest(auth_bytes=b"\x00alice\x00alice-secret"), 1).error_code == 0
    port = int(bootstrap.split(":")[1])
    assert [(b.host, b.port) for b in c.call(MetadataRequest(topics=[]), 9).brokers] == [("127.0.0.1", port)]
    coordinator = c.call(FindCoordinatorRequest(key="g", key_type=0), 3)
    assert (coordinator.host, coordinator.port) == ("127.0.0.1", port)
    cluster = c.call(DescribeClusterRequest(include_cluster_authorized_operations=False), 0)
    assert [(b.host, b.port) for b in cluster.brokers] == [("127.0.0.1", port)]
    c.close()


def test_advertised_listeners_are_what_clients_are_told(broker_factory) -> None:
    kb = broker_factory(listeners=["PLAINTEXT://127.0.0.1:0", "INTERNAL://127.0.0.1:0"],
                        listener_security_protocol_map={"INTERNAL": "PLAINTEXT"},
                        advertised_listeners=["INTERNAL://kafka.internal:19092"])
    internal = Raw(kb.listeners["INTERNAL"])
    assert [(b.host, b.port) for b in internal.call(MetadataRequest(topics=[]), 9).brokers] == [
        ("kafka.internal", 19092)]
    outside = Raw(kb.listeners["PLAINTEXT"])
    port = int(kb.listeners["PLAINTEXT"].split(":")[1])
    assert [(b.host, b.port) for b in outside.call(MetadataRequest(topics=[]), 9).brokers] == [("127.0.0.1", port)]


def test_describe_configs_reports_the_listeners(secured: EmbeddedBroker) -> None:
    c = Raw(secured.listeners["PLAINTEXT"])
    resp = c.call(DescribeConfigsRequest(resources=[DescribeConfigsRequest.DescribeConfigsResource(
        resource_type=4, resource_name="1", configuration_keys=None)], include_synonyms=False), 1)
    values = {e.name: e.value for e in resp.results[0].configs}
    ports = {name: address.split(":")[1] for name, address in secured.listeners.items()}
    assert values["listeners"] == ",".join(f"{n}://127.0.0.1:{ports[n]}" for n in
                                           ["PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL"])
    assert values["advertised.listeners"] == values["listeners"]
    assert values["sasl.enabled.mechanisms"] == "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
    assert values["ssl.client.auth"] == "requested"


@pytest.fixture(scope="module")
def mutual(certs: CertFiles):  # type: ignore[no-untyped-def]
    with EmbeddedBroker(listeners=["SSL://127.0.0.1:0"], **tls_settings(certs, "required")) as kb:
        yield kb


@pytest.mark.parametrize("client", ["kafka-python", "confluent-kafka"])
def test_required_client_auth_refuses_clients_without_a_certificate(mutual: EmbeddedBroker, certs: CertFiles,
                                                                    topic_name: str, client: str) -> None:
    refused(client, mutual.bootstrap, topic_name, Auth("SSL", ca=certs.ca))
    assert topic_name not in mutual.call(lambda: mutual.broker.storage.topics())  # type: ignore[union-attr]


def test_required_client_auth_refuses_a_certificate_of_another_ca(mutual: EmbeddedBroker, certs: CertFiles,
                                                                  foreign_certs: CertFiles, topic_name: str) -> None:
    cert, key = foreign_certs.clients["alice"]
    refused("confluent-kafka", mutual.bootstrap, topic_name, Auth("SSL", ca=certs.ca, cert=cert, key=key))


def test_required_client_auth_accepts_a_certificate_of_its_ca(mutual: EmbeddedBroker, certs: CertFiles,
                                                              topic_name: str) -> None:
    cert, key = certs.clients["mallory"]
    assert roundtrip("kafka-python", mutual.bootstrap, topic_name, Auth("SSL", ca=certs.ca, cert=cert, key=key)) \
        == [b"secret-record"]


def test_tls_handshake_failures_do_not_stop_the_listener(mutual: EmbeddedBroker, certs: CertFiles) -> None:
    import socket

    address = ("127.0.0.1", int(mutual.bootstrap.split(":")[1]))
    for _ in range(3):  # plaintext bytes on a TLS port, then a silent client
        with socket.create_connection(address) as s:
            s.sendall(b"\x00\x00\x00\x10not a tls hello!")
            s.settimeout(5)
            try:
                s.recv(100)
            except OSError:
                pass
    silent = socket.create_connection(address)
    c = _tls_raw(mutual.bootstrap, certs, "alice")
    assert c.call(MetadataRequest(topics=[]), 9).brokers  # served while a handshake is pending
    silent.close()
    c.close()


def test_serve_with_listener_flags_and_certs_command(tmp_path: Path, server_process, topic_name: str) -> None:
    out = subprocess.run([sys.executable, "-m", "kafkaish", "certs", "--out", str(tmp_path / "c"), "--client", "alice"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "principal User:CN=alice" in out.stdout
    c = tmp_path / "c"
    sp = server_process("--in-memory", "--listener", "PLAINTEXT://127.0.0.1:0", "--listener",
                        "SASL_SSL://127.0.0.1:0", "--ssl-cert", str(c / "server.pem"), "--ssl-key",
                        str(c / "server-key.pem"), "--ssl-ca", str(c / "ca.pem"), "--sasl-user", "alice:pw")
    assert set(sp.listeners) == {"PLAINTEXT", "SASL_SSL"}
    assert sp.bootstrap == sp.listeners["PLAINTEXT"]
    auth = Auth("SASL_SSL", "SCRAM-SHA-256", "alice", "pw", ca=c / "ca.pem")
    assert roundtrip("confluent-kafka", sp.listeners["SASL_SSL"], topic_name, auth) == [b"secret-record"]


def test_serve_refuses_bad_listener_settings(tmp_path: Path) -> None:
    def serve(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kafkaish", "serve", "--in-memory", *args],
                              capture_output=True, text=True, timeout=60)

    no_cert = serve("--listener", "SSL://127.0.0.1:0")
    assert no_cert.returncode == 2 and "need ssl_cert and ssl_key" in no_cert.stderr
    bad_name = serve("--listener", "CLIENT://127.0.0.1:0")
    assert bad_name.returncode == 2 and "listener_security_protocol_map" in bad_name.stderr
    (tmp_path / "junk.pem").write_text("not a certificate")
    bad_file = serve("--listener", "SSL://127.0.0.1:0", "--ssl-cert", str(tmp_path / "junk.pem"),
                     "--ssl-key", str(tmp_path / "junk.pem"))
    assert bad_file.returncode == 2 and "cannot load ssl_cert" in bad_file.stderr
