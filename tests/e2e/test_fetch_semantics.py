"""Fetch semantics no client library exposes directly, checked on the wire."""

from __future__ import annotations

import socket
import time
import threading

from kafkaish.wire.codec import ClientCodec
from kafkaish.wire.messages.fetch import FetchRequest
from kafkaish.wire.messages.metadata import MetadataRequest
from kafkaish.wire.records import build_batch, iter_batches

PARTS = 2


class Conn:
    def __init__(self, bootstrap: str, timeout: float = 10) -> None:
        host, port = bootstrap.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.codec = ClientCodec()

    def send(self, msg, version: int) -> None:  # type: ignore[no-untyped-def]
        self.sock.sendall(self.codec.encode_request(msg, version)[1])

    def recv(self):  # type: ignore[no-untyped-def]
        while (got := self.codec.next_response()) is None:
            chunk = self.sock.recv(1 << 20)
            assert chunk, "connection closed"
            self.codec.receive_data(chunk)
        return got[1]

    def call(self, msg, version: int):  # type: ignore[no-untyped-def]
        self.send(msg, version)
        return self.recv()


def fetch_req(topic: str, offsets: dict[int, int], *, max_wait: int = 0, min_bytes: int = 1,
              max_bytes: int = 1 << 20, part_max: int = 1 << 20) -> FetchRequest:
    return FetchRequest(
        replica_id=-1, max_wait_ms=max_wait, min_bytes=min_bytes, max_bytes=max_bytes, isolation_level=0,
        session_id=0, session_epoch=-1,
        topics=[FetchRequest.FetchTopic(topic=topic, partitions=[
            FetchRequest.FetchPartition(partition=p, fetch_offset=o, partition_max_bytes=part_max,
                                        current_leader_epoch=-1, log_start_offset=-1)
            for p, o in offsets.items()])])


def setup_topic(broker, topic: str, batches_per_part: int, value_size: int) -> None:  # type: ignore[no-untyped-def]
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, PARTS, 1)])[topic].result(30)

    def fill() -> None:
        for p in range(PARTS):
            log = broker.broker.storage.log(topic, p)
            for i in range(batches_per_part):
                log.append(build_batch([(b"k", b"v" * value_size)], timestamp_ms=1000 + i), now_ms=2000)

    broker.call(fill)


def batch_count(records: bytes) -> int:
    return sum(1 for _ in iter_batches(records))


def test_long_poll_is_woken_by_produce_not_by_its_timeout(broker, topic_name):
    setup_topic(broker, topic_name, 0, 0)
    conn = Conn(broker.bootstrap, timeout=15)
    conn.send(fetch_req(topic_name, {0: 0}, max_wait=120_000), 12)  # would park two minutes
    from confluent_kafka import Producer

    def produce_later() -> None:
        p = Producer({"bootstrap.servers": broker.bootstrap})
        p.produce(topic_name, b"wake", partition=0)
        p.flush(10)

    threading.Timer(0.3, produce_later).start()
    resp = conn.recv()  # socket timeout 15 s: fails unless the produce woke the fetch
    part = resp.responses[0].partitions[0]
    assert part.error_code == 0 and batch_count(part.records) == 1


def test_min_bytes_not_reached_returns_what_there_is_at_max_wait(broker, topic_name):
    setup_topic(broker, topic_name, 1, 10)
    conn = Conn(broker.bootstrap)
    resp = conn.call(fetch_req(topic_name, {0: 0}, max_wait=200, min_bytes=10_000_000), 12)
    assert batch_count(resp.responses[0].partitions[0].records) == 1


def test_first_partition_gets_a_whole_batch_even_over_the_limits(broker, topic_name):
    """KIP-74: at least one batch of the first partition with data, whatever the limits."""
    setup_topic(broker, topic_name, 3, 1000)
    conn = Conn(broker.bootstrap)
    resp = conn.call(fetch_req(topic_name, {0: 0, 1: 0}, max_bytes=10, part_max=10), 12)
    p0, p1 = resp.responses[0].partitions
    assert batch_count(p0.records) == 1  # over both limits, still one whole batch
    assert p1.records == b"" and p1.error_code == 0  # the budget is spent


def test_partition_max_bytes_and_max_bytes_share_the_budget(broker, topic_name):
    setup_topic(broker, topic_name, 5, 1000)  # batches of ~1.1 KB
    conn = Conn(broker.bootstrap)
    resp = conn.call(fetch_req(topic_name, {0: 0, 1: 0}, max_bytes=3500, part_max=2500), 12)
    p0, p1 = resp.responses[0].partitions
    assert batch_count(p0.records) == 2  # partition limit
    assert 1 <= batch_count(p1.records) <= 2 and len(p0.records) + len(p1.records) <= 3500


def test_fetch_inside_a_batch_returns_the_whole_batch(broker, topic_name):
    setup_topic(broker, topic_name, 0, 0)
    now = int(time.time() * 1000)
    broker.call(lambda: broker.broker.storage.log(topic_name, 0).append(
        build_batch([(b"a", b"1"), (b"b", b"2"), (b"c", b"3")], timestamp_ms=now), now_ms=now))
    conn = Conn(broker.bootstrap)
    records = conn.call(fetch_req(topic_name, {0: 1}), 12).responses[0].partitions[0].records
    ((_, header),) = list(iter_batches(records))
    assert (header.base_offset, header.last_offset) == (0, 2)  # the client skips offset 0 itself


def test_fetch_v13_addresses_topics_by_id(broker, topic_name):
    setup_topic(broker, topic_name, 1, 5)
    conn = Conn(broker.bootstrap)
    md = conn.call(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic_name)]), 12)
    topic_id = md.topics[0].topic_id
    req = fetch_req(topic_name, {0: 0})
    req.topics[0].topic_id = topic_id
    resp = conn.call(req, 13)
    assert resp.responses[0].topic_id == topic_id and batch_count(resp.responses[0].partitions[0].records) == 1
    import uuid

    req.topics[0].topic_id = uuid.uuid4()
    assert conn.call(req, 13).responses[0].partitions[0].error_code == 100  # UNKNOWN_TOPIC_ID
