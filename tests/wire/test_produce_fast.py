"""The hand-written Produce codecs (kafkaish.wire.produce_fast) against the generic ones.

Every version, tricky requests (tagged fields, null records and transactional ids, non-ASCII
names, truncations and byte flips) and every kind of answer (errors with messages, record
errors, leader hints, node endpoints): the fast path must decode and encode exactly what the
generic codec does, and raise where it raises.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from kafkaish.wire import produce_fast
from kafkaish.wire.errors import LocalProtocolError, ProtocolError
from kafkaish.wire.messages.produce import ProduceRequest, ProduceResponse
from kafkaish.wire.protocol import _compile, _Out
from kafkaish.wire.records import build_batch

produce_fast.install()
VERSIONS = range(ProduceRequest.MIN_VERSION, ProduceRequest.MAX_VERSION + 1)
PD, TD = ProduceRequest.PartitionProduceData, ProduceRequest.TopicProduceData
PR = ProduceResponse.PartitionProduceResponse


def _generic(cls: Any, version: int) -> tuple[Any, Any]:
    return _compile(cls, version, cls.is_flexible(version))


def _request(version: int, txn: str | None = None) -> ProduceRequest:
    batch = build_batch([(b"k", b"v" * 50), (None, b"w")], timestamp_ms=1)
    return ProduceRequest(
        transactional_id=txn if version >= 3 else None, acks=-1, timeout_ms=30000, topic_data=[
            TD(name="orders", partition_data=[PD(index=0, records=batch), PD(index=7, records=batch + batch)]),
            TD(name="zürich-é", partition_data=[PD(index=2, records=None), PD(index=3, records=b"")]),
            TD(name="", partition_data=[])])


def _decode(read: Any, data: Any) -> tuple[str, Any]:
    try:
        obj, end = read(data, 0)
    except ProtocolError as e:
        return "error", str(e)
    return "ok", (obj.to_dict(), end, obj.transactional_id,
                  [[(type(p.records).__name__, p.index) for p in t.partition_data] for t in obj.topic_data])


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("txn", [None, "", "tx-ünïcode"])
def test_fast_produce_decode_equals_generic(version: int, txn: str | None) -> None:
    wire = _generic(ProduceRequest, version)
    out = _Out()
    wire[1](out, _request(version, txn))
    data = bytes(out.buf)
    for form in (data, memoryview(bytearray(data))):
        fast = ProduceRequest.read_from(form, 0, version)
        assert _decode(lambda d, p: ProduceRequest.read_from(d, p, version), form) == _decode(wire[0], form)
        assert fast[0] == _request(version, txn) or version < 3  # (v0-2 carry no transactional id)


@pytest.mark.parametrize("version", VERSIONS)
def test_fast_produce_decode_keeps_records_as_views_of_the_frame(version: int) -> None:
    """The zero-copy path: a produced batch reaches storage as a slice of the socket's buffer."""
    out = _Out()
    _generic(ProduceRequest, version)[1](out, _request(version))
    frame = bytearray(out.buf)
    req, _ = ProduceRequest.read_from(memoryview(frame), 0, version)
    records = req.topic_data[0].partition_data[1].records
    assert type(records) is memoryview and records.obj is frame and not records.readonly


@pytest.mark.parametrize("version", [3, 8, 9, 11])
def test_fast_produce_decode_of_damaged_requests_equals_generic(version: int) -> None:
    """Truncated at every byte and with random bytes flipped: the same object or the same error."""
    out = _Out()
    _generic(ProduceRequest, version)[1](out, _request(version, "t"))
    data = bytes(out.buf)
    generic = _generic(ProduceRequest, version)[0]
    fast = ProduceRequest._codec(version, ProduceRequest.is_flexible(version))[0]
    assert fast is not generic
    for cut in range(len(data)):
        assert _decode(fast, memoryview(data[:cut])) == _decode(generic, memoryview(data[:cut]))
    rng = random.Random(15)
    for _ in range(1500):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            damaged[rng.randrange(min(len(damaged), 80))] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        assert _decode(fast, memoryview(damaged)) == _decode(generic, memoryview(damaged))


@pytest.mark.parametrize("version", [9, 11])
def test_fast_produce_decode_keeps_tagged_fields(version: int) -> None:
    req = _request(version, "t")
    req._unknown_tags = {5: b"top"}
    req.topic_data[0]._unknown_tags = {1: b"\x00"}
    req.topic_data[0].partition_data[1]._unknown_tags = {9: b"xyz"}
    out = _Out()
    _generic(ProduceRequest, version)[1](out, req)
    fast, _ = ProduceRequest.read_from(memoryview(bytes(out.buf)), 0, version)
    assert fast._unknown_tags == {5: b"top"} and fast.topic_data[0].partition_data[1]._unknown_tags == {9: b"xyz"}
    assert _decode(lambda d, p: ProduceRequest.read_from(d, p, version), bytes(out.buf)) == \
        _decode(_generic(ProduceRequest, version)[0], bytes(out.buf))


