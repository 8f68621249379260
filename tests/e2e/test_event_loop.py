"""``kafkaish serve`` runs on uvloop when it is installed and on asyncio's default loop with
``--no-uvloop`` (issue #15): the same produce and fetch on both, through the file engine's
sendfile path (uvloop has no loop.sendfile: there the span is read and written in chunks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.clients import roundtrip_confluent


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_serve_produces_and_fetches_on_each_event_loop(server_process: Any, tmp_path: Path, loop: str) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    flags = [] if loop == "uvloop" else ["--no-uvloop"]
    server = server_process("--data-dir", str(tmp_path / "data"), "--default-partitions", "2", *flags)
    assert f"event loop: {loop}" in server.output
    # ~700 KB a partition: a fetch span of several write chunks (uvloop writes it chunk by chunk)
    records = [(b"k%d" % i, b"v%05d" % i * 1000, [("h", b"x")], 1_700_000_000_000 + i, i % 2) for i in range(200)]
    out = roundtrip_confluent(server.bootstrap, f"loop-{loop}", 2, records, None, seek=90, probe_ts=1_700_000_000_150)
    assert sorted((p, k, v) for p, _, k, v, _, _ in out.consumed) == sorted((p, k, v) for k, v, _, _, p in records)
    assert out.end == {0: 100, 1: 100}
    assert out.by_time == {0: 75, 1: 75}
    assert server.alive()
