"""How the client commands reach a secured broker: security protocol, SASL and TLS settings.

The options are the ones Kafka's own client configs name (``security.protocol``,
``sasl.mechanism``, ``ssl.truststore.*``, ``ssl.keystore.*``, ``ssl.endpoint.identification.algorithm``)
spelled as flags, with ``KAFKAISH_*`` environment defaults, and ``--command-config FILE``
reads a Kafka client properties file as ``kafka-console-*``'s ``--command-config`` /
``--consumer.config`` do (PEM files only; librdkafka's ``ssl.ca.location`` style keys too).
A flag or environment variable wins over the file.

``Tls`` holds the TLS files and checks; ``wrap`` makes the TLS handshake. The ``ssl`` module
is imported only then, so a plaintext command (``kafkaish topics list``) never loads it.
"""

from __future__ import annotations

import functools
import re
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kafkaish.cli.client import SASL_MECHANISMS, SECURITY_PROTOCOLS, CliError, Sasl, SecurityError

if TYPE_CHECKING:
    import ssl



@dataclass(frozen=True)
class Tls:
    """The client side of a TLS connection (Kafka's ``ssl.*`` client configs)."""

    ca: str | None = None  # PEM CA certificates to trust (default: the system's)
    ca_data: str | None = None  # the same, inline (ssl.truststore.certificates)
    cert: str | None = None  # client certificate chain (PEM), for mutual TLS
    key: str | None = None  # its private key (default: in the certificate file)
    key_password: str | None = field(default=None, repr=False)
    verify: bool = True  # check the broker's certificate against the CAs
    check_hostname: bool = True  # ssl.endpoint.identification.algorithm=https (Kafka's default since 2.0)


@dataclass(frozen=True)
class Security:
    """One cluster's connection settings, resolved from options, environment and --command-config."""

    protocol: str = "PLAINTEXT"
    sasl: Sasl | None = None
    tls: Tls | None = None


# --------------------------------------------------------------------------- TLS


@functools.lru_cache(maxsize=8)
def _context(tls: Tls) -> ssl.SSLContext:
    import ssl

    ctx = ssl.create_default_context(cafile=tls.ca, cadata=tls.ca_data) if tls.ca or tls.ca_data \
        else ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # Kafka's ssl.enabled.protocols: TLSv1.2,TLSv1.3
    if not tls.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif not tls.check_hostname:
        ctx.check_hostname = False
    if tls.cert:
        def password() -> str:  # never let OpenSSL prompt on the terminal
            if tls.key_password is None:
                raise CliError(f"the key {tls.key or tls.cert} is encrypted: give its password (--ssl-key-password)")
            return tls.key_password

        try:
            ctx.load_cert_chain(tls.cert, tls.key, password)
        except (ssl.SSLError, OSError) as e:
            files = tls.cert + (f" / {tls.key}" if tls.key else "")
            hint = " (wrong --ssl-key-password?)" if tls.key_password is not None else " (PEM certificate and key?)"
            raise CliError(f"cannot load the client certificate {files}: {_reason(e)}{hint}") from None
    return ctx


def context(tls: Tls) -> ssl.SSLContext:
    """The SSLContext for ``tls`` (cached); CliError naming the file that cannot be read."""
    import ssl

    try:
        return _context(tls)
    except (ssl.SSLError, OSError) as e:
        raise CliError(f"cannot load the CA certificates {tls.ca or '(ssl.truststore.certificates)'}: "
                       f"{_reason(e)}") from None


def wrap(sock: socket.socket, tls: Tls, host: str, address: str) -> socket.socket:
    """TLS handshake on ``sock`` (connected to ``host``); CliError saying why it failed."""
    import ssl

    ctx = context(tls)
    try:
        return ctx.wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as e:
        sock.close()
        message = e.verify_message or _reason(e)
        if "hostname" in message.lower() or "ip address mismatch" in message.lower():
            hint = "; --ssl-no-hostname-check skips the name check"
        else:
            hint = "; --ssl-ca names the CA that signed it, --ssl-no-verify skips the check"
        raise SecurityError(f"TLS: the certificate of {address} is not trusted: {message}{hint}") from None
    except ssl.SSLError as e:
        sock.close()
        raise SecurityError(f"TLS handshake with {address} failed: {tls_error_text(e, tls)}") from None
    except socket.timeout:
        sock.close()
        raise SecurityError(f"TLS handshake with {address}: no answer within {sock.gettimeout():g} s "
                       "(is it an SSL listener?)") from None
    except OSError as e:
        sock.close()
        raise SecurityError(f"TLS handshake with {address} failed: {e.strerror or e} "
                            "(is it an SSL listener?)") from None


