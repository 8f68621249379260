#!/usr/bin/env python3
"""End-to-end latency: produce at a fixed rate, consume with a long poll, time each record.

One confluent-kafka producer (acks=1, linger.ms=0) sends ``--rate`` records per second,
each carrying its send time; one consumer (``fetch.wait.max.ms``, default 500) in the same
process notes when each arrives. Latency is arrival minus send, over ``--seconds`` after a
warm-up second. Brokers run side by side in one invocation (as in ``bench_throughput.py``)
so their percentiles can be compared on a shared machine.

    python scripts/bench_latency.py --brokers kafkaish,noida --noida /path/to/noida-db

Target (issue #15): p50 <= 0.5 ms, p99 <= 1 ms at 1,000 records/s with fetch.wait.max.ms=500.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import statistics
import struct
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench_throughput import cpu_seconds, create_topic, platform_line, start_broker

_TS = struct.Struct(">d")


def _consume(bootstrap: str, topic: str, wait_ms: int, n: int, ready: Any, out: Any) -> None:
    """The consumer, in a process of its own (a thread of the producer's process would wait for the GIL
    and add that to the latencies): sends back the latency of each of ``n`` timestamped records."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "lat-" + topic, "enable.auto.commit": False,
                  "fetch.wait.max.ms": wait_ms, "fetch.min.bytes": 1})
    c.assign([TopicPartition(topic, 0, 0)])
    latencies: list[float] = []
    deadline = None
    while len(latencies) < n and (deadline is None or time.monotonic() < deadline):
        m = c.poll(0.1)
        if m is None or m.error():
            continue
        if len(m.value()) != _TS.size:  # the warm-up record: assigned, and parked in a long poll from now on
            ready.set()
            deadline = time.monotonic() + n / 100 + 30
            continue
        latencies.append(time.perf_counter() - _TS.unpack(m.value())[0])  # CLOCK_MONOTONIC: one clock for all processes
    c.close()
    out.send(latencies)


def measure(bootstrap: str, topic: str, rate: int, seconds: float, wait_ms: int) -> list[float]:
    from confluent_kafka import Producer

    n = int(rate * seconds)
    ctx = multiprocessing.get_context("fork")
    ready, (receive, send) = ctx.Event(), ctx.Pipe(duplex=False)
    consumer = ctx.Process(target=_consume, args=(bootstrap, topic, wait_ms, n, ready, send))
    consumer.start()
    p = Producer({"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 0})
    p.produce(topic, b"warm", partition=0)
    p.flush(10)
    if not ready.wait(30):
        raise RuntimeError("the consumer never received the warm-up record")
    time.sleep(0.5)  # its next fetch is parked
    interval = 1 / rate
    start = time.perf_counter()
    for i in range(n):
        due = start + i * interval
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        p.produce(topic, _TS.pack(time.perf_counter()), partition=0)
        p.poll(0)
    p.flush(10)
    latencies = receive.recv() if receive.poll(n / 100 + 60) else []
    consumer.join(30)
    return latencies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brokers", default="kafkaish", help="comma list of kafkaish, kafkaish-baseline, tansu, noida")
    ap.add_argument("--rate", type=int, default=1000, help="records per second")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--fetch-wait-ms", type=int, default=500)
    ap.add_argument("--engine", choices=["memory", "file"], default="memory")
    ap.add_argument("--fsync", default="interval")
    ap.add_argument("--tansu", default=shutil.which("tansu") or "tansu")
    ap.add_argument("--noida", default=shutil.which("noida-db") or "noida-db")
    ap.add_argument("--baseline", help="directory holding an older kafkaish, run as kafkaish-baseline (bench_throughput.py)")
    args = ap.parse_args()
    print(f"# {args.rate} records/s for {args.seconds:g} s, fetch.wait.max.ms={args.fetch_wait_ms}, "
          f"confluent-kafka, acks=1; machine: {platform_line()}")
    print("| broker | records | p50 ms | p90 ms | p99 ms | max ms | broker CPU µs/rec |")
    print("|---|---|---|---|---|---|---|")
    for kind in args.brokers.split(","):
        kind = kind.strip()
        workdir = Path(tempfile.mkdtemp(prefix="bench-lat-"))
        proc, port, _ = start_broker(kind, args, workdir)
        try:
            bootstrap = f"127.0.0.1:{port}"
            topic = "lat-" + uuid.uuid4().hex[:8]
            create_topic(bootstrap, topic, 1)
            c0 = cpu_seconds(proc.pid)
            lat = sorted(x * 1000 for x in measure(bootstrap, topic, args.rate, args.seconds, args.fetch_wait_ms))
            cpu = cpu_seconds(proc.pid) - c0
        finally:
            proc.terminate()
            proc.wait(30)
            shutil.rmtree(workdir, ignore_errors=True)
        if not lat:
            print(f"| {kind} | 0 | | | | | |")
            continue
        q = statistics.quantiles(lat, n=100)
        print(f"| {kind} | {len(lat)} | {q[49]:.2f} | {q[89]:.2f} | {q[98]:.2f} | {lat[-1]:.1f} "
              f"| {cpu / len(lat) * 1e6:.0f} |", flush=True)


if __name__ == "__main__":
    main()
