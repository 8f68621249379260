"""Snapshot and restore (topics with records, groups and committed offsets, an open transaction)
into a fresh broker, and reset (everything, or only what is named)."""

from __future__ import annotations

import pytest

from kafkaish.pytest_plugin import create_topic
from kafkaish.testing import EmbeddedBroker
from tests.control.http import call, get, post


def consume(bootstrap: str, topic: str, partition: int, isolation: str = "read_uncommitted") -> list[bytes]:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level=isolation)
    tp = TopicPartition(topic, partition)
    c.assign([tp])
    c.seek_to_beginning()
    end = c.end_offsets([tp])[tp]
    got: list[bytes] = []
    for _ in range(40):
        if c.position(tp) >= end:
            break
        for msgs in c.poll(timeout_ms=250).values():
            got += [m.value for m in msgs]
    c.close()
    return got


def prepare(kb: EmbeddedBroker) -> dict:
    """Two topics with records, a group with committed offsets, an open transaction."""
    import confluent_kafka
    from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition

    orders, audit = "orders", "audit"
    create_topic(kb.bootstrap, orders, 2, {"retention.ms": "3600000"})
    create_topic(kb.bootstrap, audit, 1)
    p = KafkaProducer(bootstrap_servers=kb.bootstrap)
    for i in range(6):
        p.send(orders, b"o%d" % i, key=b"\x00\xff", partition=i % 2)
    p.send(audit, b"a0")
    p.flush()
    p.close()
    c = KafkaConsumer(bootstrap_servers=kb.bootstrap, group_id="billing", enable_auto_commit=False)
    c.commit({TopicPartition(orders, 0): OffsetAndMetadata(2, "meta", -1), TopicPartition(orders, 1): OffsetAndMetadata(1, "", -1)})
    c.close()
    txn = confluent_kafka.Producer({"bootstrap.servers": kb.bootstrap, "transactional.id": "tx-open"})
    txn.init_transactions(10)
    txn.begin_transaction()
    txn.produce(audit, b"uncommitted")
    txn.flush(10)
    return {"txn": txn, "orders": orders, "audit": audit}


def test_snapshot_restore_into_a_fresh_broker(tmp_path):
    with EmbeddedBroker(admin_port=0) as src:
        prepared = prepare(src)
        before = {t: src.inspect.topic(t) for t in ("orders", "audit")}
        assert before["audit"]["partitions"][0]["last_stable_offset"] == 1  # the open txn holds the LSO
        assert post(src.admin_url + "/v1/snapshot", {"path": str(tmp_path / "snap")})["records"] == 8
        src.snapshot(tmp_path / "snap.zip")
        prepared["txn"].abort_transaction(10)

    for where in ("snap", "snap.zip"):
        with EmbeddedBroker(admin_port=0) as dst:
            assert post(dst.admin_url + "/v1/restore", {"path": str(tmp_path / where)}) == {"topics": 2}
            for name, t in before.items():
                after = dst.inspect.topic(name)
                assert after == t, where  # ids, configs, offsets, LSO, sizes
            assert consume(dst.bootstrap, "orders", 0) == [b"o0", b"o2", b"o4"]
            assert dst.inspect.records("orders", 1)[0]["key_encoding"] == "base64"
            assert consume(dst.bootstrap, "audit", 0, "read_committed") == [b"a0"]
            group = get(f"{dst.admin_url}/v1/groups/billing")
            assert {(o["partition"], o["offset"], o["lag"]) for o in group["offsets"]} == {(0, 2, 1), (1, 1, 2)}
            [txn] = dst.inspect.transactions()
            assert txn["transactional_id"] == "tx-open" and txn["state"] == "Ongoing"
            assert txn["partitions"] == [{"topic": "audit", "partition": 0}]
            _consumer_resumes_from_committed(dst.bootstrap)
            _new_producer_fences_the_restored_transaction(dst)


def _consumer_resumes_from_committed(bootstrap: str) -> None:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id="billing", enable_auto_commit=False)
    tp = TopicPartition("orders", 0)
    c.assign([tp])
    got = []
    for _ in range(40):
        for msgs in c.poll(timeout_ms=250).values():
            got += [m.value for m in msgs]
        if got:
            break
    c.close()
    assert got == [b"o4"]  # committed offset 2 on partition 0


