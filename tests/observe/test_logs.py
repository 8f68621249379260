"""--log-level / --log-format: the server's stderr, as a user sees it, with real clients."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest


class Server:
    """``kafkaish serve`` with stdout and stderr read apart (logs must go to stderr)."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "kafkaish", "serve", "--port", "0", "--in-memory", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     text=True, bufsize=1)
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        ready = threading.Event()

        def pump(stream, out, signal) -> None:
            for line in stream:
                out.append(line)
                if signal and line.startswith("kafkaish ready on"):
                    ready.set()

        for stream, out, sig in ((self.proc.stdout, self.stdout, True), (self.proc.stderr, self.stderr, False)):
            threading.Thread(target=pump, args=(stream, out, sig), daemon=True).start()
        assert ready.wait(30), "".join(self.stderr)
        self.bootstrap = re.search(r"ready on (\S+)", "".join(self.stdout)).group(1)

    def wait_for(self, pattern: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.stderr):
                if re.search(pattern, line):
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no stderr line matches {pattern!r}:\n{''.join(self.stderr[-40:])}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


@pytest.fixture
def json_debug() -> Iterator[Server]:
    s = Server("--log-format", "json", "--log-level", "DEBUG", "--transaction-max-timeout-ms", "900000")
    yield s
    s.stop()


def test_json_lines_on_stderr_for_topics_groups_and_requests(json_debug):
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    s = json_debug
    topic, group = f"log-{uuid.uuid4().hex[:6]}", f"lg-{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(bootstrap_servers=s.bootstrap, client_id="the-admin")
    admin.create_topics([NewTopic(topic, 2, 1)])
    p = KafkaProducer(bootstrap_servers=s.bootstrap, client_id="the-producer")
    p.send(topic, b"v").get(10)
    p.close()
    c = KafkaConsumer(topic, bootstrap_servers=s.bootstrap, group_id=group, auto_offset_reset="earliest")
    deadline = time.monotonic() + 20
    while not c.poll(500) and time.monotonic() < deadline:
        pass
    s.wait_for(f"group {group} rebalanced")
    c.close()
    admin.delete_topics([topic])
    admin.close()
    s.wait_for(f"topic {topic} deleted")

    assert not any(line.startswith("{") for line in s.stdout), "logs go to stderr, never stdout"
    records = [json.loads(line) for line in s.stderr]  # every stderr line is one JSON object
    created = [r for r in records if r["message"].startswith(f"topic {topic} created")]
    assert len(created) == 1 and created[0]["level"] == "INFO" and "2 partitions" in created[0]["message"]
    rebalance = next(r for r in records if f"group {group} rebalanced" in r["message"])
    assert re.search(r"generation 1, 1 members, protocol consumer/\w+", rebalance["message"]), rebalance
    produce = [r for r in records if r.get("api") == "Produce" and r["client_id"] == "the-producer"]
    assert produce and produce[0]["level"] == "DEBUG" and produce[0]["logger"] == "kafkaish.request"
    assert produce[0]["error_code"] == 0 and produce[0]["duration_ms"] >= 0
    assert isinstance(produce[0]["correlation_id"], int) and isinstance(produce[0]["api_version"], int)
    assert all({"ts", "level", "logger", "message"} <= set(r) for r in records)


def test_text_format_at_info_has_no_request_lines():
    from kafka import KafkaProducer

    s = Server("--log-level", "INFO")
    try:
        topic = f"t-{uuid.uuid4().hex[:6]}"
        p = KafkaProducer(bootstrap_servers=s.bootstrap)
        p.send(topic, b"v").get(10)  # auto-created
        p.close()
        line = s.wait_for(f"topic {topic} created")
        assert re.match(r"\d{4}-\d\d-\d\d [\d:,]+ INFO kafkaish\.admin\.topics: topic ", line), line
    finally:
        s.stop()
    assert not any("kafkaish.request" in line for line in s.stderr)


def test_transaction_timeout_is_logged():
    from confluent_kafka import Producer

    s = Server("--log-format", "json")
    txn_id = f"tx-{uuid.uuid4().hex[:6]}"
    try:
        p = Producer({"bootstrap.servers": s.bootstrap, "transactional.id": txn_id, "transaction.timeout.ms": 1000})
        p.init_transactions(30)
        p.begin_transaction()
        p.produce("txlog", b"doomed")
        assert p.flush(30) == 0
        line = json.loads(s.wait_for(f"transaction '{txn_id}' timed out"))
        assert line["level"] == "INFO" and "1000 ms" in line["message"]
    finally:
        s.stop()


def test_refused_connection_is_logged():
    import socket

    s = Server("--max-connections-per-ip", "1")
    try:
        host, port = s.bootstrap.rsplit(":", 1)
        first = socket.create_connection((host, int(port)))
        second = socket.create_connection((host, int(port)))
        line = s.wait_for("max.connections.per.ip")
        assert " INFO " in line
        first.close()
        second.close()
    finally:
        s.stop()
