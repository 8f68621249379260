"""The compat scenarios (compat/scenarios.txt) driven with kafka-python.

kafka-python is blocking: every scenario is a plain function, time-limited by the
harness. Group members that must poll concurrently run in threads (GroupMember).
"""
from __future__ import annotations

import os
import sys
import threading
import time
from importlib.metadata import version as dist_version

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import kafka.errors as Errors  # noqa: E402
from kafka import (ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, KafkaProducer,  # noqa: E402
                   TopicPartition)
from kafka.admin import ConfigResource, ConfigResourceType  # noqa: E402
from kafka.structs import OffsetAndMetadata  # noqa: E402

from cluster_chaos import PARTITIONS, TOPIC_CONFIG, chaos_while, check_exactly_once  # noqa: E402
from harness import (CapturedLogs, ChildMember, Env, Failed, Skip, check, check_eq,  # noqa: E402
                     check_idempotent_batches, check_stored_codec, load_scenarios, run_scenarios, unique, wait_until)

# ---------------------------------------------------------------- helpers


def admin(env: Env, bootstrap: str | None = None, **config) -> KafkaAdminClient:
    client = KafkaAdminClient(bootstrap_servers=bootstrap or env.bootstrap, client_id="compat-admin",
                              request_timeout_ms=10000, **config)
    env.defer(client.close)
    return client


def producer(env: Env, bootstrap: str | None = None, **config) -> KafkaProducer:
    config.setdefault("linger_ms", 5)
    config.setdefault("max_block_ms", 10000)
    config.setdefault("request_timeout_ms", 10000)
    client = KafkaProducer(bootstrap_servers=bootstrap or env.bootstrap, **config)
    env.defer(lambda: client.close(timeout=5))
    return client


def consumer(env: Env, bootstrap: str | None = None, **config) -> KafkaConsumer:
    config.setdefault("auto_offset_reset", "earliest")
    config.setdefault("enable_auto_commit", False)
    config.setdefault("heartbeat_interval_ms", 250)
    config.setdefault("request_timeout_ms", 10000)
    client = KafkaConsumer(bootstrap_servers=bootstrap or env.bootstrap, **config)
    env.defer(lambda: client.close(timeout_ms=5000))
    return client


def create_topic(env: Env, prefix: str, partitions: int = 1, configs: dict | None = None,
                 bootstrap: str | None = None, replication_factor: int = 1, **client_config) -> str:
    name = unique(prefix)
    spec = {"num_partitions": partitions, "replication_factor": replication_factor}
    if configs:
        spec["configs"] = configs
    admin(env, bootstrap, **client_config).create_topics({name: spec}, wait_for_metadata=True)
    return name


def send_all(prod: KafkaProducer, topic: str, records: list[dict]) -> list:
    """Send records (dicts of send() kwargs), flush, return their RecordMetadata."""
    futures = [prod.send(topic, **rec) for rec in records]
    prod.flush(timeout=10)
    return [f.get(timeout=10) for f in futures]


def poll_records(cons: KafkaConsumer, count: int, timeout: float = 10.0) -> list:
    """Poll until ``count`` records arrived (fails on timeout), return them in arrival order."""
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        if time.monotonic() > deadline:
            raise Failed(f"expected {count} records, got {len(got)} within {timeout:.0f}s")
        for recs in cons.poll(timeout_ms=200).values():
            got.extend(recs)
    return got


def poll_quiet(cons: KafkaConsumer, seconds: float) -> list:
    """Everything polled during ``seconds`` (used to show that nothing arrives)."""
    got: list = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for recs in cons.poll(timeout_ms=100).values():
            got.extend(recs)
    return got


def assigned_reader(env: Env, topic: str, partitions: int = 1, **config) -> KafkaConsumer:
    cons = consumer(env, **config)
    cons.assign([TopicPartition(topic, p) for p in range(partitions)])
    cons.seek_to_beginning()
    return cons


def values(records) -> list[bytes]:
    return [r.value for r in records]


class _CountAssignments(ConsumerRebalanceListener):
    def __init__(self, member: "GroupMember"):
        self.member = member

    def on_partitions_revoked(self, revoked) -> None:
        pass

    def on_partitions_assigned(self, assigned) -> None:
        self.member.assign_events += 1


class GroupMember:
    """A subscribed consumer polling in its own thread and committing after every poll."""

    def __init__(self, env: Env, group: str, topic: str, name: str, instance_id: str | None = None):
        self.name = name
        self.records: list = []
        self.error: BaseException | None = None
        self.assign_events = 0  # rebalances this member went through
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.consumer = KafkaConsumer(bootstrap_servers=env.bootstrap, group_id=group, client_id=name,
                                      group_instance_id=instance_id, auto_offset_reset="earliest",
                                      enable_auto_commit=False, heartbeat_interval_ms=200,
                                      session_timeout_ms=10000, request_timeout_ms=10000)
        self.consumer.subscribe([topic], listener=_CountAssignments(self))
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        env.defer(self.stop)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                batch = self.consumer.poll(timeout_ms=100)
                if batch:
                    self.consumer.commit()  # before the records count as received: see group_failover
                    with self._lock:
                        for recs in batch.values():
                            self.records.extend(recs)
        except BaseException as exc:  # surfaced through .check()
            self.error = exc

    def assignment(self) -> set[int]:
        """The partitions owned now; raises if the polling thread died."""
        self.check()
        return {tp.partition for tp in self.consumer.assignment()}

    def received(self) -> list:
        self.check()
        with self._lock:
            return list(self.records)

    def check(self) -> None:
        if self.error is not None:
            raise Failed(f"{self.name} failed: {type(self.error).__name__}: {self.error}")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.consumer.close(timeout_ms=5000)


