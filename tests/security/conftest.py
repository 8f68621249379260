"""Certificates (written by ``kafkaish certs``' code) and a broker with one listener per security protocol."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kafkaish.cli.certs import CertFiles, write_certs
from kafkaish.testing import EmbeddedBroker

USERS = {"alice": "alice-secret", "bob": "b0b"}
ALL_LISTENERS = ["PLAINTEXT://127.0.0.1:0", "SASL_PLAINTEXT://127.0.0.1:0", "SSL://127.0.0.1:0",
                 "SASL_SSL://127.0.0.1:0"]


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return write_certs(tmp_path_factory.mktemp("certs"), ["localhost", "127.0.0.1"], ["alice", "mallory"])


@pytest.fixture(scope="session")
def foreign_certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    """Another CA's certificates: the broker must not trust them."""
    return write_certs(tmp_path_factory.mktemp("foreign"), ["localhost", "127.0.0.1"], ["alice"])


def tls_settings(certs: CertFiles, client_auth: str = "requested") -> dict[str, object]:
    return {"ssl_cert": str(certs.server), "ssl_key": str(certs.server_key), "ssl_ca": str(certs.ca),
            "ssl_client_auth": client_auth}


@pytest.fixture(scope="module")
def secured(certs: CertFiles) -> Iterator[EmbeddedBroker]:
    """One broker, four listeners (PLAINTEXT, SASL_PLAINTEXT, SSL, SASL_SSL), client certificates requested."""
    with EmbeddedBroker(listeners=ALL_LISTENERS, sasl_users=USERS, **tls_settings(certs)) as kb:
        yield kb


