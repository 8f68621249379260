"""The CLI against the reference Apache Kafka (../shared/reference-kafka) when java is here:
produce, consume from a timestamp, groups lag and reset, export/import, and a copy from a
kafkaish broker to Kafka. Skipped otherwise."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import BASE_TS, Done, iso, kafkaish_here

# compat/reference.py starts and stops the reference Kafka for the compat and differential runs too
_spec = importlib.util.spec_from_file_location(
    "compat_reference", Path(__file__).resolve().parents[2] / "compat" / "reference.py")
reference = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))  # dataclasses look it up
_spec.loader.exec_module(reference)

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(reference.reference_missing() is not None, reason=str(reference.reference_missing())),
]


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    broker = reference.ReferenceKafka("cli", tmp_path_factory.mktemp("kafka") / "kafka.log",
                                      ("group.initial.rebalance.delay.ms=0",))
    try:
        yield broker.start().bootstrap
    finally:
        broker.stop()


def test_copy_from_kafkaish_to_the_reference_kafka(kafka: str) -> None:
    from kafkaish.testing import run_broker

    with run_broker() as kb:
        lines = [json.dumps({"partition": i % 2, "key": {"base64": "AAE="}, "value": f"v{i}",
                             "headers": [["h", {"base64": "/w=="}]], "timestamp": BASE_TS + i}) for i in range(50)]
        assert kafkaish_here("topics", "create", "moving", "--partitions", "2", "-b", kb.bootstrap).code == 0
        assert kafkaish_here("produce", "moving", "--json", "-b", kb.bootstrap, input="\n".join(lines).encode()).code == 0
        done = kafkaish_here("copy", "moving", "-b", kb.bootstrap, "-B", kafka)
        assert done.code == 0, done.err
        here = kafkaish_here("consume", "moving", "--json", "-b", kb.bootstrap).out
    there = kafkaish_here("consume", "moving", "--json", "-b", kafka).out
    assert sorted(there.splitlines()) == sorted(here.splitlines()) and len(here.splitlines()) == 50


def test_cli_against_the_reference_kafka(kafka: str, tmp_path: Path) -> None:
    def cli(*args: str, input: bytes | None = None) -> Done:
        done = kafkaish_here(*args, "-b", kafka, input=input)
        assert done.code == 0, done.err
        return done

    cli("topics", "create", "replay", "--partitions", "2")
    assert "__consumer_offsets" not in cli("topics", "list", "--json").json()
    lines = [json.dumps({"partition": p, "key": f"k{i}", "value": {"base64": "/wA="} if i == 3 else f"v{i}",
                         "headers": [["n", str(i)]], "timestamp": BASE_TS + i * 1000})
             for p in range(2) for i in range(10)]
    cli("produce", "replay", "--json", input="\n".join(lines).encode())

    got = cli("consume", "replay", "--json", "--from-timestamp", str(BASE_TS + 6000)).lines()
    assert sorted((r["partition"], r["offset"]) for r in got) == [(p, o) for p in range(2) for o in range(6, 10)]

    assert len(cli("consume", "replay", "-g", "ops", "-p", "0", "--count", "4").out.splitlines()) == 4
    lag = cli("groups", "lag", "ops", "--json").json()
    assert [(r["partition"], r["committed"], r["log_end"], r["lag"]) for r in lag["partitions"]] == [(0, 4, 10, 6)]

    when = iso(BASE_TS + 2000)
    cli("groups", "reset-offsets", "ops", "--topic", "replay:0", "--to-datetime", when, "--execute")
    assert cli("groups", "lag", "ops", "--json").json()["partitions"][0]["committed"] == 2
    assert cli("consume", "replay", "-g", "ops", "-p", "0", "--count", "1").out == b"v2\n"

    file = tmp_path / "replay.jsonl"
    cli("export", "replay", str(file))
    cli("import", str(file), "replay-copy")

    def dump(topic: str) -> list[str]:
        out = cli("consume", topic, "--json").out.splitlines()
        return sorted(line.replace(b'"topic":"%s",' % topic.encode(), b"").decode() for line in out)

    assert dump("replay") == dump("replay-copy") and len(dump("replay")) == 20
    assert "__consumer_offsets" in cli("topics", "list", "--include-internal", "--json").json()
