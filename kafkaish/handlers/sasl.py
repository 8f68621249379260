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
- Re-authentication (KIP-368) on SASL listeners with ``connections.max.reauth.ms`` > 0: success
  answers ``session_lifetime_ms`` (v1+) and the session ends that long after; the server closes a
  connection whose session is over on its next request (other than a SaslHandshake). A SaslHandshake
  on an authenticated connection starts re-authentication (at most one a second); it must keep the
  mechanism and the principal (SaslServerAuthenticator's messages), else it fails and the
  connection is closed.
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
    reauthenticating = channel.begin_reauthentication(ctx.broker.now_ms())
    if session.get("sasl_user") is not None and not reauthenticating:
        return SaslHandshakeResponse(error_code=ErrorCode.ILLEGAL_SASL_STATE, mechanisms=list(MECHANISMS))
    if req.mechanism not in MECHANISMS:
        log.info("SASL handshake of %s from %s on listener %s: unsupported mechanism %r", ctx.client_id,
                 ctx.client_host, channel.listener, req.mechanism)
        channel.close_after_response = channel.requires_sasl
        return SaslHandshakeResponse(error_code=ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms=list(MECHANISMS))
    session["sasl"] = new_server(req.mechanism, ctx.broker.settings.sasl_users, required=channel.requires_sasl,
                                 stored=ctx.broker.scram.get)
    session["sasl_mechanism"] = req.mechanism
    if reauthenticating and req.mechanism != channel.mechanism:  # answered at the SaslAuthenticate, as Kafka does
        session["sasl_refusal"] = (f"SASL mechanism '{req.mechanism}' requested by client is not supported for "
                                   f"re-authentication of mechanism '{channel.mechanism}'")
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
        refusal = session.pop("sasl_refusal", None)
        if refusal is not None:
            raise SaslError(refusal)
        reply = server.feed(req.auth_bytes)
        if server.done and channel.mechanism is not None and channel.principal != f"User:{server.user}":
            raise SaslError(f"Cannot change principals during re-authentication from "
                            f"{channel.principal.replace(':', '.', 1)}: User.{server.user}")
    except SaslError as e:
        session.pop("sasl", None)
        channel.close_after_response = channel.requires_sasl
        log.info("SASL authentication of %s from %s on listener %s failed: %s", ctx.client_id, ctx.client_host,
                 channel.listener, e)
        return SaslAuthenticateResponse(error_code=ErrorCode.SASL_AUTHENTICATION_FAILED, error_message=str(e),
                                        auth_bytes=b"")
    lifetime = 0
    if server.done:
        again = channel.mechanism is not None
        session["sasl_user"] = server.user
        assert server.user is not None
        channel.authenticate(server.user, session.get("sasl_mechanism"))
        # SaslServerAuthenticator.calcCompletionTimesAndReturnSessionLifetimeMs (no credential expiry here)
        lifetime = ctx.broker.settings.connections_max_reauth_ms if channel.requires_sasl else 0
        channel.expires_at_ms = ctx.broker.now_ms() + lifetime if lifetime else None
        log.info("client %s from %s %s as %r", ctx.client_id, ctx.client_host,
                 "re-authenticated" if again else "authenticated", server.user)
    return SaslAuthenticateResponse(error_code=0, error_message=None, auth_bytes=reply, session_lifetime_ms=lifetime)
