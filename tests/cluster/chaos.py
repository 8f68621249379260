"""What the cluster tests share: the 3-partition, replication factor 3 topic the chaos runs on,
and (from compat/cluster_chaos.py, which the compat runners use too) the chaos script over the
control plane and the exactly-once check."""

from __future__ import annotations

import sys
from pathlib import Path

from kafkaish.testing import EmbeddedBroker

COMPAT = Path(__file__).resolve().parents[2] / "compat"
if str(COMPAT) not in sys.path:
    sys.path.insert(0, str(COMPAT))

from cluster_chaos import PARTITIONS, TOPIC_CONFIG, check_exactly_once  # noqa: E402

__all__ = ["COMPAT", "PARTITIONS", "check_exactly_once", "create_topic"]


def create_topic(kb: EmbeddedBroker, name: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": kb.bootstrap})
    topic = NewTopic(name, PARTITIONS, 3, config=dict(TOPIC_CONFIG))
    admin.create_topics([topic])[name].result(30)
