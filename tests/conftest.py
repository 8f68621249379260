"""Shared fixtures: a real kafkaish broker on 127.0.0.1, in-process or as a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kafkaish.testing import EmbeddedBroker


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    """An in-memory broker on a free port; ``broker.bootstrap`` is "127.0.0.1:PORT"."""
    with EmbeddedBroker() as kb:
        yield kb


@pytest.fixture
def broker_factory() -> Iterator[Callable[..., EmbeddedBroker]]:
    """Start brokers with custom settings (``data_dir=...``, ``auto_create_topics=False``...)."""
    started: list[EmbeddedBroker] = []

    def make(**settings: Any) -> EmbeddedBroker:
        kb = EmbeddedBroker(**settings).start()
        started.append(kb)
        return kb

    yield make
    for kb in reversed(started):
        kb.stop()


class ServerProcess:
    """``python -m kafkaish serve`` as a subprocess; waits for its ready line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.args = ["--port", "0", *args]
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.bootstrap = ""

    def start(self, timeout: float = 30) -> "ServerProcess":
        self.proc = subprocess.Popen([sys.executable, "-m", "kafkaish", "serve", *self.args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env)
        assert self.proc.stdout is not None
        lines = []
        for line in self.proc.stdout:
            lines.append(line)
            m = re.match(r"kafkaish ready on (\S+):(\d+)", line)
            if m:
                self.bootstrap = f"{m.group(1)}:{m.group(2)}"
                return self
        raise RuntimeError("server exited before ready:\n" + "".join(lines))

    def stop(self, sig: int | None = None) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.stdout:
                self.proc.stdout.close()


@pytest.fixture
def server_process() -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def make(*args: str, env: dict[str, str] | None = None) -> ServerProcess:
        sp = ServerProcess(*args, env=env).start()
        started.append(sp)
        return sp

    yield make
    for sp in started:
        if sp.proc is not None and sp.proc.poll() is None:
            sp.stop()


@pytest.fixture
def topic_name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: longer end-to-end tests")


REPO = Path(__file__).resolve().parent.parent
