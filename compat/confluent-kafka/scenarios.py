"""The compat scenarios (compat/scenarios.txt) driven with confluent-kafka (librdkafka).

librdkafka does its network I/O on its own threads; every call here passes a
timeout, so the harness' alarm-based time limit can always interrupt a scenario.
Group members poll in their own threads (GroupMember). Note librdkafka's consumer
default ``isolation.level=read_committed``: readers here always set it explicitly.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from importlib.metadata import version as dist_version

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import confluent_kafka  # noqa: E402
from confluent_kafka import (Consumer, ConsumerGroupTopicPartitions, ConsumerGroupType, KafkaError,  # noqa: E402
                             KafkaException, Producer, TopicPartition)
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,  # noqa: E402
                                   NewPartitions, NewTopic, ResourceType)

from cluster_chaos import PARTITIONS, TOPIC_CONFIG, chaos_while, check_exactly_once  # noqa: E402
from harness import (ChildMember, Env, Failed, check, check_eq, check_idempotent_batches,  # noqa: E402
                     check_stored_codec, load_scenarios, run_scenarios, unique, wait_until)

OP_TIMEOUT = 10.0

# ---------------------------------------------------------------- helpers


def admin(env: Env, bootstrap: str | None = None, **config) -> AdminClient:
    client = AdminClient({"bootstrap.servers": bootstrap or env.bootstrap, "client.id": "compat-admin", **config})
    # A collected AdminClient destroys its handle and fails its pending futures (_DESTROY):
    # the deferred no-op keeps it alive until the scenario ends.
    env.defer(lambda: client)
    return client


def producer(env: Env, bootstrap: str | None = None, **config) -> Producer:
    conf = {"bootstrap.servers": bootstrap or env.bootstrap, "linger.ms": 5, "message.timeout.ms": 10000}
    conf.update(config)
    prod = Producer(conf)
    env.defer(lambda: prod.flush(5))
    return prod


def consumer(env: Env, bootstrap: str | None = None, **config) -> Consumer:
    conf = {"bootstrap.servers": bootstrap or env.bootstrap, "group.id": unique("reader"),
            "auto.offset.reset": "earliest", "enable.auto.commit": False,
            "isolation.level": "read_uncommitted", "enable.partition.eof": False}
    conf.update(config)
    cons = Consumer(conf)
    env.defer(cons.close)
    return cons


def wait_future(future, what: str):
    try:
        return future.result(timeout=OP_TIMEOUT)
    except KafkaException as exc:
        raise Failed(f"{what}: {exc.args[0]}") from exc


def create_topic(env: Env, prefix: str, partitions: int = 1, configs: dict | None = None,
                 bootstrap: str | None = None, replication_factor: int = 1, **client_config) -> str:
    name = unique(prefix)
    futures = admin(env, bootstrap, **client_config).create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=replication_factor, config=configs or {})],
        operation_timeout=OP_TIMEOUT)
    wait_future(futures[name], f"create topic {name}")
    return name


class Delivery:
    """Collects delivery reports of one batch of produce() calls."""

    def __init__(self) -> None:
        self.reports: list[tuple[KafkaError | None, object]] = []

    def __call__(self, err, msg) -> None:
        self.reports.append((err, msg))


def send_all(prod: Producer, topic: str, records: list[dict]) -> list:
    """Produce records (dicts of produce() kwargs), flush, return the delivered messages in order."""
    delivery = Delivery()
    for rec in records:
        prod.produce(topic, on_delivery=delivery, **rec)
    remaining = prod.flush(OP_TIMEOUT)
    check_eq(remaining, 0, "messages still queued after flush")
    errors = [err for err, _ in delivery.reports if err is not None]
    if errors:
        raise Failed(f"delivery failed: {errors[0]}")
    return [msg for _, msg in delivery.reports]


def send_one_error(prod: Producer, topic: str, **record) -> KafkaError:
    """Produce one record that must fail; return its delivery error."""
    delivery = Delivery()
    prod.produce(topic, on_delivery=delivery, **record)
    prod.flush(OP_TIMEOUT)
    check(delivery.reports, "no delivery report")
    err, _ = delivery.reports[0]
    check(err is not None, "the record was delivered")
    return err


def poll_records(cons: Consumer, count: int, timeout: float = 10.0) -> list:
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        if time.monotonic() > deadline:
            raise Failed(f"expected {count} records, got {len(got)} within {timeout:.0f}s")
        for msg in cons.consume(num_messages=count - len(got), timeout=0.2):
            if msg.error():
                raise Failed(f"consume error: {msg.error()}")
            got.append(msg)
    return got


def poll_quiet(cons: Consumer, seconds: float) -> list:
    got: list = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for msg in cons.consume(num_messages=100, timeout=0.1):
            if msg.error():
                raise Failed(f"consume error: {msg.error()}")
            got.append(msg)
    return got


def assigned_reader(env: Env, topic: str, partitions: int = 1, isolation: str = "read_uncommitted") -> Consumer:
    cons = consumer(env, **{"isolation.level": isolation})
    cons.assign([TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING) for p in range(partitions)])
    return cons


def values(msgs) -> list[bytes]:
    return [m.value() for m in msgs]


class GroupMember:
    """A subscribed consumer polling in its own thread and committing after every message."""

    def __init__(self, env: Env, group: str, topic: str, name: str, instance_id: str | None = None,
                 protocol: str = "classic"):
        self.name = name
        self.records: list = []
        self.error: str | None = None
        self.assign_events = 0  # rebalances this member went through
        self._stop = threading.Event()
        self._lock = threading.Lock()
        conf = {"bootstrap.servers": env.bootstrap, "group.id": group, "client.id": name,
                "auto.offset.reset": "earliest", "enable.auto.commit": False,
                "session.timeout.ms": 10000, "heartbeat.interval.ms": 200}
        if instance_id:
            conf["group.instance.id"] = instance_id
        if protocol == "consumer":  # KIP-848: the broker owns timeouts and assignment
            del conf["session.timeout.ms"], conf["heartbeat.interval.ms"]
            conf["group.protocol"] = "consumer"
        self.consumer = Consumer(conf)
        self._assigned: set[int] = set()
        # Assignment is tracked from the rebalance callbacks, which run in the member's own
        # poll() thread: Consumer.assignment() called from another thread can block.
        self.consumer.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        env.defer(self.stop)

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self.consumer.poll(0.1)
            if msg is None:
                continue
            if msg.error():
                self.error = str(msg.error())
                continue
            self.consumer.commit(message=msg, asynchronous=False)  # before it counts as received
            with self._lock:
                self.records.append(msg)

    # Eager rebalances hand over the whole assignment, incremental ones (KIP-848) only
    # the change: adding and removing what each callback names covers both.
    def _on_assign(self, consumer: Consumer, partitions: list) -> None:
        with self._lock:
            self._assigned |= {tp.partition for tp in partitions}
            self.assign_events += 1

    def _on_revoke(self, consumer: Consumer, partitions: list) -> None:
        with self._lock:
            self._assigned -= {tp.partition for tp in partitions}

    def assignment(self) -> set[int]:
        """The partitions owned now; raises if the member saw a consumer error."""
        self.check()
        with self._lock:
            return set(self._assigned)

    def received(self) -> list:
        self.check()
        with self._lock:
            return list(self.records)

    def check(self) -> None:
        if self.error is not None:
            raise Failed(f"{self.name} error: {self.error}")

    def stop(self) -> None:
        if self._closed:
            return
        self._stop.set()
        self._thread.join(10)
        self.consumer.close()
        self._closed = True


def topic_configs(env: Env, topic: str) -> dict[str, ConfigEntry]:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    futures = admin(env).describe_configs([resource], request_timeout=OP_TIMEOUT)
    return wait_future(next(iter(futures.values())), "describe_configs")


def expect_kafka_error(fn, codes: set[int], what: str) -> KafkaError:
    try:
        fn()
    except KafkaException as exc:
        err = exc.args[0]
        check(err.code() in codes, f"{what}: expected {sorted(codes)}, got {err}")
        return err
    raise Failed(f"{what}: succeeded, expected an error")


# ---------------------------------------------------------------- produce / consume


def roundtrip(env: Env) -> None:
    topic = create_topic(env, "roundtrip", partitions=3)
    base_ts = int(time.time() * 1000) - 60_000
    sent = [dict(key=f"k{i}".encode(), value=f"v{i}".encode(), partition=i % 3,
                 headers=[("h1", f"x{i}".encode()), ("h2", b"")], timestamp=base_ts + i) for i in range(9)]
    delivered = send_all(producer(env), topic, sent)
    check_eq(sorted((m.partition(), m.offset()) for m in delivered),
             sorted((p, o) for p in range(3) for o in range(3)), "partition/offset of sent records")
    got = poll_records(assigned_reader(env, topic, 3), 9)
    seen = sorted((m.partition(), m.offset(), m.key(), m.value(), list(m.headers() or []), m.timestamp()[1])
                  for m in got)
    by_key = {m.key(): m for m in delivered}
    want = sorted((by_key[s["key"]].partition(), by_key[s["key"]].offset(), s["key"], s["value"],
                   s["headers"], s["timestamp"]) for s in sent)
    check_eq(seen, want, "consumed records")


def key_partitioning(env: Env) -> None:
    topic = create_topic(env, "keys", partitions=4)
    keys = [f"key-{i}".encode() for i in range(6)]
    first = send_all(producer(env), topic, [dict(key=k, value=b"a") for k in keys for _ in range(3)])
    second = send_all(producer(env), topic, [dict(key=k, value=b"b") for k in keys])
    placement: dict[bytes, set[int]] = {}
    for msg in first + second:
        placement.setdefault(msg.key(), set()).add(msg.partition())
    unstable = {k: p for k, p in placement.items() if len(p) != 1}
    check(not unstable, f"keys spread over several partitions: {unstable}")
    for msg in poll_records(assigned_reader(env, topic, 4), len(keys) * 4):
        check_eq({msg.partition()}, placement[msg.key()], f"partition of consumed key {msg.key()!r}")


def acks_zero(env: Env) -> None:
    topic = create_topic(env, "acks0")
    prod = producer(env, acks=0)
    for chunk in range(2):  # two flushes, two Produce requests on one connection, no responses
        send_all(prod, topic, [dict(value=f"z{chunk * 5 + i}".encode()) for i in range(5)])
    check_eq(values(poll_records(assigned_reader(env, topic), 10)), [f"z{i}".encode() for i in range(10)],
             "records produced with acks=0")


def log_append_time(env: Env) -> None:
    topic = create_topic(env, "logtime", configs={"message.timestamp.type": "LogAppendTime"})
    old = int(time.time() * 1000) - 3_600_000
    before = int(time.time() * 1000)
    send_all(producer(env), topic, [dict(value=b"t", timestamp=old) for _ in range(3)])
    after = int(time.time() * 1000)
    for msg in poll_records(assigned_reader(env, topic), 3):
        kind, stamp = msg.timestamp()
        check_eq(kind, confluent_kafka.TIMESTAMP_LOG_APPEND_TIME, "timestamp type")
        check(before - 1000 <= stamp <= after + 1000,
              f"timestamp {stamp} is not the broker's append time (sent {old}, window {before}..{after})")


def bulk_fetch(env: Env) -> None:
    topic = create_topic(env, "bulk", partitions=3)
    payload = os.urandom(1000)
    send_all(producer(env, **{"linger.ms": 20}), topic, [dict(value=payload, partition=i % 3) for i in range(3000)])
    reader = consumer(env, **{"max.partition.fetch.bytes": 65536})
    reader.assign([TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING) for p in range(3)])
    got = poll_records(reader, 3000, timeout=20)

    by_partition: dict[int, list[int]] = {}
    for rec in got:
        by_partition.setdefault(rec.partition(), []).append(rec.offset())
    check_eq({p: len(offs) for p, offs in by_partition.items()}, {0: 1000, 1: 1000, 2: 1000}, "records per partition")
    for p, offs in by_partition.items():
        check_eq(offs, list(range(1000)), f"offsets of partition {p} (in order, no gap, no duplicate)")


def _compression(env: Env, codec: str) -> None:
    topic = create_topic(env, f"codec-{codec}")
    payloads = [(f"record {i} " * 20).encode() for i in range(50)]
    send_all(producer(env, **{"compression.type": codec, "linger.ms": 50}), topic,
             [dict(value=v, key=str(i).encode()) for i, v in enumerate(payloads)])
    check_eq(values(poll_records(assigned_reader(env, topic), len(payloads))), payloads, f"{codec} round trip")
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
    send_all(producer(env), topic, [dict(value=f"p{p}".encode(), partition=p) for p in range(4)])
    wait_until(lambda: len(a.received()) + len(b.received()) == 4, 10, "both members to receive their records")
    check_eq({m.partition() for m in a.received()}, a.assignment(), "partitions member-a received from")


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
    check_eq(sorted(values(a.received()[before:])), sorted(f"new-{p}-{i}".encode() for p in range(2) for i in range(5)),
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
    topic = create_topic(env, "kip848", partitions=4)
    group = unique("g-kip848")
    a = GroupMember(env, group, topic, "member-a", protocol="consumer")
    wait_until(lambda: a.assignment() == {0, 1, 2, 3}, 15, "the first member to own 4 partitions")
    b = GroupMember(env, group, topic, "member-b", protocol="consumer")

    def split() -> bool:
        pa, pb = a.assignment(), b.assignment()
        return len(pa) == 2 and len(pb) == 2 and pa | pb == {0, 1, 2, 3}
    wait_until(split, 20, "the two members to split 4 partitions 2/2")
    send_all(producer(env), topic, [dict(value=f"p{p}".encode(), partition=p) for p in range(4)])
    wait_until(lambda: len(a.received()) + len(b.received()) == 4, 10, "both members to receive their records")
    desc = wait_future(admin(env).describe_consumer_groups([group], request_timeout=OP_TIMEOUT)[group],
                       "describe_consumer_groups")
    check_eq(desc.type, ConsumerGroupType.CONSUMER, "described group type")
    check_eq(len(desc.members), 2, "described member count")
    b.stop()
    wait_until(lambda: a.assignment() == {0, 1, 2, 3}, 20, "the survivor to own all 4 partitions again")


def group_resume(env: Env) -> None:
    topic = create_topic(env, "resume")
    group = unique("g-resume")
    send_all(producer(env), topic, [dict(value=f"m{i}".encode()) for i in range(10)])
    first = consumer(env, **{"group.id": group})
    first.subscribe([topic])
    poll_records(first, 10)
    first.commit(offsets=[TopicPartition(topic, 0, 6)], asynchronous=False)
    check_eq(first.committed([TopicPartition(topic, 0)], timeout=OP_TIMEOUT)[0].offset, 6, "committed offset read back")
    first.close()
    second = consumer(env, **{"group.id": group})
    second.subscribe([topic])
    check_eq([m.offset() for m in poll_records(second, 4)], [6, 7, 8, 9], "offsets the second consumer resumed with")


def group_offsets_admin(env: Env) -> None:
    topic = create_topic(env, "goffsets")
    group = unique("g-offsets")
    send_all(producer(env), topic, [dict(value=f"m{i}".encode()) for i in range(6)])
    adm = admin(env)
    request = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 3)])]
    altered = wait_future(adm.alter_consumer_group_offsets(request, request_timeout=OP_TIMEOUT)[group],
                          "alter_consumer_group_offsets")
    check_eq([(tp.partition, tp.offset, tp.error) for tp in altered.topic_partitions], [(0, 3, None)],
             "alter_consumer_group_offsets result")
    listed = wait_future(adm.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                                         request_timeout=OP_TIMEOUT)[group], "list offsets")
    check_eq([(tp.partition, tp.offset) for tp in listed.topic_partitions], [(0, 3)], "offsets listed after the alter")
    member = consumer(env, **{"group.id": group})
    member.subscribe([topic])
    check_eq([m.offset() for m in poll_records(member, 3)], [3, 4, 5], "offsets a new member resumed with")
    member.close()
    wait_future(adm.delete_consumer_groups([group], request_timeout=OP_TIMEOUT)[group], "delete_consumer_groups")
    groups = wait_future(adm.list_consumer_groups(request_timeout=OP_TIMEOUT), "list_consumer_groups")
    check(group not in {g.group_id for g in groups.valid}, "the deleted group is still listed")


def group_admin(env: Env) -> None:
    topic = create_topic(env, "gadmin", partitions=2)
    group = unique("g-admin")
    send_all(producer(env), topic, [dict(value=b"x", partition=p) for p in range(2)])
    member = GroupMember(env, group, topic, "admin-member")
    wait_until(lambda: len(member.received()) == 2, 15, "the member to consume 2 records")
    adm = admin(env)

    def listed():
        result = wait_future(adm.list_consumer_groups(request_timeout=OP_TIMEOUT), "list_consumer_groups")
        return [g for g in result.valid if g.group_id == group]
    listing = wait_until(listed, 10, "the group in list_consumer_groups")[0]
    check(not listing.is_simple_consumer_group, "listed as a simple consumer group")
    desc = wait_future(adm.describe_consumer_groups([group], request_timeout=OP_TIMEOUT)[group],
                       "describe_consumer_groups")
    check_eq(desc.state.name, "STABLE", "described group state")
    check_eq(len(desc.members), 1, "described member count")
    check_eq(desc.members[0].client_id, "admin-member", "described member client id")
    assigned = {(tp.topic, tp.partition) for tp in desc.members[0].assignment.topic_partitions}
    check_eq(assigned, {(topic, 0), (topic, 1)}, "described member assignment")
    futures = adm.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=OP_TIMEOUT)
    offsets = wait_future(futures[group], "list_consumer_group_offsets")
    check_eq({tp.partition: tp.offset for tp in offsets.topic_partitions if tp.topic == topic}, {0: 1, 1: 1},
             "committed offsets listed by the admin")


# ---------------------------------------------------------------- replay


def replay_seek(env: Env) -> None:
    topic = create_topic(env, "seek")
    send_all(producer(env), topic, [dict(value=f"m{i}".encode()) for i in range(10)])
    cons = consumer(env)
    cons.assign([TopicPartition(topic, 0, 4)])
    check_eq([m.offset() for m in poll_records(cons, 6)], list(range(4, 10)), "offsets after assign at 4")
    cons.seek(TopicPartition(topic, 0, 7))
    check_eq(values(poll_records(cons, 3)), [b"m7", b"m8", b"m9"], "values after seek(7)")
    cons.seek(TopicPartition(topic, 0, confluent_kafka.OFFSET_BEGINNING))
    check_eq(poll_records(cons, 1)[0].offset(), 0, "first offset after seeking to the beginning")


def replay_offsets(env: Env) -> None:
    topic = create_topic(env, "offsets")
    tp = TopicPartition(topic, 0)
    cons = consumer(env)
    check_eq(cons.get_watermark_offsets(tp, timeout=OP_TIMEOUT, cached=False), (0, 0), "watermarks of an empty topic")
    send_all(producer(env), topic, [dict(value=b"x") for _ in range(7)])
    check_eq(cons.get_watermark_offsets(tp, timeout=OP_TIMEOUT, cached=False), (0, 7), "watermarks after 7 records")
    cons.assign([TopicPartition(topic, 0, confluent_kafka.OFFSET_END)])
    send_all(producer(env), topic, [dict(value=b"after-end")])
    check_eq(values(poll_records(cons, 1)), [b"after-end"], "first record read from the end offset")


def replay_offsets_for_times(env: Env) -> None:
    topic = create_topic(env, "times")
    base = int(time.time() * 1000) - 100_000
    send_all(producer(env), topic, [dict(value=f"t{i}".encode(), timestamp=base + i * 1000) for i in range(5)])
    cons = consumer(env)

    def lookup(ts: int) -> int:
        return cons.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=OP_TIMEOUT)[0].offset
    check_eq(lookup(base + 1500), 2, "offset for base+1500")
    check_eq(lookup(base - 5000), 0, "offset for a timestamp before the first record")
    check_eq(lookup(base + 60_000), -1, "offset for a timestamp after the last record (none: -1)")
    cons.assign([TopicPartition(topic, 0, lookup(base + 3000))])
    check_eq(values(poll_records(cons, 2)), [b"t3", b"t4"], "records read from the looked-up offset")


# ---------------------------------------------------------------- idempotence and transactions


def idempotent_producer(env: Env) -> None:
    topic = create_topic(env, "idempotent")
    stats: list[dict] = []
    prod = producer(env, **{"enable.idempotence": True, "statistics.interval.ms": 100,
                            "stats_cb": lambda s: stats.append(json.loads(s))})
    delivered = send_all(prod, topic, [dict(value=f"i{i}".encode()) for i in range(30)])
    check_eq([m.offset() for m in delivered], list(range(30)), "offsets of idempotent sends")
    eos = wait_until(lambda: (prod.poll(0.1), [s["eos"] for s in stats if "eos" in s])[1], 5, "producer statistics")[-1]
    check_eq(eos.get("idemp_state"), "Assigned", "idempotence state")
    check(eos.get("producer_id", -1) >= 0, f"no producer id assigned: {eos}")
    check_eq(values(poll_records(assigned_reader(env, topic), 30)), [f"i{i}".encode() for i in range(30)],
             "records written exactly once, in order")
    check_idempotent_batches(env, topic)


def txn_producer(env: Env, txn_id: str | None = None) -> Producer:
    prod = producer(env, **{"transactional.id": txn_id or unique("txn")})
    prod.init_transactions(OP_TIMEOUT)
    return prod


def txn_commit(env: Env) -> None:
    topic = create_topic(env, "txn-commit")
    prod = txn_producer(env)
    prod.begin_transaction()
    send_all(prod, topic, [dict(value=f"c{i}".encode()) for i in range(5)])
    prod.commit_transaction(OP_TIMEOUT)
    reader = assigned_reader(env, topic, isolation="read_committed")
    check_eq(values(poll_records(reader, 5)), [f"c{i}".encode() for i in range(5)], "committed records")
    check_eq(reader.get_watermark_offsets(TopicPartition(topic, 0), timeout=OP_TIMEOUT, cached=False)[1], 6,
             "end offset: 5 records + the COMMIT marker")


def txn_abort(env: Env) -> None:
    topic = create_topic(env, "txn-abort")
    prod = txn_producer(env)
    prod.begin_transaction()
    send_all(prod, topic, [dict(value=b"aborted") for _ in range(5)])
    prod.abort_transaction(OP_TIMEOUT)
    prod.begin_transaction()
    send_all(prod, topic, [dict(value=b"kept") for _ in range(2)])
    prod.commit_transaction(OP_TIMEOUT)
    reader = assigned_reader(env, topic, isolation="read_committed")
    check_eq(values(poll_records(reader, 2) + poll_quiet(reader, 1.0)), [b"kept", b"kept"],
             "records a read_committed consumer got")


def txn_isolation(env: Env) -> None:
    topic = create_topic(env, "txn-iso")
    prod = txn_producer(env)
    prod.begin_transaction()
    send_all(prod, topic, [dict(value=b"aborted") for _ in range(3)])
    prod.abort_transaction(OP_TIMEOUT)
    prod.begin_transaction()
    send_all(prod, topic, [dict(value=b"committed") for _ in range(2)])
    prod.commit_transaction(OP_TIMEOUT)
    uncommitted = assigned_reader(env, topic, isolation="read_uncommitted")
    check_eq(values(poll_records(uncommitted, 5) + poll_quiet(uncommitted, 0.5)),
             [b"aborted"] * 3 + [b"committed"] * 2, "read_uncommitted records")
    committed = assigned_reader(env, topic, isolation="read_committed")
    check_eq(values(poll_records(committed, 2) + poll_quiet(committed, 0.5)), [b"committed"] * 2,
             "read_committed records")


def txn_open_blocks(env: Env) -> None:
    topic = create_topic(env, "txn-open")
    prod = txn_producer(env)
    prod.begin_transaction()
    send_all(prod, topic, [dict(value=f"open{i}".encode()) for i in range(3)])
    send_all(producer(env), topic, [dict(value=b"after")])
    committed = assigned_reader(env, topic, isolation="read_committed")
    check_eq(committed.get_watermark_offsets(TopicPartition(topic, 0), timeout=OP_TIMEOUT, cached=False)[1], 0,
             "read_committed end offset (last stable offset)")
    check_eq(values(poll_quiet(committed, 1.5)), [], "records visible to read_committed during the open txn")
    uncommitted = assigned_reader(env, topic, isolation="read_uncommitted")
    check_eq(values(poll_records(uncommitted, 4)), [b"open0", b"open1", b"open2", b"after"],
             "read_uncommitted records during the open txn")
    prod.commit_transaction(OP_TIMEOUT)
    check_eq(values(poll_records(committed, 4)), [b"open0", b"open1", b"open2", b"after"],
             "read_committed records after the commit")


def txn_timeout(env: Env) -> None:
    topic = create_topic(env, "txn-timeout")
    prod = producer(env, **{"transactional.id": unique("txn-timeout"), "transaction.timeout.ms": 2000,
                            "message.timeout.ms": 2000})
    prod.init_transactions(OP_TIMEOUT)
    prod.begin_transaction()
    send_all(prod, topic, [dict(value=b"abandoned") for _ in range(3)])
    send_all(producer(env), topic, [dict(value=b"after")])
    reader = assigned_reader(env, topic, isolation="read_committed")
    got = poll_records(reader, 1, timeout=20)  # only once the coordinator aborted the transaction
    check_eq(values(got + poll_quiet(reader, 0.5)), [b"after"], "read_committed records after the timeout")
    try:
        prod.commit_transaction(OP_TIMEOUT)
    except KafkaException:
        return
    raise Failed("commit of the timed-out transaction succeeded")


def txn_consume_transform_produce(env: Env) -> None:
    source = create_topic(env, "ctp-in")
    sink = create_topic(env, "ctp-out")
    group = unique("g-ctp")
    send_all(producer(env), source, [dict(value=f"word{i}".encode()) for i in range(5)])
    cons = consumer(env, **{"group.id": group, "isolation.level": "read_committed"})
    cons.subscribe([source])
    got = poll_records(cons, 5)
    prod = txn_producer(env)
    prod.begin_transaction()
    send_all(prod, sink, [dict(value=m.value().upper()) for m in got])
    prod.send_offsets_to_transaction([TopicPartition(source, 0, got[-1].offset() + 1)],
                                     cons.consumer_group_metadata(), OP_TIMEOUT)
    prod.commit_transaction(OP_TIMEOUT)
    reader = assigned_reader(env, sink, isolation="read_committed")
    check_eq(values(poll_records(reader, 5)), [f"WORD{i}".encode() for i in range(5)], "transformed records")
    committed = cons.committed([TopicPartition(source, 0)], timeout=OP_TIMEOUT)[0].offset
    check_eq(committed, 5, "group offset committed by the transaction")


def txn_fencing(env: Env) -> None:
    topic = create_topic(env, "txn-fence")
    txn_id = unique("txn-fenced")
    old = txn_producer(env, txn_id)
    old.begin_transaction()
    send_all(old, topic, [dict(value=b"zombie")])
    new = txn_producer(env, txn_id)  # bumps the epoch: aborts the old producer's transaction
    err = expect_kafka_error(lambda: old.commit_transaction(OP_TIMEOUT),
                             {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH},
                             "commit by the fenced producer")
    check(err.fatal() or err.code() != KafkaError._FENCED, f"fencing should be fatal: {err}")
    new.begin_transaction()
    send_all(new, topic, [dict(value=b"live")])
    new.commit_transaction(OP_TIMEOUT)
    reader = assigned_reader(env, topic, isolation="read_committed")
    check_eq(values(poll_records(reader, 1) + poll_quiet(reader, 0.5)), [b"live"], "records visible after fencing")


# ---------------------------------------------------------------- cluster


def cluster_failover(env: Env) -> None:
    plane = env.cluster()
    topic = create_topic(env, "cluster", PARTITIONS, TOPIC_CONFIG, env.cluster_bootstrap, replication_factor=3)
    acked: list[tuple[int, int, bytes]] = []
    consumed: list[tuple[int, int, bytes]] = []
    errors: list[str] = []
    done, flushed = threading.Event(), threading.Event()  # flushed: every send answered, ``acked`` final
    retry = {"retry.backoff.ms": 20, "reconnect.backoff.ms": 20, "reconnect.backoff.max.ms": 200,
             "topic.metadata.refresh.interval.ms": 1000}
    prod = producer(env, env.cluster_bootstrap, **{"enable.idempotence": True, "acks": "all", "linger.ms": 2,
                                                   "message.timeout.ms": 20000, **retry})
    cons = consumer(env, env.cluster_bootstrap, **{"group.id": topic, "enable.auto.commit": True,
                                                   "fetch.wait.max.ms": 100, **retry})
    cons.subscribe([topic])

    def delivered(err, msg) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            acked.append((msg.partition(), msg.offset(), msg.value()))

    def produce() -> None:
        i = 0
        while not done.is_set():
            prod.produce(topic, key=b"k%d" % (i % 7), value=b"v%d" % i, on_delivery=delivered)
            prod.poll(0)
            i += 1
            time.sleep(0.003)
        if prod.flush(20):
            errors.append("flush left records undelivered")
        flushed.set()

    def consume() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (flushed.is_set() and len(consumed) >= len(acked)):
            msg = cons.poll(0.1)
            if msg is not None and msg.error() is None:
                consumed.append((msg.partition(), msg.offset(), msg.value()))

    chaos_while(plane, topic, done, produce, consume)
    check(not errors, f"delivery failed: {errors[:3]}")
    check_exactly_once(acked, consumed)


# ---------------------------------------------------------------- admin


def _topic_names(adm: AdminClient) -> set[str]:
    return set(adm.list_topics(timeout=OP_TIMEOUT).topics)


def admin_topics(env: Env) -> None:
    adm = admin(env)
    one, three = unique("admin-a"), unique("admin-b")
    futures = adm.create_topics([NewTopic(one, 1, 1), NewTopic(three, 3, 1)], operation_timeout=OP_TIMEOUT)
    for name, fut in futures.items():
        wait_future(fut, f"create {name}")
    meta = adm.list_topics(timeout=OP_TIMEOUT).topics
    check({one, three} <= set(meta), "created topics missing from metadata")
    check_eq({t: len(meta[t].partitions) for t in (one, three)}, {one: 1, three: 3}, "partition counts")
    wait_future(adm.delete_topics([one], operation_timeout=OP_TIMEOUT)[one], f"delete {one}")
    wait_until(lambda: one not in _topic_names(adm), 10, "the deleted topic to leave the metadata")
    check(three in _topic_names(adm), "the other topic disappeared too")


def admin_topic_recreate(env: Env) -> None:
    topic = create_topic(env, "recreate")
    send_all(producer(env), topic, [dict(value=b"old") for _ in range(3)])
    adm = admin(env)
    wait_future(adm.delete_topics([topic], operation_timeout=OP_TIMEOUT)[topic], f"delete {topic}")
    wait_until(lambda: topic not in _topic_names(adm), 10, "the deleted topic to leave the metadata")
    wait_future(adm.create_topics([NewTopic(topic, 2, 1)], operation_timeout=OP_TIMEOUT)[topic], "create again")
    msg = send_all(producer(env), topic, [dict(value=b"new", partition=1)])[0]
    check_eq((msg.partition(), msg.offset()), (1, 0), "partition/offset of the first record after re-creation")
    reader = assigned_reader(env, topic, 2)
    check_eq(values(poll_records(reader, 1) + poll_quiet(reader, 0.5)), [b"new"], "records of the re-created topic")


def admin_create_partitions(env: Env) -> None:
    topic = create_topic(env, "parts")
    adm = admin(env)
    wait_future(adm.create_partitions([NewPartitions(topic, 3)], operation_timeout=OP_TIMEOUT)[topic],
                "create_partitions")
    wait_until(lambda: len(adm.list_topics(topic, timeout=OP_TIMEOUT).topics[topic].partitions) == 3, 10,
               "3 partitions in metadata")
    msg = send_all(producer(env), topic, [dict(value=b"p2", partition=2)])[0]
    check_eq((msg.partition(), msg.offset()), (2, 0), "produce to a new partition")


def admin_describe_configs(env: Env) -> None:
    topic = create_topic(env, "describe", configs={"retention.ms": "123456", "cleanup.policy": "compact"})
    configs = topic_configs(env, topic)
    check_eq(configs["retention.ms"].value, "123456", "retention.ms override")
    check(not configs["retention.ms"].is_default, "retention.ms override reported as default")
    check_eq(configs["cleanup.policy"].value, "compact", "cleanup.policy override")
    check("max.message.bytes" in configs, f"default max.message.bytes missing: {sorted(configs)[:20]}")


def admin_alter_configs(env: Env) -> None:
    topic = create_topic(env, "alter", configs={"retention.ms": "123456", "cleanup.policy": "compact"})
    resource = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.ms": "654321"})
    wait_future(next(iter(admin(env).alter_configs([resource], request_timeout=OP_TIMEOUT).values())),
                "alter_configs")
    configs = topic_configs(env, topic)
    check_eq(configs["retention.ms"].value, "654321", "retention.ms after AlterConfigs")
    # AlterConfigs replaces the whole set of overrides: cleanup.policy falls back to its default.
    check_eq(configs["cleanup.policy"].value, "delete", "cleanup.policy not in the new set (replace semantics)")


def admin_incremental_alter_configs(env: Env) -> None:
    topic = create_topic(env, "incr", configs={"cleanup.policy": "compact", "retention.ms": "123456"})
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "777777", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("cleanup.policy", None, incremental_operation=AlterConfigOpType.DELETE)])
    wait_future(next(iter(admin(env).incremental_alter_configs([resource], request_timeout=OP_TIMEOUT).values())),
                "incremental_alter_configs")
    configs = topic_configs(env, topic)
    check_eq(configs["retention.ms"].value, "777777", "retention.ms after incremental SET")
    check_eq(configs["cleanup.policy"].value, "delete", "cleanup.policy after incremental DELETE (default)")


def admin_delete_records(env: Env) -> None:
    topic = create_topic(env, "delrec")
    send_all(producer(env), topic, [dict(value=f"d{i}".encode()) for i in range(10)])
    futures = admin(env).delete_records([TopicPartition(topic, 0, 4)], request_timeout=OP_TIMEOUT)
    deleted = wait_future(next(iter(futures.values())), "delete_records")
    check_eq(deleted.low_watermark, 4, "low watermark returned by delete_records")
    reader = assigned_reader(env, topic)
    check_eq(reader.get_watermark_offsets(TopicPartition(topic, 0), timeout=OP_TIMEOUT, cached=False), (4, 10),
             "watermarks after delete_records")
    check_eq(values(poll_records(reader, 1)), [b"d4"], "first record after delete_records")


def admin_describe_cluster(env: Env) -> None:
    info = wait_future(admin(env).describe_cluster(request_timeout=OP_TIMEOUT), "describe_cluster")
    check(info.nodes, "no brokers")
    port = int(env.bootstrap.rsplit(":", 1)[1])
    check(any(n.port == port for n in info.nodes), f"bootstrap port not among brokers: {info.nodes}")
    check(info.controller is not None and info.controller.id in {n.id for n in info.nodes},
          f"controller not a broker: {info.controller}")
    check(info.cluster_id, "empty cluster id")


# ---------------------------------------------------------------- errors


def sasl_config(env: Env, mechanism: str, password: str | None = None) -> dict:
    return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": mechanism, "sasl.username": env.sasl_user,
            "sasl.password": env.sasl_password if password is None else password}


def sasl(env: Env) -> None:
    for mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        auth = sasl_config(env, mechanism)
        topic = create_topic(env, f"sasl-{mechanism.lower()}", bootstrap=env.sasl_bootstrap, **auth)
        send_all(producer(env, bootstrap=env.sasl_bootstrap, **auth), topic, [dict(value=mechanism.encode())])
        reader = consumer(env, bootstrap=env.sasl_bootstrap, **auth)
        reader.assign([TopicPartition(topic, 0, confluent_kafka.OFFSET_BEGINNING)])
        check_eq(values(poll_records(reader, 1)), [mechanism.encode()],
                 f"record produced and consumed over {mechanism}")
    for mechanism in ("PLAIN", "SCRAM-SHA-256"):
        errors: list[KafkaError] = []  # librdkafka reports the failed login through error_cb
        adm = admin(env, env.sasl_bootstrap, error_cb=errors.append, **sasl_config(env, mechanism, "wrong"))
        try:
            adm.list_topics(timeout=3)
        except KafkaException:
            pass
        else:
            raise Failed(f"{mechanism} login with a wrong password listed the topics")
        wait_until(lambda: adm.poll(0.1) is not None and any(e.code() == KafkaError._AUTHENTICATION for e in errors),
                   5, f"an authentication error for {mechanism} ({[e.str() for e in errors]})")


def error_unknown_topic(env: Env) -> None:
    missing = unique("missing")
    adm = admin(env, env.strict_bootstrap)
    meta = adm.list_topics(missing, timeout=OP_TIMEOUT).topics.get(missing)
    check(meta is not None and meta.error is not None, f"metadata for a missing topic has no error: {meta}")
    check_eq(meta.error.code(), KafkaError.UNKNOWN_TOPIC_OR_PART, "metadata error for the missing topic")
    prod = producer(env, bootstrap=env.strict_bootstrap, **{"topic.metadata.propagation.max.ms": 1000})
    err = send_one_error(prod, missing, value=b"x")
    check(err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC),
          f"delivery error for the missing topic: {err}")
    check(missing not in _topic_names(adm), "the topic was auto-created despite --no-auto-create-topics")


def error_topic_exists(env: Env) -> None:
    topic = create_topic(env, "exists")
    futures = admin(env).create_topics([NewTopic(topic, 1, 1)], operation_timeout=OP_TIMEOUT)
    expect_kafka_error(lambda: futures[topic].result(timeout=OP_TIMEOUT), {KafkaError.TOPIC_ALREADY_EXISTS},
                       "second create_topics")


def _too_large(env: Env, topic: str, size: int, bootstrap: str) -> None:
    prod = producer(env, bootstrap=bootstrap)
    send_all(prod, topic, [dict(value=b"small")])
    err = send_one_error(prod, topic, value=os.urandom(size))
    check_eq(err.code(), KafkaError.MSG_SIZE_TOO_LARGE, f"delivery error of a {size}-byte record ({err})")


def error_message_too_large_topic(env: Env) -> None:
    topic = create_topic(env, "too-large", configs={"max.message.bytes": "10000"})
    _too_large(env, topic, 20_000, env.bootstrap)


def error_message_too_large_broker(env: Env) -> None:
    topic = create_topic(env, "too-large-broker", bootstrap=env.strict_bootstrap)
    _too_large(env, topic, env.broker_max_bytes + 50_000, env.strict_bootstrap)


def error_compacted_keyless(env: Env) -> None:
    topic = create_topic(env, "compacted", configs={"cleanup.policy": "compact"})
    prod = producer(env)
    send_all(prod, topic, [dict(key=b"k", value=b"keyed")])
    err = send_one_error(prod, topic, value=b"keyless")
    check_eq(err.code(), KafkaError.INVALID_RECORD, f"delivery error of a keyless record ({err})")


def error_offset_out_of_range(env: Env) -> None:
    topic = create_topic(env, "oor")
    send_all(producer(env), topic, [dict(value=b"x") for _ in range(3)])
    cons = consumer(env, **{"auto.offset.reset": "error"})
    cons.assign([TopicPartition(topic, 0, 50)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        msg = cons.poll(0.2)
        if msg is None:
            continue
        check(msg.error() is not None, f"got a record at offset {msg.offset()} past the log end")
        check_eq(msg.error().code(), KafkaError._AUTO_OFFSET_RESET, f"consume error ({msg.error()})")
        check("out of range" in msg.error().str().lower(),
              f"error does not come from OFFSET_OUT_OF_RANGE: {msg.error()}")
        return
    raise Failed("no error within 10s for offset 50 of a 3-record log")


if __name__ == "__main__":
    scenario_functions = {name: globals()[name] for name, _ in load_scenarios() if name in globals()}
    version = f"{dist_version('confluent-kafka')} (librdkafka {confluent_kafka.libversion()[0]})"
    sys.exit(run_scenarios("confluent-kafka", version, scenario_functions))