def topic_config(adm: KafkaAdminClient, topic: str) -> dict[str, str]:
    """The topic's configs as {name: value}, all of them (not only overrides)."""
    result = adm.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all")
    entries = _find_resource(result, topic)
    out = {}
    for key, data in entries.items():
        out[key] = data.get("value") if isinstance(data, dict) else data
    return out


def _find_resource(result, name: str) -> dict:
    # {resource_type: {resource_name: {config_key: {config data}}}}
    for by_name in result.values():
        if name in by_name:
            return by_name[name]
    raise Failed(f"describe_configs answer has no resource {name}: {result!r}")


def expect_error(fn, error_types: tuple, what: str) -> BaseException:
    try:
        fn()
    except error_types as exc:
        return exc
    except Exception as exc:
        raise Failed(f"{what}: expected {'/'.join(t.__name__ for t in error_types)}, got "
                     f"{type(exc).__name__}: {exc}") from exc
    raise Failed(f"{what}: expected {'/'.join(t.__name__ for t in error_types)}, got success")


# ---------------------------------------------------------------- produce / consume


def roundtrip(env: Env) -> None:
    topic = create_topic(env, "roundtrip", partitions=3)
    base_ts = int(time.time() * 1000) - 60_000
    sent = [dict(key=f"k{i}".encode(), value=f"v{i}".encode(), partition=i % 3,
                 headers=[("h1", f"x{i}".encode()), ("h2", b"")], timestamp_ms=base_ts + i)
            for i in range(9)]
    metas = send_all(producer(env), topic, sent)
    check_eq(sorted((m.partition, m.offset) for m in metas),
             sorted((p, o) for p in range(3) for o in range(3)), "partition/offset of sent records")
    got = poll_records(assigned_reader(env, topic, 3), 9)
    seen = sorted((r.partition, r.offset, r.key, r.value, list(r.headers), r.timestamp) for r in got)
    want = sorted((m.partition, m.offset, s["key"], s["value"], s["headers"], s["timestamp_ms"])
                  for m, s in zip(metas, sent))
    check_eq(seen, want, "consumed records")


def key_partitioning(env: Env) -> None:
    topic = create_topic(env, "keys", partitions=4)
    keys = [f"key-{i}".encode() for i in range(6)]
    first = send_all(producer(env), topic, [dict(key=k, value=b"a") for k in keys for _ in range(3)])
    second = send_all(producer(env), topic, [dict(key=k, value=b"b") for k in keys])
    placement: dict[bytes, set[int]] = {}
    for key, meta in zip([k for k in keys for _ in range(3)] + keys, first + second):
        placement.setdefault(key, set()).add(meta.partition)
    unstable = {k: p for k, p in placement.items() if len(p) != 1}
    check(not unstable, f"keys spread over several partitions: {unstable}")
    got = poll_records(assigned_reader(env, topic, 4), len(keys) * 4)
    for rec in got:
        check_eq({rec.partition}, placement[rec.key], f"partition of consumed key {rec.key!r}")


def acks_zero(env: Env) -> None:
    topic = create_topic(env, "acks0")
    prod = producer(env, acks=0, enable_idempotence=False)
    for chunk in range(2):  # two flushes, two Produce requests on one connection, no responses
        send_all(prod, topic, [dict(value=f"z{chunk * 5 + i}".encode()) for i in range(5)])
    check_eq(values(poll_records(assigned_reader(env, topic), 10)), [f"z{i}".encode() for i in range(10)],
             "records produced with acks=0")


def log_append_time(env: Env) -> None:
    topic = create_topic(env, "logtime", configs={"message.timestamp.type": "LogAppendTime"})
    old = int(time.time() * 1000) - 3_600_000
    before = int(time.time() * 1000)
    send_all(producer(env), topic, [dict(value=b"t", timestamp_ms=old) for _ in range(3)])
    after = int(time.time() * 1000)
    for rec in poll_records(assigned_reader(env, topic), 3):
        check_eq(rec.timestamp_type, 1, "timestamp type (1 = LogAppendTime)")
        check(before - 1000 <= rec.timestamp <= after + 1000,
              f"timestamp {rec.timestamp} is not the broker's append time (sent {old}, window {before}..{after})")


