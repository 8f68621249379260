"""ACLs on the admin and transaction APIs (KafkaApis' checks), with confluent-kafka."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AclOperation, AdminClient, ConfigResource, ResourceType

from kafkaish.testing import EmbeddedBroker
from tests.security.test_acls import allow, conf, create_acls, create_topic, start


@pytest.fixture
def kb() -> Iterator[EmbeddedBroker]:
    broker = start()
    yield broker
    broker.stop()


def test_describe_configs_needs_describe_configs_on_the_topic(kb: EmbeddedBroker) -> None:
    create_topic(kb, "settings")
    admin = AdminClient(conf(kb, "alice"))
    resource = ConfigResource(ConfigResource.Type.TOPIC, "settings")
    with pytest.raises(KafkaException) as err:
        admin.describe_configs([resource])[resource].result(15)
    assert err.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    create_acls(kb, allow("User:alice", AclOperation.ALTER_CONFIGS, "settings"))  # implies DESCRIBE_CONFIGS
    configs = admin.describe_configs([resource])[resource].result(15)
    assert "retention.ms" in configs


def test_broker_configs_need_the_cluster(kb: EmbeddedBroker) -> None:
    admin = AdminClient(conf(kb, "alice"))
    resource = ConfigResource(ConfigResource.Type.BROKER, "1")
    with pytest.raises(KafkaException) as err:
        admin.describe_configs([resource])[resource].result(15)
    assert err.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED


def test_transactional_producer_needs_write_on_its_transactional_id(kb: EmbeddedBroker) -> None:
    create_topic(kb, "txn-out")
    create_acls(kb, allow("User:alice", AclOperation.WRITE, "txn-out"))
    p = Producer({**conf(kb, "alice"), "transactional.id": "alice-tx", "transaction.timeout.ms": 10000})
    with pytest.raises(KafkaException) as err:
        p.init_transactions(15)
    assert err.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    create_acls(kb, allow("User:alice", AclOperation.WRITE, "alice-tx", rtype=ResourceType.TRANSACTIONAL_ID))
    p = Producer({**conf(kb, "alice"), "transactional.id": "alice-tx", "transaction.timeout.ms": 10000})
    p.init_transactions(15)
    p.begin_transaction()
    p.produce("txn-out", b"v")
    p.commit_transaction(15)


def test_idempotent_producer_with_write_on_a_topic_may_init(kb: EmbeddedBroker) -> None:
    create_topic(kb, "idem")
    create_acls(kb, allow("User:alice", AclOperation.WRITE, "idem"))
    outcome: list[object] = []
    p = Producer({**conf(kb, "alice"), "enable.idempotence": True, "message.timeout.ms": 10000})
    p.produce("idem", b"v", on_delivery=lambda err, msg: outcome.append(err))
    p.flush(15)
    assert outcome == [None]


def test_delete_groups_needs_delete_on_the_group(kb: EmbeddedBroker) -> None:
    admin = AdminClient(conf(kb, "alice"))
    with pytest.raises(KafkaException) as err:
        admin.delete_consumer_groups(["payroll"])["payroll"].result(15)
    assert err.value.args[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED
