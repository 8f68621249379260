"""The pytest plugin: a user's test file with no conftest, run in a subprocess embedded, under
xdist, and against a second, external kafkaish (control-plane tests skipped, saying why)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

USER_TESTS = textwrap.dedent('''
    import asyncio
    import pytest


    def consume_all(bootstrap, topic, partition, n):
        from kafka import KafkaConsumer, TopicPartition
        c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        c.assign([TopicPartition(topic, partition)])
        c.seek_to_beginning()
        got = []
        for _ in range(40):
            for msgs in c.poll(timeout_ms=250).values():
                got += [m.value for m in msgs]
            if len(got) >= n:
                break
        c.close()
        return got


    def test_kafka_python_roundtrip(kafka_bootstrap, kafka_topic):
        from kafka import KafkaProducer
        topic = kafka_topic(partitions=3, config={"retention.ms": "3600000"})
        p = KafkaProducer(bootstrap_servers=kafka_bootstrap)
        p.send(topic, b"sync", partition=2).get(10)
        p.close()
        assert consume_all(kafka_bootstrap, topic, 2, 1) == [b"sync"]


    def test_aiokafka_roundtrip(kafka_bootstrap, kafka_topic):
        from aiokafka import AIOKafkaProducer
        topic = kafka_topic()

        async def main():
            p = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
            await p.start()
            await p.send_and_wait(topic, b"async")
            await p.stop()
        asyncio.run(main())
        assert consume_all(kafka_bootstrap, topic, 0, 1) == [b"async"]


    def test_confluent_roundtrip(kafka_bootstrap, kafka_topic):
        import confluent_kafka
        topic = kafka_topic()
        p = confluent_kafka.Producer({"bootstrap.servers": kafka_bootstrap})
        p.produce(topic, b"rdkafka")
        assert p.flush(10) == 0
        assert consume_all(kafka_bootstrap, topic, 0, 1) == [b"rdkafka"]


    def test_topic_names_are_unique(kafka_topic, kafka_group_id):
        assert kafka_topic() != kafka_topic() and kafka_group_id


    def test_fault_through_the_control_plane(kafka_broker, kafka_bootstrap, kafka_topic):
        from kafka import KafkaProducer
        topic = kafka_topic()
        rule = kafka_broker.faults.add(api="Produce", topic=topic, error="NOT_LEADER_OR_FOLLOWER", times=1)
        p = KafkaProducer(bootstrap_servers=kafka_bootstrap, retries=5)
        p.send(topic, b"retried").get(10)
        p.close()
        assert kafka_broker.faults.list()[-1]["hits"] == 1 and rule


    @pytest.mark.kafka_control
    def test_marked_for_the_control_plane(kafka_bootstrap):
        assert kafka_bootstrap


    def test_fresh_broker(kafka_fresh_broker, kafka_broker):
        assert kafka_fresh_broker.bootstrap != kafka_broker.bootstrap
        assert kafka_fresh_broker.inspect.topics() == []
''')


def run_pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "test_user.py", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=240)


def test_plugin_fixtures_embedded_without_conftest(tmp_path):
    out = run_pytest(tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "7 passed" in out.stdout, out.stdout
    assert not list(tmp_path.glob("conftest.py"))


def test_plugin_under_xdist(tmp_path):
    pytest.importorskip("xdist")
    out = run_pytest(tmp_path, "-n", "2")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "7 passed" in out.stdout, out.stdout


def test_plugin_against_an_external_kafkaish(tmp_path, server_process):
    external = server_process("--in-memory")
    out = run_pytest(tmp_path, "--kafka-bootstrap", external.bootstrap)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 passed, 3 skipped" in out.stdout, out.stdout
    assert f"needs kafkaish's control plane; running against the external broker {external.bootstrap}" in out.stdout


def test_plugin_external_by_environment(tmp_path, server_process, monkeypatch):
    external = server_process("--in-memory")
    monkeypatch.setenv("KAFKAISH_TEST_BOOTSTRAP", external.bootstrap)
    out = run_pytest(tmp_path, "-k", "fault or roundtrip")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 passed, 1 skipped" in out.stdout, out.stdout