def bulk_fetch(env: Env) -> None:
    topic = create_topic(env, "bulk", partitions=3)
    payload = os.urandom(1000)
    send_all(producer(env, linger_ms=20), topic, [dict(value=payload, partition=i % 3) for i in range(3000)])
    got = poll_records(assigned_reader(env, topic, 3, max_partition_fetch_bytes=65536), 3000, timeout=20)

    by_partition: dict[int, list[int]] = {}
    for rec in got:
        by_partition.setdefault(rec.partition, []).append(rec.offset)
    check_eq({p: len(offs) for p, offs in by_partition.items()}, {0: 1000, 1: 1000, 2: 1000}, "records per partition")
    for p, offs in by_partition.items():
        check_eq(offs, list(range(1000)), f"offsets of partition {p} (in order, no gap, no duplicate)")


def _compression(env: Env, codec: str) -> None:
    topic = create_topic(env, f"codec-{codec}")
    payloads = [(f"record {i} " * 20).encode() for i in range(50)]
    send_all(producer(env, compression_type=codec, linger_ms=50), topic,
             [dict(value=v, key=str(i).encode()) for i, v in enumerate(payloads)])
    got = poll_records(assigned_reader(env, topic), len(payloads))
    check_eq(values(got), payloads, f"{codec} round trip")
    check_stored_codec(env, topic, codec)


def compression_gzip(env: Env) -> None:
    _compression(env, "gzip")


def compression_snappy(env: Env) -> None:
    _compression(env, "snappy")


def compression_lz4(env: Env) -> None:
    _compression(env, "lz4")


def compression_zstd(env: Env) -> None:
    _compression(env, "zstd")


# ---------------------------------------------------------------- consumer groups


def group_rebalance(env: Env) -> None:
    topic = create_topic(env, "rebalance", partitions=4)
    group = unique("g-rebalance")
    a = GroupMember(env, group, topic, "member-a")
    wait_until(lambda: a.assignment() == {0, 1, 2, 3}, 15, "first member to own 4 partitions")
    b = GroupMember(env, group, topic, "member-b")

    def split() -> bool:
        pa, pb = a.assignment(), b.assignment()
        return len(pa) == 2 and len(pb) == 2 and pa | pb == {0, 1, 2, 3}
    wait_until(split, 20, "the two members to split 4 partitions 2/2")
    prod = producer(env)
    send_all(prod, topic, [dict(value=f"p{p}".encode(), partition=p) for p in range(4)])
    wait_until(lambda: len(a.received()) + len(b.received()) == 4, 10, "both members to receive their records")
    check_eq({r.partition for r in a.received()}, a.assignment(), "partitions member-a received from")


def group_failover(env: Env) -> None:
    topic = create_topic(env, "failover", partitions=2)
    group = unique("g-failover")
    prod = producer(env)
    send_all(prod, topic, [dict(value=f"old-{p}-{i}".encode(), partition=p) for p in range(2) for i in range(5)])
    a = GroupMember(env, group, topic, "member-a")
    b = GroupMember(env, group, topic, "member-b")
    wait_until(lambda: len(a.assignment()) == 1 and len(b.assignment()) == 1, 20,
               "two members with one partition each")
    wait_until(lambda: len(a.received()) + len(b.received()) == 10, 10, "the first 10 records to be consumed")
    b.stop()
    wait_until(lambda: a.assignment() == {0, 1}, 20, "the survivor to own both partitions")
    before = len(a.received())
    send_all(prod, topic, [dict(value=f"new-{p}-{i}".encode(), partition=p) for p in range(2) for i in range(5)])
    wait_until(lambda: len(a.received()) - before >= 10, 10, "the survivor to receive the 10 new records")
    time.sleep(0.3)
    after = a.received()[before:]
    check_eq(sorted(values(after)), sorted(f"new-{p}-{i}".encode() for p in range(2) for i in range(5)),
             "records the survivor got after the failover (old ones would mean lost commits)")


def group_crash_failover(env: Env) -> None:
    topic = create_topic(env, "crash", partitions=2)
    group = unique("g-crash")
    prod = producer(env)
    send_all(prod, topic, [dict(value=f"old-{p}-{i}".encode(), partition=p) for p in range(2) for i in range(5)])
    a = GroupMember(env, group, topic, "member-a")
    b = ChildMember(env, [sys.executable, os.path.join(HERE, "crash_member.py"), env.bootstrap, group, topic])
    wait_until(lambda: b.alive() and len(a.assignment()) == 1 and len(b.partitions) == 1, 20,
               "two members with one partition each")
    wait_until(lambda: len(a.received()) + b.consumed == 10, 10, "the first 10 records to be consumed")
    b.kill()  # no LeaveGroup: only its session timeout (6 s) removes it
    wait_until(lambda: a.assignment() == {0, 1}, 25, "the survivor to own both partitions")
    before = len(a.received())
    send_all(prod, topic, [dict(value=f"new-{p}-{i}".encode(), partition=p) for p in range(2) for i in range(5)])
    wait_until(lambda: len(a.received()) - before >= 10, 10, "the survivor to receive the 10 new records")
    time.sleep(0.3)
    check_eq(sorted(values(a.received()[before:])), sorted(f"new-{p}-{i}".encode() for p in range(2) for i in range(5)),
             "records the survivor got after the crash (old ones would mean lost commits)")


def group_static_member(env: Env) -> None:
    topic = create_topic(env, "static", partitions=2)
    group = unique("g-static")
    a = GroupMember(env, group, topic, "member-a", instance_id=f"{group}-a")
    b = GroupMember(env, group, topic, "member-b", instance_id=f"{group}-b")
    wait_until(lambda: len(a.assignment()) == 1 and len(b.assignment()) == 1, 20, "one partition each")
    time.sleep(1.0)  # let the initial rebalances settle
    events, owned = a.assign_events, b.assignment()
    check(events > 0, "member-a's assignment was not seen through its rebalance callback")
    b.stop()  # a static member closes without LeaveGroup
    restarted = GroupMember(env, group, topic, "member-b-restarted", instance_id=f"{group}-b")
    wait_until(lambda: restarted.assignment() == owned, 15, "the restarted static member to get its partition back")
    time.sleep(1.0)
    check_eq(a.assign_events, events, "rebalances of the other member (a static rejoin must not cause one)")
    check_eq(a.assignment(), {0, 1} - owned, "the other member's partition")


def group_consumer_protocol(env: Env) -> None:
    raise Skip("kafka-python 3.0.12 implements only the classic group protocol: it knows API key 68 "
               "(kafka/protocol/api_key.py) but has no ConsumerGroupHeartbeat schema or KIP-848 consumer")


def group_resume(env: Env) -> None:
    topic = create_topic(env, "resume")
    group = unique("g-resume")
    send_all(producer(env), topic, [dict(value=f"m{i}".encode()) for i in range(10)])
    tp = TopicPartition(topic, 0)
    first = consumer(env, group_id=group)
    first.subscribe([topic])
    poll_records(first, 10)
    first.commit({tp: OffsetAndMetadata(6, "", -1)})
    check_eq(first.committed(tp), 6, "committed offset read back")
    first.close()
    second = consumer(env, group_id=group)
    second.subscribe([topic])
    got = poll_records(second, 4)
    check_eq([r.offset for r in got], [6, 7, 8, 9], "offsets the second consumer resumed with")


def group_offsets_admin(env: Env) -> None:
    topic = create_topic(env, "goffsets")
    group = unique("g-offsets")
    send_all(producer(env), topic, [dict(value=f"m{i}".encode()) for i in range(6)])
    tp = TopicPartition(topic, 0)
    adm = admin(env)
    result = adm.alter_group_offsets(group, {tp: OffsetAndMetadata(3, "", -1)})
    check_eq(result, {tp: Errors.NoError}, "alter_group_offsets result")
    check_eq({t: om.offset for t, om in adm.list_group_offsets({group: None})[group].items()}, {tp: 3},
             "offsets listed after alter_group_offsets")
    member = consumer(env, group_id=group)
    member.subscribe([topic])
    check_eq([r.offset for r in poll_records(member, 3)], [3, 4, 5], "offsets a new member resumed with")
    member.close()
    check_eq(adm.delete_groups([group]), {group: "OK"}, "delete_groups result")
    check(group not in {g.get("group_id") for g in adm.list_groups()}, "the deleted group is still listed")


def group_admin(env: Env) -> None:
    topic = create_topic(env, "gadmin", partitions=2)
    group = unique("g-admin")
    send_all(producer(env), topic, [dict(value=b"x", partition=p) for p in range(2)])
    member = GroupMember(env, group, topic, "admin-member")
    wait_until(lambda: len(member.received()) == 2, 15, "the member to consume 2 records")
    adm = admin(env)
    listed = wait_until(lambda: [g for g in adm.list_groups() if g.get("group_id") == group], 10,
                        "the group in list_groups")
    check_eq(listed[0].get("protocol_type"), "consumer", "listed protocol type")
    desc = adm.describe_groups([group])[group]
    check_eq(desc.get("group_state"), "Stable", "described group state")
    members = desc.get("members") or []
    check_eq(len(members), 1, "described member count")
    check_eq(members[0].get("client_id"), "admin-member", "described member client id")
    assignment = members[0].get("member_assignment")
    check(topic in repr(assignment), f"member assignment names the topic: {assignment!r}")
    offsets = wait_until(lambda: adm.list_group_offsets({group: None}).get(group), 10, "committed offsets")
    check_eq({tp.partition: om.offset for tp, om in offsets.items() if tp.topic == topic}, {0: 1, 1: 1},
             "committed offsets listed by the admin")


# ---------------------------------------------------------------- replay


def replay_seek(env: Env) -> None:
    topic = create_topic(env, "seek")
    send_all(producer(env), topic, [dict(value=f"m{i}".encode()) for i in range(10)])
    tp = TopicPartition(topic, 0)
    cons = consumer(env)
    cons.assign([tp])
    cons.seek(tp, 4)
    check_eq([r.offset for r in poll_records(cons, 6)], list(range(4, 10)), "offsets after seek(4)")
    cons.seek(tp, 7)
    check_eq(values(poll_records(cons, 3)), [b"m7", b"m8", b"m9"], "values after seek(7)")
    cons.seek_to_beginning(tp)
    check_eq(poll_records(cons, 1)[0].offset, 0, "first offset after seek_to_beginning")


def replay_offsets(env: Env) -> None:
    topic = create_topic(env, "offsets")
    tp = TopicPartition(topic, 0)
    cons = consumer(env)
    check_eq(cons.beginning_offsets([tp])[tp], 0, "beginning offset of an empty topic")
    check_eq(cons.end_offsets([tp])[tp], 0, "end offset of an empty topic")
    send_all(producer(env), topic, [dict(value=b"x") for _ in range(7)])
    check_eq(cons.beginning_offsets([tp])[tp], 0, "beginning offset")
    check_eq(cons.end_offsets([tp])[tp], 7, "end offset after 7 records")
    cons.assign([tp])
    cons.seek_to_end(tp)
    check_eq(cons.position(tp), 7, "position after seek_to_end")


def replay_offsets_for_times(env: Env) -> None:
    topic = create_topic(env, "times")
    tp = TopicPartition(topic, 0)
    base = int(time.time() * 1000) - 100_000
    send_all(producer(env), topic, [dict(value=f"t{i}".encode(), timestamp_ms=base + i * 1000) for i in range(5)])
    cons = consumer(env)
    found = cons.offsets_for_times({tp: base + 1500})[tp]
    check(found is not None, "offsets_for_times(base+1500) found nothing")
    check_eq((found.offset, found.timestamp), (2, base + 2000), "offset/timestamp for base+1500")
    check_eq(cons.offsets_for_times({tp: base - 5000})[tp].offset, 0, "offset for a timestamp before the first record")
    check_eq(cons.offsets_for_times({tp: base + 60_000})[tp], None, "offset for a timestamp after the last record")


# ---------------------------------------------------------------- idempotence and transactions


def idempotent_producer(env: Env) -> None:
    topic = create_topic(env, "idempotent")
    prod = producer(env, enable_idempotence=True, acks="all", max_in_flight_requests_per_connection=5)
    metas = send_all(prod, topic, [dict(value=f"i{i}".encode()) for i in range(30)])
    check_eq([m.offset for m in metas], list(range(30)), "offsets of idempotent sends")
    got = poll_records(assigned_reader(env, topic), 30)
    check_eq(values(got), [f"i{i}".encode() for i in range(30)], "records written exactly once, in order")
    check_idempotent_batches(env, topic)


def txn_producer(env: Env, txn_id: str | None = None) -> KafkaProducer:
    prod = producer(env, transactional_id=txn_id or unique("txn"), enable_idempotence=True)
    prod.init_transactions()
    return prod


def committed_reader(env: Env, topic: str, partitions: int = 1) -> KafkaConsumer:
    return assigned_reader(env, topic, partitions, isolation_level="read_committed")


def txn_commit(env: Env) -> None:
    topic = create_topic(env, "txn-commit")
    prod = txn_producer(env)
    prod.begin_transaction()
    send_all(prod, topic, [dict(value=f"c{i}".encode()) for i in range(5)])
    prod.commit_transaction()
    check_eq(values(poll_records(committed_reader(env, topic), 5)), [f"c{i}".encode() for i in range(5)],
             "committed records")
    tp = TopicPartition(topic, 0)
    check_eq(consumer(env).end_offsets([tp])[tp], 6, "end offset: 5 records + the COMMIT marker")


def txn_abort(env: Env) -> None:
    topic = create_topic(env, "txn-abort")
    prod = txn_producer(env)
    prod.begin_transaction()
    send_all(prod, topic, [dict(value=b"aborted") for _ in range(5)])
    prod.abort_transaction()
    prod.begin_transaction()
    send_all(prod, topic, [dict(value=b"kept") for _ in range(2)])
    prod.commit_transaction()
    reader = committed_reader(env, topic)
    got = poll_records(reader, 2) + poll_quiet(reader, 1.0)
    check_eq(values(got), [b"kept", b"kept"], "records a read_committed consumer got")


def txn_isolation(env: Env) -> None:
    topic = create_topic(env, "txn-iso")
    prod = txn_producer(env)
    prod.begin_transaction()
    send_all(prod, topic, [dict(value=b"aborted") for _ in range(3)])
    prod.abort_transaction()
    prod.begin_transaction()
    send_all(prod, topic, [dict(value=b"committed") for _ in range(2)])
    prod.commit_transaction()
    uncommitted = assigned_reader(env, topic, isolation_level="read_uncommitted")
    got = poll_records(uncommitted, 5) + poll_quiet(uncommitted, 0.5)
    check_eq(values(got), [b"aborted"] * 3 + [b"committed"] * 2, "read_uncommitted records")
    committed = committed_reader(env, topic)
    got = poll_records(committed, 2) + poll_quiet(committed, 0.5)
    check_eq(values(got), [b"committed"] * 2, "read_committed records")


