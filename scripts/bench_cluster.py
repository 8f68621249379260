#!/usr/bin/env python3
"""Cost of a simulated cluster: ``kafkaish serve --brokers N`` start time (launch to the ready
line) and resident memory once ready, for each N given.

    python scripts/bench_cluster.py --runs 9 --brokers 1 3

Medians of ``--runs`` fresh processes, measured alternately (N=1, N=3, N=1, ...) so a busy shared
machine weighs on every N alike.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def one(brokers: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "kafkaish", "serve", "--in-memory", "--port", "0",
                             "--brokers", str(brokers), "--log-level", "WARNING"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("kafkaish ready on"):
                break
        else:
            raise RuntimeError("kafkaish exited before it was ready")
        elapsed = time.perf_counter() - t0
        time.sleep(0.2)  # settle: the listeners' tasks started
        return elapsed, rss_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--brokers", type=int, nargs="+", default=[1, 3])
    args = ap.parse_args()
    results: dict[int, list[tuple[float, int]]] = {n: [] for n in args.brokers}
    for _ in range(args.runs):
        for n in args.brokers:
            results[n].append(one(n))
    print("| --brokers | start to ready (median) | RSS when ready (median) |")
    print("|---|---|---|")
    for n, rows in results.items():
        start = statistics.median(r[0] for r in rows)
        rss = statistics.median(r[1] for r in rows)
        print(f"| {n} | {start * 1000:.0f} ms | {rss / 1024:.1f} MiB |")


if __name__ == "__main__":
    main()
