"""``kafkaish export`` / ``import`` / ``copy``: binary-safe round trips, ranges, resuming, errors."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kafkaish.cli.client import Cluster
from kafkaish.cli.records import OutRecord
from kafkaish.cli.writer import Producer
from kafkaish.testing import EmbeddedBroker
from tests.cli.conftest import BASE_TS, create_topic, kafkaish_here

pytestmark = pytest.mark.timeout(180)


def fill_binary(bootstrap: str, topic: str, partitions: int, count: int, seed: int = 7) -> None:
    """``count`` records with binary keys, binary and text headers and explicit timestamps."""
    rnd = random.Random(seed)
    with Cluster(bootstrap) as cluster:
        producer = Producer(cluster, cluster.topic(topic))
        for i in range(count):
            key = None if i % 97 == 0 else rnd.randbytes(rnd.randrange(1, 12))
            value = rnd.randbytes(rnd.randrange(0, 60)) if i % 3 else f"text value {i} ü".encode()
            headers = [("seq", str(i).encode()), ("bin", rnd.randbytes(4))] if i % 5 else []
            producer.send(OutRecord(key, None if i % 211 == 0 else value, headers, i % partitions, BASE_TS + i))
        producer.flush()


def dump(cli, topic: str, *args: str) -> list[str]:
    """Every record of ``topic`` as JSON text without the topic name, for byte-for-byte comparison."""
    lines = cli("consume", topic, "--json", *args).out.splitlines()
    return sorted(line.replace(b'{"topic":"%s",' % topic.encode(), b"{").decode() for line in lines)


def test_export_import_round_trip_of_100000_binary_records(cli, broker: EmbeddedBroker, topic_name: str,
                                                           tmp_path: Path) -> None:
    create_topic(cli, topic_name, 3)
    fill_binary(broker.bootstrap, topic_name, 3, 100_000)
    file = tmp_path / "t.jsonl"
    done = cli("export", topic_name, str(file), "--json")
    assert done.json()["exported"] == 100_000
    assert json.loads(file.open().readline()) == {"kafkaish-export": 1, "topic": topic_name, "partitions": 3}
    cli("import", str(file), "restored")
    original, restored = dump(cli, topic_name), dump(cli, "restored")
    assert len(original) == 100_000
    assert original == restored  # keys, values, headers, timestamps, partitions and offsets
    assert any('"key":{"base64"' in line for line in original) and any('"value":null' in line for line in original)


def test_export_ranges_by_offset_timestamp_and_partition(cli, broker: EmbeddedBroker, topic_name: str,
                                                         tmp_path: Path) -> None:
    create_topic(cli, topic_name, 2)
    fill_binary(broker.bootstrap, topic_name, 2, 200)  # partition p holds records i with i % 2 == p

    def exported(*args: str) -> list[dict]:
        file = tmp_path / f"r{len(list(tmp_path.iterdir()))}.jsonl"
        cli("export", topic_name, str(file), *args)
        return [json.loads(line) for line in file.read_text().splitlines()[1:]]

    got = exported("-p", "1", "-o", "10", "--to-offset", "20")
    assert [(r["partition"], r["offset"]) for r in got] == [(1, o) for o in range(10, 20)]
    got = exported("--from-timestamp", str(BASE_TS + 150), "--to-timestamp", str(BASE_TS + 160))
    assert sorted(r["timestamp"] - BASE_TS for r in got) == list(range(150, 160))
    cli("export", topic_name, str(tmp_path / "r0.jsonl"), code=1)  # exists: needs --resume or --force


def test_export_to_stdout_piped_into_import_from_stdin(cli, broker: EmbeddedBroker, topic_name: str) -> None:
    create_topic(cli, topic_name, 3)
    fill_binary(broker.bootstrap, topic_name, 3, 500)
    exported = cli("export", topic_name, "-", "--json")
    assert json.loads(exported.err)["exported"] == 500  # the summary goes to stderr, the records to stdout
    cli("import", "-", "piped", input=exported.out)
    assert len(json.loads(cli("topics", "describe", "piped", "--json").out)[0]["partitions"]) == 3
    assert dump(cli, "piped") == dump(cli, topic_name)


def test_export_resumes_after_a_torn_line(cli, broker: EmbeddedBroker, topic_name: str, tmp_path: Path) -> None:
    create_topic(cli, topic_name, 2)
    fill_binary(broker.bootstrap, topic_name, 2, 3000)
    whole, part = tmp_path / "whole.jsonl", tmp_path / "part.jsonl"
    cli("export", topic_name, str(whole))
    data = whole.read_bytes()
    part.write_bytes(data[: len(data) * 2 // 3 + 17])  # an interrupted export: ends mid-line
    cli("export", topic_name, str(part), "--resume")
    assert sorted(part.read_bytes().splitlines()) == sorted(data.splitlines())


def test_import_interrupted_then_resumed_stores_every_record_once(cli, broker: EmbeddedBroker, topic_name: str,
                                                                  tmp_path: Path) -> None:
    create_topic(cli, topic_name, 2)
    fill_binary(broker.bootstrap, topic_name, 2, 20_000)
    file = tmp_path / "t.jsonl"
    cli("export", topic_name, str(file))
    slow = subprocess.Popen([sys.executable, "-m", "kafkaish", "import", str(file), "target", "--rate-limit", "5000",
                             "-b", broker.bootstrap], stderr=subprocess.PIPE)
    time.sleep(1.5)
    slow.send_signal(signal.SIGKILL)
    slow.wait(30)
    assert (tmp_path / "t.jsonl.import-state").exists()
    with Cluster(broker.bootstrap) as cluster:
        from kafkaish.cli.reader import LATEST, list_offsets

        partial = sum(list_offsets(cluster, cluster.topic("target"), [0, 1], LATEST).values())
    assert 0 < partial < 20_000  # it was stopped midway
    cli("import", str(file), "target", "--resume")
    assert dump(cli, "target") == dump(cli, topic_name)
    assert not (tmp_path / "t.jsonl.import-state").exists()


def test_import_repartitions_by_key_and_reports_a_malformed_line(cli, broker: EmbeddedBroker, topic_name: str,
                                                                 tmp_path: Path) -> None:
    from kafkaish.cli.writer import partition_for_key

    lines = [json.dumps({"partition": 0, "key": f"k{i}", "value": f"v{i}", "timestamp": BASE_TS}) for i in range(30)]
    file = tmp_path / "in.jsonl"
    file.write_text("\n".join(lines) + "\n")
    cli("import", str(file), topic_name, "--repartition", "--partitions", "4")
    got = json.loads(cli("topics", "describe", topic_name, "--json").out)[0]["partitions"]
    assert len(got) == 4
    for r in cli("consume", topic_name, "--json").lines():
        assert r["partition"] == partition_for_key(r["key"].encode(), 4)
    file.write_text(lines[0] + "\n" + lines[1] + "\n" + '{"key": "x", "value": {"base64": "!!"}}\n' + lines[2] + "\n")
    bad = cli("import", str(file), "other", code=1)
    assert bad.err.startswith("Error: line 3: value is not valid base64;") and bad.err.count("\n") == 1
    assert [r["value"] for r in cli("consume", "other", "--json").lines()] == ["v0", "v1"]  # whole records only
    bad = cli("import", str(tmp_path / "missing.jsonl"), "other", code=1)
    assert "does not exist" in bad.err


def test_copy_from_one_broker_to_another(cli, broker: EmbeddedBroker, broker_factory, topic_name: str) -> None:
    second = broker_factory()
    create_topic(cli, topic_name, 3)
    fill_binary(broker.bootstrap, topic_name, 3, 5000)
    done = cli("copy", topic_name, "--to-bootstrap-server", second.bootstrap, "--json")
    assert done.json()["copied"] == 5000
    there = kafkaish_here("consume", topic_name, "--json", "-b", second.bootstrap)
    assert sorted(there.out.splitlines()) == sorted(cli("consume", topic_name, "--json").out.splitlines())
    # a range, to another topic on the same cluster, rate-limited
    started = time.monotonic()
    cli("copy", topic_name, "slice", "--from-timestamp", str(BASE_TS + 1000), "--to-timestamp", str(BASE_TS + 1300),
        "--rate-limit", "1000")
    assert time.monotonic() - started >= 0.25  # 300 records at 1000/s
    sliced = cli("consume", "slice", "--json").lines()
    assert sorted(r["timestamp"] - BASE_TS for r in sliced) == list(range(1000, 1300))
    assert "onto itself" in cli("copy", topic_name, code=1).err


def test_copy_to_a_sasl_cluster_with_a_progress_bar(cli, broker: EmbeddedBroker, broker_factory,
                                                    topic_name: str) -> None:
    secured = broker_factory(sasl_users={"copier": "s3cret"})
    create_topic(cli, topic_name, 2)
    fill_binary(broker.bootstrap, topic_name, 2, 300)
    done = cli("copy", topic_name, "-B", secured.bootstrap, "--to-sasl-mechanism", "SCRAM-SHA-512",
               "--to-sasl-username", "copier", "--to-sasl-password", "s3cret", "--progress")
    assert f"copy {topic_name}" in done.err and "300/300" in done.err  # rich's bar, drawn to stderr
    there = kafkaish_here("consume", topic_name, "--json", "-b", secured.bootstrap, "--sasl-mechanism", "PLAIN",
                          "--sasl-username", "copier", "--sasl-password", "s3cret")
    assert sorted(there.out.splitlines()) == sorted(cli("consume", topic_name, "--json").out.splitlines())
    wrong = cli("copy", topic_name, "-B", secured.bootstrap, "--to-sasl-mechanism", "PLAIN",
                "--to-sasl-username", "copier", "--to-sasl-password", "nope", code=1)
    assert "SASL authentication failed" in wrong.err


def test_unreachable_and_non_kafka_servers_fail_fast_with_one_line(tmp_path: Path) -> None:
    import socket
    import threading

    started = time.monotonic()
    done = kafkaish_here("topics", "list", "-b", "127.0.0.1:1")
    assert done.code == 1 and done.err.startswith("Error: cannot connect to 127.0.0.1:1")
    assert time.monotonic() - started < 5

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def http_server() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            conn.close()

    threading.Thread(target=http_server, daemon=True).start()
    port = listener.getsockname()[1]
    for command in (["topics", "list"], ["consume", "t"]):
        done = kafkaish_here(*command, "-b", f"127.0.0.1:{port}")
        assert done.code == 1 and done.err.count("\n") == 1 and "is not Kafka" in done.err, done.err
    listener.close()

    silent = socket.socket()  # accepts, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    started = time.monotonic()
    done = kafkaish_here("topics", "list", "-b", f"127.0.0.1:{silent.getsockname()[1]}", "--timeout", "1")
    assert done.code == 1 and "no answer" in done.err and "is not Kafka?" in done.err, done.err
    assert time.monotonic() - started < 5
    silent.close()


def test_import_into_a_topic_the_broker_does_not_show_yet_waits_for_it(cli, broker: EmbeddedBroker,
                                                                       topic_name: str, tmp_path: Path) -> None:
    """Regression (test_reference_kafka flaked): Kafka answers CreateTopics before its brokers'
    metadata shows the topic; import and topics create must wait for it, not fail with 'does not exist'."""
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"partition": 0, "value": f"v{i}"}) + "\n" for i in range(5)))
    broker.faults.add(api="Metadata", topic=topic_name, error="UNKNOWN_TOPIC_OR_PARTITION", times=3)
    cli("import", str(source), topic_name)
    assert [r["value"] for r in cli("consume", topic_name, "--json", "--count", "5").lines()] == \
        [f"v{i}" for i in range(5)]
    other = topic_name + "-2"
    broker.faults.add(api="Metadata", topic=other, error="UNKNOWN_TOPIC_OR_PARTITION", times=3)
    done = cli("topics", "create", other)
    assert "not visible" not in done.err
    cli("produce", other, input=b"a\n")
