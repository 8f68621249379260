"""``kafkaish groups`` against consumer groups made by a real client (kafka-python)."""

from __future__ import annotations

import json
import time

import pytest

from kafkaish.testing import EmbeddedBroker
from tests.cli.conftest import BASE_TS, create_topic, iso

pytestmark = pytest.mark.timeout(120)


def fill(cli, topic: str, partitions: int, per_partition: int) -> None:
    lines = [json.dumps({"partition": p, "value": f"{p}-{i}", "timestamp": BASE_TS + i * 1000})
             for p in range(partitions) for i in range(per_partition)]
    cli("produce", topic, "--json", input="\n".join(lines).encode())


def member(bootstrap: str, group: str, topic: str, got: list | None = None):
    """A kafka-python consumer that has joined ``group`` and owns ``topic``'s partitions;
    records polled meanwhile go to ``got``."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                             auto_offset_reset="earliest", client_id="lag-test")
    deadline = time.monotonic() + 30
    while not consumer.assignment() and time.monotonic() < deadline:
        for tp, msgs in consumer.poll(timeout_ms=200).items():
            if got is not None:
                got += [(tp.partition, m.offset, m.timestamp) for m in msgs]
    assert consumer.assignment()
    return consumer


def commit(consumer, topic: str, offsets: dict[int, int]) -> None:
    from kafka import TopicPartition
    from kafka.structs import OffsetAndMetadata

    consumer.commit({TopicPartition(topic, p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()})


def test_lag_matches_committed_offsets_and_log_end(cli, broker: EmbeddedBroker, topic_name: str) -> None:
    create_topic(cli, topic_name, 3)
    fill(cli, topic_name, 3, 6)
    consumer = member(broker.bootstrap, "lagging", topic_name)
    try:
        commit(consumer, topic_name, {0: 2, 1: 6})  # partition 2: nothing committed
        described = cli("groups", "describe", "lagging", "--json").json()
        assert described["state"] == "Stable" and len(described["members"]) == 1
        assert sorted(a["partition"] for a in described["members"][0]["assignment"]) == [0, 1, 2]
        assert {r["client_id"] for r in described["offsets"]} == {"lag-test"}
        busy = cli("consume", topic_name, "-g", "lagging", code=1)  # a standalone commit into a live group
        assert "group 'lagging' has active members" in busy.err and busy.err.count("\n") == 1
        refused = cli("groups", "reset-offsets", "lagging", "--topic", topic_name, "--to-earliest", "--execute",
                      code=1)
        assert "can only be reset if the group 'lagging' is inactive, but the current state is Stable" in refused.err
    finally:
        consumer.close(autocommit=False)
    lag = cli("groups", "lag", "lagging", "--json").json()
    rows = {r["partition"]: (r["committed"], r["log_end"], r["lag"]) for r in lag["partitions"]}
    assert rows == {0: (2, 6, 4), 1: (6, 6, 0)}
    assert lag["total_lag"] == 4
    text = cli("groups", "lag", "lagging").text
    assert "CURRENT-OFFSET  LOG-END-OFFSET  LAG" in text and text.strip().endswith("Total lag: 4")
    listed = cli("groups", "list", "--json").json()
    assert {"group": "lagging", "protocol_type": "consumer", "state": "Empty", "type": "classic"} in listed


def test_reset_to_datetime_moves_the_group_and_a_consumer_resumes_there(cli, broker: EmbeddedBroker,
                                                                       topic_name: str) -> None:
    create_topic(cli, topic_name, 2)
    fill(cli, topic_name, 2, 10)
    consumer = member(broker.bootstrap, "replay", topic_name)
    commit(consumer, topic_name, {0: 10, 1: 10})
    consumer.close(autocommit=False)
    when = iso(BASE_TS + 6500)
    dry = cli("groups", "reset-offsets", "replay", "--topic", topic_name, "--to-datetime", when, "--json")
    assert [r["new_offset"] for r in dry.json()["offsets"]] == [7, 7] and not dry.json()["executed"]
    assert cli("groups", "lag", "replay", "--json").json()["total_lag"] == 0  # a dry run changes nothing
    cli("groups", "reset-offsets", "replay", "--topic", topic_name, "--to-datetime", when, "--execute")
    assert cli("groups", "lag", "replay", "--json").json()["total_lag"] == 6
    got: list = []
    consumer = member(broker.bootstrap, "replay", topic_name, got)
    deadline = time.monotonic() + 30
    while len(got) < 6 and time.monotonic() < deadline:
        for tp, msgs in consumer.poll(timeout_ms=300).items():
            got += [(tp.partition, m.offset, m.timestamp) for m in msgs]
    consumer.close(autocommit=False)
    assert sorted(got) == [(p, o, BASE_TS + o * 1000) for p in (0, 1) for o in (7, 8, 9)]


def test_reset_modes(cli, topic_name: str) -> None:
    create_topic(cli, topic_name)
    fill(cli, topic_name, 1, 10)
    cli("consume", topic_name, "-g", "modes", "--count", "5")  # commits offset 5

    def reset(*how: str) -> int:
        done = cli("groups", "reset-offsets", "modes", "--topic", f"{topic_name}:0", *how, "--execute", "--json")
        (row,) = done.json()["offsets"]
        committed = cli("groups", "lag", "modes", "--json").json()["partitions"][0]["committed"]
        assert committed == row["new_offset"]
        return committed

    assert reset("--shift-by", "-2") == 3
    assert reset("--shift-by", "100") == 10  # clamped to the log end
    assert reset("--to-earliest") == 0
    assert reset("--to-offset", "4") == 4
    assert reset("--to-offset", "99") == 10
    assert reset("--to-latest") == 10
    assert reset("--by-duration", "PT1H") == 10  # nothing in the last hour: the log end, as Kafka
    assert reset("--by-duration", "PT3H") == 0
    assert reset("--to-datetime", str(BASE_TS + 2000)) == 2
    bad = cli("groups", "reset-offsets", "modes", "--topic", topic_name, code=1)
    assert "give exactly one of" in bad.err
    bad = cli("groups", "reset-offsets", "modes", "--topic", topic_name, "--by-duration", "1h", code=1)
    assert "bad duration '1h'" in bad.err


def test_delete_offsets_and_delete_group(cli, topic_name: str) -> None:
    create_topic(cli, topic_name)
    fill(cli, topic_name, 1, 3)
    cli("consume", topic_name, "-g", "gone")
    assert cli("groups", "lag", "gone", "--json").json()["partitions"]
    cli("groups", "delete-offsets", "gone", "--topic", topic_name)
    assert cli("groups", "lag", "gone", "--json").json()["partitions"] == []
    cli("consume", topic_name, "-g", "gone")
    cli("groups", "delete", "gone")
    assert "gone" not in {g["group"] for g in cli("groups", "list", "--json").json()}
    assert "GROUP_ID_NOT_FOUND" in cli("groups", "delete", "gone", code=1).err


def test_describe_a_kip848_consumer_group(cli, broker: EmbeddedBroker, topic_name: str) -> None:
    from confluent_kafka import Consumer

    create_topic(cli, topic_name, 2)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "new-protocol",
                         "group.protocol": "consumer", "client.id": "kip848"})
    consumer.subscribe([topic_name])
    try:
        deadline = time.monotonic() + 30
        while len(consumer.assignment()) < 2 and time.monotonic() < deadline:
            consumer.poll(0.2)
        described = cli("groups", "describe", "new-protocol", "--json").json()
    finally:
        consumer.close()
    assert described["state"] == "Stable"
    (m,) = described["members"]
    assert m["client_id"] == "kip848"
    assert sorted(a["partition"] for a in m["assignment"]) == [0, 1]
