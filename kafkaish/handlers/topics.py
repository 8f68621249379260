"""CreateTopics: v0-7, DeleteTopics: v0-6 (basic forms; the admin module extends them).

Behavior:
- CreateTopics: -1 partitions means the broker default; replication factor must be 1 or
  -1 on a single broker (INVALID_REPLICATION_FACTOR otherwise); TOPIC_ALREADY_EXISTS,
  INVALID_TOPIC_EXCEPTION, INVALID_PARTITIONS; validate_only creates nothing.
- DeleteTopics: by name, or by topic id in v6+ (UNKNOWN_TOPIC_ID).
"""

from __future__ import annotations

from kafkaish.registry import RequestContext, handler
from kafkaish.topics import create_topic, validate_topic_name
from kafkaish.wire.errors import ErrorCode, KafkaError
from kafkaish.wire.messages.create_topics import CreateTopicsRequest, CreateTopicsResponse
from kafkaish.wire.messages.delete_topics import DeleteTopicsRequest, DeleteTopicsResponse


def _create(ctx: RequestContext, t: CreateTopicsRequest.CreatableTopic, validate_only: bool) -> CreateTopicsResponse.CreatableTopicResult:
    configs = {c.name: c.value for c in t.configs}
    try:
        if t.replication_factor not in (-1, 1):
            raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR,
                             f"Unable to replicate the partition {t.replication_factor} time(s): "
                             "The target replication factor of "
                             f"{t.replication_factor} cannot be reached because only 1 broker(s) are registered.")
        if validate_only:
            validate_topic_name(t.name)
            if t.name in ctx.broker.storage.topics():
                raise KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{t.name}' already exists.")
            n = ctx.broker.config.default_partitions if t.num_partitions == -1 else t.num_partitions
            return CreateTopicsResponse.CreatableTopicResult(name=t.name, error_code=0, num_partitions=n,
                                                             replication_factor=1)
        meta = create_topic(ctx.broker, t.name, t.num_partitions, configs)
    except KafkaError as e:
        return CreateTopicsResponse.CreatableTopicResult(name=t.name, error_code=e.code, error_message=e.message,
                                                         num_partitions=-1, replication_factor=-1)
    return CreateTopicsResponse.CreatableTopicResult(
        name=t.name, topic_id=meta.topic_id, error_code=0, num_partitions=meta.num_partitions,
        replication_factor=1)


@handler(CreateTopicsRequest, min_version=0, max_version=7)
async def create_topics(ctx: RequestContext, req: CreateTopicsRequest) -> CreateTopicsResponse:
    return CreateTopicsResponse(throttle_time_ms=0,
                                topics=[_create(ctx, t, req.validate_only) for t in req.topics])


@handler(DeleteTopicsRequest, min_version=0, max_version=6)
async def delete_topics(ctx: RequestContext, req: DeleteTopicsRequest) -> DeleteTopicsResponse:
    results = []
    targets = [(n, None) for n in req.topic_names] + [(t.name, t.topic_id) for t in req.topics]
    for name, topic_id in targets:
        if name is None and topic_id is not None:
            name = ctx.broker.topic_name(topic_id)
            if name is None:
                results.append(DeleteTopicsResponse.DeletableTopicResult(
                    name=None, topic_id=topic_id, error_code=ErrorCode.UNKNOWN_TOPIC_ID))
                continue
        meta = ctx.broker.storage.topics().get(name)
        if meta is None:
            results.append(DeleteTopicsResponse.DeletableTopicResult(
                name=name, error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))
            continue
        ctx.broker.storage.delete_topic(name)
        results.append(DeleteTopicsResponse.DeletableTopicResult(name=name, topic_id=meta.topic_id, error_code=0))
    return DeleteTopicsResponse(throttle_time_ms=0, responses=results)
