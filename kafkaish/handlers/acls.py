"""DescribeAcls, CreateAcls, DeleteAcls: v0-3.

Behavior:
- kafkaish has no authorizer yet, so it answers as Kafka without ``authorizer.class.name``
  does (AclApis): the APIs are advertised and every answer is SECURITY_DISABLED, with
  Kafka's messages ("No Authorizer is configured on the broker" for DescribeAcls, "No
  Authorizer is configured." per creation and per filter).
"""

from __future__ import annotations

from kafkaish.registry import RequestContext, handler
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.create_acls import CreateAclsRequest, CreateAclsResponse
from kafkaish.wire.messages.delete_acls import DeleteAclsRequest, DeleteAclsResponse
from kafkaish.wire.messages.describe_acls import DescribeAclsRequest, DescribeAclsResponse

NO_AUTHORIZER = "No Authorizer is configured."


@handler(DescribeAclsRequest, min_version=0, max_version=3)
async def describe_acls(ctx: RequestContext, req: DescribeAclsRequest) -> DescribeAclsResponse:
    return DescribeAclsResponse(throttle_time_ms=0, error_code=ErrorCode.SECURITY_DISABLED,
                                error_message="No Authorizer is configured on the broker", resources=[])


@handler(CreateAclsRequest, min_version=0, max_version=3)
async def create_acls(ctx: RequestContext, req: CreateAclsRequest) -> CreateAclsResponse:
    return CreateAclsResponse(throttle_time_ms=0, results=[
        CreateAclsResponse.AclCreationResult(error_code=ErrorCode.SECURITY_DISABLED, error_message=NO_AUTHORIZER)
        for _ in req.creations])


@handler(DeleteAclsRequest, min_version=0, max_version=3)
async def delete_acls(ctx: RequestContext, req: DeleteAclsRequest) -> DeleteAclsResponse:
    return DeleteAclsResponse(throttle_time_ms=0, filter_results=[
        DeleteAclsResponse.DeleteAclsFilterResult(error_code=ErrorCode.SECURITY_DISABLED,
                                                  error_message=NO_AUTHORIZER, matching_acls=[])
        for _ in req.filters])
