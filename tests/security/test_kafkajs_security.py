"""The listener matrix and an ACL case with kafkajs: one Node process (kafkajs_security.js) runs every
case against the brokers started here. Skipped where node or compat/kafkajs/node_modules is missing
(`npm ci --prefix compat/kafkajs` installs it; scripts/test.sh does)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kafkaish.cli.certs import CertFiles
from kafkaish.testing import EmbeddedBroker
from tests.security.conftest import ALL_LISTENERS, USERS, tls_settings

HERE = Path(__file__).resolve().parent
KAFKAJS = HERE.parent.parent / "compat" / "kafkajs" / "node_modules" / "kafkajs"
ACL_USERS = {"admin": "admin-pw", "alice": "alice-pw"}
REAUTH_MS = 1500


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _sasl(mechanism: str, user: str, password: str) -> dict[str, str]:
    return {"mechanism": mechanism.lower(), "username": user, "password": password}


def _tls(certs: CertFiles, client: str | None = None) -> dict[str, str]:
    files = {"ca": str(certs.ca)}
    if client is not None:
        cert, key = certs.clients[client]
        files.update(cert=str(cert), key=str(key))
    return files


def _cases(listeners: dict[str, str], mutual: str, acl: str, reauth: str, certs: CertFiles,
           foreign: CertFiles) -> list[dict[str, Any]]:
    def case(name: str, kind: str, listener: str, ssl: object = None, sasl: object = None,
             **extra: Any) -> dict[str, Any]:
        topic = f"kjs-{name.replace('+', '-')}-{uuid.uuid4().hex[:6]}"
        return {"name": name, "kind": kind, "brokers": [listener], "ssl": ssl, "sasl": sasl, "topic": topic,
                "value": f"kafkajs/{name}", **extra}

    alice = ("alice", USERS["alice"])
    return [
        case("PLAINTEXT", "roundtrip", listeners["PLAINTEXT"]),
        case("SASL_PLAINTEXT-PLAIN", "roundtrip", listeners["SASL_PLAINTEXT"], sasl=_sasl("PLAIN", *alice)),
        case("SASL_PLAINTEXT-SCRAM-SHA-256", "roundtrip", listeners["SASL_PLAINTEXT"],
             sasl=_sasl("SCRAM-SHA-256", *alice)),
        case("SASL_PLAINTEXT-SCRAM-SHA-512", "roundtrip", listeners["SASL_PLAINTEXT"],
             sasl=_sasl("SCRAM-SHA-512", "bob", USERS["bob"])),
        case("SSL", "roundtrip", listeners["SSL"], ssl=_tls(certs)),
        case("SSL+client-cert", "roundtrip", listeners["SSL"], ssl=_tls(certs, "alice")),
        case("SSL+required-client-cert", "roundtrip", mutual, ssl=_tls(certs, "mallory")),
        case("SASL_SSL-SCRAM-SHA-512", "roundtrip", listeners["SASL_SSL"], ssl=_tls(certs),
             sasl=_sasl("SCRAM-SHA-512", *alice)),
        case("SASL_SSL-PLAIN", "roundtrip", listeners["SASL_SSL"], ssl=_tls(certs), sasl=_sasl("PLAIN", "bob", "b0b")),
        *[case(f"wrong-password-{listener}-{mechanism}", "refused", listeners[listener],
               ssl=_tls(certs) if listener == "SASL_SSL" else None, sasl=_sasl(mechanism, "alice", "not-hers"))
          for listener in ("SASL_PLAINTEXT", "SASL_SSL") for mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")],
        case("unknown-user", "refused", listeners["SASL_PLAINTEXT"], sasl=_sasl("SCRAM-SHA-256", "nobody", "x")),
        case("no-credentials-SASL_PLAINTEXT", "refused", listeners["SASL_PLAINTEXT"]),
        case("no-credentials-SASL_SSL", "refused", listeners["SASL_SSL"], ssl=_tls(certs)),
        case("plaintext-on-SSL", "refused", listeners["SSL"]),
        case("untrusted-server-certificate", "refused", listeners["SSL"], ssl=_tls(foreign)),
        case("no-client-cert-where-required", "refused", mutual, ssl=_tls(certs)),
        case("client-cert-of-another-CA", "refused", mutual, ssl={**_tls(foreign, "alice"), "ca": str(certs.ca)}),
        case("acl", "acl", acl, sasl=_sasl("SCRAM-SHA-256", "alice", ACL_USERS["alice"]),
             admin=_sasl("PLAIN", "admin", ACL_USERS["admin"])),
        # sessions of REAUTH_MS; kafkajs re-authenticates before a request once fewer than 1000 ms
        # are left, so before each of the later sends (Kafka allows one re-authentication a second)
        case("reauth", "reauth", reauth, sasl=_sasl("SCRAM-SHA-512", *alice), reauthenticationThreshold=1000,
             sends=3, pauseMs=1100),
    ]


@pytest.fixture(scope="module")
def kafkajs(certs: CertFiles, foreign_certs: CertFiles,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(outcomes by case name, the cases) of one kafkajs run against three brokers."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if not KAFKAJS.is_dir():
        pytest.skip("kafkajs is not installed: run `npm ci --prefix compat/kafkajs`")
    with EmbeddedBroker(listeners=ALL_LISTENERS, sasl_users=USERS, **tls_settings(certs)) as secured, \
            EmbeddedBroker(listeners=["SSL://127.0.0.1:0"], **tls_settings(certs, "required")) as mutual, \
            EmbeddedBroker(listeners=["SASL_PLAINTEXT://127.0.0.1:0"], sasl_users=ACL_USERS, authorizer=True,
                           super_users=["User:admin"]) as acl, \
            EmbeddedBroker(listeners=["SASL_PLAINTEXT://127.0.0.1:0"], sasl_users=USERS,
                           connections_max_reauth_ms=REAUTH_MS) as reauth:
        cases = _cases(secured.listeners, mutual.bootstrap, acl.bootstrap, reauth.bootstrap, certs, foreign_certs)
        plan = tmp_path_factory.mktemp("kafkajs") / "plan.json"
        plan.write_text(json.dumps({"cases": cases}))
        sasl_log, lines = logging.getLogger("kafkaish.sasl"), _Lines()
        level = sasl_log.level
        sasl_log.setLevel(logging.INFO)
        sasl_log.addHandler(lines)
        try:
            out = subprocess.run(["node", str(HERE / "kafkajs_security.js"), str(plan)], capture_output=True,
                                 text=True, timeout=120)
        finally:
            sasl_log.removeHandler(lines)
            sasl_log.setLevel(level)
        assert out.returncode == 0, out.stderr
        outcomes = json.loads(out.stdout.strip().splitlines()[-1])
        topics = set()
        for kb in (secured, mutual, acl, reauth):
            topics |= set(kb.call(lambda kb=kb: kb.broker.storage.topics()))  # type: ignore[union-attr]
        outcomes["reauth"]["reauthenticated"] = sum("re-authenticated as 'alice'" in line for line in lines.lines)
        yield outcomes, {c["name"]: {**c, "created": c["topic"] in topics} for c in cases}


ROUNDTRIPS = ["PLAINTEXT", "SASL_PLAINTEXT-PLAIN", "SASL_PLAINTEXT-SCRAM-SHA-256", "SASL_PLAINTEXT-SCRAM-SHA-512",
              "SSL", "SSL+client-cert", "SSL+required-client-cert", "SASL_SSL-SCRAM-SHA-512", "SASL_SSL-PLAIN"]


@pytest.mark.parametrize("name", ROUNDTRIPS)
def test_kafkajs_round_trips_through_each_listener(kafkajs, name: str) -> None:  # type: ignore[no-untyped-def]
    outcomes, cases = kafkajs
    assert outcomes[name] == {"error": None, "values": [cases[name]["value"]]}


REFUSALS = [f"wrong-password-{listener}-{mechanism}" for listener in ("SASL_PLAINTEXT", "SASL_SSL")
            for mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")] + [
    "unknown-user", "no-credentials-SASL_PLAINTEXT", "no-credentials-SASL_SSL", "plaintext-on-SSL",
    "untrusted-server-certificate", "no-client-cert-where-required", "client-cert-of-another-CA"]


@pytest.mark.parametrize("name", REFUSALS)
def test_kafkajs_with_wrong_or_no_credentials_is_refused_and_gets_no_data(kafkajs, name: str) -> None:  # type: ignore[no-untyped-def]
    outcomes, cases = kafkajs
    assert outcomes[name]["served"] == [] and outcomes[name]["error"], outcomes[name]
    assert not cases[name]["created"]


def test_kafkajs_wrong_password_is_sasl_authentication_failed(kafkajs) -> None:  # type: ignore[no-untyped-def]
    outcomes, _ = kafkajs
    errors = {outcomes[f"wrong-password-SASL_PLAINTEXT-{m}"]["error"] for m in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")}
    assert errors == {"KafkaJSSASLAuthenticationError"}


def test_kafkajs_without_write_gets_topic_authorization_failed(kafkajs) -> None:  # type: ignore[no-untyped-def]
    outcomes, _ = kafkajs
    assert outcomes["acl"] == {"denied": "TOPIC_AUTHORIZATION_FAILED", "allowed": None, "listed": [4, 8],
                               "deleted": 2, "after": 0}


def test_kafkajs_reauthenticates_when_its_session_ends(kafkajs) -> None:  # type: ignore[no-untyped-def]
    outcomes, _ = kafkajs
    assert outcomes["reauth"]["errors"] == []
    assert outcomes["reauth"]["reauthenticated"] >= 2  # KIP-368: before each send after the first
