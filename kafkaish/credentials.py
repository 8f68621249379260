"""SCRAM credentials created over the wire (KIP-554), stored durably with the rest of the metadata.

One entry per (user, mechanism): salt, StoredKey, ServerKey and iterations, as Kafka's
ScramCredential; the salted password a client sends in AlterUserScramCredentials is turned into
those keys and not kept. SASL logins look credentials up here before the configured users.
"""

from __future__ import annotations

import base64
import json

from kafkaish.sasl import SCRAM_HASHES, ScramCredential
from kafkaish.storage import StorageEngine

STATE_STORE = "scram_credentials"
#: ScramMechanism codes of the SCRAM admin APIs
MECHANISM_CODES = {1: "SCRAM-SHA-256", 2: "SCRAM-SHA-512"}
CODE_OF = {name: code for code, name in MECHANISM_CODES.items()}

__all__ = ["CODE_OF", "MECHANISM_CODES", "ScramStore"]


def _key(user: str, mechanism: str) -> str:
    return json.dumps([user, mechanism])


class ScramStore:
    """user -> mechanism -> ScramCredential, persisted in a state store."""

    def __init__(self, storage: StorageEngine) -> None:
        self._store = storage.state_store(STATE_STORE)
        self._users: dict[str, dict[str, ScramCredential]] = {}
        for key, raw in self._store.items().items():
            user, mechanism = json.loads(key)
            d = json.loads(raw)
            self._users.setdefault(user, {})[mechanism] = ScramCredential(
                base64.b64decode(d["salt"]), base64.b64decode(d["stored_key"]), base64.b64decode(d["server_key"]),
                d["iterations"])

    def get(self, mechanism: str, user: str) -> ScramCredential | None:
        return self._users.get(user, {}).get(mechanism)

    def users(self) -> dict[str, dict[str, ScramCredential]]:
        return {user: dict(creds) for user, creds in self._users.items() if creds}

    def upsert(self, user: str, mechanism: str, salt: bytes, salted_password: bytes, iterations: int) -> None:
        credential = ScramCredential.from_salted(SCRAM_HASHES[mechanism], salt, salted_password, iterations)
        self._users.setdefault(user, {})[mechanism] = credential
        self._store.put(_key(user, mechanism), json.dumps({
            "salt": base64.b64encode(credential.salt).decode(),
            "stored_key": base64.b64encode(credential.stored_key).decode(),
            "server_key": base64.b64encode(credential.server_key).decode(),
            "iterations": iterations}).encode())

    def delete(self, user: str, mechanism: str) -> bool:
        """False when there was no such credential."""
        creds = self._users.get(user, {})
        if mechanism not in creds:
            return False
        del creds[mechanism]
        if not creds:
            del self._users[user]
        self._store.put(_key(user, mechanism), None)
        return True