def tls_error_text(e: OSError, tls: Tls) -> str:
    """An SSLError as one line, with what the user can do about the usual ones."""
    reason = _reason(e)
    low = reason.lower()
    # the alerts a broker sends for a missing or untrusted client certificate (OpenSSL's, Java's SSLEngine's)
    if any(s in low for s in ("certificate required", "unknown ca", "bad certificate", "unsupported certificate",
                              "certificate unknown")) or ("handshake failure" in low and "alert" in low):
        if tls.cert:
            return f"{reason}: the broker does not accept the client certificate {tls.cert}"
        return f"{reason}: the broker wants a client certificate (--ssl-cert and --ssl-key)"
    if "eof" in low or "wrong version" in low or "record layer" in low:
        return f"{reason} (is it an SSL listener?)"
    return reason


def _reason(e: OSError) -> str:
    reason = getattr(e, "reason", None)
    text = str(reason).replace("_", " ").lower() if reason else (e.strerror or str(e))
    return re.sub(r"\s*\(_ssl\.c:\d+\)", "", text)


# --------------------------------------------------------------------------- options -> Security


def resolve(*, protocol: str | None, mechanism: str | None, username: str | None, password: str | None,
            ca: str | None, cert: str | None, key: str | None, key_password: str | None, no_verify: bool,
            no_hostname_check: bool, command_config: str | None, properties: tuple[str, ...] = (),
            flag: str = "--") -> Security:
    """The settings of one cluster: options (and their environment variables) over ``-X`` properties
    over the properties file.

    Without a security protocol it is inferred: SASL options mean SASL_*, TLS options *_SSL.
    """
    props = read_properties(command_config) if command_config else {}
    for item in properties:  # kcat's -X key=value
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise CliError(f"{flag}property takes KEY=VALUE (a Kafka client property), not {item!r}")
        props[name.strip()] = value.strip()
    file = from_properties(props, command_config or f"{flag}property") if props else {}
    protocol = (protocol or file.get("protocol") or "").upper() or None
    mechanism = (mechanism or file.get("mechanism") or "").upper() or None
    username = username if username is not None else file.get("username")
    password = password if password is not None else file.get("password")
    tls_given = {"ca": ca, "cert": cert, "key": key, "key_password": key_password}
    tls_args = {name: value if value is not None else file.get(name) for name, value in tls_given.items()}
    tls_args["ca_data"] = file.get("ca_data")
    verify = not no_verify and file.get("verify", True)
    check_hostname = not no_hostname_check and file.get("check_hostname", True)
    wants_sasl = bool(mechanism or username)
    wants_tls = any(tls_args.values()) or not verify or not check_hostname
    if protocol is None:
        protocol = ("SASL_" if wants_sasl else "") + ("SSL" if wants_tls else "PLAINTEXT")
    if protocol not in SECURITY_PROTOCOLS:
        raise CliError(f"unknown security protocol {protocol!r} (one of {', '.join(SECURITY_PROTOCOLS)})")
    uses_sasl, uses_tls = protocol.startswith("SASL_"), protocol.endswith("SSL")
    if wants_sasl and not uses_sasl:
        raise CliError(f"SASL options need {flag}security-protocol SASL_PLAINTEXT or SASL_SSL, not {protocol}")
    if wants_tls and not uses_tls:
        raise CliError(f"TLS options need {flag}security-protocol SSL or SASL_SSL, not {protocol}")
    sasl = None
    if uses_sasl:
        mechanism = mechanism or "PLAIN"
        if mechanism not in SASL_MECHANISMS:
            raise CliError(f"unknown SASL mechanism {mechanism!r} (choose from {', '.join(SASL_MECHANISMS)})")
        if not username:
            raise CliError(f"{protocol} needs {flag}sasl-username (or sasl.jaas.config in {flag}command-config)")
        if password is None:
            password = _prompt_password(username, flag)
        sasl = Sasl(mechanism, username, password)
    tls = Tls(**tls_args, verify=verify, check_hostname=check_hostname) if uses_tls else None
    if tls is not None:
        context(tls)  # unreadable files are reported before connecting
    return Security(protocol, sasl, tls)


