"""The differential harness (compat/differential) itself, without java: its verdicts, its
deliberate list, and kafkaish against a second kafkaish, which must come out all "same"
(normalisation removes every id and time that legitimately differs between two brokers)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from kafkaish.testing import run_broker

DIFF = Path(__file__).resolve().parents[1] / "compat" / "differential"
sys.path[:0] = [str(DIFF), str(DIFF.parent)]

import engine  # noqa: E402
from scenarios import ALL_SCENARIOS  # noqa: E402

_spec = importlib.util.spec_from_file_location("differential_run", DIFF / "run.py")
diffrun = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(diffrun)


def _outcome(target: str, **checks: object) -> engine.Outcome:
    out = engine.Outcome("s", target)
    out.checks = [engine.Check(f"s.{k}", v) for k, v in checks.items()]
    return out


def test_compare_sorts_checks_into_same_deliberate_differ_and_missing():
    ours = _outcome("kafkaish", a={"x": 1}, b={"delay": 100, "y": 2}, c={"y": 3}, d={"z": 0})
    theirs = _outcome("reference", a={"x": 1}, b={"delay": 3000, "y": 2}, c={"y": 4}, e={"z": 0})
    deliberate = [engine.Deliberate("s.b", "delay", "faster default", 100)]
    verdicts = {v.check: v for v in engine.compare(ours, theirs, deliberate)}
    assert {k: v.status for k, v in verdicts.items()} == {
        "s.a": "same", "s.b": "deliberate", "s.c": "differ", "s.d": "missing", "s.e": "missing"}
    assert verdicts["s.c"].diffs == [("y", 3, 4, "")]
    # the `kafkaish` value pins a deliberate entry: another value is a real difference
    ours.checks[1].value = {"delay": 50, "y": 2}
    assert {v.check: v.status for v in engine.compare(ours, theirs, deliberate)}["s.b"] == "differ"


def test_deliberate_entries_are_well_formed():
    entries = diffrun.load_deliberate()
    assert entries, "deliberate.toml lists nothing"
    for entry in entries:
        assert entry.check and entry.path and len(entry.reason) > 20, entry


def test_every_api_kafkaish_advertises_has_a_scenario():
    with run_broker() as kb:
        advertised = diffrun.api_versions(kb.bootstrap)
    covered = {k for fn in ALL_SCENARIOS for k in fn.apis}
    assert set(advertised) - covered == set()


SELF_CHECK = ["produce_fetch_basic", "list_offsets_specs", "idempotence", "group_classic_lifecycle",
              "group_consumer_protocol", "txn_commit", "configs_describe", "topics_create_delete"]


def test_kafkaish_against_kafkaish_is_all_same():
    """Two kafkaish brokers differ only in ids and times: every check must be "same"."""
    chosen = [fn for fn in ALL_SCENARIOS if fn.__name__ in SELF_CHECK]
    assert len(chosen) == len(SELF_CHECK)
    with run_broker() as a, run_broker() as b:
        va, vb = diffrun.api_versions(a.bootstrap), diffrun.api_versions(b.bootstrap)
        versions = diffrun.common_versions(va, vb)
        for fn in chosen:
            left = engine.run_scenario(fn, "kafkaish", a.bootstrap, versions, va)
            right = engine.run_scenario(fn, "reference", b.bootstrap, versions, vb)
            assert not left.error and not right.error, (left.error, right.error)
            bad = [v for v in engine.compare(left, right, []) if v.status != "same"]
            assert not bad, [(v.check, v.diffs[:3]) for v in bad]
            assert len(left.checks) >= 5


@pytest.mark.parametrize("name", ["api_versions", "bad_versions"])
def test_scenarios_record_checks_against_kafkaish(name):
    fn = next(f for f in ALL_SCENARIOS if f.__name__ == name)
    with run_broker() as kb:
        sup = diffrun.api_versions(kb.bootstrap)
        out = engine.run_scenario(fn, "kafkaish", kb.bootstrap, diffrun.common_versions(sup, sup), sup)
    assert not out.error
    assert out.checks and all(c.id.startswith(name + ".") for c in out.checks)
