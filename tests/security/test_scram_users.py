"""SCRAM credentials managed over the wire (KIP-554) with real clients' admin APIs: a new user
logs in, the credential survives a restart, deleting it locks the user out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from kafkaish.testing import EmbeddedBroker
from tests.security.security_clients import Auth, refused, roundtrip

ADMIN = {"admin": "admin-pw"}


def start(data_dir: Path, **settings: Any) -> EmbeddedBroker:
    settings.setdefault("sasl_users", ADMIN)
    return EmbeddedBroker(listeners=["SASL_PLAINTEXT://127.0.0.1:0"], data_dir=data_dir, **settings).start()


def admin_client(kb: EmbeddedBroker) -> AdminClient:
    return AdminClient({"bootstrap.servers": kb.bootstrap, "security.protocol": "SASL_PLAINTEXT",
                        "sasl.mechanism": "PLAIN", "sasl.username": "admin", "sasl.password": "admin-pw"})


def carol(mechanism: str = "SCRAM-SHA-256", password: str = "carol-pw") -> Auth:
    return Auth("SASL_PLAINTEXT", mechanism, "carol", password)


def test_scram_user_created_by_admin_api_logs_in_survives_restart_and_is_locked_out_by_deletion(
        tmp_path: Path, topic_name: str) -> None:
    kb = start(tmp_path / "data")
    try:
        admin = admin_client(kb)
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192)
        futures = admin.alter_user_scram_credentials([UserScramCredentialUpsertion("carol", info, b"carol-pw")])
        assert futures["carol"].result(15) is None
        assert roundtrip("confluent-kafka", kb.bootstrap, topic_name, carol()) == [b"secret-record"]
        refused("confluent-kafka", kb.bootstrap, topic_name, carol(password="guess"))
        refused("kafka-python", kb.bootstrap, topic_name, carol("SCRAM-SHA-512"))  # no SHA-512 credential
        described = admin.describe_user_scram_credentials().result(15)
        assert [(c.mechanism, c.iterations) for c in described["carol"].scram_credential_infos] == [
            (ScramMechanism.SCRAM_SHA_256, 8192)]
        assert "admin" not in described  # configured users are not stored credentials
    finally:
        kb.stop()
    kb = start(tmp_path / "data")
    try:
        assert roundtrip("kafka-python", kb.bootstrap, topic_name, carol(), b"after restart") == [
            b"secret-record", b"after restart"]
        admin = admin_client(kb)
        deletion = UserScramCredentialDeletion("carol", ScramMechanism.SCRAM_SHA_256)
        assert admin.alter_user_scram_credentials([deletion])["carol"].result(15) is None
        refused("confluent-kafka", kb.bootstrap, topic_name, carol())
        with pytest.raises(KafkaException) as again:
            admin.alter_user_scram_credentials([deletion])["carol"].result(15)
        assert again.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND
    finally:
        kb.stop()


def test_describing_an_unknown_user_is_resource_not_found(tmp_path: Path) -> None:
    kb = start(tmp_path / "data")
    try:
        admin = admin_client(kb)
        with pytest.raises(KafkaException) as err:
            admin.describe_user_scram_credentials(["nobody"])["nobody"].result(15)
        assert err.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND
    finally:
        kb.stop()


def test_kafka_python_admin_upserts_a_sha512_credential(tmp_path: Path, topic_name: str) -> None:
    from kafka.admin import KafkaAdminClient
    from kafka.admin._users import UserScramCredentialUpsertion as Upsertion

    kb = start(tmp_path / "data")
    admin = KafkaAdminClient(bootstrap_servers=kb.bootstrap, security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism="PLAIN", sasl_plain_username="admin", sasl_plain_password="admin-pw")
    try:
        admin.alter_user_scram_credentials([Upsertion("carol", "SCRAM-SHA-512", "s3cret")])
        assert roundtrip("aiokafka", kb.bootstrap, topic_name, carol("SCRAM-SHA-512", "s3cret")) == [b"secret-record"]
    finally:
        admin.close()
        kb.stop()


def test_too_few_iterations_is_an_unacceptable_credential(tmp_path: Path) -> None:
    kb = start(tmp_path / "data")
    try:
        admin = admin_client(kb)
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 1000)
        with pytest.raises(KafkaException) as err:
            admin.alter_user_scram_credentials([UserScramCredentialUpsertion("dave", info, b"pw")])["dave"].result(15)
        assert err.value.args[0].code() == KafkaError.UNACCEPTABLE_CREDENTIAL
    finally:
        kb.stop()


def test_scram_admin_needs_alter_on_the_cluster_with_an_authorizer(tmp_path: Path) -> None:
    kb = start(tmp_path / "data", authorizer=True, sasl_users={**ADMIN, "eve": "eve-pw"}, super_users=["User:admin"])
    try:
        eve = AdminClient({"bootstrap.servers": kb.bootstrap, "security.protocol": "SASL_PLAINTEXT",
                           "sasl.mechanism": "PLAIN", "sasl.username": "eve", "sasl.password": "eve-pw"})
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096)
        with pytest.raises(KafkaException) as err:
            eve.alter_user_scram_credentials([UserScramCredentialUpsertion("eve2", info, b"pw")])["eve2"].result(15)
        assert err.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    finally:
        kb.stop()
