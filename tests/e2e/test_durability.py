"""Durability of the file engine seen from real clients and a real server process."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from kafkaish.testing import ServerProcess

ROOT = Path(__file__).resolve().parents[2]


def test_sigkill_crash_rounds_lose_no_acknowledged_record():
    """scripts/crash_test.py in a few rounds (CI); run it with --rounds 100 by hand."""
    proc = subprocess.run([sys.executable, "scripts/crash_test.py", "--rounds", "3", "--seed", "7"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    m = re.search(r"OK: (\d+) acknowledged records checked, 0 problems, 3 kills", proc.stdout)
    assert m and int(m.group(1)) > 0, proc.stdout[-2000:]


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    for v in values:
        p.produce(topic, v, partition=0)
        p.flush(30)  # one batch per record, so a torn tail loses exactly one
    assert p.flush(30) == 0


def _consume(bootstrap: str, topic: str, n: int) -> list[tuple[int, bytes]]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "d-" + topic, "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = []
    for _ in range(100):
        for m in c.consume(100, timeout=0.2):
            if not m.error():
                got.append((m.offset(), m.value()))
        if len(got) >= n:
            break
    c.close()
    return got


def test_torn_segment_tail_is_truncated_with_a_log_line_and_serving_resumes(server_process, tmp_path, topic_name):
    data = tmp_path / "data"
    server = server_process("--data-dir", str(data), "--fsync", "always")
    _produce(server.bootstrap, topic_name, [b"a", b"b", b"c"])
    assert server.stop() == 0
    (segment,) = (data / f"{topic_name}-0").glob("*.log")
    segment.write_bytes(segment.read_bytes()[:-7])  # tear the last batch
    server = server_process("--data-dir", str(data), "--fsync", "always")
    _produce(server.bootstrap, topic_name, [b"d"])
    assert _consume(server.bootstrap, topic_name, 3) == [(0, b"a"), (1, b"b"), (2, b"d")]
    assert server.stop() == 0


def test_recovery_logs_the_truncation(tmp_path, topic_name, server_process):
    data = tmp_path / "data"
    server = server_process("--data-dir", str(data))
    _produce(server.bootstrap, topic_name, [b"x", b"y"])
    assert server.stop() == 0
    (segment,) = (data / f"{topic_name}-0").glob("*.log")
    with segment.open("ab") as f:
        f.write(b"\x00\x00\x00\x00\x00\x00\x00\x09garbage")  # a torn half-written batch
    with ServerProcess("--data-dir", str(data)) as restarted:
        text = restarted.output
    assert "kafkaish ready on" in text
    assert re.search(r"WARNING .*(truncat|torn|corrupt)", text, re.IGNORECASE), text


@pytest.fixture
def tiny_disk(tmp_path):
    """A 16 MiB tmpfs: a real full disk (needs root and mount permission)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_answers_kafka_storage_error_and_keeps_serving(tiny_disk, server_process, topic_name):
    from confluent_kafka import KafkaError as CKError

    server = server_process("--data-dir", str(tiny_disk / "data"), "--fsync", "always")
    p = Producer({"bootstrap.servers": server.bootstrap, "acks": "all", "linger.ms": 0, "retries": 0,
                  "message.max.bytes": 2_000_000})
    acked: list[int] = []
    errors: list[int] = []

    def report(err, msg):  # type: ignore[no-untyped-def]
        (errors.append(err.code()) if err else acked.append(msg.offset()))

    value = b"x" * 500_000
    for _ in range(60):  # 30 MB into a 16 MB disk
        p.produce(topic_name, value, partition=0, on_delivery=report)
        p.flush(30)
        if errors:
            break
    assert errors and errors[0] == CKError.KAFKA_STORAGE_ERROR, errors
    assert acked == list(range(len(acked))) and acked
    # still serving: metadata and every acknowledged record can be read back
    got = _consume(server.bootstrap, topic_name, len(acked))
    assert [o for o, _ in got] == acked
    assert server.proc is not None and server.proc.poll() is None


def test_a_data_dir_keeps_its_cluster_id_across_restarts(server_process, tmp_path):
    from confluent_kafka.admin import AdminClient

    def cluster_id(bootstrap: str) -> str:
        admin = AdminClient({"bootstrap.servers": bootstrap})  # must outlive its future
        return admin.describe_cluster().result(10).cluster_id

    first = server_process("--data-dir", str(tmp_path / "d"))
    generated = cluster_id(first.bootstrap)
    assert generated and (tmp_path / "d" / "meta.properties").read_text().count(generated) == 1
    assert first.stop() == 0
    again = server_process("--data-dir", str(tmp_path / "d"), "--cluster-id", "not-this-one")
    assert cluster_id(again.bootstrap) == generated  # the stored id wins, as in Kafka
    assert again.stop() == 0
    fresh = server_process("--data-dir", str(tmp_path / "e"), env={"KAFKAISH_CLUSTER_ID": "my-cluster"})
    assert cluster_id(fresh.bootstrap) == "my-cluster"
    flagged = server_process("--data-dir", str(tmp_path / "f"), "--cluster-id", "flagged")
    assert cluster_id(flagged.bootstrap) == "flagged"
