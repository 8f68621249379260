"""CreateTopics: v0-7, DeleteTopics: v0-6, CreatePartitions: v0-3, DeleteRecords: v0-2.

Behavior (a one-broker KRaft Kafka 4.0; checks and messages in ``kafkaish.admin.topics``):
- CreateTopics: -1 partitions / replication factor take the broker defaults; replication
  factor > 1 is INVALID_REPLICATION_FACTOR; 0 or < -1 partitions INVALID_PARTITIONS; manual
  assignments must name this node once per partition with equal sizes, else
  INVALID_REPLICA_ASSIGNMENT; configs are validated (INVALID_CONFIG with a message);
  TOPIC_ALREADY_EXISTS; INVALID_TOPIC_EXCEPTION for bad or colliding names; a name given twice
  is answered once with INVALID_REQUEST (``ControllerApis.createTopics``); validate_only creates
  nothing but answers as if it had.
- DeleteTopics: by name (v0-5 and v6) or topic id (v6, UNKNOWN_TOPIC_ID).
- CreatePartitions: growth only (INVALID_PARTITIONS otherwise), optional assignments, validate_only.
- A request needing more than 10,000 metadata records (one per topic, partition and config:
  QuorumController.MAX_RECORDS_PER_USER_OP) is refused whole with POLICY_VIOLATION "Unable to
  perform excessively large batch operation.", as Kafka 4.0 answers.
- Creating, growing and deleting run on a worker thread, one at a time (Kafka's controller is
  serial): thousands of partitions take seconds on the file engine and other clients are served
  meanwhile. A client leaving mid-way does not stop the change.
- DeleteRecords: moves the log start offset (-1 = high watermark); OFFSET_OUT_OF_RANGE beyond it.

Version notes: ErrorMessage from CreateTopics v1 and DeleteTopics v5; CreateTopics v5+ returns
the partition count, replication factor and the topic's configs, v7 its topic id.
"""

from __future__ import annotations

import uuid
from collections import Counter

from kafkaish.admin.topics import MAX_RECORDS_PER_USER_OP, TOO_LARGE_BATCH
from kafkaish.authorizer import CLUSTER_NAME, Op, ResourceType, authorized
from kafkaish.registry import RequestContext, handler
from kafkaish.wire.constants import ZERO_UUID
from kafkaish.wire.errors import ErrorCode, KafkaError
from kafkaish.wire.messages.create_partitions import CreatePartitionsRequest, CreatePartitionsResponse
from kafkaish.wire.messages.create_topics import CreateTopicsRequest, CreateTopicsResponse
from kafkaish.wire.messages.delete_records import DeleteRecordsRequest, DeleteRecordsResponse
from kafkaish.wire.messages.delete_topics import DeleteTopicsRequest, DeleteTopicsResponse

CreatableTopicResult = CreateTopicsResponse.CreatableTopicResult


async def _create_one(ctx: RequestContext, topic: CreateTopicsRequest.CreatableTopic,
                      validate_only: bool) -> CreatableTopicResult:
    try:
        result = await ctx.broker.topics.create_topic(
            topic.name, topic.num_partitions, topic.replication_factor,
            {c.name: c.value for c in topic.configs}, validate_only,
            {a.partition_index: list(a.broker_ids) for a in topic.assignments},
        )
    except KafkaError as e:
        return CreatableTopicResult(name=topic.name, error_code=e.code, error_message=e.message)
    configs = [
        CreateTopicsResponse.CreatableTopicConfigs(
            name=entry.name, value=entry.value, read_only=entry.read_only,
            config_source=int(entry.source), is_sensitive=entry.sensitive)
        for entry in result.configs
    ]
    # validate_only: Kafka's controller answers the id it would have given the topic (a new
    # random one), not the zero uuid (compat/FINDINGS.md D12)
    topic_id = result.topic_id if result.topic_id != ZERO_UUID else uuid.uuid4()
    return CreatableTopicResult(
        name=topic.name, topic_id=topic_id, error_code=0, error_message=None,
        num_partitions=result.num_partitions, replication_factor=result.replication_factor, configs=configs)


@handler(CreateTopicsRequest, min_version=0, max_version=7)
async def create_topics(ctx: RequestContext, req: CreateTopicsRequest) -> CreateTopicsResponse:
    counts = Counter(t.name for t in req.topics)
    results: list[CreatableTopicResult] = []
    for name in [n for n, c in counts.items() if c > 1]:
        results.append(CreatableTopicResult(name=name, error_code=ErrorCode.INVALID_REQUEST,
                                            error_message="Duplicate topic name."))
    unique = [t for t in req.topics if counts[t.name] == 1]
    if _records_needed(ctx, unique) > MAX_RECORDS_PER_USER_OP:
        results.extend(CreatableTopicResult(name=t.name, error_code=ErrorCode.POLICY_VIOLATION,
                                            error_message=TOO_LARGE_BATCH) for t in unique)
        return CreateTopicsResponse(throttle_time_ms=0, topics=results)
    cluster_create = authorized(ctx, Op.CREATE, ResourceType.CLUSTER, CLUSTER_NAME)
    for topic in unique:
        if not cluster_create and not authorized(ctx, Op.CREATE, ResourceType.TOPIC, topic.name):
            results.append(CreatableTopicResult(name=topic.name, error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                                                error_message="Authorization failed."))
            continue
        results.append(await _create_one(ctx, topic, req.validate_only))
    return CreateTopicsResponse(throttle_time_ms=0, topics=results)


