"""Real clients produce, consume, seek and look up offsets against a real kafkaish."""

from __future__ import annotations

import random
import time

import pytest

from tests.e2e.clients import ROUNDTRIPS, Outcome, Rec

PARTS = 3
N = 1000


def make_records(seed: int) -> tuple[list[Rec], int]:
    """N records with keys, headers and increasing timestamps; returns (records, probe_ts)."""
    rnd = random.Random(seed)
    base = int(time.time() * 1000) - 3_600_000
    records = []
    for i in range(N):
        key = b"key-%d" % rnd.randrange(50)
        headers = [("idx", str(i).encode()), ("h2", bytes(rnd.randrange(256) for _ in range(4)))]
        records.append((key, b"value-%d-" % i + b"x" * rnd.randrange(100), headers, base + i * 10, i % PARTS))
    return records, base + (N // 2) * 10


def check(outcome: Outcome, records: list[Rec], probe_ts: int, seek: int) -> None:
    expected_by_part: dict[int, list[Rec]] = {p: [] for p in range(PARTS)}
    for r in records:
        expected_by_part[r[4]].append(r)
    assert len(outcome.consumed) == N
    for p in range(PARTS):
        got = [r for r in outcome.consumed if r[0] == p]
        want = expected_by_part[p]
        assert [r[1] for r in got] == list(range(len(want))), "offsets are dense and in order"
        assert [(r[2], r[3], r[4], r[5]) for r in got] == [(k, v, h, ts) for k, v, h, ts, _ in want]
        assert outcome.reread_from.get(p, []) == list(range(seek, len(want)))
        assert outcome.beginning[p] == 0
        assert outcome.end[p] == len(want)
        first_at_or_after = next(i for i, r in enumerate(want) if r[3] >= probe_ts)
        assert outcome.by_time[p] == first_at_or_after


@pytest.mark.parametrize("client", sorted(ROUNDTRIPS))
def test_round_trip_in_process(broker, topic_name, client):
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic(topic_name, PARTS, 1)])
    admin.close()
    records, probe = make_records(1)
    outcome = ROUNDTRIPS[client](broker.bootstrap, topic_name, PARTS, records, None, 100, probe)
    check(outcome, records, probe, 100)


@pytest.mark.parametrize("compression", ["gzip", "snappy", "lz4", "zstd"])
@pytest.mark.parametrize("client", sorted(ROUNDTRIPS))
def test_round_trip_compressed(broker, topic_name, client, compression):
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic_name, PARTS, 1)])[topic_name].result(30)
    records, probe = make_records(2)
    outcome = ROUNDTRIPS[client](broker.bootstrap, topic_name, PARTS, records, compression, 7, probe)
    check(outcome, records, probe, 7)


@pytest.mark.parametrize("client", sorted(ROUNDTRIPS))
def test_round_trip_subprocess_server(server_process, tmp_path, topic_name, client):
    server = server_process("--data-dir", str(tmp_path / "data"), "--default-partitions", str(PARTS))
    records, probe = make_records(3)
    # auto-created on first use with the broker's default partition count
    outcome = ROUNDTRIPS[client](server.bootstrap, topic_name, PARTS, records, "zstd", 200, probe)
    check(outcome, records, probe, 200)
