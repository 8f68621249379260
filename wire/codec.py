"""Sans-IO connection codecs: bytes in, typed requests/responses out (the h11 pattern).

``ServerCodec`` frames and decodes requests and encodes responses for one connection;
``ClientCodec`` is its twin for tests and the ``kafkaish topics`` CLI. Neither touches a
socket: the caller feeds ``receive_data(bytes)`` and writes what ``encode_*`` returns.

Framing: every request and response is ``int32 size`` + header + body. Header versions
follow Kafka's ``ApiMessageType.requestHeaderVersion/responseHeaderVersion``: request header
v2 / response header v1 for flexible API versions, else v1 / v0, and ApiVersions responses
always use header v0 (KIP-511) so that any client can read the error.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kafkaish.wire.errors import ErrorCode, LocalProtocolError, ProtocolError
from kafkaish.wire.messages import ApiKey, request_class, response_class
from kafkaish.wire.messages.request_header import RequestHeader
from kafkaish.wire.messages.response_header import ResponseHeader
from kafkaish.wire.protocol import Message
from kafkaish.wire.zerocopy import RecordsView

API_VERSIONS_KEY = ApiKey.API_VERSIONS
DEFAULT_MAX_FRAME = 100 * 1024 * 1024  # Kafka's socket.request.max.bytes
_SIZE = struct.Struct(">i")
_KEY_VERSION = struct.Struct(">hh")


def request_header_version(api_key: int, api_version: int) -> int:
    if api_key == ApiKey.CONTROLLED_SHUTDOWN and api_version == 0:  # ControlledShutdown v0 predates client ids
        return 0
    return 2 if request_class(api_key).is_flexible(api_version) else 1


def response_header_version(api_key: int, api_version: int) -> int:
    if api_key == API_VERSIONS_KEY:
        return 0
    return 1 if response_class(api_key).is_flexible(api_version) else 0


class FrameBuffer:
    """Accumulates bytes and splits out complete size-prefixed frames."""

    __slots__ = ("_buf", "max_frame_size")

    def __init__(self, max_frame_size: int) -> None:
        self._buf = bytearray()
        self.max_frame_size = max_frame_size

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_frame(self) -> bytes | None:
        buf = self._buf
        if len(buf) < 4:
            return None
        size = _SIZE.unpack_from(buf, 0)[0]
        if size < 0 or size > self.max_frame_size:
            raise ProtocolError(f"frame size {size} outside [0, {self.max_frame_size}]")
        if len(buf) < 4 + size:
            return None
        frame = bytes(buf[4 : 4 + size])
        del buf[: 4 + size]
        return frame

    @property
    def pending(self) -> int:
        """Bytes received but not yet returned as a frame (a truncated frame at EOF)."""
        return len(self._buf)


@dataclass(frozen=True, slots=True)
class Request:
    """One decoded request. ``body`` is None only when ``unsupported_version`` is set."""

    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    header: Any
    body: Any
    size: int
    unsupported_version: bool = False
    trailing_bytes: int = 0  # bytes after the body (ignored, as Kafka ignores them)


class ServerCodec:
    """Server side of one connection.

    ``supported`` maps api_key -> (min_version, max_version) of what the server handles.
    A request outside it is a ``ProtocolError`` (Kafka closes the connection: SocketServer
    throws InvalidRequestException), except ApiVersions, which comes back with
    ``unsupported_version=True`` so the server can answer error 35 with a v0 body.
    """

    def __init__(
        self,
        supported: Mapping[int, tuple[int, int]] | Callable[[], Mapping[int, tuple[int, int]]],
        max_frame_size: int = DEFAULT_MAX_FRAME,
    ) -> None:
        self._supported = supported
        self._frames = FrameBuffer(max_frame_size)

    def receive_data(self, data: bytes) -> None:
        self._frames.feed(data)

    @property
    def pending_bytes(self) -> int:
        return self._frames.pending

    @property
    def max_frame_size(self) -> int:
        return self._frames.max_frame_size

    @max_frame_size.setter
    def max_frame_size(self, size: int) -> None:
        """Change the largest frame accepted from the next frame on (e.g. during SASL)."""
        self._frames.max_frame_size = size

    def next_request(self) -> Request | None:
        frame = self._frames.next_frame()
        if frame is None:
            return None
        return self.decode_frame(frame)

    def decode_frame(self, frame: bytes) -> Request:
        if len(frame) < 8:
            raise ProtocolError(f"request of {len(frame)} bytes is shorter than a header")
        api_key, api_version = _KEY_VERSION.unpack_from(frame, 0)
        supported = self._supported() if callable(self._supported) else self._supported
        rng = supported.get(api_key)
        if rng is None:
            raise ProtocolError(f"unsupported api key {api_key}")
        if not rng[0] <= api_version <= rng[1]:
            if api_key == API_VERSIONS_KEY:
                # KIP-511: parse what we can of the header (v1 layout) and answer error 35.
                header, _ = RequestHeader.read_from(frame, 0, 1)
                return Request(api_key, api_version, header.correlation_id, header.client_id,
                               header, None, len(frame), unsupported_version=True)
            raise ProtocolError(f"unsupported version {api_version} of api key {api_key}")
        hv = request_header_version(api_key, api_version)
        header, pos = RequestHeader.read_from(frame, 0, hv)
        body, end = request_class(api_key).read_from(frame, pos, api_version)
        # Bytes after the body are ignored, as Kafka's AbstractRequest.parseRequest does:
        # librdkafka's "all topics" Metadata v9+ leaves 3 stray bytes of an array count.
        return Request(api_key, api_version, header.correlation_id, header.client_id,
                       header, body, len(frame), trailing_bytes=len(frame) - end)

    @staticmethod
    def encode_response(request: Request, body: Message, version: int | None = None) -> list[bytes | RecordsView]:
        """Frame a response to ``request``: a list of bytes and zero-copy chunks.

        ``version`` overrides the body version (ApiVersions error answers use v0).
        """
        v = request.api_version if version is None else version
        hv = response_header_version(request.api_key, v)
        head = ResponseHeader(correlation_id=request.correlation_id).encode(hv)
        parts = body.encode_parts(v)
        size = len(head) + sum(len(p) for p in parts)
        return [_SIZE.pack(size) + head, *parts]


class ClientCodec:
    """Client side of one connection: encodes requests, matches responses by correlation id."""

    def __init__(self, client_id: str | None = "kafkaish", max_frame_size: int = DEFAULT_MAX_FRAME) -> None:
        self.client_id = client_id
        self._frames = FrameBuffer(max_frame_size)
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[int, int]] = {}

    def encode_request(self, body: Message, version: int, *, expect_response: bool = True) -> tuple[int, bytes]:
        if body.API_KEY < 0:
            raise LocalProtocolError(f"{type(body).__name__} is not a request")
        correlation_id = next(self._ids)
        hv = request_header_version(body.API_KEY, version)
        header = RequestHeader(request_api_key=body.API_KEY, request_api_version=version,
                               correlation_id=correlation_id, client_id=self.client_id)
        payload = header.encode(hv) + body.encode(version)
        if expect_response:
            self._pending[correlation_id] = (body.API_KEY, version)
        return correlation_id, _SIZE.pack(len(payload)) + payload

    def receive_data(self, data: bytes) -> None:
        self._frames.feed(data)

    def next_response(self) -> tuple[int, Any] | None:
        """(correlation_id, response) for the next complete frame, or None for more data."""
        frame = self._frames.next_frame()
        if frame is None:
            return None
        correlation_id = _SIZE.unpack_from(frame, 0)[0]
        try:
            api_key, version = self._pending.pop(correlation_id)
        except KeyError:
            raise ProtocolError(f"response with unknown correlation id {correlation_id}") from None
        _, pos = ResponseHeader.read_from(frame, 0, response_header_version(api_key, version))
        cls = response_class(api_key)
        if api_key == API_VERSIONS_KEY and version > 0 and len(frame) >= pos + 2:
            error = struct.unpack_from(">h", frame, pos)[0]
            if error == ErrorCode.UNSUPPORTED_VERSION:  # the server answered with a v0 body (KIP-511)
                version = 0
        body, _ = cls.read_from(frame, pos, version)
        return correlation_id, body
