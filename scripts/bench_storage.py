"""Benchmark of the file storage engine: append and read throughput, recovery time, reader RSS.

    python scripts/bench_storage.py                 # 1 GB log for the recovery/read figures
    python scripts/bench_storage.py --size-mb 5120  # or --large: a 5 GB log
    python scripts/bench_storage.py --quick         # small sizes, for a smoke run

Figures:
  * append MB/s and batches/s for fsync=never / interval / always (one fsync per append) /
    always with group commit (``engine.group_commit()`` around 16 appends), with ~16 KiB batches
    (100 records of 160 bytes) and with one-record batches;
  * sequential read MB/s and batches/s through the whole big log (1 MiB fetches);
  * restart time of the big log after a clean shutdown and after a crash (no clean-shutdown
    marker, recovery point 0, no producer snapshot: every segment is CRC-scanned and replayed);
  * RSS of this process before, during (peak) and after reading the whole big log.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable

from kafkaish.storage import StorageEngine, open_engine
from kafkaish.wire.records import Record, build_batch


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return -1.0


def make_batch(records: int, value_size: int) -> bytes:
    return build_batch([Record(i, 1_700_000_000_000, b"key-%d" % i, os.urandom(value_size)) for i in range(records)])


def fresh_engine(root: str, name: str, fsync: str, **configs: str) -> StorageEngine:
    path = os.path.join(root, name)
    shutil.rmtree(path, ignore_errors=True)
    engine = open_engine(path, fsync=fsync, fsync_interval_ms=1000)
    engine.create_topic("bench", 1, dict(configs), uuid.uuid4())
    return engine


def bench_append(root: str, fsync: str, batch: bytes, budget_mb: float, budget_s: float,
                 group: int = 0) -> dict[str, float]:
    engine = fresh_engine(root, f"append-{fsync}-{group}-{len(batch)}", fsync)
    log = engine.log("bench", 0)
    n, total = 0, 0
    start = last_maintenance = time.perf_counter()
    now = 1_700_000_000_000
    while total < budget_mb * 1e6 and time.perf_counter() - start < budget_s:
        if group:
            with engine.group_commit():
                for _ in range(group):
                    log.append(batch, now_ms=now)
            n += group
            total += group * len(batch)
        else:
            log.append(batch, now_ms=now)
            n += 1
            total += len(batch)
        if fsync == "interval" and time.perf_counter() - last_maintenance >= 0.1:
            last_maintenance = time.perf_counter()  # as the server's maintenance task would
            engine.run_maintenance(int(time.time() * 1000))
    elapsed = time.perf_counter() - start
    engine.close()
    shutil.rmtree(os.path.join(root, f"append-{fsync}-{group}-{len(batch)}"), ignore_errors=True)
    return {"MB/s": total / elapsed / 1e6, "batches/s": n / elapsed, "batches": n}


def build_big_log(root: str, size_mb: int, batch: bytes) -> str:
    engine = fresh_engine(root, "big", "never")
    log = engine.log("bench", 0)
    for _ in range(size_mb * 1_000_000 // len(batch)):
        log.append(batch, now_ms=1_700_000_000_000)
    engine.close()
    return os.path.join(root, "big")


def bench_read(path: str) -> dict[str, float]:
    engine = open_engine(path, fsync="never")
    log = engine.log("bench", 0)
    before = peak = rss_mb()
    offset, total, fetches = 0, 0, 0
    start = time.perf_counter()
    while offset < log.log_end_offset:
        res = log.read(offset, 1 << 20)
        data = res.records
        total += len(data)
        fetches += 1
        offset = _next_offset(data)
        if fetches % 64 == 0:
            peak = max(peak, rss_mb())
    elapsed = time.perf_counter() - start
    after = rss_mb()
    batches = log.log_end_offset // 100 if log.log_end_offset else 0
    engine.close()
    return {"MB/s": total / elapsed / 1e6, "batches/s": batches / elapsed, "fetches": fetches,
            "rss_before_mb": before, "rss_peak_mb": max(peak, after), "rss_after_mb": after}


def _next_offset(data: bytes) -> int:
    """Next offset after the last batch of a fetch (base offset + last offset delta + 1)."""
    from kafkaish.wire.records import iter_batches

    last = None
    for _, header in iter_batches(data):
        last = header
    assert last is not None
    return last.last_offset + 1


def simulate_crash(path: str) -> None:
    """Make the next open recover everything: no clean marker, recovery point 0, no snapshots."""
    os.unlink(os.path.join(path, ".kafka_cleanshutdown"))
    part = os.path.join(path, "bench-0")
    for name in os.listdir(part):
        if name.endswith(".snapshot"):
            os.unlink(os.path.join(part, name))
    cp = os.path.join(part, "partition.checkpoint")
    with open(cp) as f:
        data = json.load(f)
    data["recovery_point"] = 0
    with open(cp, "w") as f:
        json.dump(data, f)


def timed_open(path: str) -> float:
    start = time.perf_counter()
    engine = open_engine(path, fsync="never")
    elapsed = time.perf_counter() - start
    engine.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default=None, help="work directory (default: a temp dir, removed after)")
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the big log for recovery/read")
    parser.add_argument("--large", action="store_true", help="use a 5 GB big log")
    parser.add_argument("--append-mb", type=float, default=256, help="max MB per append case")
    parser.add_argument("--append-s", type=float, default=10, help="max seconds per append case")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--skip-append", action="store_true", help="only the big-log figures")
    args = parser.parse_args()
    if args.large:
        args.size_mb = 5120
    if args.quick:
        args.size_mb, args.append_mb, args.append_s = 32, 8, 2
    root = args.dir or tempfile.mkdtemp(prefix="kafkaish-bench-")
    os.makedirs(root, exist_ok=True)
    big, small = make_batch(100, 160), make_batch(1, 100)
    report: Callable[[str, object], None] = lambda name, fig: print(f"{name:<44} {json.dumps(fig)}", flush=True)
    try:
        print(f"work dir {root}; big batch {len(big)} B, small batch {len(small)} B")
        for fsync, group in () if args.skip_append else (("never", 0), ("interval", 0), ("always", 0), ("always", 16)):
            label = f"append fsync={fsync}" + (f" group_commit={group}" if group else "")
            report(label + " 16KiB", _round(bench_append(root, fsync, big, args.append_mb, args.append_s, group)))
            report(label + " 1-record", _round(bench_append(root, fsync, small, args.append_mb, args.append_s, group)))
        start = time.perf_counter()
        path = build_big_log(root, args.size_mb, big)
        report(f"build {args.size_mb} MB log (fsync=never)", {"s": round(time.perf_counter() - start, 1)})
        report("read whole log, 1 MiB fetches", _round(bench_read(path)))
        report("restart after clean shutdown", {"s": round(timed_open(path), 3)})
        simulate_crash(path)
        report("restart after crash (full recovery)", {"s": round(timed_open(path), 2)})
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


def _round(fig: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 1) for k, v in fig.items()}


if __name__ == "__main__":
    main()
