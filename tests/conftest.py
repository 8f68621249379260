"""Shared fixtures: a real kafkaish broker on 127.0.0.1, in-process or as a subprocess."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kafkaish.testing import EmbeddedBroker, ServerProcess


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


@pytest.fixture
def server_process() -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def make(*args: str, env: dict[str, str] | None = None) -> ServerProcess:
        sp = ServerProcess(*args, env=env).start()
        started.append(sp)
        return sp

    yield make
    for sp in started:
        if sp.alive():
            sp.stop()


@pytest.fixture
def topic_name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: longer end-to-end tests")


REPO = Path(__file__).resolve().parent.parent
