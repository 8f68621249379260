"""GET /metrics: kafka_exporter's offsets and lag checked against the Kafka admin API, with real
producers and a consumer group running; broker counters; health routes."""

from __future__ import annotations

import urllib.request
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kafkaish.testing import EmbeddedBroker
from tests.control.http import call


@pytest.fixture(scope="module")
def kb():
    with EmbeddedBroker(admin_port=0) as kb:
        yield kb


def scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """name -> {sorted labels: value}, parsed with prometheus_client's own parser."""
    with urllib.request.urlopen(url + "/metrics", timeout=30) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_offsets_and_lag_match_the_kafka_admin_api(kb):
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic

    topic, group = f"m-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kb.bootstrap)
    admin.create_topics([NewTopic(topic, 3, 1)])
    producers = [KafkaProducer(bootstrap_servers=kb.bootstrap) for _ in range(2)]
    for i in range(60):
        producers[i % 2].send(topic, value=f"v{i}".encode(), partition=i % 3)
    for p in producers:
        p.flush()
    consumer = KafkaConsumer(topic, bootstrap_servers=kb.bootstrap, group_id=group, auto_offset_reset="earliest",
                             enable_auto_commit=False, max_poll_records=7)
    got = 0
    while got < 20:  # consume part of it: a lag on every partition the group committed
        got += sum(len(v) for v in consumer.poll(1000).values())
    consumer.commit()
    for i in range(9):  # more traffic after the commit: the lag grows
        producers[0].send(topic, value=b"late", partition=i % 3)
    producers[0].flush()

    m = scrape(kb.admin_url)  # the consumer is still a member
    committed, begin, end = _admin_answers(kb.bootstrap, group, topic)
    tps = [TopicPartition(topic, p) for p in range(3)]
    assert committed, "the group committed offsets"
    for tp in tps:
        labels = (("partition", str(tp.partition)), ("topic", topic))
        assert m["kafka_topic_partition_current_offset"][labels] == end[tp]
        assert m["kafka_topic_partition_oldest_offset"][labels] == begin[tp] == 0
        assert m["kafka_topic_partition_leader"][labels] == 1
        assert m["kafka_topic_partition_replicas"][labels] == m["kafka_topic_partition_in_sync_replica"][labels] == 1
        glabels = (("consumergroup", group), *labels)
        if tp in committed:
            assert m["kafka_consumergroup_current_offset"][glabels] == committed[tp]
            assert m["kafka_consumergroup_lag"][glabels] == end[tp] - committed[tp]
        else:
            assert glabels not in m.get("kafka_consumergroup_lag", {})
    assert sum(end.values()) == 69
    total_lag = sum(end[tp] - o for tp, o in committed.items())
    assert total_lag > 0
    assert m["kafka_consumergroup_lag_sum"][(("consumergroup", group), ("topic", topic))] == total_lag
    assert m["kafka_topic_partitions"][(("topic", topic),)] == 3
    assert m["kafka_consumergroup_members"][(("consumergroup", group),)] == 1
    assert m["kafka_brokers"][()] == 1
    assert m["kafkaish_groups"][(("state", "Stable"),)] >= 1
    assert m["kafkaish_topic_records_in_total"][(("topic", topic),)] == 69
    assert m["kafkaish_topic_bytes_in_total"][(("topic", topic),)] > 69
    assert m["kafkaish_topic_bytes_out_total"][(("topic", topic),)] > 0
    assert m["kafkaish_connections"][()] >= 3
    produce = m["kafkaish_requests_total"][(("api", "Produce"), ("error", "NONE"))]
    assert produce >= 2
    assert m["kafkaish_request_duration_seconds_count"][(("api", "Produce"),)] >= produce
    assert m["kafkaish_request_duration_seconds_bucket"][(("api", "Produce"), ("le", "+Inf"))] >= produce
    assert m["kafkaish_purgatory_size"][(("operation", "Fetch"),)] >= 0

    consumer.close()
    for p in producers:
        p.close()
    admin.close()
    after = scrape(kb.admin_url)
    assert after["kafka_consumergroup_members"][(("consumergroup", group),)] == 0
    assert after["kafka_consumergroup_lag"] == m["kafka_consumergroup_lag"] | after["kafka_consumergroup_lag"]


