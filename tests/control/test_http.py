"""The admin HTTP control plane: routes, JSON shapes, OpenAPI, bad input, and start cost."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid

import pytest

from kafkaish.testing import EmbeddedBroker
from tests.control.http import call, get, post


@pytest.fixture(scope="module")
def kb():
    with EmbeddedBroker(admin_port=0) as kb:
        yield kb


@pytest.fixture
def topic(kb) -> str:
    from kafkaish.pytest_plugin import create_topic

    name = f"h-{uuid.uuid4().hex[:8]}"
    create_topic(kb.bootstrap, name, 2, {"retention.ms": "3600000"})
    return name


def test_health_and_brokers(kb):
    h = get(kb.admin_url + "/v1/health")
    assert h["status"] == "ok" and h["listeners"][0]["port"] == kb.port and not h["listeners"][0]["down"]
    assert get(kb.admin_url + "/v1/brokers") == [{"node_id": 1, "host": "127.0.0.1", "port": kb.port, "up": True,
                                                 "controller": True}]


def test_topics_partitions_and_binary_safe_records(kb, topic):
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=kb.bootstrap)
    p.send(topic, key=b"\xff\xfe", value="héllo".encode(), headers=[("h", b"\x00\x9f"), ("e", b"")], partition=1).get(10)
    p.send(topic, key=b"k", value=None, partition=1).get(10)
    p.close()
    assert {"name": topic, "partitions": 2} in [{k: t[k] for k in ("name", "partitions")}
                                                for t in get(kb.admin_url + "/v1/topics")]
    t = get(f"{kb.admin_url}/v1/topics/{topic}")
    assert t["configs"] == {"retention.ms": "3600000"}
    p1 = t["partitions"][1]
    assert (p1["log_start_offset"], p1["high_watermark"], p1["last_stable_offset"]) == (0, 2, 2)
    assert p1["size_bytes"] > 0 and t["partitions"][0]["high_watermark"] == 0
    recs = get(f"{kb.admin_url}/v1/topics/{topic}/partitions/1/records?offset=0&limit=10")["records"]
    assert (recs[0]["key"], recs[0]["key_encoding"]) == ("//4=", "base64")
    assert (recs[0]["value"], recs[0]["value_encoding"]) == ("héllo", "utf8")
    assert recs[0]["headers"] == [{"key": "h", "value": "AJ8=", "value_encoding": "base64"},
                                  {"key": "e", "value": "", "value_encoding": "utf8"}]
    assert recs[1]["offset"] == 1 and recs[1]["value"] is None
    forced = get(f"{kb.admin_url}/v1/topics/{topic}/partitions/1/records?offset=1&encoding=base64")["records"]
    assert [(r["offset"], r["key"], r["key_encoding"]) for r in forced] == [(1, "aw==", "base64")]
    only = get(f"{kb.admin_url}/v1/topics/{topic}/partitions/1/records?limit=1&encoding=base64")["records"]
    assert [(r["value"], r["value_encoding"]) for r in only] == [("aMOpbGxv", "base64")]


def test_groups_with_members_assignment_and_lag(kb, topic):
    from kafka import KafkaConsumer, KafkaProducer

    p = KafkaProducer(bootstrap_servers=kb.bootstrap)
    for i in range(5):
        p.send(topic, b"x%d" % i, partition=0)
    p.flush()
    p.close()
    group = f"g-{uuid.uuid4().hex[:6]}"
    c = KafkaConsumer(topic, bootstrap_servers=kb.bootstrap, group_id=group, auto_offset_reset="earliest",
                      enable_auto_commit=False, client_id="inspect-me")
    got = 0
    while got < 3:
        got += sum(len(v) for v in c.poll(timeout_ms=500, max_records=3 - got).values())
    c.commit()
    try:
        assert {"group_id": group, "state": "Stable", "protocol_type": "consumer", "type": "classic"} in \
            get(kb.admin_url + "/v1/groups")
        g = get(f"{kb.admin_url}/v1/groups/{group}")
        assert g["state"] == "Stable" and g["protocol"] == "range"
        [member] = g["members"]
        assert member["client_id"] == "inspect-me" and member["assignment"] == {topic: [0, 1]}
        by_tp = {(o["topic"], o["partition"]): o for o in g["offsets"]}
        assert by_tp[(topic, 0)]["offset"] == 3 and by_tp[(topic, 0)]["lag"] == 2
        assert g["lag"] == 2
    finally:
        c.close()


def test_producers_and_transactions(kb, topic):
    import confluent_kafka

    txn_id = f"tx-{uuid.uuid4().hex[:6]}"
    p = confluent_kafka.Producer({"bootstrap.servers": kb.bootstrap, "transactional.id": txn_id})
    p.init_transactions(10)
    p.begin_transaction()
    p.produce(topic, b"open", partition=0)
    p.flush(10)
    txns = [t for t in get(kb.admin_url + "/v1/transactions") if t["transactional_id"] == txn_id]
    assert txns[0]["state"] == "Ongoing" and txns[0]["partitions"] == [{"topic": topic, "partition": 0}]
    producers = [x for x in get(kb.admin_url + "/v1/producers") if x["topic"] == topic]
    assert producers[0]["producer_id"] == txns[0]["producer_id"] and producers[0]["current_txn_start_offset"] == 0
    assert get(f"{kb.admin_url}/v1/topics/{topic}")["partitions"][0]["last_stable_offset"] == 0
    p.abort_transaction(10)


def test_fault_rules_over_http(kb):
    status, rule = call("POST", kb.admin_url + "/v1/faults",
                        {"api": "Produce", "topic": "t", "error": "NOT_LEADER_OR_FOLLOWER", "times": 1})
    assert status == 201 and rule["id"] > 0 and rule["error"] == "NOT_LEADER_OR_FOLLOWER" and rule["times"] == 1
    assert get(f"{kb.admin_url}/v1/faults/{rule['id']}")["topic"] == "t"
    second = post(kb.admin_url + "/v1/faults", {"api": 10, "delay_ms": 10})
    assert second["api"] == "FindCoordinator"
    assert [r["id"] for r in get(kb.admin_url + "/v1/faults")] == [rule["id"], second["id"]]
    assert call("DELETE", f"{kb.admin_url}/v1/faults/{rule['id']}") == (200, {"deleted": rule["id"]})
    assert call("DELETE", f"{kb.admin_url}/v1/faults/{rule['id']}")[0] == 404
    assert call("DELETE", kb.admin_url + "/v1/faults") == (200, {"deleted": 1})
    assert get(kb.admin_url + "/v1/faults") == []


BAD = [
    ("POST", "/v1/faults", {"api": "Nope", "error": "NOT_LEADER_OR_FOLLOWER"}, "api"),
    ("POST", "/v1/faults", {"api": "Produce", "error": "NO_SUCH_ERROR"}, "error"),
    ("POST", "/v1/faults", {"api": "Produce"}, "error"),
    ("POST", "/v1/faults", {"api": "Produce", "drop": True, "close": True}, "close"),
    ("POST", "/v1/faults", {"api": "Produce", "drop": True, "times": 0}, "times"),
    ("POST", "/v1/faults", {"api": "Produce", "drop": True, "probability": 2}, "probability"),
    ("POST", "/v1/faults", {"api": "Produce", "drop": True, "partition": 1}, "partition"),
    ("POST", "/v1/faults", {"api": "Produce", "drop": "yes"}, "drop"),
    ("POST", "/v1/faults", {"api": "Produce", "delay_ms": -1}, "delay_ms"),
    ("POST", "/v1/faults", {"api": "Produce", "drop": True, "colour": "red"}, "colour"),
    ("POST", "/v1/faults", [1, 2], "body"),
    ("POST", "/v1/clock", {"mode": "slow"}, "mode"),
    ("POST", "/v1/clock/advance", {"ms": "soon"}, "ms"),
    ("POST", "/v1/clock/advance", {}, "ms"),
    ("POST", "/v1/reset", {"topics": "all"}, "topics"),
    ("POST", "/v1/reset", {"everything": True}, "everything"),
    ("POST", "/v1/snapshot", {}, "path"),
    ("POST", "/v1/restore", {"path": "/nonexistent/snap"}, "path"),
    ("GET", "/v1/topics/x/partitions/zero/records", None, "partition"),
    ("GET", "/v1/faults/abc", None, "id"),
    ("POST", "/v1/brokers/1/stop", {"ms": "later"}, "ms"),
]


@pytest.mark.parametrize("method,path,body,field", BAD, ids=[f"{b[1]}-{b[3]}" for b in BAD])
def test_bad_input_is_400_naming_the_field(kb, method, path, body, field):
    status, out = call(method, kb.admin_url + path, body)
    assert status == 400 and out["field"] == field and out["error"], out
    assert get(kb.admin_url + "/v1/health")["status"] == "ok"


def test_bad_json_and_unknown_names(kb, topic):
    assert call("POST", kb.admin_url + "/v1/faults", raw=b"{not json")[1]["field"] == "body"
    status, out = call("GET", kb.admin_url + "/v1/topics/no-such-topic")
    assert status == 404 and "no-such-topic" in out["error"]
    assert call("GET", kb.admin_url + "/v1/groups/no-such-group")[0] == 404
    assert call("GET", f"{kb.admin_url}/v1/topics/{topic}/partitions/7/records")[0] == 404
    assert call("GET", f"{kb.admin_url}/v1/topics/{topic}/partitions/0/records?limit=0")[1]["field"] == "limit"
    assert call("GET", kb.admin_url + "/v1/nothing-here")[0] == 404
    assert call("POST", kb.admin_url + "/v1/brokers/9/stop")[0] == 404


def test_openapi_describes_every_route(kb):
    doc = get(kb.admin_url + "/v1/openapi.json")
    assert doc["openapi"].startswith("3.")
    from kafkaish.control.app import build_app

    app = build_app(kb.broker)
    served = {(r.method.lower(), r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"
              and r.handler.__module__ != "kafkaish.control.routes_console"}  # the console's HTML pages are not API
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert served == documented


def test_admin_port_off_imports_no_http_library():
    code = ("import sys; from kafkaish.testing import run_broker\n"
            "with run_broker() as kb: assert kb.admin_url is None\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiohttp', 'kafkaish') and 'control' in m or m == 'aiohttp'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert "aiohttp" not in out and "kafkaish.control.app" not in out, out
    code = "import sys; from kafkaish.testing import run_broker\nwith run_broker() as kb: pass\nprint('prometheus_client' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=True).stdout.strip() == "False", "prometheus_client is imported with the admin port only"


def test_serve_admin_port_flag(server_process):
    sp = server_process("--in-memory", "--admin-port", "0")
    assert sp.proc is not None
    # the admin line is printed before the ready line
    assert sp.admin_url and re.match(r"http://127\.0\.0\.1:\d+$", sp.admin_url)
    h = get(sp.admin_url + "/v1/health")
    assert h["listeners"][0]["port"] == int(sp.bootstrap.rsplit(":", 1)[1])


def test_broker_stop_and_start_over_http(kb):
    import socket
    import time

    assert post(kb.admin_url + "/v1/brokers/1/stop") == {"node_id": 1, "up": False, "back_in_ms": None}
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", kb.port), timeout=2)
    assert get(kb.admin_url + "/v1/brokers")[0]["up"] is False
    assert get(kb.admin_url + "/v1/health")["listeners"][0]["down"] is True  # the admin port stays up
    assert post(kb.admin_url + "/v1/brokers/1/start") == {"node_id": 1, "up": True}
    socket.create_connection(("127.0.0.1", kb.port), timeout=2).close()
    post(kb.admin_url + "/v1/brokers/1/stop", {"ms": 300})  # back by itself
    deadline = time.monotonic() + 10
    while not get(kb.admin_url + "/v1/brokers")[0]["up"] and time.monotonic() < deadline:
        time.sleep(0.05)
    socket.create_connection(("127.0.0.1", kb.port), timeout=2).close()


def test_kip848_consumer_group_inspected(kb, topic):
    import time

    import confluent_kafka

    group = f"g848-{uuid.uuid4().hex[:6]}"
    c = confluent_kafka.Consumer({"bootstrap.servers": kb.bootstrap, "group.id": group,
                                  "group.protocol": "consumer", "client.id": "kip848"})
    c.subscribe([topic])
    deadline = time.monotonic() + 30
    members: list = []
    while time.monotonic() < deadline:
        c.poll(0.2)
        status, g = call("GET", f"{kb.admin_url}/v1/groups/{group}")
        members = g.get("members", []) if status == 200 else []
        if members and members[0]["assignment"]:
            break
    try:
        assert g["type"] == "consumer" and g["state"] == "Stable"
        assert members[0]["client_id"] == "kip848" and members[0]["assignment"] == {topic: [0, 1]}
    finally:
        c.close()
