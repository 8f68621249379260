"""SaslHandshake: v0-1, SaslAuthenticate: v0-2.

Behavior:
- SaslHandshake names the mechanism; PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 are enabled,
  anything else answers UNSUPPORTED_SASL_MECHANISM with the enabled list.
- SaslAuthenticate carries the mechanism's tokens; a failure answers
  SASL_AUTHENTICATION_FAILED with Kafka's message (clients treat it as fatal).
- On SASL_PLAINTEXT/SASL_SSL listeners authentication is required (the server serves nothing
  else until it succeeds); a failed handshake or authentication is answered, then the
  connection is closed, as Kafka's SaslServerAuthenticator does. On PLAINTEXT/SSL listeners it
  is offered, not required (see kafkaish.sasl). A second handshake after success is
  ILLEGAL_SASL_STATE, as Kafka answers on an authenticated channel.
- Success makes the connection's principal ``User:<name>``.
Version notes: v0 handshakes are followed by raw (unframed) SASL tokens in Kafka; every
client here uses v1 with SaslAuthenticate. librdkafka < 2.11.1 needs minimum 0 advertised.
"""

from __future__ import annotations

import logging
from typing import Any

from kafkaish.registry import RequestContext, handler
from kafkaish.sasl import MECHANISMS, SaslError, new_server
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.sasl_authenticate import SaslAuthenticateRequest, SaslAuthenticateResponse
from kafkaish.wire.messages.sasl_handshake import SaslHandshakeRequest, SaslHandshakeResponse

log = logging.getLogger("kafkaish.sasl")


def _session(ctx: RequestContext) -> dict[str, Any]:
    return ctx.broker.connection_state(ctx.connection_id)


@handler(SaslHandshakeRequest, min_version=0, max_version=1)
async def sasl_handshake(ctx: RequestContext, req: SaslHandshakeRequest) -> SaslHandshakeResponse:
    session = _session(ctx)
    channel = ctx.session
    if session.get("sasl_user") is not None:
        return SaslHandshakeResponse(error_code=ErrorCode.ILLEGAL_SASL_STATE, mechanisms=list(MECHANISMS))
    if req.mechanism not in MECHANISMS:
        log.info("SASL handshake of %s from %s on listener %s: unsupported mechanism %r", ctx.client_id,
                 ctx.client_host, channel.listener, req.mechanism)
        channel.close_after_response = channel.requires_sasl
        return SaslHandshakeResponse(error_code=ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms=list(MECHANISMS))
    session["sasl"] = new_server(req.mechanism, ctx.broker.settings.sasl_users, required=channel.requires_sasl,
                                 stored=ctx.broker.scram.get)
    if channel.requires_sasl:
        channel.sasl_stage = "authenticate"
    return SaslHandshakeResponse(error_code=0, mechanisms=list(MECHANISMS))


@handler(SaslAuthenticateRequest, min_version=0, max_version=2)
async def sasl_authenticate(ctx: RequestContext, req: SaslAuthenticateRequest) -> SaslAuthenticateResponse:
    session = _session(ctx)
    server = session.get("sasl")
    channel = ctx.session
    if server is None or server.done:
        log.info("SaslAuthenticate of %s from %s on listener %s without a SaslHandshake", ctx.client_id,
                 ctx.client_host, channel.listener)
        channel.close_after_response = channel.requires_sasl
        return SaslAuthenticateResponse(error_code=ErrorCode.ILLEGAL_SASL_STATE, auth_bytes=b"",
                                        error_message="SaslAuthenticate without a SaslHandshake")
    try:
        reply = server.feed(req.auth_bytes)
    except SaslError as e:
        session.pop("sasl", None)
        channel.close_after_response = channel.requires_sasl
        log.info("SASL authentication of %s from %s on listener %s failed: %s", ctx.client_id, ctx.client_host,
                 channel.listener, e)
        return SaslAuthenticateResponse(error_code=ErrorCode.SASL_AUTHENTICATION_FAILED, error_message=str(e),
                                        auth_bytes=b"")
    if server.done:
        session["sasl_user"] = server.user
        assert server.user is not None
        channel.authenticate(server.user)
        log.info("client %s from %s authenticated as %r", ctx.client_id, ctx.client_host, server.user)
    return SaslAuthenticateResponse(error_code=0, error_message=None, auth_bytes=reply, session_lifetime_ms=0)
