"""What the cluster tests share: the 3-partition, replication factor 3 topic the chaos runs on,
and (from compat/cluster_chaos.py, which the compat runners use too) the chaos script over the
control plane and the exactly-once check."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from kafkaish.testing import EmbeddedBroker

COMPAT = Path(__file__).resolve().parents[2] / "compat"
if str(COMPAT) not in sys.path:
    sys.path.insert(0, str(COMPAT))

from cluster_chaos import PARTITIONS, TOPIC_CONFIG, check_exactly_once  # noqa: E402

__all__ = ["COMPAT", "PARTITIONS", "check_exactly_once", "create_topic", "read_committed"]


def create_topic(kb: EmbeddedBroker, name: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": kb.bootstrap})
    topic = NewTopic(name, PARTITIONS, 3, config=dict(TOPIC_CONFIG))
    admin.create_topics([topic])[name].result(30)


def read_committed(kb: EmbeddedBroker, topic: str) -> list[bytes]:
    """Every record a read_committed consumer gets up to the end of each partition, sorted."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": kb.bootstrap, "group.id": topic, "auto.offset.reset": "earliest",
                         "isolation.level": "read_committed", "enable.partition.eof": True})
    consumer.subscribe([topic])
    got: list[bytes] = []
    eof: set[int] = set()
    deadline = time.monotonic() + 20
    while len(eof) < 3 and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error() is not None:
            eof.add(msg.partition())
        else:
            got.append(msg.value())
    consumer.close()
    assert len(eof) == 3
    return sorted(got)