def _prompt_password(username: str, flag: str) -> str:
    env = "KAFKAISH_TO_SASL_PASSWORD" if flag == "--to-" else "KAFKAISH_SASL_PASSWORD"
    if not sys.stdin.isatty():
        raise CliError(f"no SASL password for {username}: set {env}, give {flag}sasl-password or "
                       f"sasl.jaas.config in {flag}command-config")
    import click

    return str(click.prompt(f"SASL password for {username}", hide_input=True, err=True))


# --------------------------------------------------------------------------- --command-config


def read_properties(path: str) -> dict[str, str]:
    """A Java properties file (``key=value``, ``key: value``, ``#``/``!`` comments, ``\\`` continuations)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise CliError(f"cannot read the client config {path}: {e.strerror or e}") from None
    props: dict[str, str] = {}
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.lstrip()
        pending = ""
        if not line or line[0] in "#!":
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending = line[:-1]
            continue
        match = re.match(r"((?:[^=:\s\\]|\\.)+)\s*[=:\s]\s*(.*)$", line)
        if match is None:
            props[line.strip()] = ""
        else:
            props[match.group(1).replace("\\", "")] = match.group(2).strip()
    return props


def from_properties(props: dict[str, str], path: str) -> dict[str, Any]:
    """Kafka (and librdkafka) client properties -> ``resolve``'s settings; CliError for what kafkaish cannot use."""
    out: dict[str, Any] = {}
    if props.get("security.protocol"):
        out["protocol"] = props["security.protocol"]
    mechanism = props.get("sasl.mechanism") or props.get("sasl.mechanisms")
    if mechanism:
        out["mechanism"] = mechanism
    jaas = props.get("sasl.jaas.config")
    if jaas:
        module = jaas.split(None, 1)[0]
        if not module.endswith(("PlainLoginModule", "ScramLoginModule")):
            raise CliError(f"{path}: sasl.jaas.config uses {module}; kafkaish supports PLAIN and SCRAM")
        options = {k: re.sub(r"\\(.)", r"\1", v) for k, v in re.findall(r'(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"', jaas)}
        out.update({k: options[k] for k in ("username", "password") if k in options})
    for ours, theirs in (("username", "sasl.username"), ("password", "sasl.password")):
        if props.get(theirs):
            out[ours] = props[theirs]
    _tls_properties(props, path, out)
    return out


def _tls_properties(props: dict[str, str], path: str, out: dict[str, Any]) -> None:
    truststore = props.get("ssl.truststore.location")
    if truststore:
        _need_pem(props.get("ssl.truststore.type"), truststore, "ssl.truststore", path)
        out["ca"] = truststore
    if props.get("ssl.truststore.certificates"):
        out["ca_data"] = props["ssl.truststore.certificates"]
    keystore = props.get("ssl.keystore.location")
    if keystore:  # a PEM keystore file holds the private key and the certificate chain
        _need_pem(props.get("ssl.keystore.type"), keystore, "ssl.keystore", path)
        out["cert"] = keystore
    if props.get("ssl.keystore.key") or props.get("ssl.keystore.certificate.chain"):
        raise CliError(f"{path}: inline ssl.keystore.key is not supported; put the PEM in a file "
                       "(ssl.keystore.location) or use --ssl-cert/--ssl-key")
    for ours, theirs in (("ca", "ssl.ca.location"), ("cert", "ssl.certificate.location"), ("key", "ssl.key.location"),
                         ("key_password", "ssl.key.password")):
        if props.get(theirs):
            out[ours] = props[theirs]
    if "ssl.endpoint.identification.algorithm" in props:
        out["check_hostname"] = props["ssl.endpoint.identification.algorithm"].lower() == "https"
    if props.get("enable.ssl.certificate.verification", "true").lower() == "false":
        out["verify"] = False


def _need_pem(kind: str | None, location: str, prefix: str, path: str) -> None:
    """Kafka's default store type is JKS; kafkaish reads PEM only (ssl.*.type=PEM, or a file that is PEM)."""
    if kind is not None and kind.upper() == "PEM":
        return
    if kind is None:
        try:
            with open(location, "rb") as f:
                if f.read(64).lstrip().startswith(b"-----BEGIN"):
                    return
        except OSError as e:
            raise CliError(f"{path}: cannot read {prefix}.location {location}: {e.strerror or e}") from None
    raise CliError(f"{path}: {prefix}.type {kind or 'JKS (the default)'} is not supported: kafkaish reads PEM "
                   f"files ({prefix}.type=PEM); convert with keytool/openssl")
