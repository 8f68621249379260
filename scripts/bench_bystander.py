#!/usr/bin/env python3
"""Other clients' latency while a producer runs at full speed: does the broker's work for one
client (fsync=always, many partitions) stall the event loop for everyone else?

For each configuration a fresh ``kafkaish serve`` (file engine unless ``--in-memory``) gets a
confluent-kafka producer at full speed (acks=all, as bench_throughput.py) while a bystander on
its own connection sends Metadata requests back to back; the bystander's round trips are the
figure (p50 / p99 / max), with the producer's records/s beside them.

    python scripts/bench_bystander.py --records 200000 --configs always,interval,idle
    python scripts/bench_bystander.py --configs always,always@baseline --baseline DIR  # before/after

Target (issue #15): with fsync=always the bystander's p99 stays under 5 ms.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench_throughput import baseline_env, create_topic, free_port, platform_line, produce, wait_port

from kafkaish.wire.codec import ClientCodec
from kafkaish.wire.messages.fetch import FetchRequest
from kafkaish.wire.messages.metadata import MetadataRequest


def bystander(port: int, topic: str, stop: threading.Event, kind: str = "metadata") -> list[float]:
    """Round trips (ms) of back-to-back requests: Metadata for the producer's topic, or a Fetch of
    another topic's partition that answers at once (max_wait_ms 0)."""
    codec = ClientCodec("bystander")
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if kind == "fetch":
        part = FetchRequest.FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20)
        req, version = FetchRequest(max_wait_ms=0, min_bytes=1, topics=[FetchRequest.FetchTopic(
            topic=topic, partitions=[part])]), 4
    else:
        req, version = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)]), 4
    times: list[float] = []
    while not stop.is_set():
        t0 = time.perf_counter()
        sock.sendall(codec.encode_request(req, version)[1])
        while codec.next_response() is None:
            codec.receive_data(sock.recv(65536))
        times.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.001)
    sock.close()
    return times


def run(config: str, args: argparse.Namespace) -> str:
    workdir = Path(tempfile.mkdtemp(prefix="bench-bystander-"))
    port = free_port()
    mode, _, which = config.partition("@")  # "always@baseline": the kafkaish of --baseline
    cmd = [sys.executable, "-m", "kafkaish", "serve", "--port", str(port), "--log-level", "WARNING"]
    cmd += ["--data-dir", str(workdir), "--fsync", mode] if mode != "memory" else ["--in-memory"]
    env = baseline_env(args) if which == "baseline" else None
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_port(port, proc)
        bootstrap = f"127.0.0.1:{port}"
        topic = "by-" + uuid.uuid4().hex[:8]
        create_topic(bootstrap, topic, args.partitions)
        target = topic
        if args.request == "fetch":  # another topic, so the bystander shares nothing with the producer
            target = topic + "-other"
            create_topic(bootstrap, target, 1)
        stop = threading.Event()
        result: list[list[float]] = []
        t = threading.Thread(target=lambda: result.append(bystander(port, target, stop, args.request)))
        t.start()
        t0 = time.monotonic()
        if args.records:
            # The producer gets a process of its own: a Python producer loop in this process would
            # hold the GIL, and the bystander thread's round trips would measure that (5 ms switches).
            producer = multiprocessing.get_context("fork").Process(
                target=produce, args=(bootstrap, topic, args.records, args.size, args.partitions))
            producer.start()
            producer.join()
            if producer.exitcode:
                raise RuntimeError(f"producer failed with exit code {producer.exitcode}")
        else:
            time.sleep(3)
        elapsed = time.monotonic() - t0
        stop.set()
        t.join()
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)
    lat = sorted(result[0])
    q = statistics.quantiles(lat, n=100)
    rate = f"{args.records / elapsed:,.0f}" if args.records else "-"
    return f"| {config} | {rate} | {len(lat)} | {q[49]:.2f} | {q[98]:.2f} | {lat[-1]:.1f} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--configs", default="always,interval,memory",
                    help="comma list of fsync modes (file engine) and 'memory'; MODE@baseline runs --baseline")
    ap.add_argument("--baseline", help="directory holding an older kafkaish (see bench_throughput.py)")
    ap.add_argument("--request", choices=["metadata", "fetch"], default="metadata",
                    help="what the bystander sends: Metadata, or a Fetch of another topic (max_wait_ms 0)")
    args = ap.parse_args()
    print(f"# producer: {args.records} x {args.size} B, {args.partitions} partitions, acks=all; "
          f"bystander: {args.request} back to back; machine: {platform_line()}")
    print("| broker | producer records/s | bystander requests | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for config in args.configs.split(","):
        print(run(config.strip(), args), flush=True)


if __name__ == "__main__":
    main()
