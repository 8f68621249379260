"""``kafkaish produce`` and ``kafkaish consume`` against a kafkaish broker, checked with real clients."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time

import pytest

from kafkaish.cli.writer import partition_for_key
from kafkaish.testing import EmbeddedBroker
from tests.cli.conftest import BASE_TS, create_topic, iso

pytestmark = pytest.mark.timeout(120)


def read_all(bootstrap: str, topic: str, partitions: int, expected: int) -> list:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    consumer.seek_to_beginning()
    got: list = []
    deadline = time.monotonic() + 30
    while len(got) < expected and time.monotonic() < deadline:
        for tp, msgs in consumer.poll(timeout_ms=300).items():
            got += [(tp.partition, m.offset, m.key, m.value, list(m.headers), m.timestamp) for m in msgs]
    consumer.close()
    return sorted(got, key=lambda r: (r[0], r[1]))


def test_produce_raw_lines_and_key_separator(cli, broker: EmbeddedBroker, topic_name: str) -> None:
    create_topic(cli, topic_name, 3)
    done = cli("produce", topic_name, "-K", ":", input=b"k1:v1\nk2:v:2\r\nk3:\n")
    assert "Produced 3 records" in done.err
    got = read_all(broker.bootstrap, topic_name, 3, 3)
    assert sorted((r[2], r[3]) for r in got) == [(b"k1", b"v1"), (b"k2", b"v:2"), (b"k3", b"")]
    for partition, _, key, *_ in got:  # where Kafka's Java producer puts each key (murmur2)
        assert partition == partition_for_key(key, 3)
    cli("produce", topic_name, "--partition", "2", input=b"plain\n\xff\xfebinary\n")
    values = [r[3] for r in read_all(broker.bootstrap, topic_name, 3, 5) if r[2] is None]
    assert values == [b"plain", b"\xff\xfebinary"]


def test_produce_json_records_with_headers_partition_and_timestamp(cli, broker: EmbeddedBroker,
                                                                   topic_name: str) -> None:
    create_topic(cli, topic_name, 2)
    lines = [
        {"key": {"base64": base64.b64encode(b"\x00\x01").decode()}, "value": "v1", "partition": 1,
         "timestamp": 1700000000123, "headers": [["h", "x"], ["h", {"base64": "/w=="}], ["n", None]]},
        {"key": None, "value": None, "partition": 0, "timestamp": iso(BASE_TS)},
    ]
    data = "\n".join(json.dumps(x) for x in lines).encode() + b"\n\n"
    cli("produce", topic_name, "--json", "--header", "from=cli", input=data)
    got = read_all(broker.bootstrap, topic_name, 2, 2)
    assert got[0] == (0, 0, None, None, [("from", b"cli")], BASE_TS)
    assert got[1] == (1, 0, b"\x00\x01", b"v1", [("from", b"cli"), ("h", b"x"), ("h", b"\xff"), ("n", None)],
                      1700000000123)


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_produce_compression_and_acks(cli, broker: EmbeddedBroker, topic_name: str, codec: str) -> None:
    create_topic(cli, topic_name)
    cli("produce", topic_name, "--compression", codec, input=b"a\nb\n")
    cli("produce", topic_name, "--acks", "1", "--no-idempotence", input=b"c\n")
    assert [r[3] for r in read_all(broker.bootstrap, topic_name, 1, 3)] == [b"a", b"b", b"c"]
    refused = cli("produce", topic_name, "--acks", "1", input=b"d\n", code=1)
    assert "idempotence needs --acks all" in refused.err


def test_produce_is_idempotent_with_sequence_numbers(cli, broker: EmbeddedBroker, topic_name: str) -> None:
    from kafkaish.cli.client import Connection
    from kafkaish.wire.messages.fetch import FetchRequest
    from kafkaish.wire.records import iter_batches

    create_topic(cli, topic_name)
    cli("produce", topic_name, input=b"".join(b"%d\n" % i for i in range(10)))
    cli("produce", topic_name, input=b"10\n")
    with Connection.open(broker.bootstrap) as conn:
        request = FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=1 << 20, isolation_level=0,
                               topics=[FetchRequest.FetchTopic(topic=topic_name, partitions=[
                                   FetchRequest.FetchPartition(partition=0, fetch_offset=0,
                                                               partition_max_bytes=1 << 20)])])
        data = conn.call(request, 12).responses[0].partitions[0].records
    first, second = [h for _, h in iter_batches(data)]
    # each run gets its own producer id (InitProducerId) and numbers its records from 0
    assert first.producer_id >= 0 and second.producer_id not in (-1, first.producer_id)
    assert (first.base_sequence, first.records_count, second.base_sequence) == (0, 10, 0)


def produce_timed(cli, topic: str, partitions: int, per_partition: int, base_ts: int) -> None:
    lines = [json.dumps({"partition": p, "key": f"k{i}", "value": f"p{p}-{i}", "timestamp": base_ts + i * 1000})
             for p in range(partitions) for i in range(per_partition)]
    cli("produce", topic, "--json", input="\n".join(lines).encode())


def test_consume_offsets_counts_and_partitions(cli, topic_name: str) -> None:
    create_topic(cli, topic_name, 2)
    produce_timed(cli, topic_name, 2, 10, BASE_TS)

    def values(*args: str) -> list[str]:
        return cli("consume", topic_name, *args).text.splitlines()

    assert len(values()) == 20
    assert values("-p", "1", "-o", "7") == ["p1-7", "p1-8", "p1-9"]
    assert values("-p", "0", "-o", "-2") == ["p0-8", "p0-9"]
    assert values("-o", "end") == []
    assert values("-p", "0", "-o", "beginning", "--count", "3") == ["p0-0", "p0-1", "p0-2"]
    assert values("-p", "0", "-o", "2", "--to-offset", "4") == ["p0-2", "p0-3"]
    assert sorted(values("-o", "-1")) == ["p0-9", "p1-9"]
    fmt = cli("consume", topic_name, "-p", "1", "-o", "9", "-f", "%t|%p|%o|%T|%k|%s|%S|%K\\n").text
    assert fmt == f"{topic_name}|1|9|{BASE_TS + 9000}|k9|p1-9|4|2\n"


def test_consume_from_timestamp_returns_exactly_the_records_at_or_after_it(cli, topic_name: str) -> None:
    create_topic(cli, topic_name, 3)
    base = BASE_TS
    produce_timed(cli, topic_name, 3, 50, base)
    for at in (base - 1, base, base + 17_000, base + 17_500, base + 49_000, base + 49_001):
        got = cli("consume", topic_name, "--json", "--from-timestamp", str(at)).lines()
        expected = {(p, i) for p in range(3) for i in range(50) if base + i * 1000 >= at}
        assert {(r["partition"], r["offset"]) for r in got} == expected, at
        assert all(r["timestamp"] >= at for r in got)
    got = cli("consume", topic_name, "--json", "--from-timestamp", iso(base + 17_000), "--to-timestamp", str(base + 20_000)).lines()
    assert sorted({r["offset"] for r in got}) == [17, 18, 19] and len(got) == 9


def test_consume_json_is_binary_safe(cli, broker: EmbeddedBroker, topic_name: str) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    producer.send(topic_name, key=b"\xff\x00", value="héllo".encode(), headers=[("b", b"\x80"), ("t", b"ok")],
                  timestamp_ms=42).get(30)
    producer.close()
    (line,) = cli("consume", topic_name, "--json").lines()
    assert line == {"topic": topic_name, "partition": 0, "offset": 0, "timestamp": 42,
                    "key": {"base64": "/wA="}, "value": "héllo", "headers": [["b", {"base64": "gA=="}], ["t", "ok"]]}


def test_consume_read_committed_skips_aborted_transactions(cli, broker: EmbeddedBroker, topic_name: str) -> None:
    from confluent_kafka import Producer

    create_topic(cli, topic_name)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": topic_name})
    producer.init_transactions(30)
    for value, commit in ((b"kept-1", True), (b"dropped", False), (b"kept-2", True)):
        producer.begin_transaction()
        producer.produce(topic_name, value=value)
        producer.flush(30)
        (producer.commit_transaction if commit else producer.abort_transaction)(30)
    assert cli("consume", topic_name, "--isolation", "read_committed").text.split() == ["kept-1", "kept-2"]
    assert cli("consume", topic_name).text.split() == ["kept-1", "dropped", "kept-2"]


def test_consume_follow_waits_for_new_records(cli, broker: EmbeddedBroker, topic_name: str) -> None:
    create_topic(cli, topic_name)
    follower = subprocess.Popen([sys.executable, "-m", "kafkaish", "consume", topic_name, "--follow", "-o", "end",
                                 "--count", "2", "-b", broker.bootstrap], stdout=subprocess.PIPE)
    time.sleep(1.0)  # let it reach the end of the empty topic
    cli("produce", topic_name, input=b"late-1\nlate-2\n")
    out, _ = follower.communicate(timeout=30)
    assert out.split() == [b"late-1", b"late-2"] and follower.returncode == 0


def test_consume_with_a_group_commits_and_resumes(cli, topic_name: str) -> None:
    create_topic(cli, topic_name)
    cli("produce", topic_name, input=b"a\nb\nc\n")
    assert cli("consume", topic_name, "-g", "cg", "--count", "2").text.split() == ["a", "b"]
    lag = cli("groups", "lag", "cg", "--json").json()
    assert [(r["committed"], r["log_end"], r["lag"]) for r in lag["partitions"]] == [(2, 3, 1)]
    assert cli("consume", topic_name, "-g", "cg").text.split() == ["c"]
    assert cli("consume", topic_name, "-g", "cg").text.split() == []


def test_consume_errors_are_one_line(cli, topic_name: str) -> None:
    create_topic(cli, topic_name)
    cli("produce", topic_name, input=b"a\n")
    for args, message in ((["consume", "no-such-topic"], "topic 'no-such-topic' does not exist"),
                          (["consume", topic_name, "-o", "soon"], "bad offset 'soon'"),
                          (["consume", topic_name, "-o", "5"], f"offset 5 is out of range for {topic_name}-0"),
                          (["consume", topic_name, "--from-timestamp", "yesterday"], "bad timestamp 'yesterday'"),
                          (["consume", topic_name, "-p", "3"], "has no partition 3")):
        done = cli(*args, code=1)
        assert done.err.count("\n") == 1 and message in done.err, done.err
    bad = cli("produce", topic_name, "--json", input=b'{"value": "ok"}\n{"value": \n', code=1)
    assert bad.err == "Error: line 2: not JSON (Expecting value: line 1 column 11 (char 10))\n"
    bad = cli("produce", topic_name, "-K", "=", input=b"k=v\nno separator\n", code=1)
    assert "line 2: no key separator '='" in bad.err
    assert cli("consume", topic_name).text.split() == ["a", "ok", "v"]  # the lines before each error
    assert "does not exist" in cli("produce", "no-such-topic", input=b"x\n", code=1).err
