#!/usr/bin/env python3
"""Transactional produce throughput (100 and 1,000 records per transaction) vs idempotent produce.

Starts ``python -m kafkaish serve --port 0`` as a subprocess on 127.0.0.1 (in-memory unless
``--data-dir``), creates a topic, and for each mode produces ``--records`` records of ``--size``
bytes with confluent-kafka (librdkafka, acks=all, linger 5 ms):

    idempotent   enable.idempotence=true, no transactions
    txn-100      begin / 100 x produce / commit, repeated
    txn-1000     begin / 1,000 x produce / commit, repeated

It reports records/s, transactions/s and the broker's CPU time per 1,000 records (from
/proc/PID/stat), then checks with a read_committed consumer that every record is visible.

    python scripts/bench_txn.py --records 100000 --size 100
    python scripts/bench_txn.py --modes txn-100 --records 5000 --json

On a shared 2-core machine compare the modes within one run, not absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kafkaish.testing import ServerProcess

CLK = os.sysconf("SC_CLK_TCK")
MODES = {"idempotent": 0, "txn-100": 100, "txn-1000": 1000}


@dataclass(frozen=True, slots=True)
class Result:
    mode: str
    records: int
    transactions: int
    seconds: float
    records_per_s: float
    txns_per_s: float
    broker_cpu_ms_per_1k: float
    visible_read_committed: int


def cpu_seconds(pid: int) -> float:
    """utime + stime of the broker process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def start_server(data_dir: str | None) -> tuple[subprocess.Popen[str], str]:
    storage = ["--data-dir", data_dir] if data_dir else ["--in-memory"]
    server = ServerProcess("--host", "127.0.0.1", "--log-level", "WARNING", *storage).start()
    assert server.proc is not None
    return server.proc, server.bootstrap


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        future.result(30)


def make_producer(bootstrap: str, topic: str, mode: str) -> Any:
    """A connected producer: ids obtained and one warm-up record delivered (outside the timing)."""
    from confluent_kafka import Producer

    conf = {"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all", "enable.idempotence": True,
            "queue.buffering.max.messages": 1_000_000}
    if MODES[mode]:
        conf["transactional.id"] = f"bench-{uuid.uuid4().hex[:8]}"
    producer = Producer(conf)
    if MODES[mode]:
        producer.init_transactions(30)
        producer.begin_transaction()
        producer.produce(topic, value=b"warm-up")
        producer.commit_transaction(30)
    else:
        producer.produce(topic, value=b"warm-up")
        producer.flush(30)
    return producer


def produce(producer: Any, topic: str, mode: str, records: int, payload: bytes) -> int:
    """Produce ``records`` records; returns the number of transactions committed."""
    per_txn = MODES[mode]
    p = producer
    if not per_txn:
        for i in range(records):
            _produce(p, topic, payload, i)
        if p.flush(120) != 0:
            raise SystemExit("idempotent produce did not complete")
        return 0
    txns = 0
    for start in range(0, records, per_txn):
        p.begin_transaction()
        for i in range(start, min(start + per_txn, records)):
            _produce(p, topic, payload, i)
        p.commit_transaction(60)  # flushes the transaction's records first
        txns += 1
    return txns


def _produce(producer: Any, topic: str, payload: bytes, i: int) -> None:
    while True:
        try:
            producer.produce(topic, value=payload, key=b"%d" % i)
            return
        except BufferError:
            producer.poll(0.01)


def count_committed(bootstrap: str, topic: str, partitions: int) -> int:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex[:6]}",
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "enable.partition.eof": True})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    seen, eof = 0, set()
    deadline = time.monotonic() + 120
    while len(eof) < partitions and time.monotonic() < deadline:
        for m in consumer.consume(10_000, timeout=0.5):
            if m.error():
                if m.error().code() == -191:  # _PARTITION_EOF
                    eof.add(m.partition())
                continue
            seen += 1
            eof.discard(m.partition())
    consumer.close()
    return seen


def run_mode(bootstrap: str, pid: int, mode: str, args: argparse.Namespace) -> Result:
    topic = f"bench-{mode}-{uuid.uuid4().hex[:6]}"
    create_topic(bootstrap, topic, args.partitions)
    payload = os.urandom(args.size)
    producer = make_producer(bootstrap, topic, mode)
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    txns = produce(producer, topic, mode, args.records, payload)
    seconds = time.perf_counter() - t0
    cpu = cpu_seconds(pid) - cpu0
    del producer
    visible = count_committed(bootstrap, topic, args.partitions) - 1  # minus the warm-up record
    return Result(mode, args.records, txns, round(seconds, 3), round(args.records / seconds, 1),
                  round(txns / seconds, 1), round(cpu * 1000 / (args.records / 1000), 2), visible)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=100, help="value bytes per record")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma list of {', '.join(MODES)}")
    parser.add_argument("--data-dir", help="use the file engine in this directory (default: in-memory)")
    parser.add_argument("--json", action="store_true", help="print results as JSON lines")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}")
    proc, bootstrap = start_server(args.data_dir)
    try:
        results = [run_mode(bootstrap, proc.pid, mode, args) for mode in modes]
    finally:
        proc.terminate()
        proc.wait(30)
    if args.json:
        for r in results:
            print(json.dumps(asdict(r)))
        return
    print(f"{args.records} records x {args.size} B over {args.partitions} partitions, confluent-kafka, acks=all")
    print(f"{'mode':<12}{'records/s':>12}{'txns/s':>10}{'seconds':>10}{'broker CPU ms/1k rec':>22}{'visible':>10}")
    for r in results:
        print(f"{r.mode:<12}{r.records_per_s:>12.0f}{r.txns_per_s:>10.1f}{r.seconds:>10.2f}"
              f"{r.broker_cpu_ms_per_1k:>22.2f}{r.visible_read_committed:>10}")
    if any(r.visible_read_committed != r.records for r in results):
        raise SystemExit("read_committed consumer did not see every committed record")


if __name__ == "__main__":
    main()
