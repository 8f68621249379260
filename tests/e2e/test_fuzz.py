"""A short fuzz run (scripts/fuzz.py) in CI: mutated real-client frames against a real server."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fuzz.py"


def _load_fuzz():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("kafkaish_fuzz", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads /proc")
def test_fuzzed_frames_crash_nothing_and_leak_no_connection(tmp_path):
    fuzz = _load_fuzz()
    result = fuzz.run_fuzz(frames=int(os.environ.get("KAFKAISH_FUZZ_FRAMES", "20000")), seed=7,
                           workdir=tmp_path)
    assert result.ok, result.report()
    assert sum(result.outcomes.values()) == result.frames
    # every kind of ending happened, so the run exercised survival, rejection and abandonment
    assert {"answered", "closed", "abandoned", "parked"} <= set(result.outcomes), result.report()
