"""DescribeAcls, CreateAcls, DeleteAcls: v0-3.

Behavior:
- Without ``--authorizer`` kafkaish answers as Kafka without ``authorizer.class.name`` does
  (AclApis): the APIs are advertised and every answer is SECURITY_DISABLED, with Kafka's
  messages ("No Authorizer is configured on the broker" for DescribeAcls, "No Authorizer is
  configured." per creation and per filter).
- With it, ACLs follow kafkaish.authorizer (StandardAuthorizer); DescribeAcls needs DESCRIBE
  on the cluster, Create/DeleteAcls ALTER (CLUSTER_AUTHORIZATION_FAILED otherwise).
- CreateAcls validates each binding as AclControlManager.validateNewAcl does (INVALID_REQUEST
  with its message): a concrete resource and pattern type, a ``Type:name`` principal, a
  concrete operation and permission, ``kafka-cluster`` as the only CLUSTER name.
Version notes: v0 has no pattern type (LITERAL); v1+ PREFIXED and MATCH filters.
"""

from __future__ import annotations

import logging

from kafkaish.authorizer import (
    CLUSTER_NAME,
    AclBinding,
    AclFilter,
    Op,
    PatternType,
    Permission,
    ResourceType,
    authorized,
)
from kafkaish.registry import RequestContext, handler
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.create_acls import CreateAclsRequest, CreateAclsResponse
from kafkaish.wire.messages.delete_acls import DeleteAclsRequest, DeleteAclsResponse
from kafkaish.wire.messages.describe_acls import DescribeAclsRequest, DescribeAclsResponse

log = logging.getLogger("kafkaish.acls")
NO_AUTHORIZER = "No Authorizer is configured."
_CLUSTER_DENIED = "Cluster authorization failed."


def _invalid(acl: AclBinding) -> str | None:
    """Why ``acl`` cannot be created (AclControlManager.validateNewAcl), or None."""
    if acl.resource_type in (ResourceType.ANY, ResourceType.UNKNOWN) or acl.resource_type not in ResourceType.__members__.values():
        return f"Invalid resourceType {acl.resource_type}"
    if acl.pattern_type not in (PatternType.LITERAL, PatternType.PREFIXED):
        return f"Invalid patternType {acl.pattern_type}"
    if acl.operation in (Op.ANY, Op.UNKNOWN) or acl.operation not in Op.__members__.values():
        return f"Invalid operation {acl.operation}"
    if acl.permission not in (Permission.ALLOW, Permission.DENY):
        return f"Invalid permissionType {acl.permission}"
    if ":" not in acl.principal:
        return (f"Could not parse principal from `{acl.principal}` (no colon is present separating the principal "
                f"type from the principal name)")
    if not acl.resource_name:
        return "Resource name should not be empty"
    if acl.resource_type == ResourceType.CLUSTER and acl.resource_name != CLUSTER_NAME:
        return f"The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
    return None


def _filter(f: DescribeAclsRequest | DeleteAclsRequest.DeleteAclsFilter, version: int) -> AclFilter:
    pattern = f.pattern_type_filter if version >= 1 else PatternType.LITERAL
    return AclFilter(f.resource_type_filter, f.resource_name_filter, pattern, f.principal_filter, f.host_filter,
                     f.operation, f.permission_type)


@handler(DescribeAclsRequest, min_version=0, max_version=3)
async def describe_acls(ctx: RequestContext, req: DescribeAclsRequest) -> DescribeAclsResponse:
    authorizer = ctx.broker.authorizer
    if authorizer is None:
        return DescribeAclsResponse(throttle_time_ms=0, error_code=ErrorCode.SECURITY_DISABLED,
                                    error_message="No Authorizer is configured on the broker", resources=[])
    if not authorized(ctx, Op.DESCRIBE, ResourceType.CLUSTER, CLUSTER_NAME):
        return DescribeAclsResponse(throttle_time_ms=0, error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
                                    error_message=_CLUSTER_DENIED, resources=[])
    grouped: dict[tuple[int, str, int], list[AclBinding]] = {}
    for acl in authorizer.describe(_filter(req, ctx.version)):
        grouped.setdefault((acl.resource_type, acl.resource_name, acl.pattern_type), []).append(acl)
    R = DescribeAclsResponse.DescribeAclsResource
    D = DescribeAclsResponse.AclDescription
    return DescribeAclsResponse(throttle_time_ms=0, error_code=0, error_message=None, resources=[
        R(resource_type=t, resource_name=n, pattern_type=p, acls=[
            D(principal=a.principal, host=a.host, operation=a.operation, permission_type=a.permission) for a in acls])
        for (t, n, p), acls in sorted(grouped.items())])


@handler(CreateAclsRequest, min_version=0, max_version=3)
async def create_acls(ctx: RequestContext, req: CreateAclsRequest) -> CreateAclsResponse:
    Result = CreateAclsResponse.AclCreationResult
    authorizer = ctx.broker.authorizer
    if authorizer is None:
        return CreateAclsResponse(throttle_time_ms=0, results=[
            Result(error_code=ErrorCode.SECURITY_DISABLED, error_message=NO_AUTHORIZER) for _ in req.creations])
    if not authorized(ctx, Op.ALTER, ResourceType.CLUSTER, CLUSTER_NAME):
        return CreateAclsResponse(throttle_time_ms=0, results=[
            Result(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED, error_message=_CLUSTER_DENIED)
            for _ in req.creations])
    results = []
    for c in req.creations:
        pattern = c.resource_pattern_type if ctx.version >= 1 else PatternType.LITERAL
        acl = AclBinding(c.resource_type, c.resource_name or "", pattern, c.principal or "", c.host or "",
                         c.operation, c.permission_type)
        problem = _invalid(acl)
        if problem is not None:
            results.append(Result(error_code=ErrorCode.INVALID_REQUEST, error_message=problem))
            continue
        authorizer.add(acl)
        log.info("%s created ACL %s", ctx.session.principal, acl)
        results.append(Result(error_code=0, error_message=None))
    return CreateAclsResponse(throttle_time_ms=0, results=results)


@handler(DeleteAclsRequest, min_version=0, max_version=3)
async def delete_acls(ctx: RequestContext, req: DeleteAclsRequest) -> DeleteAclsResponse:
    FilterResult = DeleteAclsResponse.DeleteAclsFilterResult
    authorizer = ctx.broker.authorizer
    if authorizer is None:
        return DeleteAclsResponse(throttle_time_ms=0, filter_results=[
            FilterResult(error_code=ErrorCode.SECURITY_DISABLED, error_message=NO_AUTHORIZER, matching_acls=[])
            for _ in req.filters])
    if not authorized(ctx, Op.ALTER, ResourceType.CLUSTER, CLUSTER_NAME):
        return DeleteAclsResponse(throttle_time_ms=0, filter_results=[
            FilterResult(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED, error_message=_CLUSTER_DENIED,
                         matching_acls=[]) for _ in req.filters])
    Matching = DeleteAclsResponse.DeleteAclsMatchingAcl
    results = []
    for f in req.filters:
        gone = authorizer.remove(_filter(f, ctx.version))
        if gone:
            log.info("%s deleted %d ACL(s)", ctx.session.principal, len(gone))
        results.append(FilterResult(error_code=0, error_message=None, matching_acls=[
            Matching(error_code=0, error_message=None, resource_type=a.resource_type, resource_name=a.resource_name,
                     pattern_type=a.pattern_type, principal=a.principal, host=a.host, operation=a.operation,
                     permission_type=a.permission) for a in gone]))
    return DeleteAclsResponse(throttle_time_ms=0, filter_results=results)
