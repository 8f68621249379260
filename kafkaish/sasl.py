"""SASL mechanisms for clients configured with ``security.protocol=SASL_PLAINTEXT``.

Sans-IO state machines, one per connection: ``feed(token) -> reply`` raises ``SaslError``
when authentication fails. PLAIN (RFC 4616) and SCRAM-SHA-256/512 (RFC 5802, RFC 7677, as
Kafka's ScramSaslServer) are offered.

kafkaish has one listener, so authentication is accepted but not required: a client that
authenticates must give valid credentials when users are configured (``sasl_users``), and
with no users configured PLAIN accepts anyone. SCRAM needs the password to prove itself to
the client, so it works only for configured users.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
from collections.abc import Mapping

MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SCRAM_ITERATIONS = 4096  # Kafka's ScramMechanism minimum


@functools.lru_cache(maxsize=1024)
def scram_credential(hash_name: str, user: str, password: str) -> tuple[bytes, bytes]:
    """(salt, salted password) for a user, derived once: Kafka stores derived SCRAM credentials
    (ScramCredential: salt, StoredKey, ServerKey) rather than deriving them per login, so a flood of
    logins costs HMACs, not 4096 PBKDF2 rounds each on the event loop."""
    salt = os.urandom(16)
    return salt, hashlib.pbkdf2_hmac(hash_name, password.encode(), salt, SCRAM_ITERATIONS)


class SaslError(Exception):
    """Authentication failed; the message is what the client is told."""


class PlainServer:
    def __init__(self, users: Mapping[str, str]) -> None:
        self.users = users
        self.user: str | None = None
        self.done = False

    def feed(self, token: bytes) -> bytes:
        parts = token.split(b"\x00")
        if len(parts) != 3 or not parts[1]:
            raise SaslError("Invalid SASL/PLAIN response: expected 3 tokens, got " + str(len(parts)))
        user, password = parts[1].decode("utf-8", "replace"), parts[2].decode("utf-8", "replace")
        if self.users and self.users.get(user) != password:
            raise SaslError("Authentication failed: Invalid username or password")
        self.user, self.done = user, True
        return b""


def _attrs(message: str) -> dict[str, str]:
    out = {}
    for item in message.split(","):
        if len(item) >= 2 and item[1] == "=":
            out[item[0]] = item[2:]
    return out


def _unescape(name: str) -> str:
    return name.replace("=2C", ",").replace("=3D", "=")


class ScramServer:
    """Server side of SCRAM (two client messages: client-first, client-final)."""

    def __init__(self, mechanism: str, users: Mapping[str, str]) -> None:
        self.hash = "sha256" if mechanism == "SCRAM-SHA-256" else "sha512"
        self.mechanism = mechanism
        self.users = users
        self.user: str | None = None
        self.done = False
        self._state = "first"
        self._salted = b""
        self._nonce = ""
        self._auth_prefix = ""

    def _hmac(self, key: bytes, msg: bytes) -> bytes:
        return hmac.new(key, msg, self.hash).digest()

    def _fail(self) -> SaslError:
        return SaslError("Authentication failed during authentication due to invalid credentials "
                         f"with SASL mechanism {self.mechanism}")

    def feed(self, token: bytes) -> bytes:
        message = token.decode("utf-8", "replace")
        if self._state == "first":
            return self._first(message)
        if self._state == "final":
            return self._final(message)
        raise SaslError("Unexpected SASL message after authentication completed")

    def _first(self, message: str) -> bytes:
        parts = message.split(",", 2)
        if not message.startswith(("n,", "y,")) or len(parts) < 3:
            raise SaslError("Invalid SCRAM client first message")
        bare = parts[2]
        attrs = _attrs(bare)
        user, client_nonce = _unescape(attrs.get("n", "")), attrs.get("r", "")
        password = self.users.get(user)
        if not client_nonce or password is None:
            raise self._fail()
        salt, self._salted = scram_credential(self.hash, user, password)
        self._nonce = client_nonce + base64.b64encode(os.urandom(18)).decode()
        server_first = f"r={self._nonce},s={base64.b64encode(salt).decode()},i={SCRAM_ITERATIONS}"
        self._auth_prefix = f"{bare},{server_first}"
        self.user = user
        self._state = "final"
        return server_first.encode()

    def _final(self, message: str) -> bytes:
        without_proof, _, proof_attr = message.rpartition(",p=")
        attrs = _attrs(without_proof)
        if attrs.get("r") != self._nonce or not proof_attr:
            raise self._fail()
        auth_message = f"{self._auth_prefix},{without_proof}".encode()
        client_key = self._hmac(self._salted, b"Client Key")
        stored_key = hashlib.new(self.hash, client_key).digest()
        signature = self._hmac(stored_key, auth_message)
        try:
            proof = base64.b64decode(proof_attr, validate=True)
        except ValueError:
            raise self._fail() from None
        candidate = bytes(a ^ b for a, b in zip(proof, signature))
        if len(proof) != len(signature) or not hmac.compare_digest(hashlib.new(self.hash, candidate).digest(),
                                                                   stored_key):
            raise self._fail()
        server_key = self._hmac(self._salted, b"Server Key")
        self._state, self.done = "done", True
        return b"v=" + base64.b64encode(self._hmac(server_key, auth_message))


def new_server(mechanism: str, users: Mapping[str, str]) -> PlainServer | ScramServer:
    if mechanism == "PLAIN":
        return PlainServer(users)
    return ScramServer(mechanism, users)
