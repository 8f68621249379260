"""ApiVersions: v0-4.

Behavior:
- The answer is computed from the handler registry (minus any version caps set to imitate
  an older Kafka), so the server advertises exactly what it implements.
- An unsupported version (KIP-511; the codec lets only ApiVersions through with one, the body
  unread) is answered UNSUPPORTED_VERSION with a v0 body naming our ApiVersions range, as
  Kafka's ``ApiVersionsRequest.getErrorResponse`` does, so the client can retry at a version
  we know.
- v3+ checks the client software name and version against Kafka's pattern
  (``ApiVersionsRequest.isValid``) and answers INVALID_REQUEST like its ``getErrorResponse``
  (compat/FINDINGS.md D1).
- Minimum 0 is advertised for every API whose definition allows it: librdkafka < 2.11.1
  matched single versions in its feature checks (KAFKA-18659), kafkajs ignores minimums.
"""

from __future__ import annotations

import logging
import re

from kafkaish.registry import RequestContext, ResponseAt, handler
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse

log = logging.getLogger("kafkaish.api_versions")
API_KEY = ApiVersionsRequest.API_KEY
_SOFTWARE = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?")  # ApiVersionsRequest.SOFTWARE_NAME_VERSION_PATTERN


@handler(ApiVersionsRequest, min_version=0, max_version=4)
async def api_versions(ctx: RequestContext, req: ApiVersionsRequest | None) -> ApiVersionsResponse | ResponseAt:
    supported = ctx.broker.supported_versions()
    lo, hi = supported[API_KEY]
    if not lo <= ctx.version <= hi:
        log.info("ApiVersions v%d from %s unsupported: answering error 35 with a v0 body",
                 ctx.version, ctx.client_id)
        own = ApiVersionsResponse.ApiVersion(api_key=API_KEY, min_version=lo, max_version=hi)
        return ResponseAt(ApiVersionsResponse(error_code=ErrorCode.UNSUPPORTED_VERSION, api_keys=[own]), 0)
    if ctx.version >= 3 and req is not None and not all(
            _SOFTWARE.fullmatch(v or "") for v in (req.client_software_name, req.client_software_version)):
        log.info("ApiVersions from %s: invalid client software name/version %r %r: INVALID_REQUEST",
                 ctx.client_id, req.client_software_name, req.client_software_version)
        own = ApiVersionsResponse.ApiVersion(api_key=API_KEY, min_version=lo, max_version=hi)
        return ApiVersionsResponse(error_code=ErrorCode.INVALID_REQUEST, api_keys=[own], throttle_time_ms=0)
    keys = [
        ApiVersionsResponse.ApiVersion(api_key=k, min_version=lo, max_version=hi)
        for k, (lo, hi) in sorted(supported.items())
    ]
    return ApiVersionsResponse(error_code=0, api_keys=keys, throttle_time_ms=0)
