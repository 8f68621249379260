"""The command line's Kafka client: blocking sockets around the sans-IO ``ClientCodec``.

Every command speaks the Kafka protocol, so it works against any Kafka broker, not only
kafkaish. A ``Connection`` makes the TLS handshake when asked (``kafkaish.cli.security``, which
imports ``ssl`` only then), sends ApiVersions first, authenticates with SASL when asked
(PLAIN, SCRAM-SHA-256/512), and then uses the highest version both sides support for each
request (as librdkafka and kafka-python do). A ``Cluster`` holds the bootstrap connection,
the broker list from Metadata and one connection per broker, and finds partition leaders and
group coordinators.

Failures become one-line ``CliError`` messages: an unreachable bootstrap fails after the
connect timeout (5 s at most), a port that answers something other than Kafka says so.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kafkaish.wire.codec import ClientCodec
from kafkaish.wire.constants import CoordinatorType
from kafkaish.wire.errors import ErrorCode, ProtocolError
from kafkaish.wire.messages.api_versions import ApiVersionsRequest
from kafkaish.wire.messages.find_coordinator import FindCoordinatorRequest
from kafkaish.wire.messages.metadata import MetadataRequest
from kafkaish.wire.messages.sasl_authenticate import SaslAuthenticateRequest
from kafkaish.wire.messages.sasl_handshake import SaslHandshakeRequest
from kafkaish.wire.protocol import Message

if TYPE_CHECKING:
    from kafkaish.cli.security import Tls

CLIENT_ID = "kafkaish-cli"
CONNECT_TIMEOUT = 5.0
CREATED_TOPIC_WAIT_S = 10.0  # how long a just-created topic may stay unknown to the broker asked
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")  # Kafka's security.protocol
# Errors after which Kafka clients refresh metadata and retry (RetriableException subclasses).
RETRIABLE = frozenset({
    ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.LEADER_NOT_AVAILABLE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    ErrorCode.REQUEST_TIMED_OUT, ErrorCode.NOT_ENOUGH_REPLICAS, ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
    ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.NOT_COORDINATOR,
    ErrorCode.FENCED_LEADER_EPOCH, ErrorCode.UNKNOWN_LEADER_EPOCH, ErrorCode.KAFKA_STORAGE_ERROR,
})


class CliError(Exception):
    """A failure to report to the user as one line (exit status 1)."""


class SecurityError(CliError):
    """A TLS or SASL failure, already explained: passed on as it is."""


def error_text(code: int, message: str | None = None) -> str:
    try:
        name = ErrorCode(code).name
    except ValueError:
        name = f"error {code}"
    return f"{name}: {message}" if message else name


def parse_bootstrap(bootstrap: str) -> list[tuple[str, int]]:
    """``host:port[,host:port...]`` -> addresses; CliError when malformed."""
    out = []
    for item in bootstrap.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise CliError(f"bad bootstrap server {item.strip()!r}: expected host:port")
        out.append((host.strip("[]"), int(port)))
    return out


@dataclass(frozen=True)
class Sasl:
    mechanism: str
    username: str
    password: str = field(repr=False)


# --------------------------------------------------------------------------- SASL clients


class _PlainClient:
    def __init__(self, sasl: Sasl) -> None:
        self.first = b"\x00" + sasl.username.encode() + b"\x00" + sasl.password.encode()

    def next(self, server: bytes) -> bytes | None:
        return None


class _ScramClient:
    """Client side of SCRAM (RFC 5802): client-first, then client-final with the proof."""

    def __init__(self, sasl: Sasl) -> None:
        self.hash = "sha256" if sasl.mechanism == "SCRAM-SHA-256" else "sha512"
        self.password = sasl.password.encode()
        name = sasl.username.replace("=", "=3D").replace(",", "=2C")
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.bare = f"n={name},r={self.nonce}"
        self.first = ("n,," + self.bare).encode()
        self.server_signature = b""
        self.state = "first"

    def _hmac(self, key: bytes, msg: bytes) -> bytes:
        return hmac.new(key, msg, self.hash).digest()

    def next(self, server: bytes) -> bytes | None:
        text = server.decode("utf-8", "replace")
        attrs = {item[0]: item[2:] for item in text.split(",") if len(item) >= 2 and item[1] == "="}
        if self.state == "final":
            if base64.b64decode(attrs.get("v", "")) != self.server_signature:
                raise CliError("SASL SCRAM: the server's signature does not match")
            return None
        nonce, salt, iterations = attrs.get("r", ""), attrs.get("s", ""), int(attrs.get("i", "0"))
        if not nonce.startswith(self.nonce) or not salt or iterations < 1:
            raise CliError(f"SASL SCRAM: unexpected server message {text!r}")
        salted = hashlib.pbkdf2_hmac(self.hash, self.password, base64.b64decode(salt), iterations)
        without_proof = f"c=biws,r={nonce}"
        auth_message = f"{self.bare},{text},{without_proof}".encode()
        client_key = self._hmac(salted, b"Client Key")
        signature = self._hmac(hashlib.new(self.hash, client_key).digest(), auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        self.server_signature = self._hmac(self._hmac(salted, b"Server Key"), auth_message)
        self.state = "final"
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


# --------------------------------------------------------------------------- connection


class Connection:
    """One blocking connection to one broker, with negotiated API versions."""

    def __init__(self, host: str, port: int, *, timeout: float = 30.0, sasl: Sasl | None = None,
                 tls: Tls | None = None) -> None:
        self.address = f"{host}:{port}"
        self.timeout = timeout
        self.tls, self.sasl = tls, sasl
        self._answered = False  # has anything arrived yet (a first TLS record means an SSL listener)
        self._requests = 0  # requests sent since the handshake (ApiVersions, SASL) finished
        self._ready = False
        try:
            self.sock = socket.create_connection((host, port), timeout=min(timeout, CONNECT_TIMEOUT))
        except socket.timeout:
            raise CliError(f"cannot connect to {self.address}: no answer within "
                           f"{min(timeout, CONNECT_TIMEOUT):g} s") from None
        except OSError as e:
            raise CliError(f"cannot connect to {self.address}: {e.strerror or e}") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            from kafkaish.cli.security import wrap

            self.sock = wrap(self.sock, tls, host, self.address)
        self.codec = ClientCodec(client_id=CLIENT_ID)
        try:
            self.versions = self._api_versions()
            if sasl is not None:
                self._authenticate(sasl)
        except BaseException:
            self.sock.close()
            raise
        self._ready, self._requests = True, 0
        self.sock.settimeout(timeout)

    @classmethod
    def open(cls, bootstrap: str, timeout: float = 30.0, sasl: Sasl | None = None,
             tls: Tls | None = None) -> Connection:
        """A connection to the first reachable address of ``bootstrap``."""
        last: CliError | None = None
        for host, port in parse_bootstrap(bootstrap):
            try:
                return cls(host, port, timeout=timeout, sasl=sasl, tls=tls)
            except CliError as e:
                last = e
        assert last is not None
        raise last

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- requests

    def send(self, request: Message, version: int | None = None, *, expect_response: bool = True) -> int:
        """Send ``request`` (at the negotiated version unless given); its correlation id."""
        if version is None:
            version = self.version(type(request))
        correlation_id, data = self.codec.encode_request(request, version, expect_response=expect_response)
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise self._failed(e) from None
        self._requests += 1
        return correlation_id

    def receive(self, correlation_id: int) -> Any:
        """The response to ``correlation_id`` (responses arrive in request order)."""
        try:
            while True:
                got = self.codec.next_response()
                if got is not None:
                    if got[0] != correlation_id:
                        raise CliError(f"{self.address} answered out of order")
                    return got[1]
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    raise CliError(f"{self.address} closed the connection" + self._closed_hint())
                if not self._answered and self.tls is None and chunk[0] in (0x15, 0x16) and chunk[1:2] == b"\x03":
                    raise SecurityError(f"{self.address} answered with TLS: it is an SSL listener "
                                        "(--security-protocol SSL or SASL_SSL)")
                self._answered = True
                self.codec.receive_data(chunk)
        except socket.timeout:
            raise CliError(f"no answer from {self.address} within {self.sock.gettimeout():g} s") from None
        except OSError as e:
            raise self._failed(e) from None

    def _failed(self, e: OSError) -> CliError:
        if self.tls is not None and hasattr(e, "library"):  # an ssl.SSLError (a TLS alert after the handshake)
            from kafkaish.cli.security import tls_error_text

            return SecurityError(f"TLS error from {self.address}: {tls_error_text(e, self.tls)}")
        return CliError(f"connection to {self.address} failed: {e.strerror or e}" + self._closed_hint())

    def _closed_at_once(self) -> str:
        """What a connection closed before any answer most likely means."""
        if self.tls is None:
            return (f"{self.address} closed the connection at once: an SSL listener (--security-protocol SSL "
                    "or SASL_SSL)? or not Kafka")
        if self.tls.cert:
            return (f"{self.address} closed the connection after the TLS handshake: it probably does not accept the "
                    f"client certificate {self.tls.cert}")
        return (f"{self.address} closed the connection after the TLS handshake: it probably wants a client "
                "certificate (--ssl-cert and --ssl-key)")

    def _closed_hint(self) -> str:
        # A SASL listener closes a connection whose first request after ApiVersions is not SASL
        # (Kafka's SaslServerAuthenticator): say so rather than leave the user guessing.
        if self.sasl is None and self._ready and self._requests == 1:
            return " (a SASL listener? give --sasl-mechanism, --sasl-username and the password)"
        return ""

    def call(self, request: Message, version: int | None = None) -> Any:
        return self.receive(self.send(request, version))

    def version(self, cls: type[Message], lowest: int = 0, highest: int | None = None) -> int:
        """Highest version of ``cls`` both sides speak, within [lowest, highest]."""
        name = cls.__name__.removesuffix("Request")
        if cls.API_KEY not in self.versions:
            raise CliError(f"{self.address} does not support {name}")
        broker_min, broker_max = self.versions[cls.API_KEY]
        chosen = min(broker_max, cls.MAX_VERSION, cls.MAX_VERSION if highest is None else highest)
        if chosen < max(broker_min, cls.MIN_VERSION, lowest):
            raise CliError(f"no common version of {name} with {self.address}")
        return chosen

    def supports(self, cls: type[Message]) -> bool:
        return cls.API_KEY in self.versions

    # ---------------------------------------------------------------- handshake

    def _api_versions(self) -> dict[int, tuple[int, int]]:
        # v3 first (flexible); a broker that cannot read it answers error 35 with a v0 body.
        try:
            response = self.call(ApiVersionsRequest(client_software_name=CLIENT_ID, client_software_version="1"), 3)
            if response.error_code == ErrorCode.UNSUPPORTED_VERSION:
                response = self.call(ApiVersionsRequest(), 0)
        except (ProtocolError, ValueError, IndexError, KeyError) as e:
            raise CliError(f"{self.address} is not Kafka: its answer to ApiVersions is not Kafka's ({e})") from None
        except SecurityError:
            raise
        except CliError as e:
            if not self._answered and "closed the connection" in str(e):
                raise SecurityError(self._closed_at_once()) from None
            raise CliError(f"{self.address} is not Kafka? {e} during ApiVersions") from None
        if response.error_code:
            raise CliError(f"ApiVersions failed at {self.address}: " + error_text(response.error_code))
        if not response.api_keys:
            raise CliError(f"{self.address} is not Kafka: it lists no APIs")
        return {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}

    def _authenticate(self, sasl: Sasl) -> None:
        if sasl.mechanism not in SASL_MECHANISMS:
            raise CliError(f"unknown SASL mechanism {sasl.mechanism!r} (choose from {', '.join(SASL_MECHANISMS)})")
        handshake = self.call(SaslHandshakeRequest(mechanism=sasl.mechanism), self.version(SaslHandshakeRequest))
        if handshake.error_code:
            raise CliError(f"{self.address} does not enable SASL mechanism {sasl.mechanism} "
                           f"(enabled: {', '.join(handshake.mechanisms) or 'none'})")
        client: _PlainClient | _ScramClient = (
            _PlainClient(sasl) if sasl.mechanism == "PLAIN" else _ScramClient(sasl))
        token: bytes | None = client.first
        while token is not None:
            response = self.call(SaslAuthenticateRequest(auth_bytes=token))
            if response.error_code:
                raise SecurityError("SASL authentication failed: "
                                    + error_text(response.error_code, response.error_message))
            token = client.next(bytes(response.auth_bytes or b""))


# --------------------------------------------------------------------------- cluster


@dataclass
class TopicInfo:
    name: str
    leaders: dict[int, int]  # partition -> leader node id
    topic_id: Any = None
    is_internal: bool = False
    raw: Any = None

    @property
    def partitions(self) -> list[int]:
        return sorted(self.leaders)


@dataclass
class Cluster:
    """Connections to the brokers of one cluster, found from the bootstrap servers."""

    bootstrap: str
    sasl: Sasl | None = None
    timeout: float = 30.0
    tls: Tls | None = None
    brokers: dict[int, tuple[str, int]] = field(default_factory=dict)
    _conns: dict[int, Connection] = field(default_factory=dict)
    _boot: Connection | None = None

    @property
    def boot(self) -> Connection:
        if self._boot is None:
            self._boot = Connection.open(self.bootstrap, self.timeout, self.sasl, self.tls)
        return self._boot

    def close(self) -> None:
        for conn in {id(c): c for c in [*self._conns.values(), *([self._boot] if self._boot else [])]}.values():
            conn.close()
        self._conns.clear()
        self._boot = None

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def metadata(self, topics: Sequence[str] | None, *, auto_create: bool = False) -> Any:
        conn = self.boot
        version = conn.version(MetadataRequest, lowest=1)
        wanted = None if topics is None else [MetadataRequest.MetadataRequestTopic(name=t) for t in topics]
        response = conn.call(MetadataRequest(topics=wanted, allow_auto_topic_creation=auto_create), version)
        self.brokers = {b.node_id: (b.host, b.port) for b in response.brokers}
        return response

    def topic(self, name: str, *, retries: int = 20, created: bool = False) -> TopicInfo:
        """Partitions and leaders of ``name``; CliError when it does not exist. ``created``: the
        topic was just created, so "unknown" means "not yet": Kafka's brokers learn of a new topic
        from the controller a moment after CreateTopics answers."""
        deadline = time.monotonic() + (CREATED_TOPIC_WAIT_S if created else 0)
        for attempt in range(retries):
            (t,) = self.metadata([name]).topics
            if t.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION and time.monotonic() >= deadline:
                raise CliError(f"topic {name!r} does not exist")
            if t.error_code == ErrorCode.TOPIC_AUTHORIZATION_FAILED:
                raise CliError(f"topic {name!r}: " + error_text(t.error_code))
            leaders = {p.partition_index: p.leader_id for p in t.partitions}
            if not t.error_code and leaders and all(node >= 0 for node in leaders.values()):
                return TopicInfo(name, leaders, getattr(t, "topic_id", None), bool(t.is_internal), t)
            time.sleep(min(0.05 * (attempt + 1), 0.5))  # a new topic: leaders are being elected
        raise CliError(f"topic {name!r} has no leader: " + error_text(t.error_code or ErrorCode.LEADER_NOT_AVAILABLE))

    def node(self, node_id: int) -> Connection:
        conn = self._conns.get(node_id)
        if conn is None:
            if node_id not in self.brokers:
                self.metadata([])
            if node_id not in self.brokers:
                raise CliError(f"broker {node_id} is not in the cluster's metadata")
            host, port = self.brokers[node_id]
            boot = self.boot
            if boot.address == f"{host}:{port}":
                conn = boot
            else:
                conn = Connection(host, port, timeout=self.timeout, sasl=self.sasl, tls=self.tls)
            self._conns[node_id] = conn
        return conn

    def forget(self, node_id: int) -> None:
        """Drop a broker's connection after it failed (the next use reconnects)."""
        conn = self._conns.pop(node_id, None)
        if conn is not None and conn is not self._boot:
            conn.close()

    def all_nodes(self) -> list[Connection]:
        self.metadata([])
        return [self.node(n) for n in sorted(self.brokers)]

    def coordinator(self, group: str) -> Connection:
        conn = self.boot
        version = conn.version(FindCoordinatorRequest)
        for attempt in range(20):
            if version >= 4:
                response = conn.call(FindCoordinatorRequest(key_type=CoordinatorType.GROUP, coordinator_keys=[group]),
                                     version)
                (c,) = response.coordinators
            else:
                c = conn.call(FindCoordinatorRequest(key=group, key_type=CoordinatorType.GROUP), version)
            if not c.error_code:
                self.brokers.setdefault(c.node_id, (c.host, c.port))
                return self.node(c.node_id)
            if c.error_code not in RETRIABLE:
                raise CliError(f"group {group!r}: " + error_text(c.error_code, c.error_message))
            time.sleep(min(0.05 * (attempt + 1), 0.5))
        raise CliError(f"no coordinator for group {group!r}: " + error_text(c.error_code, c.error_message))

    def by_leader(self, topic: TopicInfo, partitions: Iterable[int]) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for p in partitions:
            out.setdefault(topic.leaders[p], []).append(p)
        return out


def AdminConnection(bootstrap: str, timeout: float = 30.0, sasl: Sasl | None = None,  # noqa: N802
                    tls: Tls | None = None) -> Connection:
    """A connection to the first reachable bootstrap server (the name tests have used)."""
    return Connection.open(bootstrap, timeout, sasl, tls)
