"""SASL mechanisms for clients configured with ``security.protocol=SASL_PLAINTEXT``.

Sans-IO state machines, one per connection: ``feed(token) -> reply`` raises ``SaslError``
when authentication fails. PLAIN (RFC 4616) and SCRAM-SHA-256/512 (RFC 5802, RFC 7677, as
Kafka's ScramSaslServer) are offered.

On SASL_PLAINTEXT and SASL_SSL listeners authentication is required (``kafkaish.server``
enforces it) and only configured users log in. On PLAINTEXT and SSL listeners kafkaish still
offers it (a deliberate leniency kept from when it had one listener; Kafka answers
ILLEGAL_SASL_STATE there): valid credentials are needed when users are configured, and with
none configured PLAIN accepts anyone. SCRAM needs the password to prove itself to the
client, so it works only for configured users.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SCRAM_ITERATIONS = 4096  # Kafka's ScramMechanism minimum
SCRAM_MAX_ITERATIONS = 16384  # Kafka's ScramMechanism maximum
SCRAM_HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}


@dataclass(frozen=True, slots=True)
class ScramCredential:
    """What Kafka stores per user and mechanism (ScramCredential): never the password."""

    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int

    @classmethod
    def from_salted(cls, hash_name: str, salt: bytes, salted_password: bytes, iterations: int) -> ScramCredential:
        client_key = hmac.new(salted_password, b"Client Key", hash_name).digest()
        return cls(salt, hashlib.new(hash_name, client_key).digest(),
                   hmac.new(salted_password, b"Server Key", hash_name).digest(), iterations)


#: (mechanism, user) -> the stored credential, or None (the SCRAM admin APIs' store)
CredentialLookup = Callable[[str, str], "ScramCredential | None"]


@functools.lru_cache(maxsize=1024)
def scram_credential(hash_name: str, user: str, password: str) -> ScramCredential:
    """The credential of a configured user, derived once: Kafka stores derived SCRAM credentials
    rather than deriving them per login, so a flood of logins costs HMACs, not 4096 PBKDF2 rounds
    each on the event loop."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac(hash_name, password.encode(), salt, SCRAM_ITERATIONS)
    return ScramCredential.from_salted(hash_name, salt, salted, SCRAM_ITERATIONS)


class SaslError(Exception):
    """Authentication failed; the message is what the client is told."""


class PlainServer:
    def __init__(self, users: Mapping[str, str], anyone: bool = True) -> None:
        self.users = users
        self.anyone = anyone  # with no users configured, accept any name (not on SASL listeners)
        self.user: str | None = None
        self.done = False

    def feed(self, token: bytes) -> bytes:
        parts = token.split(b"\x00")
        if len(parts) != 3 or not parts[1]:
            raise SaslError("Invalid SASL/PLAIN response: expected 3 tokens, got " + str(len(parts)))
        user, password = parts[1].decode("utf-8", "replace"), parts[2].decode("utf-8", "replace")
        if (self.users or not self.anyone) and self.users.get(user) != password:
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

    def __init__(self, mechanism: str, users: Mapping[str, str], stored: CredentialLookup | None = None) -> None:
        self.hash = SCRAM_HASHES[mechanism]
        self.mechanism = mechanism
        self.users = users
        self.stored = stored
        self.user: str | None = None
        self.done = False
        self._state = "first"
        self._credential: ScramCredential | None = None
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
        credential = self.stored(self.mechanism, user) if self.stored is not None else None
        if credential is None and user in self.users:
            credential = scram_credential(self.hash, user, self.users[user])
        if not client_nonce or credential is None:
            raise self._fail()
        self._credential = credential
        self._nonce = client_nonce + base64.b64encode(os.urandom(18)).decode()
        server_first = (f"r={self._nonce},s={base64.b64encode(credential.salt).decode()},"
                        f"i={credential.iterations}")
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
        credential = self._credential
        assert credential is not None
        stored_key = credential.stored_key
        signature = self._hmac(stored_key, auth_message)
        try:
            proof = base64.b64decode(proof_attr, validate=True)
        except ValueError:
            raise self._fail() from None
        candidate = bytes(a ^ b for a, b in zip(proof, signature))
        if len(proof) != len(signature) or not hmac.compare_digest(hashlib.new(self.hash, candidate).digest(),
                                                                   stored_key):
            raise self._fail()
        self._state, self.done = "done", True
        return b"v=" + base64.b64encode(self._hmac(credential.server_key, auth_message))


def new_server(mechanism: str, users: Mapping[str, str], required: bool = False,
               stored: CredentialLookup | None = None) -> PlainServer | ScramServer:
    """The server side of ``mechanism``; ``required``: on a SASL listener (PLAIN accepts only ``users``);
    ``stored``: SCRAM credentials created with AlterUserScramCredentials (they win over ``users``)."""
    if mechanism == "PLAIN":
        return PlainServer(users, anyone=not required)
    return ScramServer(mechanism, users, stored)
