#!/usr/bin/env python3
"""Fuzz a real kafkaish server with mutations of real clients' request frames.

The seeds are the golden frames captured from kafka-python, aiokafka and confluent-kafka
(tests/wire/golden) plus a SASL exchange. Each frame gets one or two mutations (bit flips,
truncations, length lies, varint overflows, extreme integers, header swaps, splices) and is
sent on its own connection, followed by an ApiVersions probe. Every connection must end one
of four ways: the probe is answered (the server survived the frame), the server closes it
(rejected), the frame was left incomplete on purpose (abandoned), or nothing within the
timeout (parked: a mutated Fetch or JoinGroup may legitimately wait; the client then leaves).

Reported, and failing the run: a server crash, unhandled exceptions in its log (Traceback or
ERROR lines), connections the server still holds once every client has gone (fds above the
baseline), a server that no longer answers. RSS and fd growth are reported.

    python scripts/fuzz.py --frames 20000             # ~30-60 s, what CI runs (tests/e2e/test_fuzz.py)
    python scripts/fuzz.py --frames 1000000 --engine file
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "wire" / "golden"
PROBE_ID = 0x7FFFABCD
_SIZE = struct.Struct(">i")
EXTREMES = {
    2: [b"\x7f\xff", b"\x80\x00", b"\xff\xff", b"\x00\x00"],
    4: [b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00", b"\xff\xff\xff\xff", b"\x00\x00\x00\x00"],
    8: [b"\x7f" + b"\xff" * 7, b"\x80" + b"\x00" * 7, b"\xff" * 8, b"\x00" * 8],
}


def probe_frame() -> bytes:
    """ApiVersions v0 with a correlation id the seeds never use."""
    payload = struct.pack(">hhih", 18, 0, PROBE_ID, 5) + b"probe"
    return _SIZE.pack(len(payload)) + payload


def seed_frames() -> list[tuple[str, bytes]]:
    """(name, frame body without its size prefix) for every seed."""
    seeds = [(f"{p.parent.name}/{p.stem}", p.read_bytes()) for p in sorted(GOLDEN.glob("*/*.bin"))]
    from kafkaish.wire.codec import ClientCodec
    from kafkaish.wire.messages.sasl_authenticate import SaslAuthenticateRequest
    from kafkaish.wire.messages.sasl_handshake import SaslHandshakeRequest

    codec = ClientCodec("fuzz")
    for name, msg, v in (("SaslHandshake-v1", SaslHandshakeRequest(mechanism="SCRAM-SHA-256"), 1),
                         ("SaslAuthenticate-v2", SaslAuthenticateRequest(auth_bytes=b"n,,n=u,r=abc"), 2)):
        seeds.append((f"built/{name}", codec.encode_request(msg, v, expect_response=False)[1][4:]))
    return seeds


# ---------------------------------------------------------------------------- mutations
def _bit_flips(rng: random.Random, body: bytearray) -> bytearray:
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(body))
        body[i] ^= 1 << rng.randrange(8)
    return body


def _truncate(rng: random.Random, body: bytearray) -> bytearray:
    return body[: rng.randrange(len(body))]


def _varint_overflow(rng: random.Random, body: bytearray) -> bytearray:
    i = rng.randrange(8, len(body)) if len(body) > 8 else 0
    run = b"\xff" * rng.randint(5, 12) + bytes([rng.randrange(128)])
    if rng.random() < 0.5:
        return body[:i] + run + body[i:]
    return body[:i] + run + body[i + len(run):]


def _extreme_int(rng: random.Random, body: bytearray) -> bytearray:
    width = rng.choice((2, 4, 8))
    if len(body) <= width:
        return body
    i = rng.randrange(len(body) - width)
    body[i : i + width] = rng.choice(EXTREMES[width])
    return body


def _header_swap(rng: random.Random, body: bytearray) -> bytearray:
    """Another api key or version with this body."""
    if rng.random() < 0.5:
        body[0:2] = struct.pack(">h", rng.randrange(0, 80))
    else:
        body[2:4] = struct.pack(">h", rng.randrange(0, 20))
    return body


def _splice(rng: random.Random, body: bytearray, other: bytes) -> bytearray:
    return body[: rng.randrange(len(body))] + other[rng.randrange(len(other)):]


def _duplicate(rng: random.Random, body: bytearray) -> bytearray:
    i = rng.randrange(len(body))
    j = min(len(body), i + rng.randint(1, 64))
    return body[:j] + body[i:j] * rng.randint(1, 50) + body[j:]


MUTATIONS = ("bit_flip", "truncate", "length_lie", "varint_overflow", "extreme_int", "header_swap", "splice",
             "duplicate")


def long_poll_seeds(seeds: list[tuple[str, bytes]]) -> list[bytes]:
    """The Fetch seeds with min_bytes and max_wait_ms at INT32_MAX: they park until the client leaves."""
    from kafkaish.wire.codec import ServerCodec, request_header_version
    from kafkaish.wire.messages import REQUESTS, request_class

    versions = {k: (request_class(k).MIN_VERSION, request_class(k).MAX_VERSION) for k in REQUESTS}
    out = []
    for name, body in seeds:
        if "/Fetch-" in name:
            req = ServerCodec(versions).decode_frame(body)
            req.body.max_wait_ms = req.body.min_bytes = 2**31 - 1
            out.append(req.header.encode(request_header_version(req.api_key, req.api_version))
                       + req.body.encode(req.api_version))
    return out


def mutate(rng: random.Random, seeds: list[tuple[str, bytes]],
           parkers: list[bytes] | None = None) -> tuple[str, bytes, bool]:
    """(mutation names, frame with size prefix, complete?) for one random seed."""
    if parkers and rng.random() < 0.01:  # an abandoned long poll: the client leaves while it is parked
        body = rng.choice(parkers)
        return "long_poll", _SIZE.pack(len(body)) + body, True
    _, seed = rng.choice(seeds)
    body = bytearray(seed)
    names = []
    lie: int | None = None
    for _ in range(1 if rng.random() < 0.7 else 2):
        m = rng.choice(MUTATIONS)
        names.append(m)
        if not body:
            break
        if m == "bit_flip":
            body = _bit_flips(rng, body)
        elif m == "truncate":
            body = _truncate(rng, body)
        elif m == "varint_overflow":
            body = _varint_overflow(rng, body)
        elif m == "extreme_int":
            body = _extreme_int(rng, body)
        elif m == "header_swap":
            body = _header_swap(rng, body)
        elif m == "splice":
            body = _splice(rng, body, rng.choice(seeds)[1])
        elif m == "duplicate":
            body = _duplicate(rng, body)
        else:
            lie = rng.choice((len(body) + rng.randint(1, 1000), max(len(body) - rng.randint(1, 8), 0), -1,
                              -(2**31), 2**31 - 1, 0, 200 * 1024 * 1024))
    size = len(body) if lie is None else lie
    complete = size == len(body)
    return "+".join(names), _SIZE.pack(size) + bytes(body), complete


# ---------------------------------------------------------------------------- the server
def proc_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def proc_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Server:
    def __init__(self, engine: str, log_path: Path, data_dir: Path | None) -> None:
        args = [sys.executable, "-m", "kafkaish", "serve", "--port", "0"]
        args += ["--in-memory"] if engine == "memory" else ["--data-dir", str(data_dir)]
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = re.search(r"kafkaish ready on (\S+):(\d+)", log_path.read_text())
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("server did not start:\n" + log_path.read_text())

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        code = self.proc.wait(60)
        self.log.close()
        return code


# ---------------------------------------------------------------------------- the client
async def one_frame(host: str, port: int, frame: bytes, complete: bool, timeout: float) -> str:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        return "connect_failed"
    try:
        writer.write(frame + probe_frame() if complete else frame)
        await writer.drain()
        if not complete:
            return "abandoned"  # a client that sends half a frame and leaves
        buf = b""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "parked"
            try:
                chunk = await asyncio.wait_for(reader.read(65536), remaining)
            except asyncio.TimeoutError:
                return "parked"
            if not chunk:
                return "closed"
            buf += chunk
            while len(buf) >= 8:
                size, corr = struct.unpack_from(">ii", buf)
                if len(buf) < 4 + size:
                    break
                if corr == PROBE_ID:
                    return "answered"
                buf = buf[4 + size:]
    except (ConnectionError, OSError):
        return "closed"
    finally:
        writer.close()


@dataclass
class FuzzResult:
    frames: int = 0
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    mutations: Counter[str] = field(default_factory=Counter)
    crashed: bool = False
    exit_code: int | None = None
    tracebacks: int = 0
    error_lines: int = 0
    log_bytes: int = 0
    fds_baseline: int = 0
    fds_end: int = 0
    rss_baseline_mb: float = 0.0
    rss_end_mb: float = 0.0
    serving_at_end: bool = False
    samples: list[str] = field(default_factory=list)

    @property
    def leaked_connections(self) -> int:
        return max(self.fds_end - self.fds_baseline, 0)

    @property
    def ok(self) -> bool:
        return (not self.crashed and self.tracebacks == 0 and self.error_lines == 0
                and self.leaked_connections == 0 and self.serving_at_end)

    def report(self) -> str:
        rate = self.frames / self.seconds if self.seconds else 0
        lines = [
            f"frames: {self.frames:,} in {self.seconds:.1f} s ({rate:,.0f}/s)",
            "outcomes: " + ", ".join(f"{k} {v:,}" for k, v in sorted(self.outcomes.items())),
            f"crashes: {int(self.crashed)}  unhandled exceptions in the log: {self.tracebacks} tracebacks, "
            f"{self.error_lines} ERROR lines  (log {self.log_bytes / 1024:.0f} KiB)",
            f"fds: {self.fds_baseline} -> {self.fds_end} once every client left "
            f"(leaked connections: {self.leaked_connections})",
            f"RSS: {self.rss_baseline_mb:.0f} -> {self.rss_end_mb:.0f} MB",
            f"serving at the end: {'yes' if self.serving_at_end else 'NO'}",
            "result: " + ("OK" if self.ok else "FAILED"),
        ]
        lines += [f"  log: {s}" for s in self.samples[:10]]
        return "\n".join(lines)


async def _drive(host: str, port: int, frames: int, seed: int, concurrency: int, timeout: float,
                 result: FuzzResult, proc: subprocess.Popen[bytes] | None) -> None:
    rng = random.Random(seed)
    seeds = seed_frames()
    parkers = long_poll_seeds(seeds)
    queue: asyncio.Queue[tuple[str, bytes, bool] | None] = asyncio.Queue(maxsize=concurrency * 4)

    async def worker() -> None:
        while (item := await queue.get()) is not None:
            names, frame, complete = item
            outcome = await one_frame(host, port, frame, complete, timeout)
            result.outcomes[outcome] += 1

    workers = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
    for i in range(frames):
        names, frame, complete = mutate(rng, seeds, parkers)
        result.mutations.update(names.split("+"))
        await queue.put((names, frame, complete))
        if proc is not None and i % 1000 == 0 and proc.poll() is not None:
            result.crashed = True
            break
    for _ in workers:
        await queue.put(None)
    await asyncio.gather(*workers)


async def _prime(host: str, port: int, timeout: float) -> None:
    """Send every seed as captured once: Metadata creates the topics the other seeds name, so
    mutated Fetches find partitions to long-poll and mutated Produces data to append."""
    for _, body in seed_frames():
        await one_frame(host, port, _SIZE.pack(len(body)) + body, True, timeout)


def _serving(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(probe_frame())
            data = b""
            while len(data) < 8:
                chunk = s.recv(65536)
                if not chunk:
                    return False
                data += chunk
            return struct.unpack_from(">i", data, 4)[0] == PROBE_ID
    except OSError:
        return False


def settle_fds(pid: int, baseline: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    now = proc_fds(pid)
    while now > baseline and time.monotonic() < deadline:
        time.sleep(0.1)
        now = proc_fds(pid)
    return now


def run_fuzz(frames: int = 20_000, seed: int = 1, concurrency: int = 32, timeout: float = 1.5,
             engine: str = "memory", workdir: Path | None = None) -> FuzzResult:
    """Start a server, fuzz it, stop it; the result says what happened."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="kafkaish-fuzz-"))
    workdir.mkdir(parents=True, exist_ok=True)
    server = Server(engine, workdir / "server.log", workdir / "data")
    result = FuzzResult(frames=frames)
    try:
        pid = server.proc.pid
        asyncio.run(_prime(server.host, server.port, timeout))
        asyncio.run(_drive(server.host, server.port, 200, seed + 1, 8, timeout, FuzzResult(), None))  # warm up
        time.sleep(0.5)
        result.fds_baseline = settle_fds(pid, 0, 0)
        result.rss_baseline_mb = proc_rss_mb(pid)
        t0 = time.monotonic()
        asyncio.run(_drive(server.host, server.port, frames, seed, concurrency, timeout, result, server.proc))
        result.seconds = time.monotonic() - t0
        if server.proc.poll() is not None:
            result.crashed = True
        else:
            result.fds_end = settle_fds(pid, result.fds_baseline, 5.0)
            result.rss_end_mb = proc_rss_mb(pid)
            result.serving_at_end = _serving(server.host, server.port)
    finally:
        result.exit_code = server.stop()
        if result.exit_code != 0:
            result.crashed = True
    text = server.log_path.read_text(errors="replace")
    result.log_bytes = len(text)
    result.tracebacks = text.count("Traceback")
    result.error_lines = sum(1 for line in text.splitlines() if " ERROR " in line or " CRITICAL " in line)
    result.samples = [line for line in text.splitlines() if "Traceback" in line or " ERROR " in line][:10]
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=32, help="connections in flight")
    ap.add_argument("--timeout", type=float, default=1.5, help="seconds to wait for the probe's answer")
    ap.add_argument("--engine", choices=["memory", "file"], default="memory")
    ap.add_argument("--workdir", type=Path, help="where the server log (and data) go; default: a temp dir")
    args = ap.parse_args()
    result = run_fuzz(args.frames, args.seed, args.concurrency, args.timeout, args.engine, args.workdir)
    print(f"# kafkaish fuzz: seed {args.seed}, {args.engine} engine, concurrency {args.concurrency}")
    print("mutations: " + ", ".join(f"{k} {v:,}" for k, v in sorted(result.mutations.items())))
    print(result.report())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