def _admin_answers(bootstrap: str, group: str, topic: str) -> tuple[dict, dict, dict]:
    """(committed, earliest, latest) offsets per partition as confluent-kafka's AdminClient gives them."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition as CTP
    from confluent_kafka.admin import AdminClient, OffsetSpec
    from kafka import TopicPartition

    admin = AdminClient({"bootstrap.servers": bootstrap})
    fut = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
    committed = {TopicPartition(t.topic, t.partition): t.offset for t in fut.result(10).topic_partitions
                 if t.topic == topic and t.offset >= 0}
    out = []
    for spec in (OffsetSpec.earliest(), OffsetSpec.latest()):
        futs = admin.list_offsets({CTP(topic, p): spec for p in range(3)}, request_timeout=10)
        out.append({TopicPartition(tp.topic, tp.partition): f.result(10).offset for tp, f in futs.items()})
    return committed, out[0], out[1]


def test_requests_by_error_code(kb):
    """A JoinGroup refused for its session timeout is counted under INVALID_SESSION_TIMEOUT."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer("t-err", bootstrap_servers=kb.bootstrap, group_id="short-session",
                             session_timeout_ms=1000, heartbeat_interval_ms=300)  # below group.min.session.timeout.ms
    try:
        with pytest.raises(Exception):
            consumer.poll(3000)
    finally:
        consumer.close()
    requests = scrape(kb.admin_url)["kafkaish_requests_total"]
    assert requests[(("api", "JoinGroup"), ("error", "INVALID_SESSION_TIMEOUT"))] >= 1


def test_fetch_purgatory_counts_a_parked_long_poll(kb):
    from kafka import KafkaConsumer

    topic = f"lp-{uuid.uuid4().hex[:8]}"
    from kafkaish.pytest_plugin import create_topic

    create_topic(kb.bootstrap, topic, 1)
    consumer = KafkaConsumer(topic, bootstrap_servers=kb.bootstrap, fetch_max_wait_ms=5000)
    try:
        consumer.poll(500)
        consumer.poll(500)
        parked = 0
        for _ in range(20):
            parked = max(parked, scrape(kb.admin_url)["kafkaish_purgatory_size"][(("operation", "Fetch"),)])
            if parked:
                break
            consumer.poll(200)
        assert parked >= 1
    finally:
        consumer.close()


def test_fsync_latency_histogram(tmp_path):
    with EmbeddedBroker(admin_port=0, data_dir=tmp_path, fsync="always") as kb:
        from kafka import KafkaProducer

        p = KafkaProducer(bootstrap_servers=kb.bootstrap)
        p.send("fs", b"x").get(10)
        p.close()
        m = scrape(kb.admin_url)
    assert m["kafkaish_fsync_duration_seconds_count"][()] >= 1


def test_health_live_and_ready(kb):
    assert call("GET", kb.admin_url + "/health/live") == (200, {"status": "live"})
    status, body = call("GET", kb.admin_url + "/health/ready")
    assert status == 200 and body["status"] == "ready"
    kb.broker_down() if hasattr(kb, "broker_down") else call("POST", f"{kb.admin_url}/v1/brokers/1/stop", {})
    try:
        status, body = call("GET", kb.admin_url + "/health/ready")
        assert status == 503 and body["status"] == "not ready"
        assert call("GET", kb.admin_url + "/health/live")[0] == 200
    finally:
        call("POST", f"{kb.admin_url}/v1/brokers/1/start", {})
    assert call("GET", kb.admin_url + "/health/ready")[0] == 200


def test_metrics_off_keeps_state_metrics(tmp_path):
    with EmbeddedBroker(admin_port=0, metrics=False) as kb:
        from kafkaish.pytest_plugin import create_topic

        create_topic(kb.bootstrap, "t", 2)
        m = scrape(kb.admin_url)
    assert m["kafka_topic_partitions"][(("topic", "t"),)] == 2
    assert "kafkaish_requests_total" not in m


def test_metrics_of_a_three_broker_cluster_count_every_nodes_traffic():
    """Regression: /metrics of ``--brokers 3`` counted node 1's requests and connections only."""
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    from kafkaish.testing import run_broker

    with run_broker(brokers=3, admin_port=0) as kb3:
        topic = f"m-{uuid.uuid4().hex[:8]}"
        admin = KafkaAdminClient(bootstrap_servers=kb3.bootstrap)
        admin.create_topics([NewTopic(topic, 3, 1)])
        admin.close()
        leaders = [p["leader"] for p in kb3.inspect.topic(topic)["partitions"]]
        assert sorted(leaders) == [1, 2, 3]
        producer = KafkaProducer(bootstrap_servers=kb3.bootstrap, linger_ms=0)
        for p in range(3):  # one Produce to each node
            producer.send(topic, value=b"x", partition=p).get(10)
        m = scrape(kb3.admin_url)
        assert m["kafkaish_topic_records_in_total"][(("topic", topic),)] == 3
        produced = sum(v for labels, v in m["kafkaish_requests_total"].items() if ("api", "Produce") in labels)
        assert produced >= 3
        assert m["kafkaish_connections"][()] >= 3  # the producer's, one to each node
        producer.close()
