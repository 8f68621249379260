"""ACLs with Kafka's StandardAuthorizer rules, through real clients' admin APIs and their
producers and consumers (SASL_PLAINTEXT principals)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from kafkaish.testing import EmbeddedBroker
from tests.security.test_sasl_required import Raw

USERS = {"admin": "admin-pw", "alice": "alice-pw", "bob": "bob-pw"}
SASL = ["SASL_PLAINTEXT://127.0.0.1:0"]


def conf(kb: EmbeddedBroker, user: str) -> dict[str, Any]:
    return {"bootstrap.servers": kb.bootstrap, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
            "sasl.username": user, "sasl.password": USERS[user]}


def start(data_dir: Path | None = None, **settings: Any) -> EmbeddedBroker:
    where: dict[str, Any] = {"data_dir": data_dir} if data_dir else {"in_memory": True}
    return EmbeddedBroker(listeners=SASL, sasl_users=USERS, authorizer=True, super_users=["User:admin"],
                          **where, **settings).start()


@pytest.fixture
def kb() -> Iterator[EmbeddedBroker]:
    broker = start()
    yield broker
    broker.stop()


def allow(principal: str, op: int, name: str, rtype: int = ResourceType.TOPIC,
          pattern: int = ResourcePatternType.LITERAL, permission: int = AclPermissionType.ALLOW) -> AclBinding:
    return AclBinding(rtype, name, pattern, principal, "*", op, permission)


def create_acls(kb: EmbeddedBroker, *bindings: AclBinding) -> None:
    admin = AdminClient(conf(kb, "admin"))
    for future in admin.create_acls(list(bindings)).values():
        future.result(15)


def create_topic(kb: EmbeddedBroker, name: str) -> None:
    admin = AdminClient(conf(kb, "admin"))  # kept alive until the future is done
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(15)


def produce(kb: EmbeddedBroker, user: str, topic: str) -> KafkaError | None:
    """The delivery error of one record produced as ``user`` (None: delivered)."""
    outcome: list[KafkaError | None] = []
    p = Producer({**conf(kb, user), "message.timeout.ms": 10000, "enable.idempotence": False})
    p.produce(topic, b"v", on_delivery=lambda err, msg: outcome.append(err))
    p.flush(20)
    assert outcome, "no delivery report"
    return outcome[0]


def visible_topics(kb: EmbeddedBroker, user: str) -> set[str]:
    return set(AdminClient(conf(kb, user)).list_topics(timeout=15).topics)


def test_acl_apis_answer_security_disabled_without_an_authorizer(broker_factory) -> None:
    from kafkaish.wire.messages.describe_acls import DescribeAclsRequest

    plain = broker_factory()
    resp = Raw(plain.bootstrap).call(DescribeAclsRequest(
        resource_type_filter=1, resource_name_filter=None, pattern_type_filter=1, principal_filter=None,
        host_filter=None, operation=1, permission_type=1), 2)
    assert resp.error_code == 54  # SECURITY_DISABLED
    assert resp.error_message == "No Authorizer is configured on the broker"


def test_confluent_admin_creates_lists_and_deletes_acls(kb: EmbeddedBroker) -> None:
    admin = AdminClient(conf(kb, "admin"))
    bindings = [allow("User:alice", AclOperation.WRITE, "orders"),
                allow("User:bob", AclOperation.READ, "app-", rtype=ResourceType.GROUP,
                      pattern=ResourcePatternType.PREFIXED)]
    for future in admin.create_acls(bindings).values():
        assert future.result(15) is None
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                  AclPermissionType.ANY)
    assert set(admin.describe_acls(everything).result(15)) == set(bindings)
    topics_only = AclBindingFilter(ResourceType.TOPIC, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                   AclPermissionType.ANY)
    assert admin.describe_acls(topics_only).result(15) == [bindings[0]]
    deleted = admin.delete_acls([topics_only])[topics_only].result(15)
    assert deleted == [bindings[0]]
    assert admin.describe_acls(everything).result(15) == [bindings[1]]


def test_kafka_python_admin_creates_lists_and_deletes_acls(kb: EmbeddedBroker) -> None:
    from kafka.admin import (
        ACL,
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        KafkaAdminClient,
        ResourcePattern,
        ResourcePatternFilter,
    )
    from kafka.admin import ACLResourcePatternType as PT
    from kafka.admin import ResourceType as RT

    admin = KafkaAdminClient(bootstrap_servers=kb.bootstrap, security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism="PLAIN", sasl_plain_username="admin", sasl_plain_password="admin-pw")
    try:
        acl = ACL("User:alice", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
                  ResourcePattern(RT.TOPIC, "events", PT.LITERAL))
        result = admin.create_acls([acl])
        assert result["failed"] == [] and len(result["succeeded"]) == 1
        flt = ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                        ResourcePatternFilter(RT.TOPIC, "events", PT.ANY))
        found, error = admin.describe_acls(flt)
        assert error.errno == 0 and [(a.principal, a.operation) for a in found] == [("User:alice", ACLOperation.READ)]
        deleted = admin.delete_acls([flt])
        assert len(deleted[0][1]) == 1
        assert admin.describe_acls(flt)[0] == []
    finally:
        admin.close()


def test_acl_admin_needs_alter_on_the_cluster(kb: EmbeddedBroker) -> None:
    admin = AdminClient(conf(kb, "alice"))
    future = admin.create_acls([allow("User:alice", AclOperation.ALL, "*")])
    err = next(iter(future.values())).exception(15)
    assert err is not None and err.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED


def test_without_write_produce_is_topic_authorization_failed(kb: EmbeddedBroker) -> None:
    create_topic(kb, "ledger")
    create_acls(kb, allow("User:alice", AclOperation.DESCRIBE, "ledger"))
    err = produce(kb, "alice", "ledger")
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    create_acls(kb, allow("User:alice", AclOperation.WRITE, "ledger"))
    assert produce(kb, "alice", "ledger") is None


def test_without_describe_the_topic_is_hidden(kb: EmbeddedBroker) -> None:
    create_topic(kb, "secret-plans")
    create_topic(kb, "public-news")
    create_acls(kb, allow("User:alice", AclOperation.READ, "public-news"))  # READ implies DESCRIBE
    assert "public-news" in visible_topics(kb, "alice")
    assert "secret-plans" not in visible_topics(kb, "alice")
    assert {"public-news", "secret-plans"} <= visible_topics(kb, "admin")  # super users pass


def test_prefixed_and_wildcard_acls(kb: EmbeddedBroker) -> None:
    for name in ("orders-eu", "orders-us", "billing"):
        create_topic(kb, name)
    create_acls(kb, allow("User:alice", AclOperation.WRITE, "orders-", pattern=ResourcePatternType.PREFIXED),
                allow("User:*", AclOperation.DESCRIBE, "*"))
    assert produce(kb, "alice", "orders-eu") is None
    assert produce(kb, "alice", "orders-us") is None
    err = produce(kb, "alice", "billing")
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert {"orders-eu", "orders-us", "billing"} <= visible_topics(kb, "bob")  # the wildcard principal and name


def test_deny_beats_allow(kb: EmbeddedBroker) -> None:
    create_topic(kb, "payments")
    create_acls(kb, allow("User:*", AclOperation.ALL, "*"),
                allow("User:alice", AclOperation.WRITE, "payments", permission=AclPermissionType.DENY))
    err = produce(kb, "alice", "payments")
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert produce(kb, "bob", "payments") is None


def test_without_read_on_the_group_the_consumer_cannot_join(kb: EmbeddedBroker) -> None:
    from kafka import KafkaConsumer
    from kafka.errors import GroupAuthorizationFailedError

    create_topic(kb, "jobs")
    create_acls(kb, allow("User:bob", AclOperation.READ, "jobs"))
    consumer = KafkaConsumer("jobs", bootstrap_servers=kb.bootstrap, group_id="workers", security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism="PLAIN", sasl_plain_username="bob", sasl_plain_password="bob-pw")
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                consumer.poll(500)
    finally:
        consumer.close()
    create_acls(kb, allow("User:bob", AclOperation.READ, "workers", rtype=ResourceType.GROUP))
    consumer = KafkaConsumer("jobs", bootstrap_servers=kb.bootstrap, group_id="workers", security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism="PLAIN", sasl_plain_username="bob", sasl_plain_password="bob-pw")
    try:
        deadline = time.monotonic() + 20
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(200)
        assert {tp.topic for tp in consumer.assignment()} == {"jobs"}
    finally:
        consumer.close()


def test_acls_survive_a_restart(tmp_path: Path) -> None:
    first = start(tmp_path / "data")
    try:
        create_acls(first, allow("User:alice", AclOperation.WRITE, "kept-", pattern=ResourcePatternType.PREFIXED))
    finally:
        first.stop()
    second = start(tmp_path / "data")
    try:
        everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                      AclPermissionType.ANY)
        admin = AdminClient(conf(second, "admin"))
        found = admin.describe_acls(everything).result(15)
        assert found == [allow("User:alice", AclOperation.WRITE, "kept-", pattern=ResourcePatternType.PREFIXED)]
        create_topic(second, "kept-" + uuid.uuid4().hex[:6])
    finally:
        second.stop()


def test_invalid_acl_is_refused_with_kafkas_message(kb: EmbeddedBroker) -> None:
    from kafkaish.wire.messages.create_acls import CreateAclsRequest
    from kafkaish.wire.messages.sasl_authenticate import SaslAuthenticateRequest
    from kafkaish.wire.messages.sasl_handshake import SaslHandshakeRequest

    c = Raw(kb.bootstrap)
    assert c.call(SaslHandshakeRequest(mechanism="PLAIN"), 1).error_code == 0
    assert c.call(SaslAuthenticateRequest(auth_bytes=b"\x00admin\x00admin-pw"), 1).error_code == 0
    creation = CreateAclsRequest.AclCreation
    resp = c.call(CreateAclsRequest(creations=[
        creation(resource_type=4, resource_name="other", resource_pattern_type=3, principal="User:x", host="*",
                 operation=7, permission_type=3),
        creation(resource_type=2, resource_name="t", resource_pattern_type=3, principal="nocolon", host="*",
                 operation=3, permission_type=3)]), 2)
    assert [r.error_code for r in resp.results] == [42, 42]  # INVALID_REQUEST
    assert resp.results[0].error_message == "The only valid name for the CLUSTER resource is kafka-cluster"
    assert "no colon is present" in resp.results[1].error_message
