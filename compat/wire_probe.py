"""Look at the record batches kafkaish stores, independently of any client library.

The compression scenarios use it to prove that the batches really are compressed:
a client may silently fall back to no compression (librdkafka does when it thinks
the broker cannot take the codec), and a consumer cannot tell. The idempotence
scenario uses it to see producer ids and sequence numbers, which no client API
shows. This module speaks just enough of the protocol by hand — one Fetch v4
request — to read each stored batch's header (RecordBatch v2).

    python compat/wire_probe.py HOST:PORT TOPIC [PARTITION]
    # prints {"codecs": ["snappy"], "batches": [{"base_offset": 0, "attributes": 2, ...}]}
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


def stored_batches(bootstrap: str, topic: str, partition: int = 0) -> list[dict]:
    """The header of every batch stored in topic/partition from offset 0."""
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


# RecordBatch v2 header, from baseOffset to recordsCount (61 bytes)
_BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")


def _walk_batches(records: bytes) -> list[dict]:
    batches, pos = [], 0
    while pos + _BATCH_HEADER.size <= len(records):  # a whole header; a partial batch may end the answer
        (base_offset, batch_length, _epoch, magic, _crc, attributes, _last_delta, _base_ts, _max_ts,
         producer_id, producer_epoch, base_sequence, records_count) = _BATCH_HEADER.unpack_from(records, pos)
        if magic != 2:
            raise RuntimeError(f"batch at byte {pos} has magic {magic}, expected 2")
        batches.append({"base_offset": base_offset, "attributes": attributes,
                        "codec": CODECS.get(attributes & 7, f"codec-{attributes & 7}"),
                        "transactional": bool(attributes & 0x10), "control": bool(attributes & 0x20),
                        "producer_id": producer_id, "producer_epoch": producer_epoch,
                        "base_sequence": base_sequence, "records_count": records_count})
        pos += 12 + batch_length
    return batches


def stored_codecs(bootstrap: str, topic: str, partition: int = 0) -> list[str]:
    """Codec names of the stored batches, e.g. ["snappy", "snappy"]."""
    return [b["codec"] for b in stored_batches(bootstrap, topic, partition)]


def sequence_problems(batches: list[dict]) -> list[str]:
    """What is wrong with the batches of one idempotent producer: every batch must carry
    the same producer id/epoch and base sequences must run on without a gap from 0."""
    problems, expected = [], 0
    ids = {(b["producer_id"], b["producer_epoch"]) for b in batches}
    if len(ids) != 1 or min(pid for pid, _ in ids) < 0:
        problems.append(f"producer id/epoch of the batches: {sorted(ids)}")
    for b in batches:
        if b["base_sequence"] != expected:
            problems.append(f"batch at offset {b['base_offset']} has base sequence {b['base_sequence']}, "
                            f"expected {expected}")
        expected = b["base_sequence"] + b["records_count"]
    return problems


if __name__ == "__main__":
    target, name = sys.argv[1], sys.argv[2]
    part = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    found = stored_batches(target, name, part)
    print(json.dumps({"codecs": [b["codec"] for b in found], "batches": found,
                      "sequence_problems": sequence_problems(found)}))
