#!/usr/bin/env python3
"""What one bad client costs the broker and everyone else (issue #16).

For each bad client below, run against a fresh ``kafkaish serve`` subprocess, it reports the
broker's peak RSS and fds while the bad client runs, the fds one second after the bad client
closed everything, and the p50/p99/max latency of a bystander producer (acks=1 Produce round
trips, back to back) during the run. A p99 under 100 ms means no event-loop stall longer
than that.

    python scripts/bench_abuse.py                       # both engines, every scenario
    python scripts/bench_abuse.py --engine memory --only huge_creates,scram_flood

Bad clients: frame_2gib (2 GiB frame headers), incomplete_frames (8 x 100 MiB frames never
finished), idle_and_half_open (400 idle + 400 half-frame connections), abandoned_long_polls
(500 Fetches parked for INT32_MAX ms, then the clients vanish), slow_readers (20 clients
asking for 8 MiB fetches and never reading), huge_fetches (Fetch naming one partition 40
times with every max at INT32_MAX on a 20 MiB log), huge_creates (CreateTopics of 100,000
partitions, refused, then 9,999, accepted), metadata_auto_create (one Metadata request
auto-creating 2,000 topics), scram_flood (4 connections doing SCRAM logins
back to back).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from fuzz import proc_fds, proc_rss_mb  # noqa: E402
from kafkaish.testing import ServerProcess  # noqa: E402
from kafkaish.wire.codec import ClientCodec  # noqa: E402
from kafkaish.wire.messages.create_topics import CreateTopicsRequest  # noqa: E402
from kafkaish.wire.messages.fetch import FetchRequest  # noqa: E402
from kafkaish.wire.messages.produce import ProduceRequest  # noqa: E402
from kafkaish.wire.messages.sasl_authenticate import SaslAuthenticateRequest  # noqa: E402
from kafkaish.wire.messages.sasl_handshake import SaslHandshakeRequest  # noqa: E402
from kafkaish.wire.records import build_batch  # noqa: E402

INT32_MAX = 2**31 - 1


# ---------------------------------------------------------------------------- small clients
class Conn:
    def __init__(self, bootstrap: str, timeout: float = 120) -> None:
        host, port = bootstrap.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.codec = ClientCodec("bench-abuse")

    def send(self, msg, version: int) -> None:  # type: ignore[no-untyped-def]
        self.sock.sendall(self.codec.encode_request(msg, version)[1])

    def recv(self):  # type: ignore[no-untyped-def]
        while (got := self.codec.next_response()) is None:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            self.codec.receive_data(chunk)
        return got[1]

    def call(self, msg, version: int):  # type: ignore[no-untyped-def]
        self.send(msg, version)
        return self.recv()

    def close(self) -> None:
        self.sock.close()


def create(conn: Conn, name: str, partitions: int) -> int:
    req = CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name=name, num_partitions=partitions, replication_factor=1, assignments=[], configs=[])],
        timeout_ms=600_000, validate_only=False)
    return conn.call(req, 7).topics[0].error_code


def produce_req(topic: str, value: bytes) -> ProduceRequest:
    return ProduceRequest(acks=1, timeout_ms=30_000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic, partition_data=[ProduceRequest.PartitionProduceData(
            index=0, records=build_batch([(b"k", value)], timestamp_ms=int(time.time() * 1000)))])])


def fetch_req(topic: str, *, repeat: int = 1, max_bytes: int = 1 << 20, max_wait: int = 0,
              min_bytes: int = 1) -> FetchRequest:
    return FetchRequest(
        replica_id=-1, max_wait_ms=max_wait, min_bytes=min_bytes, max_bytes=max_bytes, isolation_level=0,
        session_id=0, session_epoch=-1, topics=[FetchRequest.FetchTopic(topic=topic, partitions=[
            FetchRequest.FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=max_bytes,
                                        current_leader_epoch=-1, log_start_offset=-1)
            for _ in range(repeat)])])


class Bystander(threading.Thread):
    """A producer sending one small batch at a time, recording each round trip."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(daemon=True)
        self.conn = Conn(bootstrap)
        self.samples: list[tuple[float, float]] = []  # (sent at, seconds)
        self.stop = threading.Event()

    def run(self) -> None:
        req = produce_req("bystander", b"v" * 100)
        while not self.stop.is_set():
            t0 = time.monotonic()
            self.conn.call(req, 9)
            self.samples.append((t0, time.monotonic() - t0))
            time.sleep(0.002)

    def window(self, t0: float, t1: float) -> list[float]:
        return [d for t, d in self.samples if t0 <= t <= t1]


