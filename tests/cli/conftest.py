"""Helpers for the command-line tests: run ``python -m kafkaish`` as a user would."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest

from kafkaish.testing import EmbeddedBroker


# Record timestamps for tests: two hours ago on a whole minute, recent enough that the broker's
# retention (log.retention.ms, 7 days) never deletes them while a test runs.
BASE_TS = (int(time.time()) // 60 - 120) * 60_000


def iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, timezone.utc).isoformat()


@dataclass
class Done:
    code: int
    out: bytes
    err: str

    @property
    def text(self) -> str:
        return self.out.decode()

    def json(self) -> Any:
        return json.loads(self.out)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines()]


def kafkaish(*args: str, input: bytes | None = None, timeout: float = 120) -> Done:
    """``python -m kafkaish ARGS`` in a subprocess."""
    proc = subprocess.run([sys.executable, "-m", "kafkaish", *args], input=input, capture_output=True,
                          timeout=timeout)
    return Done(proc.returncode, proc.stdout, proc.stderr.decode())


def kafkaish_here(*args: str, input: bytes | None = None) -> Done:
    """``kafkaish.cli.main(ARGS)`` in this process, with its own stdin/stdout/stderr (fast)."""
    from kafkaish.cli import main

    stdin = io.TextIOWrapper(io.BytesIO(input or b""), encoding="utf-8")
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    stderr = io.StringIO()
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
    try:
        code = main(list(args))
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
    stdout.flush()
    return Done(code, stdout.buffer.getvalue(), stderr.getvalue())  # type: ignore[attr-defined]


@pytest.fixture
def cli(broker: EmbeddedBroker) -> Callable[..., Done]:
    """``cli("consume", "t", ...)``: a command against the test broker; fails on a non-zero exit
    unless ``code=`` says otherwise."""

    def run(*args: str, input: bytes | None = None, code: int = 0) -> Done:
        done = kafkaish_here(*args, "--bootstrap-server", broker.bootstrap, input=input)
        assert done.code == code, f"exit {done.code}: {done.err}"
        return done

    return run


def create_topic(cli: Callable[..., Done], name: str, partitions: int = 1) -> None:
    cli("topics", "create", name, "--partitions", str(partitions))