def _records_needed(ctx: RequestContext, topics: list[CreateTopicsRequest.CreatableTopic]) -> int:
    """Metadata records the KRaft controller would write: one per topic, partition and config."""
    total = 0
    for t in topics:
        partitions = len(t.assignments) if t.assignments else (
            ctx.broker.settings.default_partitions if t.num_partitions == -1 else t.num_partitions)
        if partitions > 0:
            total += 1 + partitions + len(t.configs)
    return total


DeletableTopicResult = DeleteTopicsResponse.DeletableTopicResult


async def _delete_by_id(ctx: RequestContext, topic_id: uuid.UUID) -> DeletableTopicResult:
    name = ctx.broker.topic_name(topic_id)
    if name is None:
        return DeletableTopicResult(name=None, topic_id=topic_id, error_code=ErrorCode.UNKNOWN_TOPIC_ID,
                                    error_message="This server does not host this topic ID.")
    return await _delete_by_name(ctx, name)


async def _delete_by_name(ctx: RequestContext, name: str) -> DeletableTopicResult:
    if not authorized(ctx, Op.DELETE, ResourceType.TOPIC, name):
        return DeletableTopicResult(name=name, error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                                    error_message="Authorization failed.")
    try:
        meta = await ctx.broker.topics.delete_topic(name)
    except KafkaError as e:
        return DeletableTopicResult(name=name, error_code=e.code, error_message=e.message)
    return DeletableTopicResult(name=name, topic_id=meta.topic_id, error_code=0)


def _delete_targets(req: DeleteTopicsRequest) -> list[tuple[str | None, uuid.UUID]]:
    return [(n, ZERO_UUID) for n in req.topic_names] + [(t.name, t.topic_id) for t in req.topics]


@handler(DeleteTopicsRequest, min_version=0, max_version=6)
async def delete_topics(ctx: RequestContext, req: DeleteTopicsRequest) -> DeleteTopicsResponse:
    targets = _delete_targets(req)
    counts = Counter(targets)
    results: list[DeletableTopicResult] = []
    for (name, topic_id), count in counts.items():
        if count > 1:
            what = "name" if name is not None else "id"
            results.append(DeletableTopicResult(name=name, topic_id=topic_id, error_code=ErrorCode.INVALID_REQUEST,
                                                error_message=f"Duplicate topic {what}."))
        elif name is not None and topic_id != ZERO_UUID:
            results.append(DeletableTopicResult(name=name, topic_id=topic_id, error_code=ErrorCode.INVALID_REQUEST,
                                                error_message="Give either a topic name or a topic id, not both."))
        elif name is None and topic_id == ZERO_UUID:
            results.append(DeletableTopicResult(name=None, topic_id=topic_id, error_code=ErrorCode.INVALID_REQUEST,
                                                error_message="Neither topic name nor id were specified."))
        elif name is None:
            results.append(await _delete_by_id(ctx, topic_id))
        else:
            results.append(await _delete_by_name(ctx, name))
    return DeleteTopicsResponse(throttle_time_ms=0, responses=results)


@handler(CreatePartitionsRequest, min_version=0, max_version=3)
async def create_partitions(ctx: RequestContext, req: CreatePartitionsRequest) -> CreatePartitionsResponse:
    counts = Counter(t.name for t in req.topics)
    results: list[CreatePartitionsResponse.CreatePartitionsTopicResult] = []
    for topic in req.topics:
        if counts[topic.name] > 1:
            results.append(CreatePartitionsResponse.CreatePartitionsTopicResult(
                name=topic.name, error_code=ErrorCode.INVALID_REQUEST, error_message="Duplicate topic name."))
            continue
        if not authorized(ctx, Op.ALTER, ResourceType.TOPIC, topic.name):
            results.append(CreatePartitionsResponse.CreatePartitionsTopicResult(
                name=topic.name, error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED, error_message=None))
            continue
        assignments = None if topic.assignments is None else [list(a.broker_ids) for a in topic.assignments]
        try:
            await ctx.broker.topics.create_partitions(topic.name, topic.count, assignments, req.validate_only)
        except KafkaError as e:
            results.append(CreatePartitionsResponse.CreatePartitionsTopicResult(
                name=topic.name, error_code=e.code, error_message=e.message))
            continue
        results.append(CreatePartitionsResponse.CreatePartitionsTopicResult(name=topic.name, error_code=0))
    return CreatePartitionsResponse(throttle_time_ms=0, results=results)


@handler(DeleteRecordsRequest, min_version=0, max_version=2)
async def delete_records(ctx: RequestContext, req: DeleteRecordsRequest) -> DeleteRecordsResponse:
    topics = []
    for topic in req.topics:
        partitions = []
        allowed = authorized(ctx, Op.DELETE, ResourceType.TOPIC, topic.name)
        for p in topic.partitions:
            try:
                if not allowed:
                    raise KafkaError(ErrorCode.TOPIC_AUTHORIZATION_FAILED)
                ctx.broker.cluster.check_leader(topic.name, p.partition_index, ctx.broker.node_id)
                low = ctx.broker.topics.delete_records(topic.name, p.partition_index, p.offset)
                code = 0
            except KafkaError as e:
                low, code = -1, e.code
            partitions.append(DeleteRecordsResponse.DeleteRecordsPartitionResult(
                partition_index=p.partition_index, low_watermark=low, error_code=code))
        topics.append(DeleteRecordsResponse.DeleteRecordsTopicResult(name=topic.name, partitions=partitions))
    return DeleteRecordsResponse(throttle_time_ms=0, topics=topics)
