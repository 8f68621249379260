#!/usr/bin/env python3
"""Start cost: process start (``kafkaish serve`` launch to accepting connections, as
bench_throughput.py measures it) and embedded start (``EmbeddedBroker().start()``), with the
admin HTTP control plane off and on.

    python scripts/bench_start.py --runs 15                 # this checkout
    python scripts/bench_start.py --runs 15 --no-admin      # a checkout without --admin-port

Medians of ``--runs`` fresh processes. "embedded cold" is a fresh interpreter's first start
(imports included); "embedded warm" a second broker in the same process. On a shared machine
compare checkouts measured alternately in one session, not absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_throughput import free_port, wait_port  # noqa: E402

EMBEDDED = """
import json, sys, time
t0 = time.perf_counter()
from kafkaish.testing import EmbeddedBroker
admin = json.loads(sys.argv[1])
kw = {"admin_port": 0} if admin else {}
kb = EmbeddedBroker(**kw).start()
cold = time.perf_counter() - t0
kb.stop()
t1 = time.perf_counter()
kb2 = EmbeddedBroker(**kw).start()
warm = time.perf_counter() - t1
kb2.stop()
print(json.dumps({"cold": cold, "warm": warm}))
"""


def process_start(admin: bool) -> float:
    port = free_port()
    cmd = [sys.executable, "-m", "kafkaish", "serve", "--in-memory", "--port", str(port), "--log-level", "WARNING"]
    admin_port = free_port() if admin else None
    if admin_port:
        cmd += ["--admin-port", str(admin_port)]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        if admin_port:  # until the control plane answers too
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/v1/health", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.005)
        return time.monotonic() - t0
    finally:
        proc.terminate()
        proc.wait(10)


def embedded_start(admin: bool) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", EMBEDDED, json.dumps(admin)], capture_output=True, text=True,
                         check=True, timeout=60)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--no-admin", action="store_true", help="skip the admin-port variants")
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    variants = [False] if args.no_admin else [False, True]
    for admin in variants:
        proc = [process_start(admin) for _ in range(args.runs)]
        emb = [embedded_start(admin) for _ in range(args.runs)]
        ms = lambda xs: f"{statistics.median(xs) * 1000:.0f} ms"  # noqa: E731
        print(f"| {args.label} | admin {'on' if admin else 'off'} | process {ms(proc)} | embedded cold "
              f"{ms([e['cold'] for e in emb])} | embedded warm {ms([e['warm'] for e in emb])} |", flush=True)


if __name__ == "__main__":
    main()
