"""The CLI against the reference Apache Kafka (../shared/reference-kafka) when java is here:
produce, consume from a timestamp, groups lag and reset, export/import, a copy from a
kafkaish broker to Kafka, and the commands over Kafka's SASL_SSL listener (SCRAM-SHA-512,
PEM certificates). Skipped otherwise."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kafkaish.cli.certs import CertFiles
from tests.cli.conftest import BASE_TS, Done, iso, kafkaish_here
from tests.security.conftest import certs  # noqa: F401 - a fixture

# compat/reference.py starts and stops the reference Kafka for the compat and differential runs too
_spec = importlib.util.spec_from_file_location(
    "compat_reference", Path(__file__).resolve().parents[2] / "compat" / "reference.py")
reference = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))  # dataclasses look it up
_spec.loader.exec_module(reference)
_servers = importlib.util.spec_from_file_location("servers", Path(__file__).resolve().parents[2] / "compat" / "servers.py")
servers = sys.modules.setdefault("servers", importlib.util.module_from_spec(_servers))  # reference imports it by name
if not hasattr(servers, "SASL_USER"):
    _servers.loader.exec_module(servers)

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(reference.reference_missing() is not None, reason=str(reference.reference_missing())),
]


@dataclass
class SaslSslKafka(reference.ReferenceKafka):
    """The reference Kafka with its SASL listener made SASL_SSL: Kafka's PEM key store and trust store
    (ssl.keystore.type=PEM: the key and certificate in one file), client certificates requested."""

    keystore: str = ""
    truststore: str = ""

    def _sasl_overrides(self) -> tuple[str, ...]:
        sasl = [o.replace("listener.name.sasl_plaintext.", "listener.name.sasl_ssl.")
                for o in super()._sasl_overrides() if o.startswith(("sasl.", "listener.name."))]
        return (
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.port + 1},"
            f"SASL_SSL://127.0.0.1:{self.sasl_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port},SASL_SSL://127.0.0.1:{self.sasl_port}",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL",
            *sasl, "ssl.keystore.type=PEM", f"ssl.keystore.location={self.keystore}", "ssl.truststore.type=PEM",
            f"ssl.truststore.location={self.truststore}", "ssl.client.auth=requested")


@pytest.fixture(scope="module")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory, certs: CertFiles) -> Iterator[SaslSslKafka]:  # noqa: F811
    tmp = tmp_path_factory.mktemp("kafka")
    keystore = tmp / "server-keystore.pem"
    keystore.write_text(certs.server_key.read_text() + certs.server.read_text())
    broker = SaslSslKafka("cli", tmp / "kafka.log", ("group.initial.rebalance.delay.ms=0",), sasl=True,
                          keystore=str(keystore), truststore=str(certs.ca))
    try:
        yield broker.start()
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def kafka(kafka_broker: SaslSslKafka) -> str:
    return kafka_broker.bootstrap


def test_cli_over_sasl_ssl_against_the_reference_kafka(kafka_broker: SaslSslKafka, certs: CertFiles,  # noqa: F811
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKAISH_SASL_PASSWORD", servers.SASL_PASSWORD)
    conn = ["-b", kafka_broker.sasl_bootstrap, "--security-protocol", "SASL_SSL", "--ssl-ca", str(certs.ca),
            "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-username", servers.SASL_USER]
    cert, key = map(str, certs.clients["alice"])
    assert kafkaish_here("topics", "create", "secured", *conn).code == 0
    for args in (conn, [*conn, "--ssl-cert", cert, "--ssl-key", key]):  # without and with a client certificate
        done = kafkaish_here("produce", "secured", *args, input=b"over\nTLS\n")
        assert done.code == 0, done.err
    assert kafkaish_here("consume", "secured", *conn).out == b"over\nTLS\nover\nTLS\n"
    monkeypatch.setenv("KAFKAISH_SASL_PASSWORD", "wrong")
    wrong = kafkaish_here("topics", "list", *conn)
    assert wrong.code == 1 and wrong.err.startswith("Error: SASL authentication failed: SASL_AUTHENTICATION_FAILED")
    plain = kafkaish_here("topics", "list", "-b", kafka_broker.sasl_bootstrap)
    assert plain.code == 1 and "answered with TLS: it is an SSL listener" in plain.err, plain.err


def test_copy_from_kafkaish_to_the_reference_kafka(kafka: str) -> None:
    from kafkaish.testing import run_broker

    with run_broker() as kb:
        lines = [json.dumps({"partition": i % 2, "key": {"base64": "AAE="}, "value": f"v{i}",
                             "headers": [["h", {"base64": "/w=="}]], "timestamp": BASE_TS + i}) for i in range(50)]
        assert kafkaish_here("topics", "create", "moving", "--partitions", "2", "-b", kb.bootstrap).code == 0
        assert kafkaish_here("produce", "moving", "--json", "-b", kb.bootstrap, input="\n".join(lines).encode()).code == 0
        done = kafkaish_here("copy", "moving", "-b", kb.bootstrap, "-B", kafka)
        assert done.code == 0, done.err
        here = kafkaish_here("consume", "moving", "--json", "-b", kb.bootstrap).out
    there = kafkaish_here("consume", "moving", "--json", "-b", kafka).out
    assert sorted(there.splitlines()) == sorted(here.splitlines()) and len(here.splitlines()) == 50


def test_cli_against_the_reference_kafka(kafka: str, tmp_path: Path) -> None:
    def cli(*args: str, input: bytes | None = None) -> Done:
        done = kafkaish_here(*args, "-b", kafka, input=input)
        assert done.code == 0, done.err
        return done

    cli("topics", "create", "replay", "--partitions", "2")
    assert "__consumer_offsets" not in cli("topics", "list", "--json").json()
    lines = [json.dumps({"partition": p, "key": f"k{i}", "value": {"base64": "/wA="} if i == 3 else f"v{i}",
                         "headers": [["n", str(i)]], "timestamp": BASE_TS + i * 1000})
             for p in range(2) for i in range(10)]
    cli("produce", "replay", "--json", input="\n".join(lines).encode())

    got = cli("consume", "replay", "--json", "--from-timestamp", str(BASE_TS + 6000)).lines()
    assert sorted((r["partition"], r["offset"]) for r in got) == [(p, o) for p in range(2) for o in range(6, 10)]

    assert len(cli("consume", "replay", "-g", "ops", "-p", "0", "--count", "4").out.splitlines()) == 4
    lag = cli("groups", "lag", "ops", "--json").json()
    assert [(r["partition"], r["committed"], r["log_end"], r["lag"]) for r in lag["partitions"]] == [(0, 4, 10, 6)]

    when = iso(BASE_TS + 2000)
    cli("groups", "reset-offsets", "ops", "--topic", "replay:0", "--to-datetime", when, "--execute")
    assert cli("groups", "lag", "ops", "--json").json()["partitions"][0]["committed"] == 2
    assert cli("consume", "replay", "-g", "ops", "-p", "0", "--count", "1").out == b"v2\n"

    file = tmp_path / "replay.jsonl"
    cli("export", "replay", str(file))
    cli("import", str(file), "replay-copy")

    def dump(topic: str) -> list[str]:
        out = cli("consume", topic, "--json").out.splitlines()
        return sorted(line.replace(b'"topic":"%s",' % topic.encode(), b"").decode() for line in out)

    assert dump("replay") == dump("replay-copy") and len(dump("replay")) == 20
    assert "__consumer_offsets" in cli("topics", "list", "--include-internal", "--json").json()
