"""Metadata: v0-12.

Behavior:
- The live brokers of the (simulated) cluster; the controller is the lowest live node id
  (kafka-python admin loops while controller_id is -1; kafkajs sends admin requests and
  idempotent InitProducerId to the controller). Partitions report their leader (-1 with
  LEADER_NOT_AVAILABLE when offline), leader epoch, replicas, ISR and offline replicas.
- v0: an empty topic list means all topics; v1+: null means all, empty means none.
- Unknown topics are auto-created when the broker allows it and the request does (v4+
  ``allow_auto_topic_creation``); they are answered at once, with no LEADER_NOT_AVAILABLE
  round trip: the request waits for the creation (on a worker thread; other clients are
  served meanwhile).
- Leader epoch 0 and topic ids are reported (librdkafka needs topic ids for Fetch v13+).
- Authorized operations: Int.MIN unless requested (Kafka's MetadataResponse default); with
  the authorizer on, the operations the principal is allowed (KIP-430).
- With the authorizer on (KafkaApis.handleTopicMetadataRequest): topics the principal cannot
  DESCRIBE are left out of "all topics" and answer TOPIC_AUTHORIZATION_FAILED when named;
  auto-creation needs CREATE on the cluster or the topic (TOPIC_AUTHORIZATION_FAILED).
- Internal topics (kafkaish.admin.internal_topics) have ``is_internal``; auto-creating one gives it
  Kafka's internal layout; ``__cluster_metadata`` is never created.
"""

from __future__ import annotations

import logging
import uuid

from kafkaish.admin.internal_topics import CLUSTER_METADATA_TOPIC, INTERNAL_TOPIC_LAYOUT, ensure_internal_topic, is_internal
from kafkaish.authorizer import (
    CLUSTER_NAME,
    Op,
    ResourceType,
    authorized,
    cluster_operations_allowed,
    operations_allowed,
)
from kafkaish.registry import RequestContext, handler
from kafkaish.wire.constants import AUTHORIZED_OPERATIONS_OMITTED, CLUSTER_OPERATIONS, TOPIC_OPERATIONS, ZERO_UUID
from kafkaish.wire.errors import ErrorCode, KafkaError
from kafkaish.wire.messages.metadata import MetadataRequest, MetadataResponse

log = logging.getLogger("kafkaish.metadata")



def _topic_entry(ctx: RequestContext, req: MetadataRequest, name: str) -> MetadataResponse.MetadataResponseTopic:
    meta = ctx.broker.storage.topics()[name]
    cluster = ctx.broker.cluster
    if cluster.single:
        node = ctx.broker.node_id
        parts = [
            MetadataResponse.MetadataResponsePartition(
                error_code=0, partition_index=p, leader_id=node, leader_epoch=0,
                replica_nodes=[node], isr_nodes=[node], offline_replicas=[])
            for p in range(meta.num_partitions)
        ]
    else:
        parts = [
            MetadataResponse.MetadataResponsePartition(
                error_code=0 if st.leader >= 0 else ErrorCode.LEADER_NOT_AVAILABLE, partition_index=p,
                leader_id=st.leader, leader_epoch=st.epoch, replica_nodes=list(st.replicas), isr_nodes=list(st.isr),
                offline_replicas=[r for r in st.replicas if not cluster.is_live(r)])
            for p, st in enumerate(cluster.partitions(name))
        ]
    ops = (operations_allowed(ctx, ResourceType.TOPIC, name, TOPIC_OPERATIONS)
           if req.include_topic_authorized_operations else AUTHORIZED_OPERATIONS_OMITTED)
    return MetadataResponse.MetadataResponseTopic(
        error_code=0, name=name, topic_id=meta.topic_id, is_internal=is_internal(name),
        partitions=parts, topic_authorized_operations=ops)


def _error_entry(code: ErrorCode, name: str | None, topic_id: uuid.UUID = ZERO_UUID) -> MetadataResponse.MetadataResponseTopic:
    return MetadataResponse.MetadataResponseTopic(error_code=code, name=name, topic_id=topic_id,
                                                  is_internal=name is not None and is_internal(name), partitions=[])


def _describable(ctx: RequestContext, name: str) -> bool:
    return authorized(ctx, Op.DESCRIBE, ResourceType.TOPIC, name)


