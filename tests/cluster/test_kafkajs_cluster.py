"""kafkajs against a 3-broker kafkaish: an idempotent acks=all producer and a consumer group keep
going through leader moves and a broker stop/start scripted over the control plane
(compat/kafkajs/cluster_chaos.js); every acknowledged record is read, in order with no gap, and is
stored exactly once; and
kafkajs's view of the cluster (describeCluster, fetchTopicMetadata, the coordinator it finds) is the
cluster's. Skipped without node or compat/kafkajs/node_modules (`npm ci --prefix compat/kafkajs`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from kafkaish.admin.cluster import java_string_hash
from kafkaish.testing import run_broker
from kafkaish.wire.messages.find_coordinator import FindCoordinatorRequest
from tests.cluster.chaos import check_exactly_once, create_topic, read_committed
from tests.e2e.test_fetch_semantics import Conn

KAFKAJS_DIR = Path(__file__).resolve().parents[2] / "compat" / "kafkajs"


@pytest.fixture(scope="module")
def run() -> dict:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if not (KAFKAJS_DIR / "node_modules" / "kafkajs").is_dir():
        pytest.skip("kafkajs is not installed: run `npm ci --prefix compat/kafkajs`")
    with run_broker(brokers=3, admin_port=0) as kb:
        cluster = kb.broker.cluster
        # a group coordinated by broker 2, the one the chaos stops: the coordinator must move (the
        # first FindCoordinator creates __consumer_offsets, whose partitions' leaders coordinate)
        Conn(kb.bootstrap).call(FindCoordinatorRequest(key_type=0, coordinator_keys=["any"]), 4)
        group = next(g for g in (f"kjs-cluster-{i}" for i in range(100)) if kb.call(lambda g=g: cluster.coordinator(g)) == 2)
        out = subprocess.run(["node", str(KAFKAJS_DIR / "cluster_chaos.js"), kb.bootstrap, kb.admin_url,
                              group, group], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-3000:]
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["bootstraps"] = kb.bootstraps
        result["inspect"] = kb.inspect.topic(group)
    return result


def test_kafkajs_producer_and_group_survive_leader_moves_and_a_restart(run) -> None:
    assert run["errors"] == []
    assert len({tuple(s) for s in run["seen"]}) > 2, "the leaders did move"
    assert all(2 not in leaders for leaders in run["seen"][-2:-1]), "broker 2 stopped leading"
    acked = [(p, o, v.encode()) for p, o, v in run["acked"]]
    # the group that ran through the chaos read every acknowledged record where it was acknowledged,
    # in order, with no gap; kafkajs may read some twice: it rejoins the group when a leader moves
    # and resumes from its last commit (see chaosProblems); what is stored is read exactly once
    live = {(p, o): v.encode() for p, o, v in run["consumed"]}
    assert all(live.get((p, o)) == v for p, o, v in acked)
    check_exactly_once(acked, [(p, o, v.encode()) for p, o, v in run["reread"]])
    assert run["problems"] == []  # the script's checks, the compat scenario's verdict (gaps, order)


def test_kafkajs_sees_the_cluster_topics_and_coordinator_as_they_are(run) -> None:
    views = run["views"]
    address = {int(n): b for n, b in run["bootstraps"].items()}
    assert {b["nodeId"]: f"{b['host']}:{b['port']}" for b in views["cluster"]["brokers"]} == address
    assert views["cluster"]["controller"] == 1
    seen = {p["partitionId"]: (p["leader"], sorted(p["replicas"]), sorted(p["isr"]))
            for p in views["metadata"]["partitions"]}
    assert seen == {p["partition"]: (p["leader"], sorted(p["replicas"]), sorted(p["isr"]))
                    for p in run["inspect"]["partitions"]}
    assert all(replicas == [1, 2, 3] and isr == [1, 2, 3] for _, replicas, isr in seen.values())
    # FindCoordinator as kafkajs uses it (DescribeGroups goes to the coordinator it found): broker 2
    # stopped, its __consumer_offsets partition's leadership, and so the group, moved to another
    # in-sync replica, and stays there after the restart (no preferred-leader election, as Kafka
    # until auto.leader.rebalance runs); the consumer's group requests go there
    during = views["duringStop"]
    assert during["coordinator"] in (1, 3) and during["describeGroupsBroker"] == address[during["coordinator"]]
    assert views["group"]["coordinator"] == during["coordinator"]
    assert views["describeGroupsBroker"] == address[during["coordinator"]] == views["consumerCoordinator"]
    assert views["describeGroups"]["state"] == "Stable" and len(views["describeGroups"]["members"]) == 1


@pytest.mark.parametrize("outcome", ["commit", "abort"])
def test_kafkajs_transaction_in_flight_across_a_transaction_state_leader_move(outcome) -> None:
    """tests/cluster/kafkajs_txn_move.js: the coordinator moves mid-transaction; kafkajs gets
    NOT_COORDINATOR, finds it again and ends the transaction there."""
    if shutil.which("node") is None or not (KAFKAJS_DIR / "node_modules" / "kafkajs").is_dir():
        pytest.skip("node or kafkajs (npm ci --prefix compat/kafkajs) is not installed")
    with run_broker(brokers=3, admin_port=0) as kb:
        topic = f"kjs-txn-{outcome}"
        create_topic(kb, topic)
        tid = f"tx-{topic}"
        Conn(kb.bootstrap).call(FindCoordinatorRequest(key_type=1, coordinator_keys=[tid]), 4)  # __transaction_state
        p = (java_string_hash(tid) & 0x7FFFFFFF) % 50
        out = subprocess.run(["node", str(Path(__file__).with_name("kafkajs_txn_move.js")), kb.bootstrap,
                              kb.admin_url, topic, tid, str(p), outcome], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr[-3000:]
        moved = json.loads(out.stdout.strip().splitlines()[-1])
        assert moved["before"] != moved["after"] == kb.call(lambda: kb.broker.cluster.coordinator(tid, 1))
        expected = sorted(b"t%d" % i for i in range(20)) if outcome == "commit" else []
        assert read_committed(kb, topic) == expected