def txn_open_blocks(env: Env) -> None:
    topic = create_topic(env, "txn-open")
    tp = TopicPartition(topic, 0)
    prod = txn_producer(env)
    prod.begin_transaction()
    send_all(prod, topic, [dict(value=f"open{i}".encode()) for i in range(3)])
    send_all(producer(env, enable_idempotence=False), topic, [dict(value=b"after")])
    committed = committed_reader(env, topic)
    check_eq(committed.end_offsets([tp])[tp], 0, "read_committed end offset (last stable offset)")
    check_eq(values(poll_quiet(committed, 1.5)), [], "records visible to read_committed during the open txn")
    uncommitted = assigned_reader(env, topic)
    check_eq(values(poll_records(uncommitted, 4)), [b"open0", b"open1", b"open2", b"after"],
             "read_uncommitted records during the open txn")
    prod.commit_transaction()
    check_eq(values(poll_records(committed, 4)), [b"open0", b"open1", b"open2", b"after"],
             "read_committed records after the commit")


def txn_timeout(env: Env) -> None:
    topic = create_topic(env, "txn-timeout")
    prod = producer(env, transactional_id=unique("txn-timeout"), enable_idempotence=True, transaction_timeout_ms=2000)
    prod.init_transactions()
    prod.begin_transaction()
    send_all(prod, topic, [dict(value=b"abandoned") for _ in range(3)])
    send_all(producer(env, enable_idempotence=False), topic, [dict(value=b"after")])
    reader = committed_reader(env, topic)
    got = poll_records(reader, 1, timeout=20)  # only once the coordinator aborted the transaction
    check_eq(values(got + poll_quiet(reader, 0.5)), [b"after"], "read_committed records after the timeout")
    expect_error(prod.commit_transaction, (Errors.KafkaError,), "commit of the timed-out transaction")


def txn_consume_transform_produce(env: Env) -> None:
    source = create_topic(env, "ctp-in")
    sink = create_topic(env, "ctp-out")
    group = unique("g-ctp")
    send_all(producer(env), source, [dict(value=f"word{i}".encode()) for i in range(5)])
    cons = consumer(env, group_id=group, isolation_level="read_committed")
    cons.subscribe([source])
    got = poll_records(cons, 5)
    prod = txn_producer(env)
    prod.begin_transaction()
    send_all(prod, sink, [dict(value=r.value.upper()) for r in got])
    tp = TopicPartition(source, 0)
    prod.send_offsets_to_transaction({tp: OffsetAndMetadata(got[-1].offset + 1, "", -1)}, cons.group_metadata())
    prod.commit_transaction()
    check_eq(values(poll_records(committed_reader(env, sink), 5)), [f"WORD{i}".encode() for i in range(5)],
             "transformed records")
    check_eq(wait_until(lambda: cons.committed(tp), 10, "the transactional offset commit"), 5,
             "group offset committed by the transaction")


def txn_fencing(env: Env) -> None:
    topic = create_topic(env, "txn-fence")
    txn_id = unique("txn-fenced")
    old = txn_producer(env, txn_id)
    old.begin_transaction()
    send_all(old, topic, [dict(value=b"zombie")])
    new = txn_producer(env, txn_id)  # bumps the epoch: aborts the old producer's transaction
    fenced = (Errors.ProducerFencedError, Errors.InvalidProducerEpochError, Errors.KafkaError)
    exc = expect_error(old.commit_transaction, fenced, "commit by the fenced producer")
    check("fenc" in type(exc).__name__.lower() or "epoch" in type(exc).__name__.lower() or "fenc" in str(exc).lower(),
          f"fenced producer failed with an unrelated error: {type(exc).__name__}: {exc}")
    new.begin_transaction()
    send_all(new, topic, [dict(value=b"live")])
    new.commit_transaction()
    reader = committed_reader(env, topic)
    got = poll_records(reader, 1) + poll_quiet(reader, 0.5)
    check_eq(values(got), [b"live"], "records visible after fencing")


# ---------------------------------------------------------------- cluster


def cluster_failover(env: Env) -> None:
    plane = env.cluster()
    topic = create_topic(env, "cluster", PARTITIONS, TOPIC_CONFIG, env.cluster_bootstrap, replication_factor=3)
    acked: list[tuple[int, int, bytes]] = []
    consumed: list[tuple[int, int, bytes]] = []
    done, flushed = threading.Event(), threading.Event()  # flushed: every send answered, ``acked`` final
    retry = dict(retry_backoff_ms=20, reconnect_backoff_ms=20, reconnect_backoff_max_ms=200, request_timeout_ms=5000)
    prod = producer(env, env.cluster_bootstrap, acks="all", enable_idempotence=True, linger_ms=2, **retry)
    cons = consumer(env, env.cluster_bootstrap, group_id=topic, enable_auto_commit=True, fetch_max_wait_ms=100,
                    **retry)
    cons.subscribe([topic])

    def produce() -> None:
        i = 0
        while not done.is_set():
            value = b"v%d" % i
            prod.send(topic, key=b"k%d" % (i % 7), value=value).add_callback(
                lambda md, value=value: acked.append((md.partition, md.offset, value)))
            i += 1
            time.sleep(0.003)
        prod.flush(20)
        flushed.set()

    def consume() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (flushed.is_set() and len(consumed) >= len(acked)):
            for records in cons.poll(timeout_ms=100).values():
                consumed.extend((r.partition, r.offset, r.value) for r in records)

    chaos_while(plane, topic, done, produce, consume)
    check_exactly_once(acked, consumed)