def _responses() -> list[ProduceResponse]:
    ok = [PR(index=i, error_code=0, base_offset=1000 * i, log_append_time_ms=-1, log_start_offset=0) for i in range(3)]
    failed = PR(index=4, error_code=87, base_offset=-1, log_append_time_ms=-1, log_start_offset=12,
                error_message="One or more records have been rejected", record_errors=[
                    ProduceResponse.BatchIndexAndErrorMessage(batch_index=1, batch_index_error_message="no key")])
    moved = PR(index=5, error_code=6, base_offset=-1, current_leader=ProduceResponse.LeaderIdAndEpoch(
        leader_id=2, leader_epoch=3))
    plain_error = PR(index=6, error_code=3, base_offset=-1, log_append_time_ms=-1, log_start_offset=-1)
    many = [PR(index=i, error_code=0, base_offset=i, log_append_time_ms=1700000000000, log_start_offset=i)
            for i in range(300)]
    T = ProduceResponse.TopicProduceResponse
    return [
        ProduceResponse(responses=[T(name="orders", partition_responses=ok)], throttle_time_ms=0),
        ProduceResponse(responses=[T(name="a", partition_responses=many), T(name="zürich", partition_responses=[])],
                        throttle_time_ms=17),
        ProduceResponse(responses=[]),
        ProduceResponse(responses=[T(name="x", partition_responses=[plain_error, *ok])]),
        ProduceResponse(responses=[T(name="x", partition_responses=[*ok, failed])]),
        ProduceResponse(responses=[T(name="x", partition_responses=[moved])], node_endpoints=[
            ProduceResponse.NodeEndpoint(node_id=2, host="localhost", port=9094, rack=None)]),
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_fast_produce_response_encoding_equals_generic(version: int) -> None:
    write = _generic(ProduceResponse, version)[1]
    for response in _responses():
        expected = _Out()
        write(expected, response)
        assert ProduceResponse._codec(version, ProduceResponse.is_flexible(version))[1] is not write
        assert response.encode(version) == bytes(expected.buf)


@pytest.mark.parametrize("version", [1, 11])
def test_fast_produce_response_raises_what_the_generic_codec_raises(version: int) -> None:
    bad = ProduceResponse(responses=[ProduceResponse.TopicProduceResponse(
        name="x", partition_responses=[PR(index=2**40, error_code=0, base_offset=0)])])
    with pytest.raises(LocalProtocolError):
        bad.encode(version)


def _never(*_: Any) -> Any:
    raise AssertionError("the fast path fell back to the generic codec")


@pytest.mark.parametrize("version", VERSIONS)
def test_fast_produce_paths_handle_the_common_case_without_the_generic_codec(version: int) -> None:
    out = _Out()
    _generic(ProduceRequest, version)[1](out, _request(version, "t"))
    req, end = produce_fast._request_reader(version, _never)(memoryview(bytes(out.buf)), 0)
    assert end == len(out.buf) and req.topic_data[1].name == "zürich-é"
    write = produce_fast._response_writer(version, _never)
    for response in _responses()[:4]:  # successes and plain errors
        fast = _Out()
        write(fast, response)
        assert bytes(fast.buf) == response.encode(version)


def test_fast_partition_response_equals_the_generated_constructor() -> None:
    fast = produce_fast.partition_response(3, 42, -1, 7)
    assert fast == PR(index=3, error_code=0, base_offset=42, log_append_time_ms=-1, log_start_offset=7)
    assert fast.to_dict() == PR(index=3, error_code=0, base_offset=42, log_append_time_ms=-1,
                                log_start_offset=7).to_dict() and fast._unknown_tags is None


def test_fast_topic_and_request_responses_equal_the_generated_constructors() -> None:
    parts = [produce_fast.partition_response(0, 5, -1, 0)]
    topic = produce_fast.topic_response("t", parts)
    assert topic == ProduceResponse.TopicProduceResponse(name="t", partition_responses=parts)
    fast = produce_fast.response([topic])
    generated = ProduceResponse(responses=[topic], throttle_time_ms=0)
    assert fast == generated and fast.to_dict() == generated.to_dict() and fast._unknown_tags is None
    for version in VERSIONS:
        assert fast.encode(version) == generated.encode(version)


@pytest.mark.parametrize("hv", [1, 2])
def test_fast_request_header_decode_equals_generic(hv: int) -> None:
    from kafkaish.wire.codec import read_request_header
    from kafkaish.wire.messages.request_header import RequestHeader

    generic = _compile(RequestHeader, hv, hv >= 2)[0]
    cases = []
    for client_id in (None, "", "rdkafka", "ünï"):
        header = RequestHeader(request_api_key=0, request_api_version=9, correlation_id=-7, client_id=client_id)
        out = _Out()
        generic_write = _compile(RequestHeader, hv, hv >= 2)[1]
        generic_write(out, header)
        cases.append(bytes(out.buf) + b"body")
        if hv == 2:
            header._unknown_tags = {3: b"x"}
            out = _Out()
            generic_write(out, header)
            cases.append(bytes(out.buf))
    cases += [c[:cut] for c in cases[:4] for cut in range(len(c))]
    cases += [b"\x00\x00\x00\x09\x00\x00\x00\x01\x00\x02\xff\xfe\x00"]  # a client id that is not utf-8
    for data in cases:
        def outcome(read: Any) -> Any:
            try:
                obj, end = read(memoryview(data), 0)
            except ProtocolError as e:
                return "error", str(e)
            return obj.to_dict(), obj._unknown_tags, end
        assert outcome(lambda d, p: read_request_header(d, hv)) == outcome(generic)
