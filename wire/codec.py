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
_SIZE_CORRELATION = struct.Struct(">ii")
_CORRELATION_CLIENT_ID = struct.Struct(">ih")
_new = object.__new__


def request_header_version(api_key: int, api_version: int) -> int:
    hv = _REQUEST_HV.get((api_key, api_version))
    if hv is None:
        if api_key == ApiKey.CONTROLLED_SHUTDOWN and api_version == 0:  # ControlledShutdown v0 predates client ids
            hv = 0
        else:
            hv = 2 if request_class(api_key).is_flexible(api_version) else 1
        _REQUEST_HV[(api_key, api_version)] = hv
    return hv


def response_header_version(api_key: int, api_version: int) -> int:
    hv = _RESPONSE_HV.get((api_key, api_version))
    if hv is None:
        if api_key == API_VERSIONS_KEY:
            hv = 0
        else:
            hv = 1 if response_class(api_key).is_flexible(api_version) else 0
        _RESPONSE_HV[(api_key, api_version)] = hv
    return hv


# Per-request lookups, cached: (api_key, version) -> header version; api_key -> request class.
_REQUEST_HV: dict[tuple[int, int], int] = {}
_RESPONSE_HV: dict[tuple[int, int], int] = {}
_REQUEST_CLASSES: dict[int, Any] = {}
_MERGE_MAX = 64 * 1024  # a response part this small goes out in one write with its header


SCRATCH = 32 * 1024  # a connection's read buffer; bigger frames get a buffer of their own
_MIN_READ = 4096
_GROW = bytes(256 * 1024)


