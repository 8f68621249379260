"""End-to-end crash test: SIGKILL the real server while a real client produces, then check that
every acknowledged record is still there, exactly once, at the offset it was acknowledged with.

    python scripts/crash_test.py --rounds 100              # fsync=always (the promise under test)
    python scripts/crash_test.py --rounds 5 --keep-dir D   # keep the data directory for inspection

Each round starts ``python -m kafkaish serve --port 0 --data-dir D --fsync always`` (it prints
``kafkaish ready on HOST:PORT``), produces with confluent_kafka (acks=all, idempotent) to a
3-partition topic, records every delivery report without error as (partition, offset, value),
kills the server with SIGKILL at a random moment (0-1 s after the first acknowledgement, while
records keep streaming), and drops the producer. After the last round
a fresh server is started and every partition is consumed from offset 0: each acknowledged
record must be present at its offset with its value, and no acknowledged value may appear twice.
A SIGKILL of the process keeps the page cache, so this checks the recovery logic (torn tails,
indexes, producer state, checkpoints); it cannot simulate a power cut.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kafkaish.testing import ServerProcess

TOPIC = "crash-test"


def start_server(data_dir: str, fsync: str) -> tuple[subprocess.Popen[str], str]:
    def echo(line: str) -> None:
        if "WARNING" in line or "ERROR" in line:
            sys.stderr.write("server: " + line)

    server = ServerProcess("--data-dir", data_dir, "--fsync", fsync, "--log-level", "WARNING", echo=echo).start(60)
    assert server.proc is not None
    return server.proc, server.bootstrap


def ensure_topic(bootstrap: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(TOPIC, partitions, 1)])
    try:
        futures[TOPIC].result(10)
    except KafkaException as exc:
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise


def produce_round(bootstrap: str, round_no: int, proc: subprocess.Popen[str], rng: random.Random,
                  acked: list[tuple[int, int, bytes]], rate: int) -> int:
    """Produce until the server is killed at a random moment; returns how many were acked."""
    lock = threading.Lock()
    before = len(acked)

    def on_delivery(err: object, msg: object) -> None:
        if err is None:
            with lock:
                acked.append((msg.partition(), msg.offset(), msg.value()))  # type: ignore[attr-defined]

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                         "linger.ms": rng.choice([0, 1, 5]), "message.timeout.ms": 5000,
                         "reconnect.backoff.max.ms": 200})
    # The kill lands a random time after the first acknowledgement, while records stream in at
    # about ``rate`` per second, so it hits the server mid-append, mid-fsync or mid-response.
    kill_at = float("inf")
    started = time.monotonic()
    seq = 0
    while time.monotonic() < kill_at:
        if kill_at == float("inf") and len(acked) > before:
            kill_at = time.monotonic() + rng.uniform(0.0, 1.0)
        if time.monotonic() - started > 30:
            raise RuntimeError("no acknowledgement within 30 s")
        if seq > rate * (time.monotonic() - started):
            producer.poll(0.001)
            continue
        try:
            producer.produce(TOPIC, key=b"k%d" % (seq % 7), value=b"r%d-%d" % (round_no, seq), on_delivery=on_delivery)
            seq += 1
        except BufferError:
            pass
        producer.poll(0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    producer.flush(1.0)  # serve the delivery reports of what was acked before the kill
    return len(acked) - before


def consume_all(bootstrap: str, partitions: int) -> dict[int, dict[int, bytes]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"crash-check-{time.time()}",
                         "enable.auto.commit": False, "isolation.level": "read_uncommitted"})
    seen: dict[int, dict[int, bytes]] = {p: {} for p in range(partitions)}
    ends = {p: consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)[1] for p in range(partitions)}
    position = {p: 0 for p in range(partitions)}  # next offset expected per partition
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(partitions)])
    deadline = time.monotonic() + 300
    while any(position[p] < ends[p] for p in position):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out consuming: at {position}, ends {ends}")
        for msg in consumer.consume(10_000, 1.0):
            if msg.error():
                continue
            seen[msg.partition()][msg.offset()] = msg.value()
            position[msg.partition()] = max(position[msg.partition()], msg.offset() + 1)
    consumer.close()
    return seen


def check(acked: list[tuple[int, int, bytes]], seen: dict[int, dict[int, bytes]]) -> list[str]:
    problems = []
    for p, offset, value in acked:
        got = seen.get(p, {}).get(offset)
        if got != value:
            problems.append(f"acked {value!r} at {p}/{offset}, found {got!r}")
    acked_values = {v for _, _, v in acked}
    counts = Counter(v for part in seen.values() for v in part.values() if v in acked_values)
    problems += [f"acked value {v!r} appears {n} times" for v, n in counts.items() if n > 1]
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--fsync", default="always", choices=["always", "interval", "never"])
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--rate", type=int, default=20_000, help="records produced per second")
    parser.add_argument("--keep-dir", default=None, help="data directory to use and keep")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    data_dir = args.keep_dir or tempfile.mkdtemp(prefix="kafkaish-crash-")
    acked: list[tuple[int, int, bytes]] = []
    print(f"seed {seed}, data dir {data_dir}", flush=True)
    try:
        for round_no in range(args.rounds):
            proc, bootstrap = start_server(data_dir, args.fsync)
            if round_no == 0:
                ensure_topic(bootstrap, args.partitions)
            n = produce_round(bootstrap, round_no, proc, rng, acked, args.rate)
            print(f"round {round_no + 1}/{args.rounds}: {n} acked, {len(acked)} total", flush=True)
        proc, bootstrap = start_server(data_dir, args.fsync)
        try:
            problems = check(acked, consume_all(bootstrap, args.partitions))
        finally:
            proc.terminate()
            proc.wait(30)
    finally:
        if args.keep_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    for line in problems[:50]:
        print("FAIL:", line)
    print(f"{'FAILED' if problems else 'OK'}: {len(acked)} acknowledged records checked, "
          f"{len(problems)} problems, {args.rounds} kills (seed {seed})")
    return 1 if problems else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
