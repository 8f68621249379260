"""kafkaish compat shim for kafka-python's ``test.testutil``, used only when the sdist lacks it.

kafka-python 3.0.12's sdist ships its own ``test/testutil.py`` (then that one is used);
this fallback provides the helpers the integration tests import, written for kafkaish.
"""
from __future__ import annotations

import os
import random
import re
import string
import time

import pytest


def env_kafka_version() -> tuple:
    """KAFKA_VERSION as a tuple ('4.0' -> (4, 0)); () when unset; 'trunk' sorts above everything."""
    raw = os.environ.get("KAFKA_VERSION")
    if not raw:
        return ()
    if raw == "trunk":
        return (float("inf"),)
    return tuple(int(part) for part in raw.split("."))


def random_string(length: int) -> str:
    return "".join(random.choice(string.ascii_letters) for _ in range(length))


def special_to_underscore(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]+", "_", text)


def assert_message_count(messages, expected: int) -> None:
    """Exactly ``expected`` messages, no (key, value) duplicates."""
    assert len(messages) == expected, f"expected {expected} messages, got {len(messages)}"
    distinct = {(m.key, m.value) for m in messages}
    assert len(distinct) == expected, f"expected {expected} distinct messages, got {len(distinct)}"


def maybe_skip_unsupported_compression(compression_type) -> None:
    import kafka.codec
    names = {1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
    name = names.get(compression_type, compression_type)
    if name and not getattr(kafka.codec, f"has_{name}", lambda: True)():
        pytest.skip(f"compression library for {name} not installed")


class Timer:
    def __enter__(self) -> "Timer":
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        self.end = time.monotonic()
        self.interval = self.end - self.start