def _creatable(ctx: RequestContext, name: str) -> bool:
    return (authorized(ctx, Op.CREATE, ResourceType.CLUSTER, CLUSTER_NAME)
            or authorized(ctx, Op.CREATE, ResourceType.TOPIC, name))


async def _requested(ctx: RequestContext, req: MetadataRequest) -> list[MetadataResponse.MetadataResponseTopic]:
    topics = ctx.broker.storage.topics()
    if req.topics is None or (ctx.version == 0 and not req.topics):
        return [_topic_entry(ctx, req, name) for name in sorted(topics) if _describable(ctx, name)]
    allow_create = ctx.broker.settings.auto_create_topics and (ctx.version < 4 or req.allow_auto_topic_creation)
    out = []
    for t in req.topics:
        name = t.name
        if name is None:  # v10+: lookup by topic id
            name = ctx.broker.topic_name(t.topic_id)
            if name is None:
                out.append(_error_entry(ErrorCode.UNKNOWN_TOPIC_ID, None, t.topic_id))
                continue
        if not _describable(ctx, name):
            out.append(_error_entry(ErrorCode.TOPIC_AUTHORIZATION_FAILED, name))
            continue
        if name not in topics:
            if allow_create and not _creatable(ctx, name):
                out.append(_error_entry(ErrorCode.TOPIC_AUTHORIZATION_FAILED, name))
                continue
            if not allow_create or name == CLUSTER_METADATA_TOPIC:  # KRaft's log is never created
                out.append(_error_entry(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name))
                continue
            try:
                if name in INTERNAL_TOPIC_LAYOUT:  # AutoTopicCreationManager: Kafka's internal layout
                    await ensure_internal_topic(ctx.broker.topics, name)
                else:
                    await ctx.broker.topics.create_topic(name)
            except KafkaError as e:
                if e.code != ErrorCode.TOPIC_ALREADY_EXISTS:
                    out.append(_error_entry(e.code, name))
                    continue
            topics = ctx.broker.storage.topics()
        out.append(_topic_entry(ctx, req, name))
    return out


def _invalid_v10_v11(ctx: RequestContext, req: MetadataRequest) -> MetadataResponse | None:
    """KafkaApis.handleTopicMetadataRequest: v10-11 carry topic ids but may not use them; a null
    name or a topic id fails the request, answered as MetadataRequest.getErrorResponse does."""
    if not 10 <= ctx.version <= 11 or not req.topics:
        return None
    bad = next((t for t in req.topics if t.name is None or t.topic_id != ZERO_UUID), None)
    if bad is None:
        return None
    problem = "Topic name can not be null" if bad.name is None else "Topic IDs are not supported in requests"
    log.info("Metadata v%d from %s: %s for version %d", ctx.version, ctx.client_id, problem, ctx.version)
    return MetadataResponse(throttle_time_ms=0, brokers=[], cluster_id=None, controller_id=-1, topics=[
        MetadataResponse.MetadataResponseTopic(error_code=ErrorCode.INVALID_REQUEST, name=t.name or "",
                                               topic_id=t.topic_id, is_internal=False, partitions=[])
        for t in req.topics])


@handler(MetadataRequest, min_version=0, max_version=12)
async def metadata(ctx: RequestContext, req: MetadataRequest) -> MetadataResponse:
    invalid = _invalid_v10_v11(ctx, req)
    if invalid is not None:
        return invalid
    b = ctx.broker
    cluster = b.cluster
    if cluster.single:
        host, port = b.endpoint(ctx.session.listener)  # Kafka answers with the request's listener
        brokers = [MetadataResponse.MetadataResponseBroker(node_id=b.node_id, host=host, port=port, rack=None)]
        controller = b.node_id
    else:
        brokers = [MetadataResponse.MetadataResponseBroker(node_id=n, host=h, port=p, rack=None)
                   for n in cluster.live_nodes() for h, p in [cluster.endpoint(n, ctx.session.listener)]]
        controller = cluster.controller()
    cluster_ops = (cluster_operations_allowed(ctx, CLUSTER_OPERATIONS)
                   if req.include_cluster_authorized_operations else AUTHORIZED_OPERATIONS_OMITTED)
    return MetadataResponse(
        throttle_time_ms=0, brokers=brokers, cluster_id=b.cluster_id, controller_id=controller,
        topics=await _requested(ctx, req), cluster_authorized_operations=cluster_ops)