class FrameBuffer:
    """Splits size-prefixed frames out of a byte stream, with at most one copy per frame.

    Two ways in: ``feed(bytes)``, or the ``asyncio.BufferedProtocol`` pair ``get_buffer`` /
    ``buffer_updated``, where the socket reads straight into our memory. Frames that fit the
    scratch buffer are copied out of it as ``bytes`` (small requests, many per read). Once the
    size prefix of a bigger frame has arrived, a ``bytearray`` of exactly its size is allocated
    and the socket fills it; ``next_frame`` hands that very buffer over, so a 1 MiB Produce
    reaches storage without a copy in Python. ``frame_budget`` caps that allocation: the server
    sets it to what its request memory pool has left, so sizes announced by clients that never
    send the bytes cannot grow the process; a bigger frame grows in the scratch buffer as it
    arrives.
    """

    __slots__ = ("_buf", "_start", "_end", "_frame", "_filled", "max_frame_size", "frame_budget")

    def __init__(self, max_frame_size: int) -> None:
        self._buf = bytearray()
        self._start = self._end = 0  # unread bytes of the scratch buffer
        self._frame: bytearray | None = None  # a big frame being filled, and how far
        self._filled = 0
        self.max_frame_size = max_frame_size
        self.frame_budget = max_frame_size

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            with self.get_buffer(len(view)) as buf:
                n = min(len(buf), len(view))
                buf[:n] = view[:n]
            self.buffer_updated(n)
            view = view[n:]

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """Where the next bytes go (``asyncio.BufferedProtocol.get_buffer``); never empty."""
        frame = self._frame
        if frame is not None and self._filled < len(frame):
            return memoryview(frame)[self._filled :]
        # A complete frame not taken yet (uvloop reads again before the request task runs):
        # what follows goes to the scratch buffer, which is empty since that frame began.
        buf, start, end = self._buf, self._start, self._end
        if frame is None and end - start >= 4:
            size = _SIZE.unpack_from(buf, start)[0]
            if SCRATCH - 4 < size <= min(self.max_frame_size, self.frame_budget) and end - start < 4 + size:
                frame = bytearray(size)
                have = end - start - 4
                with memoryview(buf) as view:  # no intermediate copy of the slice
                    frame[:have] = view[start + 4 : end]
                self._frame, self._filled = frame, have
                self._start = self._end = 0
                return memoryview(frame)[have:]
        if start == end:
            self._start = self._end = start = end = 0
            if len(buf) > SCRATCH:  # grown for a frame over the budget
                self._buf = buf = bytearray(SCRATCH)
        if len(buf) - end < _MIN_READ:
            if start:  # move the unread bytes to the front
                buf[: end - start] = buf[start:end]
                self._start, self._end = 0, end - start
                end = end - start
            if len(buf) - end < _MIN_READ:  # grows as bytes arrive, not ahead of them
                buf.extend(_GROW if buf else _GROW[:SCRATCH])
        return memoryview(buf)[end:]

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` were written into the last ``get_buffer``."""
        if self._frame is not None and self._filled < len(self._frame):
            self._filled += nbytes
        else:
            self._end += nbytes

    def next_frame(self) -> bytes | bytearray | None:
        frame = self._frame
        if frame is not None:
            if self._filled < len(frame):
                return None
            self._frame = None
            return frame
        start, end = self._start, self._end
        if end - start < 4:
            return None
        size = _SIZE.unpack_from(self._buf, start)[0]
        if size < 0 or size > self.max_frame_size:
            raise ProtocolError(f"frame size {size} outside [0, {self.max_frame_size}]")
        if end - start < 4 + size:
            return None
        start += 4
        with memoryview(self._buf) as view:
            frame = bytes(view[start : start + size])
        self._start = start + size
        return frame

    @property
    def pending(self) -> int:
        """Bytes held for frames not yet returned: received ones, and a big frame's whole buffer."""
        return self._end - self._start + (len(self._frame) if self._frame is not None else 0)

    @property
    def received(self) -> int:
        """Bytes received but not yet returned as a frame (a truncated frame at EOF)."""
        return self._end - self._start + self._filled * (self._frame is not None)


def read_request_header(frame: bytes | bytearray | memoryview, hv: int) -> tuple[RequestHeader, int]:
    """``RequestHeader.read_from(frame, 0, hv)``, written out for v1 and v2 (every request but one):
    the same object without the generic codec's per-field calls. Anything unusual (tagged fields,
    a bad or truncated client id) goes to the generic codec, which decodes it or raises."""
    if hv:
        try:
            correlation_id, n = _CORRELATION_CLIENT_ID.unpack_from(frame, 4)
            end = 10 + n if n >= 0 else 10
            client_id = str(frame[10:end], "utf-8") if n >= 0 else None
            if end > len(frame) or (hv == 2 and frame[end]):
                raise ValueError("truncated, or tagged fields")
        except (struct.error, ValueError, IndexError):  # ValueError: UnicodeDecodeError too
            return RequestHeader.read_from(frame, 0, hv)
        header = _new(RequestHeader)
        header._unknown_tags = None
        header.request_api_key, header.request_api_version = _KEY_VERSION.unpack_from(frame, 0)
        header.correlation_id = correlation_id
        header.client_id = client_id
        return header, end + (hv == 2)
    return RequestHeader.read_from(frame, 0, hv)


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
        # Records fields of the request are views of the frame: a big frame's records reach
        # storage as slices of the buffer the socket wrote into (see FrameBuffer).
        return self.decode_frame(memoryview(frame))

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        return self._frames.get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:
        self._frames.buffer_updated(nbytes)

    @property
    def frame_budget(self) -> int:
        return self._frames.frame_budget

    @frame_budget.setter
    def frame_budget(self, size: int) -> None:
        """The largest frame given a buffer of its own before its bytes arrive."""
        self._frames.frame_budget = size

    @property
    def received_bytes(self) -> int:
        """Bytes of a frame not complete yet (what a peer leaving mid-frame truncated)."""
        return self._frames.received

    def decode_frame(self, frame: bytes | bytearray | memoryview) -> Request:
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
        header, pos = read_request_header(frame, request_header_version(api_key, api_version))
        cls = _REQUEST_CLASSES.get(api_key)
        if cls is None:
            cls = _REQUEST_CLASSES[api_key] = request_class(api_key)
        body, end = cls.read_from(frame, pos, api_version)
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
        # ResponseHeader: correlation_id, plus an empty tag section in v1
        head = b"\x00" if response_header_version(request.api_key, v) else b""
        parts = body.encode_parts(v)
        size = 4 + len(head) + sum(len(p) for p in parts)
        prefix = _SIZE_CORRELATION.pack(size, request.correlation_id) + head
        first = parts[0] if parts else b""
        if type(first) is bytes and len(first) <= _MERGE_MAX:  # one write (one send) for a small answer
            return [prefix + first, *parts[1:]]
        return [prefix, *parts]


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
