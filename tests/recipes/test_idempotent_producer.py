"""The idempotent producer under broker faults: lost answers, a leader change, a closed connection.

30 keyed records to 3 partitions. The broker writes the first request and loses its answer,
answers the retry NOT_LEADER_OR_FOLLOWER, closes the connection on the next one and loses
the answer of the one after. Every record is in the log once; without idempotence (the
negative check) each record of a request whose answer was lost is in the log twice.
"""

from __future__ import annotations

import pytest

from kafka_recipes.idempotent_producer import publish
from tests.recipes.faults import script_produce_faults
from tests.recipes.helpers import create_topic, outcome, read_all

FAULTS = ["lost_answer", "not_leader", "close", "lost_answer"]


@pytest.mark.parametrize("idempotent", [True, False])
def test_retries_after_faults_write_each_record_once(kb, name, idempotent):
    create_topic(kb.bootstrap, name, partitions=3)
    sent = [f"m{i:02d}" for i in range(30)]
    faults = script_produce_faults(kb, name, FAULTS)
    publish(kb.bootstrap, name, [(v.encode(), v.encode()) for v in sent], idempotent=idempotent)

    assert [f for f, _ in faults.played] == FAULTS
    got = outcome(sent, [r.value.decode() for r in read_all(kb.bootstrap, name)])
    assert got.lost == []
    if idempotent:
        assert got.duplicated == []
    else:
        unacknowledged = faults.records_written_unacknowledged()
        assert unacknowledged > 0
        assert len(got.duplicated) == unacknowledged
