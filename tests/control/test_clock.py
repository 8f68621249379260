"""The controllable clock through the control plane: retention and session expiry without waiting."""

from __future__ import annotations

import time
import uuid

import pytest

from kafkaish.pytest_plugin import create_topic
from kafkaish.testing import EmbeddedBroker
from tests.control.http import call, get, post


@pytest.fixture
def kb():
    with EmbeddedBroker(admin_port=0) as kb:
        yield kb


def test_clock_routes_freeze_advance_and_system(kb):
    assert get(kb.admin_url + "/v1/clock")["mode"] == "system"
    frozen = post(kb.admin_url + "/v1/clock", {"mode": "frozen"})
    assert frozen["mode"] == "frozen"
    time.sleep(0.05)
    assert get(kb.admin_url + "/v1/clock")["now_ms"] == frozen["now_ms"]  # frozen means frozen
    assert post(kb.admin_url + "/v1/clock/advance", {"ms": 61_000})["now_ms"] == frozen["now_ms"] + 61_000
    pinned = post(kb.admin_url + "/v1/clock", {"mode": "frozen", "now_ms": 1_000_000})
    assert pinned["now_ms"] == 1_000_000 and kb.clock.now_ms() == 1_000_000
    assert post(kb.admin_url + "/v1/clock", {"mode": "system"})["mode"] == "system"
    assert abs(kb.clock.now_ms() - time.time() * 1000) < 60_000


def test_retention_after_advance_removes_records(kb):
    """Freeze, produce to retention.ms=60000, advance 61 s: the records are gone, no waiting."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    topic = f"ret-{uuid.uuid4().hex[:8]}"
    kb.clock.freeze()
    create_topic(kb.bootstrap, topic, 1, {"retention.ms": "60000"})
    p = KafkaProducer(bootstrap_servers=kb.bootstrap)
    for i in range(40):
        p.send(topic, b"x" * 100, timestamp_ms=kb.clock.now_ms()).get(10)
    p.close()
    before = get(f"{kb.admin_url}/v1/topics/{topic}")["partitions"][0]
    assert before["log_start_offset"] == 0 and before["high_watermark"] == 40
    post(kb.admin_url + "/v1/clock/advance", {"ms": 59_000})
    assert get(f"{kb.admin_url}/v1/topics/{topic}")["partitions"][0]["log_start_offset"] == 0  # not yet due
    post(kb.admin_url + "/v1/clock/advance", {"ms": 2_000})
    after = get(f"{kb.admin_url}/v1/topics/{topic}")["partitions"][0]
    # Kafka rolls the active segment when all of it is past retention, then deletes it
    assert after["high_watermark"] == 40 and after["log_start_offset"] == 40
    assert kb.inspect.records(topic, 0, offset=0, limit=100) == []
    c = KafkaConsumer(bootstrap_servers=kb.bootstrap)
    tp = TopicPartition(topic, 0)
    assert c.beginning_offsets([tp])[tp] == after["log_start_offset"]
    c.close()


def test_session_expires_after_advance(kb):
    """A classic group member that stops heartbeating is removed once the clock passes its session."""
    from kafka import KafkaConsumer

    topic = f"ses-{uuid.uuid4().hex[:8]}"
    group = f"g-{uuid.uuid4().hex[:6]}"
    create_topic(kb.bootstrap, topic, 2)
    c = KafkaConsumer(topic, bootstrap_servers=kb.bootstrap, group_id=group, session_timeout_ms=30_000,
                      heartbeat_interval_ms=10_000, enable_auto_commit=False)
    deadline = time.monotonic() + 30
    while not c.assignment() and time.monotonic() < deadline:
        c.poll(timeout_ms=200)
    assert len(get(f"{kb.admin_url}/v1/groups/{group}")["members"]) == 1
    kb.clock.freeze()
    kb.clock.advance(20_000)
    assert get(f"{kb.admin_url}/v1/groups/{group}")["state"] == "Stable"  # within the session
    status, _ = call("POST", kb.admin_url + "/v1/clock/advance", {"ms": 11_000})
    g = get(f"{kb.admin_url}/v1/groups/{group}")
    assert status == 200 and g["members"] == [] and g["state"] == "Empty"
    c.close()
