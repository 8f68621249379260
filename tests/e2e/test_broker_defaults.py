"""Broker-level topic defaults (log.* settings and dynamic broker configs) reach storage."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic


def _log_config(kb, topic):
    return kb.call(lambda: kb.broker.storage.log(topic, 0).config)


def test_static_log_settings_are_topic_defaults(broker_factory, topic_name):
    kb = broker_factory(log_retention_ms=123456)
    admin = AdminClient({"bootstrap.servers": kb.bootstrap})
    admin.create_topics([NewTopic(topic_name, 1, 1)])[topic_name].result(30)
    assert _log_config(kb, topic_name).retention_ms == 123456
    res = ConfigResource(ConfigResource.Type.TOPIC, topic_name)
    entry = admin.describe_configs([res])[res].result(30)["retention.ms"]
    assert entry.value == "123456"


def test_dynamic_broker_default_applies_at_once_but_not_over_topic_overrides(broker, topic_name):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    other = topic_name + "-own"
    admin.create_topics([NewTopic(topic_name, 1, 1),
                         NewTopic(other, 1, 1, config={"retention.ms": "5000"})])[other].result(30)
    cluster = ConfigResource(ConfigResource.Type.BROKER, "1",
                             incremental_configs=[ConfigEntry("log.retention.ms", "7777",
                                                              incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([cluster])[cluster].result(30)
    assert _log_config(broker, topic_name).retention_ms == 7777
    assert _log_config(broker, other).retention_ms == 5000
