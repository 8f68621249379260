"""Fault rules scripted from Node over HTTP against kafkajs (kafkajs_faults.js): any language can
drive kafkaish's control plane. Skipped where node or compat/kafkajs/node_modules is missing
(`npm ci --prefix compat/kafkajs` installs it; scripts/test.sh does)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from kafkaish.testing import EmbeddedBroker

HERE = Path(__file__).resolve().parent
KAFKAJS = HERE.parent.parent / "compat" / "kafkajs" / "node_modules" / "kafkajs"


@pytest.fixture(scope="module")
def results() -> dict:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if not KAFKAJS.is_dir():
        pytest.skip("kafkajs is not installed: run `npm ci --prefix compat/kafkajs`")
    with EmbeddedBroker(admin_port=0) as kb:
        out = subprocess.run(["node", str(HERE / "kafkajs_faults.js"), kb.bootstrap, kb.admin_url],
                             capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_kafkajs_retries_not_leader(results):
    assert results["retried"] == {"error": None, "hits": 2, "values": ["v"]}


def test_kafkajs_surfaces_authorization_failure(results):
    assert results["surfaced"] == {"error": "TOPIC_AUTHORIZATION_FAILED", "hits": 1, "values": []}


def test_kafkajs_request_timeout_on_delay_and_drop(results):
    assert results["delay"]["error"] == "KafkaJSRequestTimeoutError" and results["delay"]["hits"] >= 1
    assert results["drop"] == {"error": "KafkaJSRequestTimeoutError", "hits": 1, "values": []}


def test_kafkajs_survives_closed_connection_and_broker_down(results):
    assert results["close"] == {"error": None, "hits": 1, "values": ["v"]}
    assert results["down"] == {"error": None, "hits": 1, "values": ["v"]}


def test_kafkajs_retries_coordinator_not_available(results):
    assert results["coordinator"] == {"error": None, "hits": 2, "values": ["v"], "committed": [1]}
