"""SASL mechanism state machines against hand-driven exchanges (real clients: tests/e2e/test_sasl.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from kafkaish.sasl import PlainServer, SaslError, ScramServer


def test_plain_rejects_malformed_tokens_and_wrong_passwords():
    with pytest.raises(SaslError, match="3 tokens"):
        PlainServer({}).feed(b"user-only")
    with pytest.raises(SaslError, match="Invalid username or password"):
        PlainServer({"u": "p"}).feed(b"\x00u\x00nope")
    server = PlainServer({"u": "p"})
    assert server.feed(b"\x00u\x00p") == b"" and server.done and server.user == "u"


def scram_client_final(server_first: bytes, password: str, client_first_bare: str, algo: str) -> tuple[str, bytes]:
    attrs = dict(item.split("=", 1) for item in server_first.decode().split(","))
    salted = hashlib.pbkdf2_hmac(algo, password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", algo).digest()
    without_proof = f"c=biws,r={attrs['r']}"
    auth = f"{client_first_bare},{server_first.decode()},{without_proof}".encode()
    sig = hmac.new(hashlib.new(algo, client_key).digest(), auth, algo).digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, sig))).decode()
    server_sig = hmac.new(hmac.new(salted, b"Server Key", algo).digest(), auth, algo).digest()
    return f"{without_proof},p={proof}", b"v=" + base64.b64encode(server_sig)


@pytest.mark.parametrize("mechanism,algo", [("SCRAM-SHA-256", "sha256"), ("SCRAM-SHA-512", "sha512")])
def test_scram_full_exchange_and_server_signature(mechanism, algo):
    server = ScramServer(mechanism, {"a,b=c": "pw"})
    bare = "n=a=2Cb=3Dc,r=abc123"  # RFC 5802 escaping of ',' and '='
    first = server.feed(("n,," + bare).encode())
    final, expected_signature = scram_client_final(first, "pw", bare, algo)
    assert server.feed(final.encode()) == expected_signature
    assert server.done and server.user == "a,b=c"
    with pytest.raises(SaslError):
        server.feed(b"anything more")


def test_scram_rejects_a_wrong_password_a_changed_nonce_and_unknown_users():
    bare = "n=u,r=nonce"
    server = ScramServer("SCRAM-SHA-256", {"u": "pw"})
    final, _ = scram_client_final(server.feed(("n,," + bare).encode()), "wrong", bare, "sha256")
    with pytest.raises(SaslError, match="invalid credentials"):
        server.feed(final.encode())
    server = ScramServer("SCRAM-SHA-256", {"u": "pw"})
    final, _ = scram_client_final(server.feed(("n,," + bare).encode()), "pw", bare, "sha256")
    with pytest.raises(SaslError):
        server.feed(final.replace("r=nonce", "r=other", 1).encode())
    with pytest.raises(SaslError):
        ScramServer("SCRAM-SHA-256", {"u": "pw"}).feed(b"n,,n=stranger,r=x")
