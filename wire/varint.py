"""Zig-zag (signed) varints as used inside RecordBatch v2 records.

Kafka's record fields use ``ByteUtils.writeVarint``/``writeVarlong``: the value is zig-zag
mapped (``(v << 1) ^ (v >> 63)``) and written 7 bits at a time, low group first, with the
high bit of each byte meaning "more follows". A 32-bit varint and a 64-bit varlong of the
same value have the same encoding, so one reader and one writer serve both.

These are *not* the unsigned varints of the flexible request/response protocol.
Errors raise ``ValueError`` (or ``IndexError`` on truncation); the record layer turns
both into ``CorruptRecordError``.
"""

from __future__ import annotations

BytesLike = bytes | bytearray | memoryview

# A varlong is at most 10 bytes (64 bits / 7); ByteUtils.readVarlong rejects longer.
_MAX_SHIFT = 63


def write_varint(value: int, out: bytearray) -> None:
    """Append ``value`` (signed, int64 range) to ``out`` as a zig-zag varint."""
    v = (value << 1) ^ (value >> 63)
    while v > 0x7F:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def read_varint(buf: BytesLike, pos: int) -> tuple[int, int]:
    """Read a zig-zag varint at ``pos``; return ``(value, next_pos)``."""
    b = buf[pos]
    if b < 0x80:  # fast path: small values (most lengths and deltas) are one byte
        return (b >> 1) ^ -(b & 1), pos + 1
    result = b & 0x7F
    shift = 7
    pos += 1
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
        if shift > _MAX_SHIFT:
            raise ValueError("varint is longer than 10 bytes")
