"""Effectively-once: duplicates injected by the producer and by a consumer SIGKILLed before its commit.

20 payment events e00-e19, then e03, e07 and e11 again (a producer that retried without
idempotence); batches of 5; the consumer dies after applying e05-e09 and before committing,
a fresh process finishes; the broker closes the connection on the first Fetch and the first
OffsetCommit. The SQLite ledger holds each payment once; without the
deduplication (the negative check) it holds all eight extra deliveries.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from kafkaish.wire.messages import ApiKey
from tests.recipes.faults import close_first
from tests.recipes.helpers import outcome, produce, run_recipe

IDS = [f"e{i:02d}" for i in range(20)]
RESENT = ["e03", "e07", "e11"]


CASES = [  # flags, duplicated
    ((), []),
    (("--no-dedupe",), sorted(RESENT + IDS[5:10])),
]


def scenario(bootstrap: str, name: str, tmp_path: Path, flags: tuple[str, ...], duplicated: list[str]) -> None:
    events = [json.dumps({"id": i, "account": f"acct-{n % 3}", "amount": 10 + n}) for n, i in enumerate(IDS)]
    produce(bootstrap, name, events + [events[IDS.index(i)] for i in RESENT])
    db = tmp_path / "payments.db"
    args = ("--bootstrap", bootstrap, "--topic", name, "--group", name, "--db", str(db), *flags)
    assert run_recipe("effectively_once", *args, crash_at="mid_batch@2") == -9
    assert run_recipe("effectively_once", *args) == 0

    with sqlite3.connect(db) as conn:
        applied = [row[0] for row in conn.execute("SELECT event_id FROM payments")]
    got = outcome(IDS, applied)
    assert (got.lost, got.duplicated) == ([], duplicated)


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(c[0]) or "dedupe")
def test_duplicates_are_applied_once(kb, name, tmp_path, case):
    closed = close_first(kb, ApiKey.FETCH, ApiKey.OFFSET_COMMIT)  # aiokafka retries both
    scenario(kb.bootstrap, name, tmp_path, *case)
    assert closed() == [ApiKey.FETCH, ApiKey.OFFSET_COMMIT]
