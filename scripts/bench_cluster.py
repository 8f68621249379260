#!/usr/bin/env python3
"""Cost of a simulated cluster: ``kafkaish serve --brokers N`` start time (launch to the ready
line), resident memory once ready and, with ``--records``, produce and consume throughput with
broker CPU per record (``bench_throughput.py``'s confluent-kafka loader: acks=all, linger 5 ms,
a 3-partition topic of replication factor 1, whose leaders spread over the N nodes).

    python scripts/bench_cluster.py --runs 9 --brokers 1 3
    python scripts/bench_cluster.py --runs 7 --records 100000 --linger-ms 0 --batch-size 2000
    python scripts/bench_cluster.py --runs 5 --records 100000 --baseline before=/tmp/kafkaish-before

``--baseline [LABEL=]DIR`` (repeatable) adds a variant run from an older kafkaish (``--brokers 1``
unchanged means the same as that one): DIR holds its ``kafkaish`` package laid out as installed,
e.g. for the commit before the cluster landed::

    git archive 8b82105^ | tar -x -C /tmp/src && mkdir /tmp/kafkaish-before
    cp -r /tmp/src/kafkaish /tmp/kafkaish-before/ && cp -r /tmp/src/wire /tmp/kafkaish-before/kafkaish/wire
    cp -r /tmp/src/storage /tmp/kafkaish-before/kafkaish/storage

Medians of ``--runs`` fresh processes, measured alternately (baseline, N=1, N=3, baseline, ...) so
a busy shared machine weighs on every variant alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_throughput import consume, cpu_seconds, create_topic, produce  # noqa: E402


@dataclass(frozen=True)
class Variant:
    label: str
    brokers: int
    pythonpath: str  # PYTHONPATH: where ``kafkaish`` is imported from


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def one(v: Variant, args: argparse.Namespace, cwd: str) -> dict[str, float]:
    records = args.records
    cmd = [sys.executable, "-m", "kafkaish", "serve", "--in-memory", "--port", "0", "--log-level", "WARNING"]
    if v.brokers > 1:
        cmd += ["--brokers", str(v.brokers)]
    env = {**os.environ, "PYTHONPATH": v.pythonpath}
    t0 = time.perf_counter()
    # cwd outside any checkout: ``python -m`` puts the cwd first on sys.path
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("kafkaish ready on"):
                bootstrap = line.split()[-1]
                break
        else:
            raise RuntimeError(f"{v.label}: kafkaish exited before it was ready")
        out = {"start_ms": (time.perf_counter() - t0) * 1000}
        time.sleep(0.2)  # settle: the listeners' tasks started
        out["rss_mib"] = rss_kib(proc.pid) / 1024
        if records:
            topic = "bench-" + uuid.uuid4().hex[:8]
            create_topic(bootstrap, topic, 3)
            c0, t0 = cpu_seconds(proc.pid), time.monotonic()
            produce(bootstrap, topic, records, 100, 3, args.linger_ms, args.batch_size)
            c1, t1 = cpu_seconds(proc.pid), time.monotonic()
            consume(bootstrap, topic, records, 3)
            c2, t2 = cpu_seconds(proc.pid), time.monotonic()
            out.update(produce_rps=records / (t1 - t0), consume_rps=records / (t2 - t1),
                       produce_cpu_us=(c1 - c0) / records * 1e6, consume_cpu_us=(c2 - c1) / records * 1e6)
        return out
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--brokers", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--records", type=int, default=0, help="also measure throughput with this many records")
    ap.add_argument("--linger-ms", type=int, default=5, help="producer linger.ms (0 and a small --batch-size: "
                                                            "many requests, where a per-request cost shows)")
    ap.add_argument("--batch-size", type=int, default=1 << 20, help="producer batch.size in bytes")
    ap.add_argument("--baseline", action="append", default=[], metavar="[LABEL=]DIR",
                    help="an older kafkaish package in DIR (see above), run with --brokers 1; repeatable")
    args = ap.parse_args()
    here = os.environ.get("PYTHONPATH", "")  # this checkout: the installed (editable) kafkaish
    variants = []
    for spec in args.baseline:
        label, _, path = spec.rpartition("=")
        variants.append(Variant(label or path, 1, path))
    variants += [Variant(f"--brokers {n}", n, here) for n in args.brokers]
    results: dict[str, list[dict[str, float]]] = {v.label: [] for v in variants}
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(args.runs):
            for v in variants:
                results[v.label].append(one(v, args, cwd))
    cols = [("start_ms", "start to ready", "{:.0f} ms"), ("rss_mib", "RSS when ready", "{:.1f} MiB")]
    if args.records:
        cols += [("produce_rps", "produce", "{:,.0f} rec/s"), ("consume_rps", "consume", "{:,.0f} rec/s"),
                 ("produce_cpu_us", "broker CPU/record produced", "{:.1f} µs"),
                 ("consume_cpu_us", "broker CPU/record consumed", "{:.1f} µs")]
    print(f"medians of {args.runs} runs" + (f", {args.records:,} records of 100 B, linger.ms {args.linger_ms}, "
                                            f"batch.size {args.batch_size}" if args.records else ""))
    print("| variant | " + " | ".join(c[1] for c in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for label, rows in results.items():
        cells = [fmt.format(statistics.median(r[key] for r in rows)) for key, _, fmt in cols]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
