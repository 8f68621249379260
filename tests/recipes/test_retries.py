"""Retry topics with exponential backoff and jitter, a dead-letter topic, and its replay after the fix.

12 orders: 6 succeed at once, 3 "flaky" ones fail their first attempt, 3 "poison" ones fail
every attempt until the handler is fixed. Stages run one after the other: orders ->
orders.retry.1 -> orders.retry.2 -> orders.dlt.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from kafka_recipes.retries import demo_handler, replay_dlt, run_stage
from tests.recipes.helpers import create_topic, lines, outcome, produce, read_all, run_recipe

IDS = [f"o{i:02d}" for i in range(12)]
KIND = {i: ("flaky" if n % 4 == 1 else "poison" if n % 4 == 3 else "ok") for n, i in enumerate(IDS)}
POISON = [i for i in IDS if KIND[i] == "poison"]
FLAKY = [i for i in IDS if KIND[i] == "flaky"]
BASE_BACKOFF_S = 0.2


def setup_orders(bootstrap: str, base: str) -> None:
    for t in (f"{base}.retry.1", f"{base}.retry.2", f"{base}.dlt"):
        create_topic(bootstrap, t)
    produce(bootstrap, base, [json.dumps({"id": i, "kind": KIND[i], "currency": "EUR" if KIND[i] != "poison" else "XXX"})
                              for i in IDS])


def handled(sink) -> list[tuple[str, int, int]]:
    return [(i, int(a), int(t)) for i, a, t in (line.split() for line in lines(sink))]


def dead_letters(bootstrap: str, base: str) -> list[tuple[str, dict[str, bytes]]]:
    return [(json.loads(r.value)["id"], r.headers) for r in read_all(bootstrap, f"{base}.dlt")]


@pytest.mark.parametrize("replay", ["replay_dlt", "kafkaish copy"])
def test_backoff_dead_letters_and_replay(kb, name, tmp_path, replay):
    setup_orders(kb.bootstrap, name)
    sink = str(tmp_path / "handled.txt")
    for attempt in (0, 1, 2):
        run_stage(kb.bootstrap, name, attempt, demo_handler(sink, fixed=False), base_backoff_s=BASE_BACKOFF_S)

    done = {(i, a) for i, a, _ in handled(sink)}
    assert done == {(i, 0) for i in IDS if KIND[i] == "ok"} | {(i, 1) for i in FLAKY}
    # the schedule: attempt N is due base * 2^(N-1) * [1/2, 1] after the failure, runs no sooner
    due: dict[tuple[str, int], int] = {}
    for attempt in (1, 2):
        records = read_all(kb.bootstrap, f"{name}.retry.{attempt}")
        assert sorted(json.loads(r.value)["id"] for r in records) == sorted(FLAKY + POISON if attempt == 1 else POISON)
        ceiling_ms = BASE_BACKOFF_S * 2 ** (attempt - 1) * 1000
        backoffs = []
        for r in records:
            due[(json.loads(r.value)["id"], attempt)] = int(r.headers["retry.due-ms"])
            backoffs.append(int(r.headers["retry.backoff-ms"]))
            # due = failure + backoff; the record's timestamp is stamped just after the failure
            assert int(r.headers["retry.due-ms"]) - r.timestamp <= backoffs[-1] + 2  # + ms roundings
        assert all(ceiling_ms / 2 - 1 <= b <= ceiling_ms for b in backoffs), backoffs
        assert len(set(backoffs)) > 1, backoffs  # jittered: not all alike
    for i, a, t in handled(sink):
        if a > 0:
            assert t >= due[(i, a)], (i, a)
    # the DLT: poison orders after 3 attempts, the reason in headers
    dlt = dead_letters(kb.bootstrap, name)
    assert [i for i, _ in dlt] == POISON
    for i, h in dlt:
        assert h["retry.attempt"] == b"3" and h["error.class"] == b"ValueError"
        assert h["error.message"] == b"unknown currency 'XXX'"
        assert h["original.topic"] == name.encode() and h["original.offset"] == str(IDS.index(i)).encode()

    # the fix ships: replay the dead letters into the main topic, run the main stage again
    if replay == "replay_dlt":
        assert replay_dlt(kb.bootstrap, name) == len(POISON)
        assert replay_dlt(kb.bootstrap, name) == 0  # replayed once only
    else:  # the operator's way: the CLI copies the DLT back (keys, headers, timestamps kept)
        subprocess.run([sys.executable, "-m", "kafkaish", "copy", f"{name}.dlt", name, "-b", kb.bootstrap,
                        "--offset", "beginning"], check=True, timeout=60, capture_output=True)
        assert [i for i, _ in dead_letters(kb.bootstrap, name)] == POISON
        replayed = [json.loads(r.value)["id"] for r in read_all(kb.bootstrap, name)][len(IDS):]
        assert replayed == POISON
    run_stage(kb.bootstrap, name, 0, demo_handler(sink, fixed=True), base_backoff_s=BASE_BACKOFF_S)
    got = outcome(IDS, [i for i, _, _ in handled(sink)])
    assert (got.lost, got.duplicated) == ([], [])


@pytest.mark.parametrize("flags, lost, duplicated", [
    ((), [], ["o04", "o05", "o06", "o07"]),  # handled/forwarded again: each once more, none lost
    (("--commit-first",), ["o04", "o05", "o06", "o07"], []),  # negative: committed, then killed
])
def test_main_stage_killed_mid_batch(kb, name, tmp_path, flags, lost, duplicated):
    """The main stage dies between handling the batch o04-o07 (forwarding o05 and o07) and its commit."""
    setup_orders(kb.bootstrap, name)
    sink = str(tmp_path / "handled.txt")
    args = ("--bootstrap", kb.bootstrap, "--base", name, "--sink", sink, *flags)
    assert run_recipe("retries", *args, crash_at="mid_batch@2") == -9
    assert run_recipe("retries", *args) == 0
    for attempt in (1, 2):
        run_stage(kb.bootstrap, name, attempt, demo_handler(sink, fixed=False), base_backoff_s=BASE_BACKOFF_S)

    # every order ends handled or dead-lettered: nothing may vanish
    accounted = [i for i, _, _ in handled(sink)] + [i for i, _ in dead_letters(kb.bootstrap, name)]
    got = outcome(IDS, accounted)
    assert (got.lost, got.duplicated) == (lost, duplicated)
