"""ServerCodec and ClientCodec paired over an in-memory link (h11's ConnectionPair).

Bytes go from one codec's encoder straight into the other's ``receive_data``, cut at every
possible place, so framing, header versions and correlation are checked without a socket.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kafkaish.broker import Broker
from kafkaish.config import load_settings
from kafkaish.registry import ResponseAt
from kafkaish.wire.codec import ClientCodec, Request, ServerCodec
from kafkaish.wire.errors import ErrorCode, ProtocolError
from kafkaish.wire.messages import ApiKey
from kafkaish.wire.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse
from kafkaish.wire.messages.metadata import MetadataRequest, MetadataResponse

SUPPORTED = {ApiKey.API_VERSIONS: (0, 4), ApiKey.METADATA: (0, 12)}


class CodecPair:
    """A client and a server codec joined by a byte pipe that the test cuts as it likes."""

    def __init__(self, supported: dict[int, tuple[int, int]] | None = None, max_frame_size: int = 1 << 20) -> None:
        self.client = ClientCodec(client_id="pair")
        self.server = ServerCodec(supported or SUPPORTED, max_frame_size)

    def requests(self, *chunks: bytes) -> list[Request]:
        out = []
        for chunk in chunks:
            self.server.receive_data(chunk)
            while (request := self.server.next_request()) is not None:
                out.append(request)
        return out

    def responses(self, *chunks: bytes) -> list[tuple[int, Any]]:
        out = []
        for chunk in chunks:
            self.client.receive_data(chunk)
            while (got := self.client.next_response()) is not None:
                out.append(got)
        return out


def _join(parts: list[Any]) -> bytes:
    return b"".join(bytes(p) for p in parts)


METADATA = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name="orders")],
                           allow_auto_topic_creation=False)


@pytest.mark.parametrize("version", [1, 9, 12])  # classic and flexible (header v2) layouts
def test_request_split_at_every_byte_decodes_once(version: int) -> None:
    size = len(CodecPair().client.encode_request(METADATA, version)[1])
    for cut in range(size + 1):
        pair = CodecPair()
        correlation_id, data = pair.client.encode_request(METADATA, version)
        first, rest = pair.requests(data[:cut]), pair.requests(data[cut:])
        assert (first, len(rest)) == ([], 1) if cut < size else (len(first), rest) == (1, [])
        (request,) = first + rest
        assert (request.api_key, request.api_version, request.correlation_id, request.client_id) == (
            ApiKey.METADATA, version, correlation_id, "pair")
        assert request.body.encode(version) == METADATA.encode(version)
        assert pair.server.pending_bytes == 0


def test_request_fed_byte_by_byte_and_two_pipelined() -> None:
    pair = CodecPair()
    first = pair.client.encode_request(METADATA, 12)[1]
    second = pair.client.encode_request(ApiVersionsRequest(client_software_name="x", client_software_version="1"), 3)[1]
    got = pair.requests(*[bytes([b]) for b in first + second])
    assert [(r.api_key, r.correlation_id) for r in got] == [(ApiKey.METADATA, 1), (ApiKey.API_VERSIONS, 2)]


@pytest.mark.parametrize("version", [0, 9, 12])
def test_response_split_at_every_byte_reaches_the_client(version: int) -> None:
    body = MetadataResponse(brokers=[MetadataResponse.MetadataResponseBroker(node_id=1, host="h", port=9092)],
                            cluster_id="c", controller_id=1, topics=[])
    pair = CodecPair()
    (request,) = pair.requests(pair.client.encode_request(METADATA, version)[1])
    wire = _join(ServerCodec.encode_response(request, body))
    for cut in range(len(wire) + 1):
        pair = CodecPair()
        correlation_id, data = pair.client.encode_request(METADATA, version)
        (request,) = pair.requests(data)
        got = pair.responses(wire[:cut], wire[cut:])
        assert [(cid, type(resp)) for cid, resp in got] == [(correlation_id, MetadataResponse)]
        assert got[0][1].brokers[0].port == 9092


def test_oversize_frame_is_refused_before_it_is_buffered() -> None:
    pair = CodecPair(max_frame_size=64)
    with pytest.raises(ProtocolError, match="frame size"):
        pair.requests((65).to_bytes(4, "big"))  # the size prefix alone is enough to refuse it
    with pytest.raises(ProtocolError, match="frame size"):
        CodecPair().requests((-1).to_bytes(4, "big", signed=True))


def test_unsupported_key_or_version_is_a_protocol_error() -> None:
    pair = CodecPair({ApiKey.API_VERSIONS: (0, 4), ApiKey.METADATA: (4, 12)})
    with pytest.raises(ProtocolError, match="unsupported version 1 of api key 3"):
        pair.requests(pair.client.encode_request(METADATA, 1)[1])
    with pytest.raises(ProtocolError, match="unsupported api key 3"):
        CodecPair({ApiKey.API_VERSIONS: (0, 4)}).requests(pair.client.encode_request(METADATA, 9)[1])


def test_response_with_an_unknown_correlation_id_is_a_protocol_error() -> None:
    server_side = CodecPair()
    (request,) = server_side.requests(server_side.client.encode_request(METADATA, 9)[1])
    wire = _join(ServerCodec.encode_response(request, MetadataResponse(topics=[])))
    with pytest.raises(ProtocolError, match="unknown correlation id 1"):
        CodecPair().responses(wire)  # this client never sent correlation id 1


def test_kip_511_unsupported_api_versions_round_trip() -> None:
    """A too-new ApiVersions gets error 35 with a v0 body naming our range; the client reads it."""
    broker = Broker(load_settings(in_memory=True))
    broker.version_caps[ApiKey.API_VERSIONS] = 2
    try:
        pair = CodecPair(broker.supported_versions())
        correlation_id, data = pair.client.encode_request(
            ApiVersionsRequest(client_software_name="new", client_software_version="9"), 3)
        (request,) = pair.requests(data)
        assert request.unsupported_version and request.body is None
        answer = asyncio.run(broker.dispatch(request))
        assert isinstance(answer, ResponseAt) and answer.version == 0
        ((cid, response),) = pair.responses(_join(ServerCodec.encode_response(request, answer.body, answer.version)))
    finally:
        broker.close()
    assert cid == correlation_id and isinstance(response, ApiVersionsResponse)
    assert response.error_code == ErrorCode.UNSUPPORTED_VERSION
    assert [(k.api_key, k.min_version, k.max_version) for k in response.api_keys] == [(ApiKey.API_VERSIONS, 0, 2)]


def test_get_buffer_after_a_complete_big_frame_is_not_empty() -> None:
    """uvloop asks for a buffer again before the request task takes a complete frame; an empty
    buffer is a fatal transport error ("unhandled error (or an empty buffer) in get_buffer()"),
    which closed every connection that sent a 1 MB Produce. The next bytes go after it."""
    from kafkaish.wire.codec import FrameBuffer

    big, small = b"B" * 100_000, b"small frame"
    stream = len(big).to_bytes(4, "big") + big + len(small).to_bytes(4, "big") + small
    frames = FrameBuffer(1 << 20)
    pos = 0
    while pos < len(stream):  # as a loop that reads until the socket is empty
        buf = frames.get_buffer(-1)
        assert len(buf) > 0
        n = min(len(buf), len(stream) - pos, 30_000)
        buf[:n] = stream[pos : pos + n]
        frames.buffer_updated(n)
        pos += n
    assert bytes(frames.next_frame() or b"") == big
    assert bytes(frames.next_frame() or b"") == small
    assert frames.next_frame() is None
