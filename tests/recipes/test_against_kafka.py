"""The process-kill scenarios of the recipes against the reference Apache Kafka, same expected counts.

Proves the recipes and their expected outcomes are Kafka's, not kafkaish's. Opt-in
(``RECIPES_AGAINST_KAFKA=1``; it starts a JVM broker, 3-12 s) and skipped without java or
../shared/reference-kafka. The broker faults of the kafkaish runs (``kb.control``) are left out:
Kafka has no such hook.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.recipes import test_commit_order, test_effectively_once, test_exactly_once

try:  # the module-scoped reference broker of the CLI tests
    from tests.cli.test_reference_kafka import START, kafka  # noqa: F401
except ImportError:  # pragma: no cover - that module moved
    pytest.skip("tests.cli.test_reference_kafka has no reference-broker fixture", allow_module_level=True)

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(os.environ.get("RECIPES_AGAINST_KAFKA") != "1", reason="opt-in: RECIPES_AGAINST_KAFKA=1"),
    pytest.mark.skipif(START is None, reason="no ../shared/reference-kafka beside this checkout"),
    pytest.mark.skipif(shutil.which("java") is None, reason="java is not installed (the reference Kafka needs 17)"),
]


@pytest.mark.parametrize("case", test_commit_order.CASES, ids=lambda c: "-".join([c[0], *c[1]]))
def test_commit_order_on_kafka(kafka, name, tmp_path, case):  # noqa: F811
    test_commit_order.scenario(kafka, name, tmp_path, *case)


@pytest.mark.parametrize("case", test_exactly_once.CASES, ids=lambda c: "-".join([c[0], *c[1]]))
def test_exactly_once_on_kafka(kafka, name, case):  # noqa: F811
    test_exactly_once.scenario(kafka, name, *case)


@pytest.mark.parametrize("case", test_effectively_once.CASES, ids=lambda c: "-".join(c[0]) or "dedupe")
def test_effectively_once_on_kafka(kafka, name, tmp_path, case):  # noqa: F811
    test_effectively_once.scenario(kafka, name, tmp_path, *case)