class Monitor(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_rss = 0.0
        self.peak_fds = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.peak_rss = max(self.peak_rss, proc_rss_mb(self.pid))
                self.peak_fds = max(self.peak_fds, proc_fds(self.pid))
            except OSError:
                return
            time.sleep(0.05)


@dataclass
class Row:
    engine: str
    scenario: str
    rss_before: float = 0.0
    rss_peak: float = 0.0
    fds_before: int = 0
    fds_peak: int = 0
    fds_after_1s: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    samples: int = 0
    note: str = ""


# ---------------------------------------------------------------------------- the bad clients
# Each takes the bootstrap and a list to put its sockets in (closed by the harness afterwards),
# runs for a few seconds and returns a note for the table.
def frame_2gib(bootstrap: str, socks: list[socket.socket]) -> str:
    closed = 0
    for _ in range(50):
        c = Conn(bootstrap, timeout=5)
        c.sock.sendall(struct.pack(">i", INT32_MAX) + b"\x00" * 64)
        try:
            closed += c.sock.recv(10) == b""
        except OSError:
            closed += 1
        c.close()
    return f"{closed}/50 closed by the broker"


def incomplete_frames(bootstrap: str, socks: list[socket.socket]) -> str:
    stop = time.monotonic() + 5
    sent = [0] * 8

    def push(i: int) -> None:
        c = Conn(bootstrap, timeout=0.5)
        socks.append(c.sock)
        try:
            c.sock.sendall(struct.pack(">i", 100 * 1024 * 1024))
            chunk = b"\x00" * (1 << 20)
            while time.monotonic() < stop and sent[i] < 99 * (1 << 20):
                try:
                    sent[i] += c.sock.send(chunk)
                except socket.timeout:
                    continue
        except OSError:
            pass

    threads = [threading.Thread(target=push, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return (f"{sum(sent) / 2**20:.0f} MiB taken by the broker's sockets of 792 MiB offered "
            "(queued.max.request.bytes 256 MiB)")


def idle_and_half_open(bootstrap: str, socks: list[socket.socket]) -> str:
    for i in range(800):
        c = Conn(bootstrap)
        if i % 2:
            c.sock.sendall(struct.pack(">i", 200) + b"\x00\x12\x00\x00")  # half a frame, then silence
        socks.append(c.sock)
    time.sleep(3)
    return "400 idle + 400 half-frame connections held 3 s"


def abandoned_long_polls(bootstrap: str, socks: list[socket.socket]) -> str:
    setup = Conn(bootstrap)
    create(setup, "parked", 1)
    setup.close()
    for _ in range(500):
        c = Conn(bootstrap)
        c.send(fetch_req("parked", max_wait=INT32_MAX, min_bytes=INT32_MAX), 11)
        socks.append(c.sock)
    time.sleep(2)
    return "500 Fetches parked for INT32_MAX ms, then the clients vanish"


def _fill(bootstrap: str, topic: str, mib: int) -> None:
    c = Conn(bootstrap)
    create(c, topic, 1)
    for _ in range(mib):
        c.call(produce_req(topic, b"x" * ((1 << 20) - 200)), 9)
    c.close()


def slow_readers(bootstrap: str, socks: list[socket.socket]) -> str:
    _fill(bootstrap, "slow", 8)
    for _ in range(20):
        c = Conn(bootstrap)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        for _ in range(4):  # pipelined, never read
            c.send(fetch_req("slow", max_bytes=8 << 20), 11)
        socks.append(c.sock)
    time.sleep(4)
    return "20 clients x 4 pipelined 8 MiB fetches, never reading"


def huge_fetches(bootstrap: str, socks: list[socket.socket]) -> str:
    _fill(bootstrap, "huge", 20)
    biggest = 0
    for _ in range(3):
        c = Conn(bootstrap)
        c.send(fetch_req("huge", repeat=40, max_bytes=INT32_MAX), 11)
        head = b""
        while len(head) < 4:
            head += c.sock.recv(4 - len(head))
        size = struct.unpack(">i", head)[0]
        biggest = max(biggest, size)
        left = size
        while left > 0:
            got = c.sock.recv(min(left, 1 << 20))
            if not got:
                break
            left -= len(got)
        c.close()
    return f"largest response {biggest / 2**20:,.1f} MiB (log 20 MiB; one partition named 40 times)"


def huge_creates(bootstrap: str, socks: list[socket.socket]) -> str:
    c = Conn(bootstrap, timeout=600)
    refused = create(c, "huge-100k", 100_000)
    t0 = time.monotonic()
    accepted = create(c, "huge-9999", 9_999)
    took = time.monotonic() - t0
    c.close()
    return f"100,000 partitions: error {refused}; 9,999 partitions: error {accepted} in {took:.1f} s"


def metadata_auto_create(bootstrap: str, socks: list[socket.socket]) -> str:
    from kafkaish.wire.messages.metadata import MetadataRequest

    c = Conn(bootstrap, timeout=600)
    t0 = time.monotonic()
    topics = [MetadataRequest.MetadataRequestTopic(name=f"auto-{i}") for i in range(2000)]
    resp = c.call(MetadataRequest(topics=topics, allow_auto_topic_creation=True), 9)
    took = time.monotonic() - t0
    c.close()
    ok = sum(1 for t in resp.topics if t.error_code == 0)
    return f"one Metadata request auto-created {ok:,} of 2,000 topics in {took:.1f} s"


def scram_flood(bootstrap: str, socks: list[socket.socket]) -> str:
    stop = time.monotonic() + 5
    logins = [0]

    def flood() -> None:
        while time.monotonic() < stop:
            c = Conn(bootstrap)
            c.call(SaslHandshakeRequest(mechanism="SCRAM-SHA-512"), 1)
            first = c.call(SaslAuthenticateRequest(auth_bytes=b"n,,n=alice,r=flood"), 2)
            nonce = dict(kv.split("=", 1) for kv in first.auth_bytes.decode().split(","))["r"]
            c.call(SaslAuthenticateRequest(auth_bytes=f"c=biws,r={nonce},p=AAAA".encode()), 2)
            c.close()
            logins[0] += 1

    threads = [threading.Thread(target=flood) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return f"{logins[0]:,} SCRAM-SHA-512 logins (wrong proof) in 5 s from 4 connections"


SCENARIOS: dict[str, Callable[[str, list[socket.socket]], str]] = {
    "frame_2gib": frame_2gib, "incomplete_frames": incomplete_frames, "idle_and_half_open": idle_and_half_open,
    "abandoned_long_polls": abandoned_long_polls, "slow_readers": slow_readers, "huge_fetches": huge_fetches,
    "huge_creates": huge_creates, "metadata_auto_create": metadata_auto_create, "scram_flood": scram_flood,
}


def run_one(engine: str, name: str, workdir: Path) -> Row:
    args = ["--in-memory"] if engine == "memory" else ["--data-dir", str(workdir / f"data-{name}")]
    srv = ServerProcess(*args, "--sasl-user", "alice:secret", log_path=workdir / f"{engine}-{name}.log").start()
    row = Row(engine, name)
    socks: list[socket.socket] = []
    try:
        assert srv.proc is not None
        pid = srv.proc.pid
        setup = Conn(srv.bootstrap)
        create(setup, "bystander", 1)
        setup.close()
        bystander = Bystander(srv.bootstrap)
        bystander.start()
        time.sleep(0.5)
        row.rss_before, row.fds_before = proc_rss_mb(pid), proc_fds(pid)
        monitor = Monitor(pid)
        monitor.start()
        t0 = time.monotonic()
        try:
            row.note = SCENARIOS[name](srv.bootstrap, socks)
        except Exception as e:  # noqa: BLE001 - reported in the table
            row.note = f"client error: {e!r}"
        t1 = time.monotonic()
        for s in socks:
            s.close()
        time.sleep(1.0)
        row.fds_after_1s = proc_fds(pid)
        monitor.stop.set()
        bystander.stop.set()
        bystander.join(30)
        monitor.join(5)
        row.rss_peak, row.fds_peak = monitor.peak_rss, monitor.peak_fds
        lat = sorted(bystander.window(t0, t1))
        row.samples = len(lat)
        if lat:
            row.p50_ms = statistics.median(lat) * 1000
            row.p99_ms = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
            row.max_ms = lat[-1] * 1000
        bystander.conn.close()
    finally:
        srv.stop()
    log = (workdir / f"{engine}-{name}.log").read_text(errors="replace")
    if "Traceback" in log:
        row.note += " [TRACEBACK IN LOG]"
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", choices=["file", "memory", "both"], default="both")
    ap.add_argument("--only", help="comma list of scenarios")
    ap.add_argument("--workdir", type=Path)
    args = ap.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kafkaish-abuse-"))
    workdir.mkdir(parents=True, exist_ok=True)
    names = args.only.split(",") if args.only else list(SCENARIOS)
    engines = ["file", "memory"] if args.engine == "both" else [args.engine]
    print(f"# bench_abuse: {os.cpu_count()} cores; logs in {workdir}")
    print("| engine | bad client | RSS MB before -> peak | fds before -> peak -> 1 s after close | "
          "bystander p50 / p99 / max ms (n) | what happened |")
    print("|---|---|---|---|---|---|")
    for engine in engines:
        for name in names:
            r = run_one(engine, name, workdir)
            print(f"| {r.engine} | {r.scenario} | {r.rss_before:.0f} -> {r.rss_peak:.0f} | "
                  f"{r.fds_before} -> {r.fds_peak} -> {r.fds_after_1s} | "
                  f"{r.p50_ms:.1f} / {r.p99_ms:.1f} / {r.max_ms:.0f} ({r.samples}) | {r.note} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
