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
from kafkaish.wire.messages.metadata import MetadataRequest


def bystander(port: int, topic: str, stop: threading.Event) -> list[float]:
    codec = ClientCodec("bystander")
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)])
    times: list[float] = []
    while not stop.is_set():
        t0 = time.perf_counter()
        sock.sendall(codec.encode_request(req, 4)[1])
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
        stop = threading.Event()
        result: list[list[float]] = []
        t = threading.Thread(target=lambda: result.append(bystander(port, topic, stop)))
        t.start()
        t0 = time.monotonic()
        if args.records:
            produce(bootstrap, topic, args.records, args.size, args.partitions)
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
    args = ap.parse_args()
    print(f"# producer: {args.records} x {args.size} B, {args.partitions} partitions, acks=all; "
          f"bystander: Metadata back to back; machine: {platform_line()}")
    print("| broker | producer records/s | bystander requests | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for config in args.configs.split(","):
        print(run(config.strip(), args), flush=True)


if __name__ == "__main__":
    main()
