"""DescribeConfigs: v0-4, AlterConfigs: v0-2, IncrementalAlterConfigs: v0-1.

Behavior (Kafka's ``ConfigHelper`` and ``ConfigurationControlManager``; logic in
``kafkaish.admin.configs``):
- TOPIC resources: every topic config (or the requested keys; unknown keys are skipped) with
  value, source (DYNAMIC_TOPIC_CONFIG 1, STATIC_BROKER_CONFIG 4, DEFAULT_CONFIG 5, ...),
  read-only false, sensitivity, synonyms when asked. Unknown topic: UNKNOWN_TOPIC_OR_PARTITION
  with no message; a malformed name: INVALID_TOPIC_EXCEPTION.
- BROKER resources: "" is the cluster-wide dynamic defaults, the node id this broker's configs;
  any other id is INVALID_REQUEST. BROKER_LOGGER resources (this broker's id) list and set
  Python log levels (KIP-412; IncrementalAlterConfigs only). Other resource types: INVALID_REQUEST.
- AlterConfigs replaces the whole override set; IncrementalAlterConfigs applies SET, DELETE,
  APPEND, SUBTRACT (the last two on LIST configs only). Both validate (INVALID_CONFIG with a
  message), honour validate_only, and take effect at once.

Version notes: DescribeConfigs v0 has IsDefault instead of ConfigSource and no synonyms;
Kafka leaves IsDefault false on every entry (D13). v3 adds ConfigType and Documentation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from kafkaish.admin.broker_configs import ConfigEntry
from kafkaish.authorizer import CLUSTER_NAME, Op, ResourceType, authorized
from kafkaish.registry import RequestContext, handler
from kafkaish.wire.constants import ConfigResourceType
from kafkaish.wire.errors import ErrorCode, KafkaError
from kafkaish.wire.messages.alter_configs import AlterConfigsRequest, AlterConfigsResponse
from kafkaish.wire.messages.describe_configs import DescribeConfigsRequest, DescribeConfigsResponse
from kafkaish.wire.messages.incremental_alter_configs import (
    IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
)

DescribeResult = DescribeConfigsResponse.DescribeConfigsResult
log = logging.getLogger("kafkaish.admin.configs")


def _entry(entry: ConfigEntry) -> DescribeConfigsResponse.DescribeConfigsResourceResult:
    return DescribeConfigsResponse.DescribeConfigsResourceResult(
        name=entry.name,
        value=entry.value,
        read_only=entry.read_only,
        # v0's IsDefault: Kafka's ConfigHelper never sets it, so every v0 entry answers false
        is_default=False,
        config_source=int(entry.source),
        is_sensitive=entry.sensitive,
        synonyms=[
            DescribeConfigsResponse.DescribeConfigsSynonym(name=s.name, value=s.value, source=int(s.source))
            for s in entry.synonyms
        ],
        config_type=int(entry.type),
        documentation=entry.doc,
    )


def _denied(ctx: RequestContext, resource_type: int, name: str, op: Op) -> ErrorCode | None:
    """KafkaApis/AuthHelper: DESCRIBE_CONFIGS or ALTER_CONFIGS on the topic, group or cluster."""
    if ctx.broker.authorizer is None:
        return None
    if resource_type == ConfigResourceType.TOPIC:
        return None if authorized(ctx, op, ResourceType.TOPIC, name) else ErrorCode.TOPIC_AUTHORIZATION_FAILED
    if resource_type == ConfigResourceType.GROUP:
        return None if authorized(ctx, op, ResourceType.GROUP, name) else ErrorCode.GROUP_AUTHORIZATION_FAILED
    if authorized(ctx, op, ResourceType.CLUSTER, CLUSTER_NAME):
        return None
    return ErrorCode.CLUSTER_AUTHORIZATION_FAILED


def _describe_one(ctx: RequestContext, resource: DescribeConfigsRequest.DescribeConfigsResource,
                  synonyms: bool, docs: bool) -> DescribeResult:
    denied = _denied(ctx, resource.resource_type, resource.resource_name, Op.DESCRIBE_CONFIGS)
    if denied is not None:
        return DescribeResult(error_code=denied, error_message=None, resource_type=resource.resource_type,
                              resource_name=resource.resource_name, configs=[])
    try:
        entries = ctx.broker.configs.describe(resource.resource_type, resource.resource_name,
                           resource.configuration_keys, synonyms, docs)
    except KafkaError as e:
        return DescribeResult(error_code=e.code, error_message=e.message, resource_type=resource.resource_type,
                              resource_name=resource.resource_name, configs=[])
    return DescribeResult(error_code=0, error_message=None, resource_type=resource.resource_type,
                          resource_name=resource.resource_name, configs=[_entry(e) for e in entries])


@handler(DescribeConfigsRequest, min_version=0, max_version=4)
async def describe_configs(ctx: RequestContext, req: DescribeConfigsRequest) -> DescribeConfigsResponse:
    synonyms = ctx.version >= 1 and req.include_synonyms
    docs = ctx.version >= 3 and req.include_documentation
    return DescribeConfigsResponse(
        throttle_time_ms=0, results=[_describe_one(ctx, r, synonyms, docs) for r in req.resources])


def _alter_one(ctx: RequestContext, resource_type: int, resource_name: str,
               changes: Sequence[tuple[str, int | None, str | None]], incremental: bool,
               validate_only: bool) -> tuple[int, str | None]:
    denied = _denied(ctx, resource_type, resource_name, Op.ALTER_CONFIGS)
    if denied is not None:
        return int(denied), None
    try:
        ctx.broker.configs.alter(resource_type, resource_name, changes, incremental, validate_only)
    except KafkaError as e:
        log.info("alter configs of resource %s %r refused (%s): %s", resource_type, resource_name, e.code.name,
                 e.message)
        return int(e.code), e.message
    return 0, None


@handler(AlterConfigsRequest, min_version=0, max_version=2)
async def alter_configs(ctx: RequestContext, req: AlterConfigsRequest) -> AlterConfigsResponse:
    responses = []
    for r in req.resources:
        code, message = _alter_one(ctx, r.resource_type, r.resource_name,
                                   [(c.name, None, c.value) for c in r.configs], False, req.validate_only)
        responses.append(AlterConfigsResponse.AlterConfigsResourceResponse(
            error_code=code, error_message=message, resource_type=r.resource_type, resource_name=r.resource_name))
    return AlterConfigsResponse(throttle_time_ms=0, responses=responses)


@handler(IncrementalAlterConfigsRequest, min_version=0, max_version=1)
async def incremental_alter_configs(ctx: RequestContext,
                                    req: IncrementalAlterConfigsRequest) -> IncrementalAlterConfigsResponse:
    responses = []
    for r in req.resources:
        changes = [(c.name, c.config_operation, c.value) for c in r.configs]
        code, message = _alter_one(ctx, r.resource_type, r.resource_name, changes, True, req.validate_only)
        responses.append(IncrementalAlterConfigsResponse.AlterConfigsResourceResponse(
            error_code=code, error_message=message, resource_type=r.resource_type, resource_name=r.resource_name))
    return IncrementalAlterConfigsResponse(throttle_time_ms=0, responses=responses)
