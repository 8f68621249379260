"""The transactional outbox: a relay process SIGKILLed between publishing a batch and marking it.

The service places 20 orders (state + outbox row in one SQLite transaction). The relay
publishes batches of 5 with an idempotent producer while the broker loses two Produce
answers and answers one NOT_LEADER_OR_FOLLOWER; it dies at its crash point in the second batch
(o05-o09); a new relay finishes. Downstream sees each order once. The negative checks: marking
before publishing loses the batch; restarting without reading back the topic repeats it.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from kafka_recipes.outbox import SCHEMA, place_order
from tests.recipes.faults import script_produce_faults
from tests.recipes.helpers import create_topic, outcome, read_all, run_recipe

IDS = [f"o{i:02d}" for i in range(20)]
BATCH2 = IDS[5:10]


@pytest.mark.parametrize("flags, lost, duplicated", [
    ((), [], []),
    (("--mark-first",), BATCH2, []),
    (("--no-recover",), [], BATCH2),
])
def test_relay_killed_between_publish_and_mark(kb, name, tmp_path, flags, lost, duplicated):
    create_topic(kb.bootstrap, name, partitions=3)
    db_path = tmp_path / "service.db"
    with sqlite3.connect(db_path) as db:
        db.executescript(SCHEMA)
        for n, order in enumerate(IDS):
            place_order(db, order, f"customer-{n % 4}", 100 + n, topic=name)
    faults = script_produce_faults(kb, name, ["lost_answer", "not_leader", "lost_answer"])

    args = ("--bootstrap", kb.bootstrap, "--db", str(db_path), "--topic", name, *flags)
    assert run_recipe("outbox", *args, crash_at="mid_batch@2") == -9
    assert run_recipe("outbox", *args) == 0

    assert len(faults.played) == 3
    got = outcome(IDS, [json.loads(r.value)["order"] for r in read_all(kb.bootstrap, name)])
    assert (got.lost, got.duplicated) == (lost, duplicated)
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT count(*) FROM outbox WHERE published = 0").fetchone() == (0,)