def _new_producer_fences_the_restored_transaction(kb: EmbeddedBroker) -> None:
    import confluent_kafka

    p = confluent_kafka.Producer({"bootstrap.servers": kb.bootstrap, "transactional.id": "tx-open"})
    p.init_transactions(10)  # aborts the restored open transaction, as after a broker restart
    part = kb.inspect.topic("audit")["partitions"][0]
    assert part["last_stable_offset"] == part["high_watermark"]
    assert consume(kb.bootstrap, "audit", 0, "read_committed") == [b"a0"]
    assert [t["state"] for t in kb.inspect.transactions()] in (["CompleteAbort"], ["Empty"])


def test_reset_everything_or_only_named():
    from kafka import KafkaConsumer, KafkaProducer

    with EmbeddedBroker(admin_port=0) as kb:
        for t in ("keep", "drop"):
            create_topic(kb.bootstrap, t)
        p = KafkaProducer(bootstrap_servers=kb.bootstrap)
        p.send("keep", b"x").get(10)
        p.close()
        for g in ("g-keep", "g-drop"):
            c = KafkaConsumer("keep", bootstrap_servers=kb.bootstrap, group_id=g, auto_offset_reset="earliest")
            while not c.poll(timeout_ms=200):
                pass
            c.commit()
            c.close()
        rule = kb.faults.add(api="Produce", drop=True)
        out = post(kb.admin_url + "/v1/reset", {"topics": ["drop", "nope"], "groups": ["g-drop"]})
        assert out == {"topics": ["drop"], "groups": ["g-drop"], "transactional_ids": []}
        assert [t["name"] for t in kb.inspect.topics() if not t["internal"]] == ["keep"]
        assert [g["group_id"] for g in kb.inspect.groups()] == ["g-keep"]
        assert [r["id"] for r in kb.faults.list()] == [rule]  # a named reset leaves the rules
        everything = kb.reset()
        assert everything["topics"] == ["keep"] and everything["groups"] == ["g-keep"]
        assert [t["name"] for t in kb.inspect.topics()] == ["__consumer_offsets"]  # Kafka's internal topic stays
        assert kb.inspect.groups() == [] and kb.faults.list() == []
        assert call("GET", kb.admin_url + "/v1/groups/g-keep")[0] == 404
        p = KafkaProducer(bootstrap_servers=kb.bootstrap)  # the broker serves on after a reset
        p.send("keep", b"again").get(10)
        p.close()
        assert [r["value"] for r in kb.inspect.records("keep")] == ["again"]


def test_restore_rejects_a_non_snapshot(tmp_path):
    (tmp_path / "snapshot.json").write_text('{"format": "something-else"}')
    with EmbeddedBroker(admin_port=0) as kb:
        status, out = call("POST", kb.admin_url + "/v1/restore", {"path": str(tmp_path)})
        assert status == 400 and out["field"] == "path"
        with pytest.raises(Exception, match="not a kafkaish snapshot"):
            kb.restore(tmp_path)
        # the broker keeps serving
        assert get(kb.admin_url + "/v1/health")["status"] == "ok"


def test_snapshot_of_a_file_engine_broker_restores_in_memory(tmp_path):
    """Snapshots are engine-neutral: taken from the file engine (zero-copy reads), restored in memory."""
    from kafka import KafkaProducer

    with EmbeddedBroker(data_dir=str(tmp_path / "data")) as src:
        create_topic(src.bootstrap, "logs", 1)
        p = KafkaProducer(bootstrap_servers=src.bootstrap, compression_type="gzip")
        for i in range(50):
            p.send("logs", b"line %d" % i)
        p.flush()
        p.close()
        want = src.inspect.topic("logs")
        src.snapshot(tmp_path / "snap")
    with EmbeddedBroker() as dst:
        dst.restore(tmp_path / "snap")
        got = dst.inspect.topic("logs")
        assert got["partitions"][0]["high_watermark"] == want["partitions"][0]["high_watermark"] == 50
        assert got["topic_id"] == want["topic_id"]
        assert consume(dst.bootstrap, "logs", 0)[-1] == b"line 49"
