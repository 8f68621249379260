"""Run the real-client compatibility suites against kafkaish and publish the table.

    python compat/run.py                       # every client, exit 1 on an unexpected FAIL
    python compat/run.py --clients kafkajs,aiokafka --only txn_commit,roundtrip
    python compat/run.py --write-table         # also rewrite the table in compat/README.md
    python compat/run.py --target reference --write-table   # the same scenarios against Apache Kafka

For each client this starts a fresh pair of kafkaish servers (see servers.py), runs
the client's runner as a subprocess, reads its result lines (``VERSION client x.y``,
then ``PASS name`` / ``FAIL name: reason`` / ``SKIP name: reason``) and writes
``compat/results/<client>.json`` (with ``--write-table``; every run writes ``compat/results/logs/<client>.json``);
runner and server logs go to ``compat/results/logs/``.

A FAIL is expected only when the client's ``known_failures.txt`` lists it
(``name: reason`` per line); anything else makes the exit status 1, and so does a
result missing because a runner crashed or ran out of time.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

COMPAT = Path(__file__).resolve().parent
sys.path.insert(0, str(COMPAT))

from harness import load_scenarios  # noqa: E402
from reference import reference_missing, start_reference_pair  # noqa: E402
from servers import SUITE_ENV, SUITE_FLAGS, env_for_servers, start_cluster, start_pair  # noqa: E402

RESULTS = COMPAT / "results"
LOGS = RESULTS / "logs"
README = COMPAT / "README.md"
TABLE_START = "<!-- compat-table:start (written by compat/run.py --write-table) -->"
TABLE_END = "<!-- compat-table:end -->"
REF_TABLE_START = "<!-- compat-table-reference:start (written by compat/run.py --target reference --write-table) -->"
REF_TABLE_END = "<!-- compat-table-reference:end -->"
CLUSTER_SCENARIO = "cluster_failover"  # runs against a third server, serve --brokers 3 (kafkaish only)
LINE = re.compile(r"^(PASS|FAIL|SKIP|NOTE) (\S+?)(?:: (.*))?$")


@dataclass(frozen=True)
class Client:
    name: str
    command: tuple[str, ...]
    budget_s: int  # the whole runner is killed after this
    scenario_list: bool = True  # False: the runner reports its own test ids (the kafka-python suite)
    server_flags: tuple[str, ...] = ()  # extra kafkaish flags for this client's servers
    server_env: tuple[tuple[str, str], ...] = ()  # extra KAFKAISH_* settings for them

    def missing_setup(self) -> str | None:
        """Why this client cannot run here, after trying to install what is missing."""
        if self.command[0] == "node":
            if shutil.which("node") is None:
                return "node is not installed"
            if not (COMPAT / "kafkajs" / "node_modules" / "kafkajs").is_dir() and shutil.which("npm"):
                print("compat: kafkajs not installed, running `npm ci --prefix compat/kafkajs`", flush=True)
                subprocess.run(["npm", "ci", "--prefix", str(COMPAT / "kafkajs"), "--no-audit", "--no-fund"],
                               stdout=sys.stderr, stderr=sys.stderr, timeout=300, check=False)
            if not (COMPAT / "kafkajs" / "node_modules" / "kafkajs").is_dir():
                return "kafkajs is not installed: run `npm ci --prefix compat/kafkajs`"
        return None


PY = sys.executable
CLIENTS = {
    c.name: c for c in (
        Client("kafka-python", (PY, str(COMPAT / "kafka-python" / "scenarios.py")), 300),
        Client("aiokafka", (PY, str(COMPAT / "aiokafka" / "scenarios.py")), 300),
        Client("confluent-kafka", (PY, str(COMPAT / "confluent-kafka" / "scenarios.py")), 300),
        Client("kafkajs", ("node", str(COMPAT / "kafkajs" / "scenarios.js")), 300),
        Client("kafka-python-suite", (PY, str(COMPAT / "kafka-python-suite" / "run.py")), 400,
               scenario_list=False, server_flags=SUITE_FLAGS, server_env=tuple(SUITE_ENV.items())),
    )
}
SCENARIO_CLIENTS = [c.name for c in CLIENTS.values() if c.scenario_list]


def known_failures(client: str, target: str = "kafkaish") -> dict[str, str]:
    name = "known_failures.txt" if target == "kafkaish" else f"known_failures_{target}.txt"
    path = COMPAT / client / name
    out: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                name, _, reason = line.partition(":")
                out[name.strip()] = reason.strip()
    return out


def run_client(client: Client, only: list[str], echo: bool, shared: tuple | None = None,
               target: str = "kafkaish") -> dict:
    """Run one client's scenarios against its own kafkaish servers, or against the ``shared``
    (main, strict) pair of reference brokers; return the result record."""
    started = time.monotonic()
    record: dict = {"client": client.name, "version": "", "results": {}, "notes": [], "target": target}
    expected = only or ([n for n, _ in load_scenarios()] if client.scenario_list else [])
    problem = client.missing_setup()
    if problem:
        record["results"] = {n: {"status": "FAIL", "reason": problem} for n in expected or ["setup"]}
        record["duration_s"] = 0.0
        return record
    cluster = None
    try:
        main, strict = shared or start_pair(LOGS, client.name, client.server_flags, dict(client.server_env))
        if shared is None and CLUSTER_SCENARIO in expected:  # kafkaish only: the reference is one node
            try:
                cluster = start_cluster(LOGS, client.name)
            except Exception:
                main.stop()
                strict.stop()
                raise
    except Exception as exc:  # the server would not start: every scenario fails
        record["results"] = {n: {"status": "FAIL", "reason": f"kafkaish did not start: {exc}"}
                             for n in expected or ["server"]}
        record["duration_s"] = round(time.monotonic() - started, 1)
        return record
    cmd = list(client.command) + (["--only", ",".join(only)] if only else [])
    log_path = LOGS / (f"{client.name}.runner.log" if shared is None else f"{target}-{client.name}.runner.log")
    env = env_for_servers(main, strict, cluster)
    if shared is not None:
        env["COMPAT_SASL_BOOTSTRAP"] = strict.sasl_bootstrap
        # Kafka's defaults are slower (3 s initial rebalance delay, 5 s KIP-848 heartbeats)
        env.setdefault("COMPAT_TIMEOUT", "60")
    try:
        with open(log_path, "w", encoding="utf-8", errors="replace") as log:
            proc = subprocess.Popen(cmd, cwd=COMPAT.parent, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
            timer = threading.Timer(client.budget_s, _kill_group, (proc,))
            timer.start()
            try:
                for raw in proc.stdout:  # type: ignore[union-attr]
                    _take_line(raw.rstrip("\n"), record, client.name, echo)
                proc.wait()
            finally:
                timer.cancel()
        timed_out = proc.returncode in (-9, -15) and time.monotonic() - started >= client.budget_s - 1
        for server in (main, strict) + ((cluster,) if cluster else ()):
            if not server.alive():
                record["notes"].append(f"{target} server {server.name} died during the run "
                                       f"(see {server.log_path.name})")
    finally:
        if shared is None:
            main.stop()
            strict.stop()
        if cluster is not None:
            cluster.stop()
    why = (f"runner killed after its {client.budget_s}s budget" if timed_out
           else f"runner exited with {proc.returncode} before reporting it (see logs/{log_path.name})")
    for name in expected:
        record["results"].setdefault(name, {"status": "FAIL", "reason": f"no result: {why}"})
    if not expected and proc.returncode != 0 and not record["results"]:
        record["results"]["runner"] = {"status": "FAIL", "reason": why}
    record["duration_s"] = round(time.monotonic() - started, 1)
    return record


def _take_line(line: str, record: dict, client: str, echo: bool) -> None:
    if line.startswith("VERSION "):
        record["version"] = line.split(" ", 2)[2] if line.count(" ") >= 2 else ""
        return
    match = LINE.match(line)
    if not match:
        return
    status, name, reason = match.groups()
    if status == "NOTE":  # a word of explanation for the scenario's result line, which came first
        record["results"].setdefault(name, {"status": "FAIL", "reason": "NOTE without a result"})["note"] = reason
        return
    record["results"][name] = {"status": status, "reason": reason or ""}
    if echo:
        print(f"  {client:<18} {line}", flush=True)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, 9)  # the runner's own session: its client threads and children
    except ProcessLookupError:
        pass


def judge(record: dict) -> list[str]:
    """Unexpected outcomes for one client: FAILs not in known_failures.txt (known_failures_reference.txt)."""
    known = known_failures(record["client"], record.get("target", "kafkaish"))
    bad = []
    for name, res in record["results"].items():
        if res["status"] == "FAIL" and name not in known:
            bad.append(f"{record['client']}: FAIL {name}: {res['reason']}")
        if res["status"] == "PASS" and name in known:
            print(f"note: {record['client']} {name} passes now; remove it from known_failures.txt")
    return bad


# ---------------------------------------------------------------- the table


def results_dir(target: str) -> Path:
    return RESULTS if target == "kafkaish" else RESULTS / target


def load_result(client: str, target: str = "kafkaish") -> dict | None:
    path = results_dir(target) / f"{client}.json"
    return json.loads(path.read_text()) if path.exists() else None


def render_table(records: dict[str, dict], target: str = "kafkaish") -> str:
    scenarios = load_scenarios()
    clients = [c for c in SCENARIO_CLIENTS if c in records]
    marks = {"PASS": "✅", "FAIL": "❌", "SKIP": "➖"}
    notes: list[str] = []
    header = "| scenario | " + " | ".join(f"{c} {records[c].get('version', '')}".strip() for c in clients) + " |"
    lines = [header, "|---|" + "---|" * len(clients)]
    for name, desc in scenarios:
        cells = []
        for c in clients:
            res = records[c]["results"].get(name)
            if res is None:
                cells.append("·")
                continue
            cell = marks[res["status"]]
            if res["status"] != "PASS" or res.get("note"):
                known = known_failures(c, target).get(name)
                text = "; ".join(t for t in (res["reason"], res.get("note", "")) if t)
                text += f" (known failure: {known})" if known and res["status"] == "FAIL" else ""
                notes.append(f"{c} / `{name}`: {res['status']} — {text}")
                cell += f" [{len(notes)}]"
            cells.append(cell)
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    out = ["✅ pass · ❌ fail · ➖ skip (the client cannot express it) · [n] see the note", "", *lines]
    if notes:
        out += ["", "Notes:", ""] + [f"{i}. {n}" for i, n in enumerate(notes, 1)]
    suite = records.get("kafka-python-suite")
    if suite:
        counts = {s: sum(1 for r in suite["results"].values() if r["status"] == s) for s in ("PASS", "FAIL", "SKIP")}
        out += ["", f"kafka-python {suite.get('version', '')} own integration tests "
                f"(`compat/kafka-python-suite`, allow-listed tests only): "
                f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped; "
                "the tests left out are explained in `compat/kafka-python-suite/FINDINGS.md`."]
        failing = [f"{n}: {r['reason']}" for n, r in suite["results"].items() if r["status"] == "FAIL"]
        out += [f"- FAIL {f}" for f in failing]
    stamp = ", ".join(f"{c} {records[c].get('duration_s', '?')}s" for c in records)
    out += ["", f"Run times: {stamp}."]
    return "\n".join(out)


def write_table(records: dict[str, dict], target: str = "kafkaish") -> None:
    start, end = (TABLE_START, TABLE_END) if target == "kafkaish" else (REF_TABLE_START, REF_TABLE_END)
    text = README.read_text() if README.exists() else f"# compat\n\n{start}\n{end}\n"
    if start not in text:
        text += f"\n{start}\n{end}\n"
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    README.write_text(f"{before}{start}\n{render_table(records, target)}\n{end}{after}")


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default=",".join(CLIENTS), help=f"comma-separated, of {', '.join(CLIENTS)}")
    parser.add_argument("--only", default="", help="comma-separated scenario names (scenario clients only)")
    parser.add_argument("--jobs", type=int, default=2, help="clients run at once (default 2)")
    parser.add_argument("--write-table", action="store_true", help="rewrite the table in compat/README.md")
    parser.add_argument("--quiet", action="store_true", help="do not echo result lines as they arrive")
    parser.add_argument("--target", choices=("kafkaish", "reference"), default="kafkaish",
                        help="kafkaish (default), or the reference Apache Kafka (needs java; the four "
                             "clients' scenarios against one shared main/strict pair)")
    args = parser.parse_args()

    chosen = [c.strip() for c in args.clients.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in CLIENTS]
    if unknown:
        parser.error(f"unknown clients {unknown}; known: {list(CLIENTS)}")
    only = [s for s in args.only.split(",") if s]
    LOGS.mkdir(parents=True, exist_ok=True)
    target = args.target
    shared = None
    if target == "reference":
        missing = reference_missing()
        if missing:
            print(f"compat: SKIPPED against the reference Kafka: {missing}")
            return 0
        dropped = [c for c in chosen if not CLIENTS[c].scenario_list]
        if dropped:  # its shim starts the brokers kafka-python's own CI expects
            print(f"compat: {', '.join(dropped)} runs against kafkaish only")
        chosen = [c for c in chosen if CLIENTS[c].scenario_list]
        shared = start_reference_pair(LOGS, "reference")

    started = time.monotonic()
    print(f"compat: running {', '.join(chosen)} against {target} ({args.jobs} at a time)", flush=True)
    try:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {c: pool.submit(run_client, CLIENTS[c], only if CLIENTS[c].scenario_list else [],
                                      not args.quiet, shared, target) for c in chosen}
            records = {c: f.result() for c, f in futures.items()}
    finally:
        for server in shared or ():
            server.stop()

    problems: list[str] = []
    for client, record in records.items():
        # every run keeps its results with the logs; only --write-table republishes the
        # committed results/<client>.json, so running the tests leaves the tree clean
        prefix = "" if target == "kafkaish" else f"{target}-"
        (LOGS / f"{prefix}{client}.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        if args.write_table and not only:  # a partial run must not overwrite the published results
            results_dir(target).mkdir(exist_ok=True)
            (results_dir(target) / f"{client}.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        problems += judge(record)
        counts = {s: sum(1 for r in record["results"].values() if r["status"] == s) for s in ("PASS", "FAIL", "SKIP")}
        print(f"{client} {record['version']}: {counts['PASS']} passed, {counts['FAIL']} failed, "
              f"{counts['SKIP']} skipped in {record['duration_s']}s", flush=True)
        for note in record["notes"]:
            print(f"  note: {note}")

    if args.write_table:
        published = {c: load_result(c, target) for c in CLIENTS}
        published.update({} if only else records)
        write_table({c: r for c, r in published.items() if r}, target)
        print(f"table written to {README.relative_to(COMPAT.parent)}")

    total = {s: sum(1 for r in records.values() for x in r["results"].values() if x["status"] == s)
             for s in ("PASS", "FAIL", "SKIP")}
    expected = total["FAIL"] - len(problems)
    # "failed" counts the unexpected failures only, as the exit status does
    print(f"compat: {total['PASS']} passed, {len(problems)} failed, {total['SKIP']} skipped")
    if expected:
        print(f"compat: {expected} more failed as expected (known_failures.txt, see compat/FINDINGS.md)")
    print(f"compat: total time {time.monotonic() - started:.1f}s")
    if problems:
        print("compat: unexpected failures (not in known_failures.txt):")
        for p in problems:
            print("  " + p)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
