"""Helpers for the recipe tests: run a recipe as a subprocess, write and read topics, count outcomes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

RECIPES_DIR = Path(__file__).resolve().parents[2] / "docs" / "recipes"
if str(RECIPES_DIR) not in sys.path:
    sys.path.insert(0, str(RECIPES_DIR))


def run_recipe(module: str, *args: str, crash_at: str | None = None, timeout: float = 40) -> int:
    """Run ``python -m kafka_recipes.MODULE ARGS`` to its end; return its exit status.

    With ``crash_at`` the process SIGKILLs itself at that crash point (status -9).
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(RECIPES_DIR), os.environ.get("PYTHONPATH", "")])}
    env.pop("RECIPE_CRASH_AT", None)
    if crash_at:
        env["RECIPE_CRASH_AT"] = crash_at
    proc = subprocess.run([sys.executable, "-m", f"kafka_recipes.{module}", *args], env=env, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"{module} exited {proc.returncode}:\n{proc.stdout[-3000:]}")
    return proc.returncode


def create_topic(bootstrap: str, topic: str, partitions: int = 1) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()


def produce(bootstrap: str, topic: str, values: Iterable[str], *, partitions: int = 1,
            key: bool = False) -> list[str]:
    """Create ``topic`` and write ``values`` (keyed by the value when ``key``); return them."""
    from kafka import KafkaProducer

    create_topic(bootstrap, topic, partitions)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    values = list(values)
    futures = [producer.send(topic, v.encode(), key=v.encode() if key else None) for v in values]
    producer.flush()
    for f in futures:
        f.get(10)
    producer.close()
    return values


@dataclass(frozen=True)
class Rec:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]
    timestamp: int


def read_all(bootstrap: str, topic: str, *, isolation: str = "read_committed") -> list[Rec]:
    """Every record of ``topic``, in offset order per partition."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level=isolation)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(tps)
        out = []
        deadline = time.monotonic() + 20
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, f"could not read {topic} to its end {ends}" 
            for tp, msgs in consumer.poll(timeout_ms=200).items():
                out += [Rec(tp.partition, m.offset, m.key, m.value, dict(m.headers), m.timestamp) for m in msgs]
        return out
    finally:
        consumer.close()


@dataclass(frozen=True)
class Outcome:
    lost: list[str]
    duplicated: list[str]  # one entry per extra delivery


def outcome(expected: Iterable[str], delivered: Iterable[str]) -> Outcome:
    seen = Counter(delivered)
    return Outcome(lost=[v for v in expected if v not in seen],
                   duplicated=sorted(v for v, n in seen.items() for _ in range(n - 1)))


def lines(path: Path | str) -> list[str]:
    path = Path(path)
    return path.read_text().splitlines() if path.exists() else []
