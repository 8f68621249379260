"""What deleting a topic does to state that refers to it."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def test_deleting_a_topic_drops_its_committed_offsets(broker, topic_name):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic_name, 2, 1)])[topic_name].result(30)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "g-" + topic_name})
    c.commit(offsets=[TopicPartition(topic_name, 0, 0), TopicPartition(topic_name, 1, 0)], asynchronous=False)
    assert [tp.offset for tp in c.committed([TopicPartition(topic_name, 0)], timeout=10)] == [0]
    admin.delete_topics([topic_name])[topic_name].result(30)
    # recreate: the group must not see the deleted topic's offsets again
    admin.create_topics([NewTopic(topic_name, 2, 1)])[topic_name].result(30)
    assert [tp.offset for tp in c.committed([TopicPartition(topic_name, 0)], timeout=10)] == [-1001]
    c.close()
