"""One regression test per bug found by a real client, named after the bug."""

from __future__ import annotations

import socket
import struct

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kafkaish.wire.codec import ClientCodec
from kafkaish.wire.messages.api_versions import ApiVersionsRequest
from kafkaish.wire.messages.metadata import MetadataResponse
from tests.e2e.test_connection import connect, roundtrip


def test_librdkafka_all_topics_metadata_v12_with_stray_bytes_is_answered(broker, topic_name):
    """compat F1: librdkafka's all-topics Metadata v9+ leaves 3 bytes after the body;
    Kafka ignores them, so must we (we used to close the connection)."""
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic_name, 1, 1)])[topic_name].result(30)
    assert topic_name in admin.list_topics(timeout=10).topics
    # the exact bytes librdkafka sends: null topics, two false flags, no tags, then 01 00 00
    body = bytes.fromhex("00000000010000")
    header = struct.pack(">hhih", 3, 12, 5, 7) + b"rdkafka" + b"\x00"
    host, port = broker.bootstrap.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
        raw = b""
        while len(raw) < 4 or len(raw) < 4 + struct.unpack(">i", raw[:4])[0]:
            chunk = s.recv(65536)
            assert chunk, "connection closed instead of answering"
            raw += chunk
    resp = MetadataResponse.decode(raw[4 + 4 + 1:], 12)  # size, correlation id, header tags
    assert topic_name in [t.name for t in resp.topics]


def test_librdkafka_sees_offset_out_of_range_from_fetch(broker, topic_name):
    """compat F2: error partitions in Fetch used null records; librdkafka rejected the whole
    response ("invalid MessageSetSize -1") and never surfaced OFFSET_OUT_OF_RANGE."""
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(3):
        p.produce(topic_name, b"%d" % i, partition=0)
    assert p.flush(30) == 0
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "oor-" + topic_name,
                  "auto.offset.reset": "error", "enable.auto.commit": False})
    c.assign([TopicPartition(topic_name, 0, 50)])
    errors = []
    for _ in range(40):
        m = c.poll(0.25)
        if m is not None and m.error():
            errors.append(m.error().code())
            break
    c.close()
    assert errors == [KafkaError._AUTO_OFFSET_RESET]


def test_kafka_18659_librdkafka_feature_checks_see_minimum_zero(broker):
    """KAFKA-18659: librdkafka < 2.11.1 matched single versions in its feature checks, so every
    API whose definition allows it must advertise minimum version 0."""
    with connect(broker.bootstrap) as s:
        resp = roundtrip(s, ClientCodec(), ApiVersionsRequest(client_software_name="t", client_software_version="1"), 3)
    ranges = {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys}
    for key in (0, 1, 2, 3, 10, 18, 22):  # Produce, Fetch, ListOffsets, Metadata, FindCoordinator, ApiVersions, InitProducerId
        if key in ranges:
            assert ranges[key][0] == 0
    assert ranges[0] == (0, 11) and ranges[1] == (0, 17) and ranges[18] == (0, 4)
