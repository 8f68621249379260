"""A blocking Kafka wire client for the differential scenarios: kafkaish's own sans-IO
``ClientCodec`` over a plain socket, with the generated message classes."""
from __future__ import annotations

import socket
import struct
import time
from typing import Any

from kafkaish.wire.codec import ClientCodec
from kafkaish.wire.errors import ProtocolError


class Closed(Exception):
    """The broker closed the connection (or it timed out) instead of answering."""


class Connection:
    def __init__(self, bootstrap: str, client_id: str = "differential", timeout: float = 20.0) -> None:
        host, port = bootstrap.rsplit(":", 1)
        self.address = (host, int(port))
        self.client_id = client_id
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.codec = ClientCodec(client_id)
        self._ready: dict[int, Any] = {}

    def _connect(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.codec = ClientCodec(self.client_id)
            self._ready = {}
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def send(self, body: Any, version: int, *, expect_response: bool = True) -> int:
        sock = self._connect()
        corr, data = self.codec.encode_request(body, version, expect_response=expect_response)
        try:
            sock.sendall(data)
        except OSError as exc:
            self.close()
            raise Closed(f"send failed: {exc}") from None
        return corr

    def send_as_version(self, body: Any, encode_version: int, claimed_version: int) -> int:
        """Encode ``body`` at ``encode_version`` but claim ``claimed_version`` in the header
        (a version the codec cannot encode, to see how the broker refuses it)."""
        sock = self._connect()
        corr, data = self.codec.encode_request(body, encode_version)
        frame = bytearray(data)
        struct.pack_into(">h", frame, 6, claimed_version)
        sock.sendall(bytes(frame))
        return corr

    def send_raw(self, payload: bytes, expect: tuple[int, int] | None = None) -> int:
        """Send a hand-made frame body (header + body, without the size). ``expect`` is
        (api_key, version) for decoding the answer; the correlation id must be 0x7fff0000+."""
        sock = self._connect()
        corr = struct.unpack_from(">i", payload, 4)[0]
        if expect is not None:
            self.codec._pending[corr] = expect  # noqa: SLF001 - the codec's table of outstanding requests
        sock.sendall(struct.pack(">i", len(payload)) + payload)
        return corr

    def receive(self, corr: int, timeout: float | None = None) -> Any:
        if self.sock is None:
            raise Closed("not connected")
        deadline = time.monotonic() + (timeout or self.timeout)
        while corr not in self._ready:
            try:
                item = self.codec.next_response()
            except ProtocolError as exc:
                self.close()
                raise Closed(f"undecodable response: {exc}") from None
            if item is not None:
                self._ready[item[0]] = item[1]
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise Closed("no answer (timed out)")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 20)
            except (socket.timeout, OSError):
                self.close()
                raise Closed("no answer (timed out)") from None
            if not data:
                self.close()
                raise Closed("connection closed by the broker")
            self.codec.receive_data(data)
        return self._ready.pop(corr)

    def call(self, body: Any, version: int, timeout: float | None = None) -> Any:
        return self.receive(self.send(body, version), timeout)
