"""TLS for SSL and SASL_SSL listeners, with the standard ``ssl`` module.

``server_context(settings)`` loads the PEM certificate chain and key (``ssl_cert``,
``ssl_key``) and, for ``ssl_client_auth`` required or requested (Kafka's ``ssl.client.auth``),
the CA bundle client certificates are checked against (``ssl_ca``). TLS 1.2 is the floor,
as Kafka's ``ssl.enabled.protocols`` default (TLSv1.2,TLSv1.3).

``principal(peercert)`` is Kafka's default ``ssl.principal.mapping.rules`` (DEFAULT): the
client certificate's subject as X500Principal.getName() writes it (RFC 2253: the last RDN
first, ``CN=alice,OU=eng,O=acme``), as ``User:<DN>``; no certificate is ``User:ANONYMOUS``.
"""

from __future__ import annotations

import ssl
from typing import Any, TYPE_CHECKING

from kafkaish.listeners import ANONYMOUS

if TYPE_CHECKING:
    from kafkaish.config import Settings

__all__ = ["principal", "server_context", "subject_dn"]

_CLIENT_AUTH = {"required": ssl.CERT_REQUIRED, "requested": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}
# RFC 2253 section 2.3 keywords (what X500Principal.getName() writes by name)
_KEYWORDS = {"commonName": "CN", "localityName": "L", "stateOrProvinceName": "ST", "organizationName": "O",
             "organizationalUnitName": "OU", "countryName": "C", "streetAddress": "STREET",
             "domainComponent": "DC", "userId": "UID"}
_SPECIAL = set(',+"\\<>;')


def server_context(settings: Settings) -> ssl.SSLContext:
    """The server side TLS context of this broker's SSL listeners; OSError/SSLError on bad files."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    assert settings.ssl_cert and settings.ssl_key  # Settings refuses SSL listeners without them
    ctx.load_cert_chain(settings.ssl_cert, settings.ssl_key)
    if settings.ssl_ca:
        ctx.load_verify_locations(cafile=settings.ssl_ca)
    ctx.verify_mode = _CLIENT_AUTH[settings.ssl_client_auth]
    return ctx


def _escape(value: str) -> str:
    out = "".join("\\" + ch if ch in _SPECIAL else ch for ch in value)
    if out.startswith(("#", " ")):
        out = "\\" + out
    if out.endswith(" ") and not out.endswith("\\ "):
        out = out[:-1] + "\\ "
    return out


def subject_dn(peercert: dict[str, Any]) -> str:
    """A certificate's subject (``SSLSocket.getpeercert()`` form) as an RFC 2253 string."""
    rdns = peercert.get("subject", ())
    return ",".join("+".join(f"{_KEYWORDS.get(k, k)}={_escape(v)}" for k, v in rdn) for rdn in reversed(rdns))


def principal(peercert: dict[str, Any] | None) -> str:
    """Kafka's DefaultKafkaPrincipalBuilder for an SSL channel: ``User:<subject DN>`` or ANONYMOUS."""
    if not peercert or not peercert.get("subject"):
        return ANONYMOUS
    return "User:" + subject_dn(peercert)
