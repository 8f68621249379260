"""At-most-once and at-least-once: a consumer process SIGKILLed between commit and processing.

20 records, batches of 5, the consumer dies the second time it reaches the crash point
(between the commit and the processing of records 5-9), then a fresh process finishes. The
broker also closes the connection on the first Fetch and the first OffsetCommit (the clients
retry both). Each recipe runs in its own order and in the opposite one (the negative check).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkaish.wire.messages import ApiKey
from tests.recipes.faults import close_first
from tests.recipes.helpers import lines, outcome, produce, run_recipe

BATCH2 = [f"r{i:02d}" for i in range(5, 10)]


def crash_then_resume(module: str, bootstrap: str, name: str, sink: Path, *flags: str) -> None:
    args = ("--bootstrap", bootstrap, "--topic", name, "--group", name, "--sink", str(sink), *flags)
    assert run_recipe(module, *args, crash_at="mid_batch@2") == -9
    assert run_recipe(module, *args) == 0


CASES = [  # module, flags, lost, duplicated
    ("at_most_once", (), BATCH2, []),  # commit, crash, process: the batch is lost, nothing twice
    ("at_most_once", ("--process-first",), [], BATCH2),  # negative: process-first repeats the batch
    ("at_least_once", (), [], BATCH2),  # process, crash, commit: the batch twice, nothing lost
    ("at_least_once", ("--commit-first",), BATCH2, []),  # negative: commit-first loses the batch
]


def scenario(bootstrap: str, name: str, tmp_path: Path, module: str, flags: tuple[str, ...],
             lost: list[str], duplicated: list[str]) -> None:
    sent = produce(bootstrap, name, [f"r{i:02d}" for i in range(20)])
    sink = tmp_path / "processed.txt"
    crash_then_resume(module, bootstrap, name, sink, *flags)
    got = outcome(sent, lines(sink))
    assert (got.lost, got.duplicated) == (lost, duplicated)


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join([c[0], *c[1]]))
def test_crash_between_commit_and_processing(kb, name, tmp_path, case):
    closed = close_first(kb, ApiKey.FETCH, ApiKey.OFFSET_COMMIT)
    scenario(kb.bootstrap, name, tmp_path, *case)
    assert closed() == [ApiKey.FETCH, ApiKey.OFFSET_COMMIT]
