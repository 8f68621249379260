"""Connection-level behaviour: bad input, version negotiation, ordering, acks=0."""

from __future__ import annotations

import logging
import socket
import struct
import time

import pytest

from kafkaish.wire.codec import ClientCodec
from kafkaish.wire.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse
from kafkaish.wire.messages.metadata import MetadataRequest
from kafkaish.wire.messages.produce import ProduceRequest
from kafkaish.wire.records import build_batch


def connect(bootstrap: str) -> socket.socket:
    host, port = bootstrap.split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    return s


def roundtrip(sock: socket.socket, codec: ClientCodec, msg, version: int):
    _, data = codec.encode_request(msg, version)
    sock.sendall(data)
    while True:
        got = codec.next_response()
        if got is not None:
            return got[1]
        chunk = sock.recv(65536)
        assert chunk, "server closed the connection"
        codec.receive_data(chunk)


def assert_closed(sock: socket.socket) -> None:
    sock.settimeout(10)
    try:
        assert sock.recv(1024) == b""
    except ConnectionResetError:
        pass


def assert_still_serving(bootstrap: str) -> None:
    with connect(bootstrap) as s:
        resp = roundtrip(s, ClientCodec(), ApiVersionsRequest(), 0)
        assert resp.error_code == 0
        assert any(k.api_key == 0 for k in resp.api_keys)


BAD_INPUTS = {
    "garbage": b"\x00\x00\x00\x08garbage!",
    "frame_over_limit": struct.pack(">i", 200 * 1024 * 1024) + b"\x00" * 16,
    "negative_frame_size": struct.pack(">i", -5) + b"\x00" * 16,
    "unknown_api_key": struct.pack(">ihhih", 10, 999, 0, 1, -1),
    "unsupported_version": struct.pack(">ihhih", 10, 3, 999, 1, -1),
    "body_shorter_than_declared": struct.pack(">ihhih", 14, 3, 1, 1, -1) + b"\x00\x00\x00\x05",
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_closes_only_that_connection(broker, caplog, name):
    caplog.set_level(logging.INFO, logger="kafkaish")
    with connect(broker.bootstrap) as other:  # an innocent client connected before and after
        with connect(broker.bootstrap) as s:
            s.sendall(BAD_INPUTS[name])
            assert_closed(s)
        assert roundtrip(other, ClientCodec(), ApiVersionsRequest(), 0).error_code == 0
    assert_still_serving(broker.bootstrap)
    deadline = time.monotonic() + 10
    while not any("closing connection" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert any("closing connection" in r.getMessage() for r in caplog.records)


def test_truncated_frame_at_close_is_logged(broker, caplog):
    caplog.set_level(logging.INFO, logger="kafkaish")
    with connect(broker.bootstrap) as s:
        s.sendall(struct.pack(">i", 100) + b"\x00\x03\x00\x01")
    assert_still_serving(broker.bootstrap)
    deadline = time.monotonic() + 10  # the close is noticed asynchronously
    while not any("mid-frame" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert any("mid-frame" in r.getMessage() for r in caplog.records)


def test_unsupported_api_versions_version_gets_error_35_with_v0_body(broker):
    codec = ClientCodec()
    with connect(broker.bootstrap) as s:
        # hand-built v99 request: header v2 would be unparseable for an old broker (KIP-511)
        payload = struct.pack(">hhih", 18, 99, 42, 3) + b"cid" + b"\x00"
        s.sendall(struct.pack(">i", len(payload)) + payload)
        raw = b""
        while len(raw) < 4 or len(raw) < 4 + struct.unpack(">i", raw[:4])[0]:
            chunk = s.recv(65536)
            assert chunk
            raw += chunk
        size, corr = struct.unpack(">ii", raw[:8])
        assert corr == 42
        body = ApiVersionsResponse.decode(raw[8 : 4 + size], 0)
        assert body.error_code == 35
        assert [(k.api_key, k.min_version, k.max_version) for k in body.api_keys] == [(18, 0, 4)]
        # the connection stays usable: retry at v0 as kafka-python/librdkafka do
        assert roundtrip(s, codec, ApiVersionsRequest(), 0).error_code == 0


def test_pipelined_requests_answered_in_order_and_acks0_gets_no_response(broker, topic_name):
    codec = ClientCodec()
    batch = build_batch([(b"k", b"v")], timestamp_ms=int(time.time() * 1000))
    acks0 = ProduceRequest(acks=0, timeout_ms=1000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic_name, partition_data=[ProduceRequest.PartitionProduceData(index=0, records=batch)])])
    with connect(broker.bootstrap) as s:
        roundtrip(s, codec, MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic_name)]), 9)
        ids = []
        data = b""
        for msg, v, expect in ((ApiVersionsRequest(), 0, True), (acks0, 9, False),
                               (MetadataRequest(topics=None), 9, True), (ApiVersionsRequest(), 2, True)):
            cid, frame = codec.encode_request(msg, v, expect_response=expect)
            if expect:
                ids.append(cid)
            data += frame
        s.sendall(data)  # all four in one write
        got = []
        while len(got) < 3:
            chunk = s.recv(65536)
            assert chunk
            codec.receive_data(chunk)
            while (r := codec.next_response()) is not None:
                got.append(r[0])
        assert got == ids
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=broker.bootstrap)
    assert c.end_offsets([TopicPartition(topic_name, 0)])[TopicPartition(topic_name, 0)] == 1
    c.close()


def _produce(bootstrap: str, topic: str, batch: bytes, version: int):
    codec = ClientCodec()
    req = ProduceRequest(acks=1, timeout_ms=1000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic, partition_data=[ProduceRequest.PartitionProduceData(index=0, records=batch)])])
    with connect(bootstrap) as s:
        roundtrip(s, codec, MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)]), 9)
        return roundtrip(s, codec, req, version).responses[0].partition_responses[0]


def test_zstd_needs_produce_v7(broker, topic_name):
    batch = build_batch([(b"k", b"v")], compression=4, timestamp_ms=int(time.time() * 1000))
    assert _produce(broker.bootstrap, topic_name, batch, 6).error_code == 76  # UNSUPPORTED_COMPRESSION_TYPE
    assert _produce(broker.bootstrap, topic_name, batch, 7).error_code == 0


def test_unknown_codec_id_is_refused(broker, topic_name):
    from kafkaish.wire.records import compute_crc

    batch = bytearray(build_batch([(b"k", b"v")], timestamp_ms=int(time.time() * 1000)))
    batch[22] |= 0x06  # attributes low byte: codec id 6 does not exist
    batch[17:21] = compute_crc(batch, 0, len(batch)).to_bytes(4, "big")
    # CompressionType.forId throws IllegalArgumentException: Kafka answers UNKNOWN_SERVER_ERROR
    assert _produce(broker.bootstrap, topic_name, bytes(batch), 9).error_code == -1


def test_corrupt_crc_is_answered_corrupt_message(broker, topic_name):
    batch = bytearray(build_batch([(b"k", b"v")], timestamp_ms=int(time.time() * 1000)))
    batch[-1] ^= 0xFF
    resp = _produce(broker.bootstrap, topic_name, bytes(batch), 9)
    assert resp.error_code == 2 and resp.base_offset == -1