# ---------------------------------------------------------------- admin


def admin_topics(env: Env) -> None:
    adm = admin(env)
    one, three = unique("admin-a"), unique("admin-b")
    adm.create_topics({one: {"num_partitions": 1, "replication_factor": 1},
                       three: {"num_partitions": 3, "replication_factor": 1}}, wait_for_metadata=True)
    check({one, three} <= set(adm.list_topics()), "created topics missing from list_topics")
    described = {t["name"]: len(t["partitions"]) for t in adm.describe_topics([one, three])}
    check_eq(described, {one: 1, three: 3}, "partition counts in describe_topics")
    adm.delete_topics([one])
    wait_until(lambda: one not in adm.list_topics(), 10, "the deleted topic to leave the metadata")
    check(three in adm.list_topics(), "the other topic disappeared too")


def admin_topic_recreate(env: Env) -> None:
    topic = create_topic(env, "recreate")
    send_all(producer(env), topic, [dict(value=b"old") for _ in range(3)])
    adm = admin(env)
    adm.delete_topics([topic])
    wait_until(lambda: topic not in adm.list_topics(), 10, "the deleted topic to leave the metadata")
    adm.create_topics({topic: {"num_partitions": 2, "replication_factor": 1}}, wait_for_metadata=True)
    meta = send_all(producer(env), topic, [dict(value=b"new", partition=1)])[0]
    check_eq((meta.partition, meta.offset), (1, 0), "partition/offset of the first record after re-creation")
    reader = assigned_reader(env, topic, 2)
    check_eq(values(poll_records(reader, 1) + poll_quiet(reader, 0.5)), [b"new"], "records of the re-created topic")


def admin_create_partitions(env: Env) -> None:
    topic = create_topic(env, "parts")
    adm = admin(env)
    adm.create_partitions({topic: 3})
    wait_until(lambda: len(adm.describe_topics([topic])[0]["partitions"]) == 3, 10, "3 partitions in metadata")
    meta = send_all(producer(env), topic, [dict(value=b"p2", partition=2)])[0]
    check_eq((meta.partition, meta.offset), (2, 0), "produce to a new partition")


def admin_describe_configs(env: Env) -> None:
    topic = create_topic(env, "describe", configs={"retention.ms": "123456", "cleanup.policy": "compact"})
    adm = admin(env)
    configs = topic_config(adm, topic)
    check_eq(configs.get("retention.ms"), "123456", "retention.ms override")
    check_eq(configs.get("cleanup.policy"), "compact", "cleanup.policy override")
    check("max.message.bytes" in configs, f"default max.message.bytes missing: {sorted(configs)[:20]}")
    overrides = _find_resource(adm.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)]), topic)
    check({"retention.ms", "cleanup.policy"} <= set(overrides), f"modified-only filter: {sorted(overrides)}")


def admin_alter_configs(env: Env) -> None:
    topic = create_topic(env, "alter", configs={"retention.ms": "123456"})
    adm = admin(env)
    adm.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, {"retention.ms": "654321"})],
                      incremental=False)
    check_eq(topic_config(adm, topic).get("retention.ms"), "654321", "retention.ms after AlterConfigs")


def admin_incremental_alter_configs(env: Env) -> None:
    topic = create_topic(env, "incr", configs={"cleanup.policy": "compact"})
    adm = admin(env)
    adm.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                      {"retention.ms": ("SET", "777777"), "cleanup.policy": ("DELETE", None)})],
                      incremental=True)
    configs = topic_config(adm, topic)
    check_eq(configs.get("retention.ms"), "777777", "retention.ms after incremental SET")
    check_eq(configs.get("cleanup.policy"), "delete", "cleanup.policy after incremental DELETE (default)")


def admin_delete_records(env: Env) -> None:
    topic = create_topic(env, "delrec")
    tp = TopicPartition(topic, 0)
    send_all(producer(env), topic, [dict(value=f"d{i}".encode()) for i in range(10)])
    result = admin(env).delete_records({tp: 4})
    low = result[tp]
    low = low.get("low_watermark") if isinstance(low, dict) else getattr(low, "low_watermark", low)
    check_eq(low, 4, "low watermark returned by delete_records")
    cons = consumer(env)
    check_eq(cons.beginning_offsets([tp])[tp], 4, "beginning offset after delete_records")
    cons.assign([tp])
    cons.seek_to_beginning(tp)
    check_eq(poll_records(cons, 1)[0].value, b"d4", "first record after delete_records")


