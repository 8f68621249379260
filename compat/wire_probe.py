"""Look at the record batches kafkaish stores, independently of any client library.

The compression scenarios use it to prove that the batches really are compressed:
a client may silently fall back to no compression (librdkafka does when it thinks
the broker cannot take the codec), and a consumer cannot tell. This module speaks
just enough of the protocol by hand — one Fetch v4 request — to read the
``attributes`` of each stored batch (RecordBatch v2: bits 0-2 = codec).

    python compat/wire_probe.py HOST:PORT TOPIC [PARTITION]   # prints e.g. {"codecs": [2, 2]}
"""
from __future__ import annotations

import json
import socket
import struct
import sys

FETCH, FETCH_VERSION = 1, 4
CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">h", len(raw)) + raw


def _fetch_request(topic: str, partition: int, correlation_id: int = 1) -> bytes:
    header = struct.pack(">hhi", FETCH, FETCH_VERSION, correlation_id) + _string("compat-wire-probe")
    body = struct.pack(">iiiib", -1, 100, 1, 8 << 20, 0)  # replica, max wait, min bytes, max bytes, read_uncommitted
    body += struct.pack(">i", 1) + _string(topic)
    body += struct.pack(">i", 1) + struct.pack(">iqi", partition, 0, 8 << 20)
    frame = header + body
    return struct.pack(">i", len(frame)) + frame


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        data += chunk
    return bytes(data)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return values if len(values) > 1 else values[0]

    def string(self) -> str:
        size = self.take(">h")
        text = self.data[self.pos:self.pos + size].decode()
        self.pos += size
        return text


def batch_attributes(bootstrap: str, topic: str, partition: int = 0) -> list[int]:
    """The ``attributes`` field of every batch stored in topic/partition from offset 0."""
    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(_fetch_request(topic, partition))
        size = struct.unpack(">i", _read_exactly(sock, 4))[0]
        resp = _Reader(_read_exactly(sock, size))
    resp.take(">i")  # correlation id (response header v0)
    resp.take(">i")  # throttle time
    for _ in range(resp.take(">i")):
        resp.string()
        for _ in range(resp.take(">i")):
            _partition, error_code, _hw, _lso = resp.take(">ihqq")
            aborted = resp.take(">i")
            resp.pos += 16 * max(aborted, 0)
            records_size = resp.take(">i")
            if error_code:
                raise RuntimeError(f"Fetch v4 of {topic}-{partition} answered error {error_code}")
            return _walk_batches(resp.data[resp.pos:resp.pos + max(records_size, 0)])
    raise RuntimeError(f"Fetch v4 answer has no {topic}-{partition}")


def _walk_batches(records: bytes) -> list[int]:
    attributes, pos = [], 0
    while pos + 61 <= len(records):  # a whole RecordBatch v2 header
        batch_length = struct.unpack_from(">i", records, pos + 8)[0]
        magic = records[pos + 16]
        if magic != 2:
            raise RuntimeError(f"batch at byte {pos} has magic {magic}, expected 2")
        attributes.append(struct.unpack_from(">h", records, pos + 21)[0])
        pos += 12 + batch_length
    return attributes


def stored_codecs(bootstrap: str, topic: str, partition: int = 0) -> list[str]:
    """Codec names of the stored batches, e.g. ["snappy", "snappy"]."""
    return [CODECS.get(a & 7, f"codec-{a & 7}") for a in batch_attributes(bootstrap, topic, partition)]


if __name__ == "__main__":
    target, name = sys.argv[1], sys.argv[2]
    part = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    print(json.dumps({"codecs": stored_codecs(target, name, part)}))
