"""Fixtures for the storage suite: one ``engine`` per storage engine (memory, file in tmp_path)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from kafkaish.storage import StorageEngine, open_engine
from kafkaish.wire.records import Record, build_batch

ENGINES = ["memory", "file", "file-zero-copy"]


@pytest.fixture(params=ENGINES)
def engine_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_engine(engine_kind: str, tmp_path) -> Iterator[Callable[..., StorageEngine]]:
    opened: list[StorageEngine] = []

    def make(**options: object) -> StorageEngine:
        url = "memory://" if engine_kind == "memory" else str(tmp_path / "data")
        if engine_kind == "file-zero-copy":
            options.setdefault("zero_copy", True)
        eng = open_engine(url, **options)
        opened.append(eng)
        return eng

    yield make
    for eng in opened:
        eng.close()


@pytest.fixture
def engine(make_engine: Callable[..., StorageEngine]) -> StorageEngine:
    return make_engine(fsync="never")


def new_topic(engine: StorageEngine, name: str = "t", partitions: int = 1, **configs: str):
    return engine.create_topic(name, partitions, {k.replace("_", "."): v for k, v in configs.items()}, uuid.uuid4())


def batch(*values: bytes | None, keys: list[bytes | None] | None = None, ts: int = 1_000, **kw: object) -> bytes:
    """A batch of ``values`` with keys (default k0, k1...) all at timestamp ``ts``."""
    keys = keys if keys is not None else [b"k%d" % i for i in range(len(values))]
    return build_batch([Record(i, ts, k, v) for i, (k, v) in enumerate(zip(keys, values))], **kw)