def admin_describe_cluster(env: Env) -> None:
    info = admin(env).describe_cluster()
    brokers = info.get("brokers") or []
    check(brokers, f"no brokers: {info!r}")
    host, port = env.bootstrap.rsplit(":", 1)
    check(any(b.get("port") == int(port) for b in brokers), f"bootstrap port not among brokers: {brokers!r}")
    check(info.get("controller_id") in {b.get("broker_id", b.get("node_id")) for b in brokers},
          f"controller not a broker: {info!r}")
    check(info.get("cluster_id"), f"empty cluster id: {info!r}")


# ---------------------------------------------------------------- errors


def sasl_config(env: Env, mechanism: str, password: str | None = None) -> dict:
    return dict(security_protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism, sasl_plain_username=env.sasl_user,
                sasl_plain_password=env.sasl_password if password is None else password)


def sasl(env: Env) -> None:
    for mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        auth = sasl_config(env, mechanism)
        topic = create_topic(env, f"sasl-{mechanism.lower()}", bootstrap=env.sasl_bootstrap, **auth)
        send_all(producer(env, bootstrap=env.sasl_bootstrap, **auth), topic, [dict(value=mechanism.encode())])
        reader = consumer(env, bootstrap=env.sasl_bootstrap, **auth)
        reader.assign([TopicPartition(topic, 0)])
        check_eq(values(poll_records(reader, 1)), [mechanism.encode()],
                 f"record produced and consumed over {mechanism}")
    for mechanism in ("PLAIN", "SCRAM-SHA-256"):
        with CapturedLogs() as logs:  # kafka-python logs the broker's answer, then fails to bootstrap
            wrong = sasl_config(env, mechanism, "wrong")
            expect_error(lambda: admin(env, env.sasl_bootstrap, bootstrap_timeout_ms=3000, **wrong),
                         (Errors.KafkaError,), f"{mechanism} login with a wrong password")
        check(logs.mention("SaslAuthenticationFailed") or logs.mention("Authentication failed"),
              f"no SASL_AUTHENTICATION_FAILED in kafka-python's log for {mechanism}: {logs.messages[-3:]}")


def error_unknown_topic(env: Env) -> None:
    missing = unique("missing")
    prod = producer(env, bootstrap=env.strict_bootstrap, max_block_ms=3000)
    expect_error(lambda: prod.send(missing, value=b"x").get(timeout=10),
                 (Errors.KafkaTimeoutError, Errors.UnknownTopicOrPartitionError), "send to a missing topic")
    adm = admin(env, env.strict_bootstrap)
    described = adm.describe_topics([missing])  # errors come back in the answer, not raised
    check_eq([Errors.for_code(t["error_code"]) for t in described], [Errors.UnknownTopicOrPartitionError],
             "metadata error for the missing topic")
    check(missing not in adm.list_topics(), "the topic was auto-created despite --no-auto-create-topics")


def error_topic_exists(env: Env) -> None:
    topic = create_topic(env, "exists")
    expect_error(lambda: admin(env).create_topics({topic: {"num_partitions": 1, "replication_factor": 1}}),
                 (Errors.TopicAlreadyExistsError,), "second create_topics")


def _too_large(env: Env, topic: str, size: int, bootstrap: str) -> None:
    prod = producer(env, bootstrap=bootstrap, enable_idempotence=False, retries=0)
    send_all(prod, topic, [dict(value=b"small")])
    big = os.urandom(size)
    expect_error(lambda: prod.send(topic, value=big).get(timeout=10), (Errors.MessageSizeTooLargeError,),
                 f"send of a {size}-byte record")


def error_message_too_large_topic(env: Env) -> None:
    topic = create_topic(env, "too-large", configs={"max.message.bytes": "10000"})
    _too_large(env, topic, 20_000, env.bootstrap)


def error_message_too_large_broker(env: Env) -> None:
    topic = create_topic(env, "too-large-broker", bootstrap=env.strict_bootstrap)
    _too_large(env, topic, env.broker_max_bytes + 50_000, env.strict_bootstrap)


def error_compacted_keyless(env: Env) -> None:
    topic = create_topic(env, "compacted", configs={"cleanup.policy": "compact"})
    prod = producer(env, enable_idempotence=False, retries=0)
    send_all(prod, topic, [dict(key=b"k", value=b"keyed")])
    expect_error(lambda: prod.send(topic, value=b"keyless").get(timeout=10), (Errors.InvalidRecordError,),
                 "send of a keyless record to a compacted topic")


def error_offset_out_of_range(env: Env) -> None:
    topic = create_topic(env, "oor")
    send_all(producer(env), topic, [dict(value=b"x") for _ in range(3)])
    tp = TopicPartition(topic, 0)
    cons = consumer(env, auto_offset_reset="none")
    cons.assign([tp])
    cons.seek(tp, 50)

    def poll_past_end() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cons.poll(timeout_ms=200)
    expect_error(poll_past_end, (Errors.OffsetOutOfRangeError,), "poll at offset 50 of a 3-record log")


if __name__ == "__main__":
    scenario_functions = {name: globals()[name] for name, _ in load_scenarios() if name in globals()}
    sys.exit(run_scenarios("kafka-python", dist_version("kafka-python"), scenario_functions))
