"""The process-kill scenarios of the recipes against the reference Apache Kafka, same expected counts.

Proves the recipes and their expected outcomes are Kafka's, not kafkaish's. Opt-in
(``RECIPES_AGAINST_KAFKA=1``; it starts a JVM broker, 3-12 s) and skipped without java or
../shared/reference-kafka. The broker faults of the kafkaish runs (``kb.control``) are left out:
Kafka has no such hook.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.recipes import test_commit_order, test_effectively_once, test_exactly_once

# compat/reference.py starts the reference Kafka (loaded by the CLI's reference tests)
from tests.cli.test_reference_kafka import reference  # noqa: E402

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(os.environ.get("RECIPES_AGAINST_KAFKA") != "1", reason="opt-in: RECIPES_AGAINST_KAFKA=1"),
    pytest.mark.skipif(reference.reference_missing() is not None, reason=str(reference.reference_missing())),
]


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One reference Kafka for the module (this file once imported a fixture the CLI tests no longer have,
    so it always skipped)."""
    broker = reference.ReferenceKafka("recipes", tmp_path_factory.mktemp("kafka") / "kafka.log",
                                      ("group.initial.rebalance.delay.ms=0",))
    try:
        yield broker.start().bootstrap
    finally:
        broker.stop()


@pytest.mark.parametrize("case", test_commit_order.CASES, ids=lambda c: "-".join([c[0], *c[1]]))
def test_commit_order_on_kafka(kafka, name, tmp_path, case):
    test_commit_order.scenario(kafka, name, tmp_path, *case)


@pytest.mark.parametrize("case", test_exactly_once.CASES, ids=lambda c: "-".join([c[0], *c[1]]))
def test_exactly_once_on_kafka(kafka, name, case):
    test_exactly_once.scenario(kafka, name, *case)


@pytest.mark.parametrize("case", test_effectively_once.CASES, ids=lambda c: "-".join(c[0]) or "dedupe")
def test_effectively_once_on_kafka(kafka, name, tmp_path, case):
    test_effectively_once.scenario(kafka, name, tmp_path, *case)
