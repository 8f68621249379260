"""ApiVersions: v0-4.

Behavior:
- The answer is computed from the handler registry (minus any version caps set to imitate
  an older Kafka), so the server advertises exactly what it implements.
- An unsupported version is answered by the broker with error 35 and a v0 body (KIP-511).
- Minimum 0 is advertised for every API whose definition allows it: librdkafka < 2.11.1
  matched single versions in its feature checks (KAFKA-18659), kafkajs ignores minimums.
"""

from __future__ import annotations

from kafkaish.registry import RequestContext, handler
from kafkaish.wire.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse


@handler(ApiVersionsRequest, min_version=0, max_version=4)
async def api_versions(ctx: RequestContext, req: ApiVersionsRequest) -> ApiVersionsResponse:
    keys = [
        ApiVersionsResponse.ApiVersion(api_key=k, min_version=lo, max_version=hi)
        for k, (lo, hi) in sorted(ctx.broker.supported_versions().items())
    ]
    return ApiVersionsResponse(error_code=0, api_keys=keys, throttle_time_ms=0)
