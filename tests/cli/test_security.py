"""The client commands against secured listeners: SSL (CA check, mutual TLS, host name check),
SASL_PLAINTEXT and SASL_SSL (PLAIN, SCRAM-SHA-512), --command-config, environment variables,
``copy`` between a plaintext and a SASL_SSL cluster, and one clear line for each failure."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafkaish.cli.certs import CertFiles, write_certs
from kafkaish.testing import EmbeddedBroker
from tests.cli.conftest import Done, kafkaish, kafkaish_here
from tests.security.conftest import (  # noqa: F401 - certs, foreign_certs and secured are fixtures
    USERS,
    certs,
    foreign_certs,
    secured,
    tls_settings,
)

VALUES = [b"first", b"second \xc3\xbc", b"third"]


def ok(*args: str, input: bytes | None = None) -> Done:
    done = kafkaish_here(*args, input=input)
    assert done.code == 0, f"exit {done.code}: {done.err}"
    return done


def failed(*args: str) -> str:
    """Run a command that must fail; its one-line error."""
    done = kafkaish_here(*args)
    assert done.code == 1 and done.out == b"", (done.code, done.out, done.err)
    assert done.err.startswith("Error: ") and done.err.count("\n") == 1, done.err
    return done.err


def round_trip(topic: str, *conn: str) -> None:
    """Create ``topic``, produce VALUES and consume them back, every step with ``conn`` options."""
    ok("topics", "create", topic, *conn)
    ok("produce", topic, *conn, input=b"\n".join(VALUES) + b"\n")
    assert ok("consume", topic, *conn).out.splitlines() == VALUES


def sasl(user: str = "alice", mechanism: str = "SCRAM-SHA-512") -> list[str]:
    return ["--sasl-mechanism", mechanism, "--sasl-username", user, "--sasl-password", USERS[user]]


@pytest.fixture(scope="module")
def mutual(certs: CertFiles) -> Iterator[EmbeddedBroker]:  # noqa: F811
    """SSL and SASL_SSL listeners that require a client certificate (ssl.client.auth=required)."""
    with EmbeddedBroker(listeners=["SSL://127.0.0.1:0", "SASL_SSL://127.0.0.1:0"], sasl_users=USERS,
                        **tls_settings(certs, "required")) as kb:
        yield kb


def test_produce_and_consume_over_ssl_check_the_brokers_certificate(
        secured: EmbeddedBroker, certs: CertFiles, foreign_certs: CertFiles, topic_name: str) -> None:  # noqa: F811
    round_trip(topic_name, "-b", secured.listeners["SSL"], "--security-protocol", "SSL", "--ssl-ca", str(certs.ca))
    # another CA's certificates do not vouch for the broker; the system's trust store neither
    err = failed("topics", "list", "-b", secured.listeners["SSL"], "--ssl-ca", str(foreign_certs.ca))
    assert "the certificate of " + secured.listeners["SSL"] + " is not trusted" in err and "--ssl-ca" in err
    assert "is not trusted" in failed("topics", "list", "-b", secured.listeners["SSL"], "--security-protocol", "SSL")
    # --ssl-no-verify skips the check (kcat's enable.ssl.certificate.verification=false)
    assert ok("consume", topic_name, "-b", secured.listeners["SSL"], "--ssl-no-verify").out.splitlines() == VALUES


def test_produce_and_consume_over_mutual_tls(mutual: EmbeddedBroker, certs: CertFiles,
                                             foreign_certs: CertFiles, topic_name: str) -> None:  # noqa: F811
    cert, key = map(str, certs.clients["alice"])
    round_trip(topic_name, "-b", mutual.listeners["SSL"], "--ssl-ca", str(certs.ca), "--ssl-cert", cert, "--ssl-key", key)
    err = failed("topics", "list", "-b", mutual.listeners["SSL"], "--ssl-ca", str(certs.ca))
    assert "wants a client certificate (--ssl-cert and --ssl-key)" in err
    foreign_cert, foreign_key = map(str, foreign_certs.clients["alice"])
    err = failed("topics", "list", "-b", mutual.listeners["SSL"], "--ssl-ca", str(certs.ca),
                 "--ssl-cert", foreign_cert, "--ssl-key", foreign_key)
    assert f"does not accept the client certificate {foreign_cert}" in err
    err = failed("topics", "list", "-b", mutual.listeners["SSL"], "--ssl-ca", str(certs.ca),
                 "--ssl-cert", cert, "--ssl-key", str(certs.server_key))
    assert "cannot load the client certificate" in err and "key values mismatch" in err


def test_an_encrypted_client_key_takes_its_password_and_never_prompts(
        mutual: EmbeddedBroker, certs: CertFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    from cryptography.hazmat.primitives import serialization

    cert, key = certs.clients["alice"]
    encrypted = tmp_path / "alice-key-encrypted.pem"
    encrypted.write_bytes(serialization.load_pem_private_key(key.read_bytes(), None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"k3y")))
    conn = ["-b", mutual.listeners["SASL_SSL"], "--ssl-ca", str(certs.ca), "--ssl-cert", str(cert),
            "--ssl-key", str(encrypted), *sasl("bob", "SCRAM-SHA-256")]
    assert f"the key {encrypted} is encrypted: give its password (--ssl-key-password)" in failed("topics", "list", *conn)
    assert "wrong --ssl-key-password?" in failed("topics", "list", *conn, "--ssl-key-password", "nope")
    monkeypatch.setenv("KAFKAISH_CLIENT_SSL_KEY_PASSWORD", "k3y")
    ok("topics", "list", *conn)


def test_produce_and_consume_over_sasl_ssl_with_scram_sha_512_password_from_the_environment(
        secured: EmbeddedBroker, certs: CertFiles, topic_name: str, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:  # noqa: F811
    monkeypatch.setenv("KAFKAISH_SASL_PASSWORD", USERS["alice"])
    monkeypatch.setenv("KAFKAISH_CLIENT_SSL_CA", str(certs.ca))
    conn = ["-b", secured.listeners["SASL_SSL"], "--security-protocol", "SASL_SSL",
            "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-username", "alice"]
    round_trip(topic_name, *conn)
    # every over-the-wire command takes the same options: groups, export and import too
    ok("consume", topic_name, "--group", "g-" + topic_name, *conn)
    assert "g-" + topic_name in ok("groups", "list", *conn).text
    assert ok("groups", "lag", "g-" + topic_name, "--json", *conn).json()["total_lag"] == 0
    ok("export", topic_name, str(tmp_path / "t.jsonl"), *conn)
    ok("import", str(tmp_path / "t.jsonl"), topic_name + "-copy", *conn)
    assert ok("consume", topic_name + "-copy", *conn).out.splitlines() == VALUES


def test_produce_and_consume_over_sasl_plaintext_with_plain(secured: EmbeddedBroker, topic_name: str) -> None:
    round_trip(topic_name, "-b", secured.listeners["SASL_PLAINTEXT"], "--security-protocol", "SASL_PLAINTEXT",
               *sasl("bob", "PLAIN"))


def test_wrong_password_exits_non_zero_with_one_clear_line(secured: EmbeddedBroker, certs: CertFiles) -> None:  # noqa: F811
    done = kafkaish("topics", "list", "-b", secured.listeners["SASL_SSL"], "--ssl-ca", str(certs.ca),
                    "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-username", "alice", "--sasl-password", "wrong",
                    timeout=60)
    assert done.code == 1 and "Traceback" not in done.err and done.err.count("\n") == 1, done.err
    assert done.err.startswith("Error: SASL authentication failed: SASL_AUTHENTICATION_FAILED")
    err = failed("topics", "list", "-b", secured.listeners["SASL_PLAINTEXT"], "--sasl-mechanism", "PLAIN",
                 "--sasl-username", "nobody", "--sasl-password", "x")
    assert "SASL authentication failed" in err


def test_copy_from_a_plaintext_broker_to_a_sasl_ssl_broker(broker: EmbeddedBroker, secured: EmbeddedBroker,
                                                          certs: CertFiles, topic_name: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    records = [f'{{"key": "k{i}", "value": "v{i}", "timestamp": {1_700_000_000_000 + i}, '
               f'"headers": [["h", "{i}"]]}}'.encode() for i in range(50)]
    ok("topics", "create", topic_name, "--partitions", "2", "-b", broker.bootstrap)
    ok("produce", topic_name, "--json", "-b", broker.bootstrap, input=b"\n".join(records))
    monkeypatch.setenv("KAFKAISH_TO_SASL_PASSWORD", USERS["alice"])
    ok("copy", topic_name, "-b", broker.bootstrap, "-B", secured.listeners["SASL_SSL"],
       "--to-security-protocol", "SASL_SSL", "--to-sasl-mechanism", "SCRAM-SHA-512", "--to-sasl-username", "alice",
       "--to-ssl-ca", str(certs.ca))
    there = ok("consume", topic_name, "--json", "-b", secured.listeners["SASL_SSL"], "--ssl-ca", str(certs.ca),
               *sasl())
    here = ok("consume", topic_name, "--json", "-b", broker.bootstrap)
    assert len(here.lines()) == 50 and sorted(there.out.splitlines()) == sorted(here.out.splitlines())
    # the target's credentials are checked, and never borrowed from the source
    monkeypatch.setenv("KAFKAISH_TO_SASL_PASSWORD", "wrong")
    err = failed("copy", topic_name, "-b", broker.bootstrap, "-B", secured.listeners["SASL_SSL"],
                 "--to-sasl-username", "alice", "--to-ssl-ca", str(certs.ca))
    assert "SASL authentication failed" in err
    # without -B the target is the source cluster, reached as the source is
    ok("copy", topic_name, topic_name + "-again", "-b", secured.listeners["SASL_SSL"], "--ssl-ca", str(certs.ca),
       *sasl())
    assert len(ok("consume", topic_name + "-again", "-b", secured.listeners["SASL_SSL"], "--ssl-ca", str(certs.ca),
                  *sasl()).out.splitlines()) == 50
    assert "--to-sasl-username is for another cluster" in failed(
        "copy", topic_name, topic_name + "-again", "-b", broker.bootstrap, "--to-sasl-username", "alice")


def test_command_config_reads_a_kafka_client_properties_file(secured: EmbeddedBroker, certs: CertFiles,
                                                             topic_name: str, tmp_path: Path) -> None:  # noqa: F811
    config = tmp_path / "client.properties"
    config.write_text(
        "# as for kafka-console-producer --command-config\n"
        "security.protocol=SASL_SSL\n"
        "sasl.mechanism=SCRAM-SHA-512\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n"
        f'    username="alice" password="{USERS["alice"]}";\n'
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={certs.ca}\n")
    round_trip(topic_name, "-b", secured.listeners["SASL_SSL"], "--command-config", str(config))
    # an option given on the command line wins over the file
    err = failed("topics", "list", "-b", secured.listeners["SASL_SSL"], "--command-config", str(config),
                 "--sasl-password", "wrong")
    assert "SASL authentication failed" in err
    # kcat's -X with librdkafka's names, over the file
    kcat = ["-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=PLAIN", "-X", "sasl.username=bob",
            "-X", f"sasl.password={USERS['bob']}", "-X", f"ssl.ca.location={certs.ca}"]
    assert ok("consume", topic_name, "-b", secured.listeners["SASL_SSL"], *kcat).out.splitlines() == VALUES
    assert "SASL authentication failed" in failed("topics", "list", "-b", secured.listeners["SASL_SSL"],
                                                  "--command-config", str(config), "-X", "sasl.password=wrong")
    assert "--property takes KEY=VALUE" in failed("topics", "list", "-X", "security.protocol")
    (tmp_path / "truststore.jks").write_bytes(b"\xfe\xed\xfe\xed\x00\x00\x00\x02")  # a Java KeyStore's magic
    jks = tmp_path / "jks.properties"
    jks.write_text(f"security.protocol=SSL\nssl.truststore.location={tmp_path / 'truststore.jks'}\n")
    err = failed("topics", "list", "-b", secured.listeners["SSL"], "--command-config", str(jks))
    assert "ssl.truststore.type JKS (the default) is not supported: kafkaish reads PEM files" in err


def test_the_host_name_is_checked_unless_told_not_to(tmp_path: Path, topic_name: str) -> None:
    other = write_certs(tmp_path, ["kafka.example"], [])  # a certificate for another host name
    with EmbeddedBroker(listeners=["SSL://127.0.0.1:0"], ssl_cert=str(other.server),
                        ssl_key=str(other.server_key)) as kb:
        err = failed("topics", "list", "-b", kb.bootstrap, "--ssl-ca", str(other.ca))
        assert "not trusted" in err and "mismatch" in err and "--ssl-no-hostname-check" in err
        round_trip(topic_name, "-b", kb.bootstrap, "--ssl-ca", str(other.ca), "--ssl-no-hostname-check")


def test_wrong_security_protocol_for_a_listener_says_what_to_use(secured: EmbeddedBroker, certs: CertFiles) -> None:  # noqa: F811
    assert "an SSL listener (--security-protocol SSL or SASL_SSL)?" in failed(
        "topics", "list", "-b", secured.listeners["SSL"])
    assert "is it an SSL listener?" in failed("topics", "list", "-b", secured.listeners["PLAINTEXT"],
                                              "--ssl-ca", str(certs.ca))
    assert "a SASL listener? give --sasl-mechanism" in failed("topics", "list", "-b",
                                                             secured.listeners["SASL_PLAINTEXT"])


def test_inconsistent_or_missing_security_options_are_refused_before_connecting(monkeypatch: pytest.MonkeyPatch
                                                                                 ) -> None:
    monkeypatch.delenv("KAFKAISH_SASL_PASSWORD", raising=False)
    unreachable = ["-b", "127.0.0.1:1"]
    assert "SASL options need --security-protocol SASL_PLAINTEXT or SASL_SSL, not SSL" in failed(
        "topics", "list", *unreachable, "--security-protocol", "SSL", "--sasl-username", "alice")
    assert "TLS options need --security-protocol SSL or SASL_SSL, not PLAINTEXT" in failed(
        "topics", "list", *unreachable, "--security-protocol", "PLAINTEXT", "--ssl-no-verify")
    assert "SASL_SSL needs --sasl-username" in failed("topics", "list", *unreachable, "--security-protocol", "SASL_SSL")
    err = failed("topics", "list", *unreachable, "--sasl-username", "alice")  # stdin is not a terminal: no prompt
    assert "no SASL password for alice: set KAFKAISH_SASL_PASSWORD" in err
    assert "cannot load the CA certificates /nonexistent/ca.pem" in failed(
        "topics", "list", *unreachable, "--ssl-ca", "/nonexistent/ca.pem")


def test_a_missing_password_is_asked_for_on_a_terminal(secured: EmbeddedBroker) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKAISH_")}
    leader, follower = pty.openpty()
    # a new session has no controlling terminal, so getpass reads the pty on stdin, not a developer's /dev/tty
    proc = subprocess.Popen([sys.executable, "-m", "kafkaish", "topics", "list", "-b", secured.listeners["SASL_PLAINTEXT"],
                             "--sasl-username", "bob"], stdin=follower, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, start_new_session=True)
    os.close(follower)
    try:
        err = b""
        deadline = time.monotonic() + 60
        while not err.endswith(b"SASL password for bob: ") and time.monotonic() < deadline:  # getpass has set no-echo
            if select.select([proc.stderr], [], [], 1)[0]:
                err += os.read(proc.stderr.fileno(), 1024)  # type: ignore[union-attr]
        assert err.endswith(b"SASL password for bob: "), err
        os.write(leader, USERS["bob"].encode() + b"\n")
        out, rest = proc.communicate(timeout=60)
        assert proc.returncode == 0, err + rest
        assert out.startswith(b"TOPIC") and USERS["bob"].encode() not in err + rest
    finally:
        proc.kill()
        os.close(leader)
