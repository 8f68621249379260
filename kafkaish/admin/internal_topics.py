"""Kafka's internal topics, as clients see them: ``__consumer_offsets`` and ``__transaction_state``.

Kafka creates ``__consumer_offsets`` on the first FindCoordinator for a group and
``__transaction_state`` on the first one for a transactional id (``KafkaApis.getCoordinator``),
or when a Metadata request with auto-creation names them (``AutoTopicCreationManager``), with
``offsets.topic.num.partitions`` / ``transaction.state.log.num.partitions`` (50) partitions and
the coordinators' topic configs. Metadata lists them with ``is_internal=true``; Produce to them
answers INVALID_TOPIC_EXCEPTION (``ReplicaManager.appendToLocalLog``: "Cannot append to
internal topic"); CreateTopics of ``__cluster_metadata`` answers INVALID_REQUEST.

Deliberate simplification: kafkaish keeps committed offsets and transaction state in its state
stores, not in these topics, so they exist and look right but stay empty. Kafka answers
COORDINATOR_NOT_AVAILABLE while the topic is being created; creation is synchronous here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkaish.admin.topic_names import GROUP_METADATA_TOPIC, TRANSACTION_STATE_TOPIC, is_internal
from kafkaish.wire.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kafkaish.admin.topics import TopicManager

__all__ = ["CLUSTER_METADATA_TOPIC", "ensure_internal_topic", "is_internal", "INTERNAL_TOPIC_LAYOUT"]

# Topic.CLUSTER_METADATA_TOPIC_NAME: the KRaft log; never a client-visible topic.
CLUSTER_METADATA_TOPIC = "__cluster_metadata"

# name -> (partitions, configs), as Kafka 4.0 creates them (checked with DescribeConfigs on it):
# GroupCoordinatorService.groupMetadataTopicConfigs, TransactionStateManager.transactionTopicConfigs.
INTERNAL_TOPIC_LAYOUT: dict[str, tuple[int, dict[str, str]]] = {
    GROUP_METADATA_TOPIC: (50, {"cleanup.policy": "compact", "compression.type": "producer",
                                "segment.bytes": "104857600"}),
    TRANSACTION_STATE_TOPIC: (50, {"cleanup.policy": "compact", "compression.type": "uncompressed",
                                   "min.insync.replicas": "1", "segment.bytes": "104857600",
                                   "unclean.leader.election.enable": "false"}),
}


async def ensure_internal_topic(topics: "TopicManager", name: str) -> None:
    """Create the internal topic ``name`` with Kafka's layout unless it exists."""
    if name in topics.storage.topics():
        return
    partitions, configs = INTERNAL_TOPIC_LAYOUT[name]
    # offsets.topic.replication.factor / transaction.state.log.replication.factor: 3, capped at the
    # broker count (1 with one broker, 3 in a --brokers 3 cluster)
    replicas = min(3, len(topics.cluster.nodes()))
    try:
        await topics.create_topic(name, partitions, replicas, configs)
    except KafkaError as e:
        if e.code != ErrorCode.TOPIC_ALREADY_EXISTS:
            raise
