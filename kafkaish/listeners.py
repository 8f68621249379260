"""Listeners as Kafka names them: ``listeners``, ``advertised.listeners`` and
``listener.security.protocol.map``.

A listener is ``NAME://HOST:PORT``; its security protocol is the map's entry for NAME, or
NAME itself when NAME is one of the four protocols (Kafka's default map). An empty HOST
listens on every interface. With no ``listeners`` configured a broker has one PLAINTEXT
listener on ``host``:``port`` (the default: 127.0.0.1:9092, no authentication).

``Session`` is one connection's security state: the listener it came through, its
principal, and where it stands in a SASL exchange. The server creates it at accept; the SASL
handlers move it forward; the authorizer reads its principal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kafkaish.config import Settings

PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL = "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"
SECURITY_PROTOCOLS = (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)
ANONYMOUS = "User:ANONYMOUS"  # Kafka's KafkaPrincipal.ANONYMOUS
_LISTENER = re.compile(r"^([A-Za-z0-9_-]+)://(\[[^\]]*\]|[^:/\[\]]*):(\d+)$")

__all__ = ["ANONYMOUS", "ListenerSpec", "SECURITY_PROTOCOLS", "Session", "advertised_listeners",
           "configured_listeners", "parse_listener", "protocol_map"]


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    """One listener: its name, security protocol and address (port 0: any free port)."""

    name: str
    protocol: str
    host: str
    port: int

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in (SASL_PLAINTEXT, SASL_SSL)

    @property
    def uses_ssl(self) -> bool:
        return self.protocol in (SSL, SASL_SSL)

    def url(self, port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.name}://{host}:{self.port if port is None else port}"


def protocol_map(raw: dict[str, str]) -> dict[str, str]:
    """Kafka's default map (each protocol maps to itself) overlaid with ``raw``; names upper-cased."""
    out = {p: p for p in SECURITY_PROTOCOLS}
    for name, protocol in raw.items():
        if protocol.upper() not in SECURITY_PROTOCOLS:
            raise ValueError(f"unknown security protocol {protocol!r} for listener {name!r} "
                             f"(one of {', '.join(SECURITY_PROTOCOLS)})")
        out[name.upper()] = protocol.upper()
    return out


def parse_listener(text: str, protocols: dict[str, str]) -> ListenerSpec:
    """``NAME://HOST:PORT`` -> ListenerSpec; ValueError says what is wrong."""
    match = _LISTENER.match(text.strip())
    if match is None:
        raise ValueError(f"listener {text!r} is not NAME://HOST:PORT (e.g. SASL_SSL://127.0.0.1:9093)")
    name, host, port = match.group(1).upper(), match.group(2).strip("[]"), int(match.group(3))
    if port > 65535:
        raise ValueError(f"listener {text!r}: port {port} is out of range")
    protocol = protocols.get(name)
    if protocol is None:
        raise ValueError(f"listener {text!r}: {name} is not in listener_security_protocol_map "
                         f"(and is not one of {', '.join(SECURITY_PROTOCOLS)})")
    return ListenerSpec(name, protocol, host, port)


def configured_listeners(settings: Settings) -> list[ListenerSpec]:
    """The listeners ``settings`` name; the first is the one ``host``/``port`` and the ready line refer to."""
    protocols = protocol_map(settings.listener_security_protocol_map)
    if not settings.listeners:
        return [ListenerSpec(PLAINTEXT, PLAINTEXT, settings.host, settings.port)]
    specs = [parse_listener(text, protocols) for text in settings.listeners]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):  # Kafka: "Each listener must have a different name"
        raise ValueError(f"each listener must have a different name, got {', '.join(names)}")
    return specs


def shifted_listeners(texts: list[str], protocol_names: dict[str, str], offset: int) -> list[str]:
    """``texts`` (``NAME://HOST:PORT``) with each non-zero port ``offset`` higher: the listeners of
    node ``offset`` of ``--brokers N``. Raises ValueError past port 65535."""
    protocols = protocol_map(protocol_names)
    out = []
    for text in texts:
        spec = parse_listener(text, protocols)
        if spec.port and spec.port + offset > 65535:
            raise ValueError(f"listener {text} of broker {offset + 1} runs past port 65535")
        out.append(spec.url(spec.port + offset if spec.port else 0))
    return out


def advertised_listeners(settings: Settings) -> dict[str, tuple[str | None, int | None]]:
    """Listener name -> the (host, port) ``advertised_listeners`` names; missing parts come from the bound address."""
    protocols = protocol_map(settings.listener_security_protocol_map)
    out: dict[str, tuple[str | None, int | None]] = {}
    for text in settings.advertised_listeners:
        spec = parse_listener(text, protocols)
        out[spec.name] = (spec.host or None, spec.port or None)
    return out


@dataclass(slots=True)
class Session:
    """One connection's security state (Kafka's channel principal and SaslServerAuthenticator state).

    ``sasl_stage``: "handshake" (expects ApiVersions or SaslHandshake), "authenticate" (expects
    SaslAuthenticate) or "done". ``authenticated`` is the one check the server makes per request.
    """

    listener: str = PLAINTEXT
    protocol: str = PLAINTEXT
    principal: str = ANONYMOUS
    authenticated: bool = True
    sasl_stage: str = "done"
    close_after_response: bool = False  # a failed SASL step: answer, then close (Kafka does)
    mechanism: str | None = None  # of the last successful SASL authentication
    expires_at_ms: int | None = None  # KIP-368: when the SASL session ends (connections.max.reauth.ms)
    reauth_started_ms: int | None = None  # the last re-authentication's start (at most one a second)

    @classmethod
    def for_listener(cls, spec: ListenerSpec, principal: str = ANONYMOUS) -> Session:
        if spec.uses_sasl:
            return cls(spec.name, spec.protocol, principal, authenticated=False, sasl_stage="handshake")
        return cls(spec.name, spec.protocol, principal)

    @property
    def requires_sasl(self) -> bool:
        return self.protocol in (SASL_PLAINTEXT, SASL_SSL)

    def authenticate(self, user: str, mechanism: str | None = None) -> None:
        self.principal = f"User:{user}"
        self.authenticated = True
        self.sasl_stage = "done"
        self.mechanism = mechanism

    def expired(self, now_ms: int) -> bool:
        """KafkaChannel.serverAuthenticationSessionExpired: the session has a lifetime and it is over."""
        return self.expires_at_ms is not None and now_ms > self.expires_at_ms

    def begin_reauthentication(self, now_ms: int) -> bool:
        """KafkaChannel.maybeBeginServerReauthentication: a SaslHandshake on an authenticated connection
        starts re-authentication if the session has a lifetime and none started in the last second;
        until it succeeds only SaslAuthenticate is served."""
        if self.expires_at_ms is None or not self.authenticated:
            return False
        if self.reauth_started_ms is not None and now_ms - self.reauth_started_ms < 1000:
            return False
        self.reauth_started_ms = now_ms
        self.authenticated = False
        self.sasl_stage = "authenticate"
        return True
