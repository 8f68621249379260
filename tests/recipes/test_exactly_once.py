"""Exactly-once consume-transform-produce: the processor SIGKILLed before and after its commit.

20 input records, batches of 5; the processor dies at a crash point the second time it gets
there (batch r05-r09), a fresh process (same transactional.id) finishes. The output, read
with read_committed, holds each transformed record once. The negative check commits the
input offsets after the transaction instead of inside it: a crash between the two repeats
the batch in the output. The broker also closes the connection on the first
AddPartitionsToTxn, TxnOffsetCommit and EndTxn.
"""

from __future__ import annotations

import pytest

from kafkaish.wire.messages import ApiKey
from tests.recipes.faults import close_first
from tests.recipes.helpers import create_topic, outcome, produce, read_all, run_recipe

BATCH2 = [f"R{i:02d}" for i in range(5, 10)]
TXN_APIS = [ApiKey.ADD_PARTITIONS_TO_TXN, ApiKey.TXN_OFFSET_COMMIT, ApiKey.END_TXN]


CASES = [  # crash point, flags, duplicated, aborted
    ("before_commit", (), [], BATCH2),  # the open transaction is aborted by the restart
    ("after_commit", (), [], []),  # output and offsets were committed together
    ("after_commit", ("--offsets-after-txn",), BATCH2, []),  # negative: output committed, offsets not
]


def scenario(bootstrap: str, name: str, crash_at: str, flags: tuple[str, ...], duplicated: list[str],
             aborted: list[str]) -> None:
    sent = produce(bootstrap, f"{name}-in", [f"r{i:02d}" for i in range(20)])
    create_topic(bootstrap, f"{name}-out")
    args = ("--bootstrap", bootstrap, "--source", f"{name}-in", "--target", f"{name}-out", "--group", name, *flags)
    assert run_recipe("exactly_once", *args, crash_at=f"{crash_at}@2") == -9
    assert run_recipe("exactly_once", *args) == 0

    expected = [v.upper() for v in sent]
    committed = outcome(expected, [r.value.decode() for r in read_all(bootstrap, f"{name}-out")])
    assert (committed.lost, committed.duplicated) == ([], duplicated)
    # what read_committed protects from: a read_uncommitted reader also sees the aborted batch
    everything = outcome(expected, [r.value.decode() for r in
                                    read_all(bootstrap, f"{name}-out", isolation="read_uncommitted")])
    assert (everything.lost, everything.duplicated) == ([], sorted(duplicated + aborted))


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join([c[0], *c[1]]))
def test_crash_anywhere_yields_each_output_once(kb, name, case):
    closed = close_first(kb, *TXN_APIS)
    scenario(kb.bootstrap, name, *case)
    offsets_in_txn = not case[1]
    assert closed() == sorted(TXN_APIS if offsets_in_txn else set(TXN_APIS) - {ApiKey.TXN_OFFSET_COMMIT})
