"""Differential run: the same Kafka requests against kafkaish and the reference Apache Kafka.

    python compat/differential/run.py                   # run, print the summary, exit 1 on a difference
    python compat/differential/run.py --only produce_basic,groups_classic
    python compat/differential/run.py --write-report    # also write REPORT.md and the compat table line

Both brokers start once (kafkaish in memory; the reference Kafka from
``/work/shared/reference-kafka``, or ``$KAFKAISH_REFERENCE_KAFKA``, in a temp dir); every
scenario (scenarios*.py) runs against each, with its own topic/group names, several at a
time. Checks that differ are compared with deliberate.toml: a difference listed there is
"deliberate", anything else "differ". Without java or the reference Kafka the run is
skipped with a message and exit status 0 (``--require-reference`` makes it 1).

Exit status: 1 when a check differs that is neither deliberate nor a listed finding
(``--strict``: any difference at all), or a scenario broke on either broker.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from brokers import reference_missing, start_kafkaish, start_reference  # noqa: E402
from engine import MISSING, Deliberate, Outcome, Verdict, compare, run_scenario  # noqa: E402
from scenarios import ALL_SCENARIOS  # noqa: E402
from wire_client import Connection  # noqa: E402

from kafkaish.wire.messages import REQUESTS  # noqa: E402
from kafkaish.wire.messages.api_versions import ApiVersionsRequest  # noqa: E402

LOGS = HERE.parent / "results" / "logs"
REPORT = HERE / "REPORT.md"
DELIBERATE = HERE / "deliberate.toml"
COMPAT_README = HERE.parent / "README.md"
SUMMARY_START = "<!-- differential-summary:start (written by compat/differential/run.py --write-report) -->"
SUMMARY_END = "<!-- differential-summary:end -->"
MAX_PATHS = 8  # differing paths shown per check in REPORT.md
NO_RETENTION_MS = 3_600_000  # first retention check an hour after start: never during a run


def load_deliberate() -> list[Deliberate]:
    data = tomllib.loads(DELIBERATE.read_text())
    return [Deliberate(d["check"], d.get("path", "*"), d["reason"], d.get("kafkaish"))
            for d in data.get("difference", [])]


def api_versions(bootstrap: str) -> dict[int, tuple[int, int]]:
    conn = Connection(bootstrap, "differential-versions")
    try:
        resp = conn.call(ApiVersionsRequest(client_software_name="differential", client_software_version="1"), 3)
    finally:
        conn.close()
    return {a.api_key: (a.min_version, a.max_version) for a in resp.api_keys}


def common_versions(ours: dict[int, tuple[int, int]], theirs: dict[int, tuple[int, int]]) -> dict[int, int]:
    """The version scenarios use per API: the highest both support, else the one that has it."""
    out = {}
    for key in set(ours) | set(theirs):
        if key in ours and key in theirs:
            out[key] = min(ours[key][1], theirs[key][1])
        else:
            out[key] = (ours.get(key) or theirs[key])[1]
    return out


def warm_up(bootstrap: str, versions: dict[int, int]) -> None:
    """Look up a group and a transaction coordinator until both answer: Kafka creates and
    loads __consumer_offsets and __transaction_state on first use, which takes seconds."""
    from engine import Ctx
    from ops import coordinator
    ctx = Ctx("warm_up", "", bootstrap, versions, {})
    try:
        coordinator(ctx, "differential-warm-up", 0)
        coordinator(ctx, "differential-warm-up", 1)
    finally:
        ctx.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--jobs", type=int, default=6, help="scenario runs at once (default 6)")
    parser.add_argument("--write-report", action="store_true", help="write REPORT.md and the compat README line")
    parser.add_argument("--strict", action="store_true", help="exit 1 on any difference, findings included")
    parser.add_argument("--require-reference", action="store_true", help="exit 1 when the reference cannot run")
    parser.add_argument("--verbose", action="store_true", help="print every difference")
    args = parser.parse_args()

    missing = reference_missing()
    if missing:
        print(f"differential: SKIPPED, the reference Kafka cannot run here: {missing}")
        return 1 if args.require_reference else 0
    only = [s for s in args.only.split(",") if s]
    scenarios = [fn for fn in ALL_SCENARIOS if not only or fn.__name__.removeprefix("scenario_") in only]
    unknown = set(only) - {fn.__name__.removeprefix("scenario_") for fn in ALL_SCENARIOS}
    if unknown:
        parser.error(f"unknown scenarios: {sorted(unknown)}")

    started = time.monotonic()
    LOGS.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(2) as pool:
        # No retention check during the run: both brokers' first one would come 30 s after start
        # (log.initial.task.delay.ms), each at its own moment, deleting a 1970 record on one
        # broker but not yet on the other; retention_timestamps checks what is kept before it.
        ref_future = pool.submit(start_reference, LOGS, (f"log.initial.task.delay.ms={NO_RETENTION_MS}",))
        ours_future = pool.submit(start_kafkaish, LOGS, ("--log-initial-task-delay-ms", str(NO_RETENTION_MS)))
        kafkaish = ours_future.result()
        try:
            reference = ref_future.result()
        except Exception:
            kafkaish.stop()
            raise
    print(f"differential: brokers up in {time.monotonic() - started:.1f}s "
          f"(kafkaish {kafkaish.bootstrap}, reference {reference.bootstrap})", flush=True)
    try:
        ours_v, theirs_v = api_versions(kafkaish.bootstrap), api_versions(reference.bootstrap)
        versions = common_versions(ours_v, theirs_v)
        with ThreadPoolExecutor(2) as pool:  # both brokers' coordinators ready before the scenarios
            list(pool.map(lambda b: warm_up(b, versions), (kafkaish.bootstrap, reference.bootstrap)))
        targets = {"kafkaish": (kafkaish.bootstrap, ours_v), "reference": (reference.bootstrap, theirs_v)}
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            futures = {(fn.__name__, t): pool.submit(run_scenario, fn, t, b, versions, sup)
                       for fn in scenarios for t, (b, sup) in targets.items()}
            outcomes = {k: f.result() for k, f in futures.items()}
            # Both brokers are live and asynchronous (Kafka elects leaders and loads coordinators in
            # the background), so one unlucky timing can make a scenario differ on a busy machine.
            # A scenario with an unexplained difference or an error runs once more on both, with
            # fresh names; only what persists counts (a real difference is deterministic).
            deliberate = load_deliberate()
            again = [fn for fn in scenarios if _unexplained(fn, outcomes, deliberate, args.strict)]
            if again:
                print("  ran again after an unexplained difference: "
                      + ", ".join(fn.__name__.removeprefix("scenario_") for fn in again), flush=True)
                futures = {(fn.__name__, t): pool.submit(run_scenario, fn, t, b, versions, sup, 1)
                           for fn in again for t, (b, sup) in targets.items()}
                outcomes.update({k: f.result() for k, f in futures.items()})
        alive = {"kafkaish": kafkaish.alive(), "reference": reference.alive()}
    finally:
        kafkaish.stop()
        reference.stop()
    elapsed = time.monotonic() - started

    # every observation of both runs, for looking into a difference (not committed)
    (LOGS / "differential.json").write_text(json.dumps(
        {f"{name.removeprefix('scenario_')}[{t}]": {"error": o.error, "checks": {c.id: c.value for c in o.checks}}
         for (name, t), o in outcomes.items()}, indent=1, default=str))
    verdicts: list[tuple[str, list[Verdict], Outcome, Outcome]] = []
    for fn in scenarios:
        ours, theirs = outcomes[(fn.__name__, "kafkaish")], outcomes[(fn.__name__, "reference")]
        verdicts.append((fn.__name__.removeprefix("scenario_"), compare(ours, theirs, deliberate), ours, theirs))
    flat = [v for _, vs, _, _ in verdicts for v in vs]
    counts = {s: sum(1 for v in flat if v.status == s) for s in ("same", "deliberate", "differ", "missing")}
    differ = counts["differ"] + counts["missing"]
    summary = (f"{len(flat)} checks, {counts['same']} same, {counts['deliberate']} deliberate, {differ} differ")
    apis = sorted({k for fn in scenarios for k in getattr(fn, "apis", ())})
    uncovered = sorted(set(ours_v) - set(apis)) if not only else []

    for name, vs, ours, theirs in verdicts:
        for outcome in (ours, theirs):
            if outcome.error:
                print(f"  {name} [{outcome.target}] scenario error: {outcome.error}")
        for v in vs:
            if v.status in ("differ", "missing"):
                tag = f" ({v.finding})" if v.finding else ""
                print(f"  DIFFER {v.check}{tag}")
                if args.verbose:
                    for path, a, b, reason in v.diffs:
                        if not reason:
                            print(f"      {path}: kafkaish {_short(a)} | reference {_short(b)}")
    for target, ok in alive.items():
        if not ok:
            print(f"  note: the {target} broker died during the run")
    if uncovered:
        print("  APIs kafkaish advertises that no scenario covers: "
              + ", ".join(f"{k} {REQUESTS[k][1].removesuffix('Request')}" for k in uncovered))
    print(f"differential: {summary} ({len(scenarios)} scenarios, {elapsed:.1f}s)")

    if args.write_report and not only:
        REPORT.write_text(render_report(summary, verdicts, ours_v, theirs_v, apis, deliberate, elapsed))
        write_summary_line(summary)
        print(f"report written to {REPORT.relative_to(HERE.parent.parent)}")

    unexplained = [v for v in flat if v.status in ("differ", "missing") and (args.strict or not v.finding)]
    broken = [o for _, _, ours, theirs in verdicts for o in (ours, theirs) if o.error]
    return 1 if unexplained or uncovered or broken else 0


def _unexplained(fn: Any, outcomes: dict, deliberate: list[Deliberate], strict: bool) -> bool:
    ours, theirs = outcomes[(fn.__name__, "kafkaish")], outcomes[(fn.__name__, "reference")]
    if ours.error or theirs.error:
        return True
    return any(v.status in ("differ", "missing") and (strict or not v.finding)
               for v in compare(ours, theirs, deliberate))


def _short(value: object, width: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def _md(value: object) -> str:
    return _short(value, 90).replace("|", "\\|").replace("`", "'")


def render_report(summary: str, verdicts: list, ours_v: dict, theirs_v: dict, apis: list[int],
                  deliberate: list[Deliberate], elapsed: float) -> str:
    lines = [
        "# Differential report: kafkaish vs the reference Apache Kafka",
        "",
        "Written by `python compat/differential/run.py --write-report` (see README.md in this folder).",
        "",
        f"**{summary}** ({len(verdicts)} scenarios, {elapsed:.0f} s including both brokers' start).",
        "",
        "A check is one request/response (or one observation a client makes, such as what a",
        "consumer reads) recorded on both brokers after normalisation; *deliberate* differences",
        "are those listed, with their reason, in `deliberate.toml`; a *differ* names the finding",
        "it belongs to where one is known (`#18.N`: issue 18's numbered findings; `D-N`:",
        "compat/FINDINGS.md).",
        "",
        "## APIs",
        "",
        "| key | API | kafkaish | reference | scenarios cover it |",
        "|---|---|---|---|---|",
    ]
    for key in sorted(set(ours_v) | set(theirs_v)):
        name = REQUESTS[key][1].removesuffix("Request") if key in REQUESTS else "?"
        a = "%d-%d" % ours_v[key] if key in ours_v else "—"
        b = "%d-%d" % theirs_v[key] if key in theirs_v else "—"
        lines.append(f"| {key} | {name} | {a} | {b} | {'yes' if key in apis else ''} |")
    tags: dict[str, int] = {}
    unexplained = 0
    for _, vs, _, _ in verdicts:
        for v in vs:
            if v.status in ("differ", "missing"):
                for tag in v.finding.split() or ["unexplained"]:
                    tags[tag] = tags.get(tag, 0) + 1
                unexplained += not v.finding
    order = sorted(tags, key=lambda t: (t == "unexplained", t[0] != "#", int(re.sub(r"\D", "", t) or 0)))
    lines += ["", "## Differing checks by finding", "",
              f"Unexplained (no finding, not deliberate): **{unexplained}**.", "",
              ", ".join(f"`{t}` {tags[t]}" for t in order) or "None.", ""]
    lines += ["## Differences", ""]
    any_diff = False
    for name, vs, ours, theirs in verdicts:
        bad = [v for v in vs if v.status in ("differ", "missing")]
        errors = [o for o in (ours, theirs) if o.error]
        if not bad and not errors:
            continue
        any_diff = True
        lines.append(f"### `{name}`")
        lines.append("")
        for o in errors:
            lines.append(f"- scenario error on {o.target}: `{_md(o.error)}`")
        for v in bad:
            tag = f" — finding {v.finding}" if v.finding else " — **unexplained**"
            lines.append(f"- `{v.check}`{tag}")
            shown = [d for d in v.diffs if not d[3]]
            for path, a, b, _ in shown[:MAX_PATHS]:
                lines.append(f"  - `{path}`: kafkaish `{_md(a)}`, reference `{_md(b)}`")
            if len(shown) > MAX_PATHS:
                lines.append(f"  - ... and {len(shown) - MAX_PATHS} more paths (`--verbose` lists them)")
        lines.append("")
    if not any_diff:
        lines += ["None.", ""]
    lines += ["## Deliberate differences seen in this run", "",
              "| check | path | kafkaish | reference | reason |", "|---|---|---|---|---|"]
    for _, vs, _, _ in verdicts:
        for v in vs:
            for path, a, b, reason in v.diffs:
                if reason:
                    lines.append(f"| `{v.check}` | `{path}` | `{_md(a)}` | `{_md(b)}` | {reason} |")
    lines += ["", "## Checks", "", "| scenario | checks | same | deliberate | differ |", "|---|---|---|---|---|"]
    for name, vs, _, _ in verdicts:
        c = {s: sum(1 for v in vs if v.status == s) for s in ("same", "deliberate", "differ", "missing")}
        lines.append(f"| `{name}` | {len(vs)} | {c['same']} | {c['deliberate']} | {c['differ'] + c['missing']} |")
    return "\n".join(lines) + "\n"


def write_summary_line(summary: str) -> None:
    text = COMPAT_README.read_text()
    block = f"{SUMMARY_START}\nDifferential run against the reference Apache Kafka " \
            f"([differential/REPORT.md](differential/REPORT.md)): **{summary}**.\n{SUMMARY_END}"
    if SUMMARY_START in text:
        text = re.sub(re.escape(SUMMARY_START) + ".*?" + re.escape(SUMMARY_END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    COMPAT_README.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
