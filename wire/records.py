"""RecordBatch v2 (magic 2): parse, verify, rewrite in place, build; control records.

Owns the on-disk/on-wire record format. Storage appends and serves these bytes as they
are; the broker only rewrites header fields (base offset, leader epoch, LogAppendTime).
Legacy MessageSets (magic 0/1) are out of scope: we advertise Produce >= 3.

Batch layout (Kafka's ``DefaultRecordBatch``), big-endian::

    offset  field                  type
    0       baseOffset             int64
    8       batchLength            int32   bytes after this field; size = 12 + batchLength
    12      partitionLeaderEpoch   int32
    16      magic                  int8    = 2
    17      crc                    uint32  CRC-32C of bytes [21, end of batch)
    21      attributes             int16   bits 0-2 codec, 3 timestamp type (1 = LogAppendTime),
                                           4 transactional, 5 control, 6 delete horizon
    23      lastOffsetDelta        int32
    27      baseTimestamp          int64
    35      maxTimestamp           int64
    43      producerId             int64   -1 = none
    51      producerEpoch          int16   -1 = none
    53      baseSequence           int32   -1 = none
    57      recordsCount           int32
    61      records...                     compressed as one stream when codec != 0

The CRC does not cover baseOffset, batchLength, partitionLeaderEpoch or magic, so a broker
rewrites baseOffset and the leader epoch without recomputing it.

Record layout (Kafka's ``DefaultRecord``); varint/varlong are zig-zag signed::

    length          varint   bytes after this field
    attributes      int8     unused
    timestampDelta  varlong  relative to baseTimestamp
    offsetDelta     varint   relative to baseOffset
    keyLength       varint   -1 = null key
    key             bytes
    valueLength     varint   -1 = null value
    value           bytes
    headerCount     varint
    headers         [varint keyLength, utf-8 key, varint valueLength (-1 = null), value]

Control batch (transaction marker, ``MemoryRecords.writeEndTransactionalMarker``):
attributes transactional|control (0x30), baseSequence -1, exactly one record whose key is
``int16 version 0, int16 type`` (``ControlRecordType``: 0 ABORT, 1 COMMIT) and whose value
is ``int16 version 0, int32 coordinatorEpoch`` (``EndTransactionMarker``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple

from kafkaish.wire.compression import BytesLike, CorruptRecordError, compress, decompress
from kafkaish.wire.constants import LOG_OVERHEAD, TimestampType
from kafkaish.wire.errors import LocalProtocolError
from kafkaish.wire.varint import read_varint, write_varint


def crc32c(data: BytesLike) -> int:
    """CRC-32C of ``data``. The crc32c package (hardware-based) is imported on the first call, as
    its import reads package metadata (~10 ms of a broker's start); the call then rebinds this
    name to its C function, so later calls go straight to it."""
    global crc32c
    from crc32c import crc32c as implementation

    crc32c = implementation
    return implementation(data)


__all__ = [
    "HEADER_SIZE",
    "LOG_OVERHEAD",
    "MAGIC",
    "NO_SEQUENCE",
    "NO_TIMESTAMP",
    "BatchHeader",
    "ControlType",
    "CorruptRecordError",
    "Record",
    "RecordLike",
    "build_batch",
    "build_control_batch",
    "compute_crc",
    "decode_records",
    "is_control_batch",
    "iter_batches",
    "iter_records",
    "record_timestamps",
    "parse_control_record",
    "parse_header",
    "set_base_offset",
    "set_log_append_time",
    "set_partition_leader_epoch",
    "single_batch",
    "stored_header",
    "verify_crc",
]

HEADER_SIZE = 61
MAGIC = 2

_HEADER = struct.Struct(">qiibIhiqqqhii")
assert _HEADER.size == HEADER_SIZE
_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_INT64 = struct.Struct(">q")
_UINT32 = struct.Struct(">I")

_PARTITION_LEADER_EPOCH_OFFSET = 12
_MAGIC_OFFSET = 16
_CRC_OFFSET = 17
_ATTRIBUTES_OFFSET = 21
_MAX_TIMESTAMP_OFFSET = 35

COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_MASK = 0x08
TRANSACTIONAL_FLAG = 0x10
CONTROL_FLAG = 0x20

NO_SEQUENCE = -1
NO_TIMESTAMP = -1
_INT32_MAX = 2**31 - 1


class BatchHeader(NamedTuple):
    """The 61-byte RecordBatch v2 header, field for field.

    A named tuple, not a frozen dataclass: it is built once or twice per produced batch, and a
    frozen dataclass sets each of its 13 fields through ``object.__setattr__`` (issue #15)."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def size(self) -> int:
        return LOG_OVERHEAD + self.batch_length

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def compression(self) -> int:
        return self.attributes & COMPRESSION_MASK

    @property
    def timestamp_type(self) -> int:
        return (self.attributes & TIMESTAMP_TYPE_MASK) >> 3

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_FLAG)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_FLAG)

    @property
    def last_sequence(self) -> int:
        # DefaultRecordBatch.lastSequence -> incrementSequence: sequences wrap to 0 after int32 max.
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        if self.base_sequence > _INT32_MAX - self.last_offset_delta:
            return self.last_offset_delta - (_INT32_MAX - self.base_sequence) - 1
        return self.base_sequence + self.last_offset_delta


@dataclass(frozen=True, slots=True)
class Record:
    """One decoded record with absolute offset and timestamp (Kafka's ``DefaultRecord``)."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    attributes: int = 0


class ControlType(IntEnum):
    """Kafka's ``ControlRecordType`` for transaction markers (2-6 are KRaft-only)."""

    ABORT = 0
    COMMIT = 1


# --------------------------------------------------------------------------- header


def parse_header(buf: BytesLike, pos: int = 0) -> BatchHeader:
    """Parse the batch header at ``pos``; CorruptRecordError unless magic 2 and a sane length."""
    if len(buf) - pos < HEADER_SIZE:
        if len(buf) - pos > _MAGIC_OFFSET and buf[pos + _MAGIC_OFFSET] != MAGIC:
            raise CorruptRecordError(f"unsupported record magic {buf[pos + _MAGIC_OFFSET]}")
        raise CorruptRecordError(f"truncated batch header: {len(buf) - pos} < {HEADER_SIZE} bytes")
    header = BatchHeader(*_HEADER.unpack_from(buf, pos))
    if header.magic != MAGIC:
        raise CorruptRecordError(f"unsupported record magic {header.magic}")
    if header.batch_length < HEADER_SIZE - LOG_OVERHEAD:
        raise CorruptRecordError(f"batch length {header.batch_length} is smaller than the header")
    return header


def iter_batches(
    buf: BytesLike, pos: int = 0, *, allow_partial: bool = False
) -> Iterator[tuple[int, BatchHeader]]:
    """Yield ``(pos, header)`` for each batch of concatenated batches.

    A truncated trailing batch raises CorruptRecordError, or ends the iteration silently
    when ``allow_partial`` (a fetch response may end mid-batch, cut at max_bytes).
    """
    end = len(buf)
    while pos < end:
        remaining = end - pos
        if remaining > _MAGIC_OFFSET and buf[pos + _MAGIC_OFFSET] != MAGIC:
            raise CorruptRecordError(f"unsupported record magic {buf[pos + _MAGIC_OFFSET]} at {pos}")
        if remaining < HEADER_SIZE:
            if allow_partial:
                return
            raise CorruptRecordError(f"truncated batch header at {pos}")
        header = parse_header(buf, pos)
        if header.size > remaining:
            if allow_partial:
                return
            raise CorruptRecordError(f"truncated batch at {pos}: {remaining} of {header.size} bytes")
        yield pos, header
        pos += header.size


def single_batch(buf: BytesLike) -> BatchHeader | None:
    """The header when ``buf`` holds exactly one batch that ``iter_batches`` accepts, else None
    (the caller then takes ``iter_batches``, which raises the error). One ``struct`` call and no
    generator: the common Produce partition (one batch, as ProduceRequest v3+ requires) costs
    one parse on its way to the log (issue #15)."""
    if len(buf) < HEADER_SIZE:
        return None
    header = tuple.__new__(BatchHeader, _HEADER.unpack_from(buf))
    length = header[1]
    if header[3] != MAGIC or length < HEADER_SIZE - LOG_OVERHEAD or length + LOG_OVERHEAD != len(buf):
        return None
    return header


def stored_header(header: BatchHeader, base_offset: int, partition_leader_epoch: int) -> BatchHeader:
    """``header`` after ``set_base_offset`` and ``set_partition_leader_epoch``, without parsing the
    bytes again (neither field is covered by the CRC, nothing else changes)."""
    return tuple.__new__(BatchHeader, (base_offset, header[1], partition_leader_epoch) + header[3:])


def compute_crc(buf: BytesLike, pos: int, size: int) -> int:
    """CRC-32C over attributes..end of the batch (``DefaultRecordBatch.computeChecksum``)."""
    return crc32c(memoryview(buf)[pos + _ATTRIBUTES_OFFSET : pos + size])


def verify_crc(buf: BytesLike, pos: int, header: BatchHeader) -> bool:
    """True when the stored CRC matches the batch bytes."""
    if len(buf) - pos < header.size:
        return False
    return compute_crc(buf, pos, header.size) == header.crc


def is_control_batch(buf: BytesLike, pos: int = 0) -> bool:
    """True when the batch at ``pos`` has the control attribute (bit 5)."""
    (attributes,) = _INT16.unpack_from(buf, pos + _ATTRIBUTES_OFFSET)
    return bool(attributes & CONTROL_FLAG)


# ------------------------------------------------------------------ in-place rewrites


def set_base_offset(buf: bytearray | memoryview, pos: int, offset: int) -> None:
    """Assign offsets by rewriting baseOffset only; records carry deltas, CRC unaffected."""
    _INT64.pack_into(buf, pos, offset)


def set_partition_leader_epoch(buf: bytearray | memoryview, pos: int, epoch: int) -> None:
    """Rewrite partitionLeaderEpoch (not covered by the CRC)."""
    _INT32.pack_into(buf, pos + _PARTITION_LEADER_EPOCH_OFFSET, epoch)


def set_log_append_time(buf: bytearray | memoryview, pos: int, timestamp_ms: int) -> None:
    """Mark the batch LogAppendTime with ``timestamp_ms`` and recompute the CRC.

    As ``DefaultRecordBatch.setMaxTimestamp``: sets the timestamp-type bit and maxTimestamp;
    baseTimestamp and the records are left alone (readers use maxTimestamp for every
    record of a LogAppendTime batch), so compressed batches need no recompression.
    """
    (attributes,) = _INT16.unpack_from(buf, pos + _ATTRIBUTES_OFFSET)
    (current,) = _INT64.unpack_from(buf, pos + _MAX_TIMESTAMP_OFFSET)
    if attributes & TIMESTAMP_TYPE_MASK and current == timestamp_ms:
        return  # Kafka skips the CRC recomputation when nothing changes
    (batch_length,) = _INT32.unpack_from(buf, pos + 8)
    _INT16.pack_into(buf, pos + _ATTRIBUTES_OFFSET, attributes | TIMESTAMP_TYPE_MASK)
    _INT64.pack_into(buf, pos + _MAX_TIMESTAMP_OFFSET, timestamp_ms)
    _UINT32.pack_into(buf, pos + _CRC_OFFSET, compute_crc(buf, pos, LOG_OVERHEAD + batch_length))


# --------------------------------------------------------------------------- decoding


def _read_bytes(buf: bytes, pos: int) -> tuple[bytes | None, int]:
    b = buf[pos]
    if b < 0x80:  # one-byte length: inline the zig-zag decode (hot for short keys)
        length, pos = (b >> 1) ^ -(b & 1), pos + 1
    else:
        length, pos = read_varint(buf, pos)
    if length < 0:
        return None, pos
    end = pos + length
    if end > len(buf):
        raise CorruptRecordError("record field runs past the end of the batch")
    return buf[pos:end], end


def _read_headers(buf: bytes, pos: int) -> tuple[list[tuple[str, bytes | None]], int]:
    count, pos = read_varint(buf, pos)
    if count < 0:
        raise CorruptRecordError(f"negative header count {count}")
    headers: list[tuple[str, bytes | None]] = []
    for _ in range(count):
        hkey, pos = _read_bytes(buf, pos)
        if hkey is None:
            raise CorruptRecordError("null header key")
        hvalue, pos = _read_bytes(buf, pos)
        headers.append((hkey.decode("utf-8"), hvalue))
    return headers, pos


def _read_record(buf: bytes, pos: int, base_offset: int, base_ts: int, fixed_ts: int | None) -> tuple[Record, int]:
    length, pos = read_varint(buf, pos)
    end = pos + length
    if length <= 0 or end > len(buf):
        raise CorruptRecordError(f"bad record length {length}")
    attributes = buf[pos]
    ts_delta, pos = read_varint(buf, pos + 1)
    offset_delta, pos = read_varint(buf, pos)
    key, pos = _read_bytes(buf, pos)
    value, pos = _read_bytes(buf, pos)
    if buf[pos] == 0:  # no headers: the common case
        headers: list[tuple[str, bytes | None]] = []
        pos += 1
    else:
        headers, pos = _read_headers(buf, pos)
    if pos != end:  # DefaultRecord.readFrom: "Invalid record size"
        raise CorruptRecordError(f"record size mismatch: expected end {end}, read to {pos}")
    timestamp = base_ts + ts_delta if fixed_ts is None else fixed_ts
    return Record(base_offset + offset_delta, timestamp, key, value, headers, attributes), end


def _records_section(buf: BytesLike, pos: int, header: BatchHeader) -> bytes:
    if len(buf) - pos < header.size:
        raise CorruptRecordError(f"truncated batch: {len(buf) - pos} of {header.size} bytes")
    body = memoryview(buf)[pos + HEADER_SIZE : pos + header.size]
    if header.compression:
        return decompress(header.compression, body)
    # One copy up front: slicing bytes is cheaper than memoryview slice + bytes() per field.
    return bytes(body)


def _open_batch(buf: BytesLike, pos: int) -> tuple[BatchHeader, bytes, int | None]:
    """The header and records section of the batch at ``pos``, and the timestamp every record
    has when the batch is LogAppendTime (DefaultRecordBatch hands each one the maxTimestamp)."""
    header = parse_header(buf, pos)
    fixed_ts = header.max_timestamp if header.timestamp_type == TimestampType.LOG_APPEND_TIME else None
    return header, _records_section(buf, pos, header), fixed_ts


def iter_records(buf: BytesLike, pos: int = 0) -> Iterator[Record]:
    """Yield the records of the one batch at ``pos`` (decompressing if needed)."""
    header, body, fixed_ts = _open_batch(buf, pos)
    base_offset, base_ts = header.base_offset, header.base_timestamp
    rpos = 0
    try:
        for _ in range(header.records_count):
            record, rpos = _read_record(body, rpos, base_offset, base_ts, fixed_ts)
            yield record
    except (IndexError, ValueError) as exc:  # truncated varint, bad utf-8, ...
        raise CorruptRecordError(f"malformed record: {exc}") from exc
    if rpos != len(body):
        raise CorruptRecordError(f"{len(body) - rpos} trailing bytes after {header.records_count} records")


def record_timestamps(buf: BytesLike, pos: int = 0) -> Iterator[tuple[int, int]]:
    """``(offset, timestamp)`` of each record of the batch at ``pos``, reading only each record's
    length, timestamp delta and offset delta: what a timestamp check needs, several times cheaper
    than ``iter_records``."""
    header, body, fixed_ts = _open_batch(buf, pos)
    base_offset, base_ts = header.base_offset, header.base_timestamp
    rpos = 0
    try:
        for _ in range(header.records_count):
            length, start = read_varint(body, rpos)
            ts_delta, p = read_varint(body, start + 1)  # after the attributes byte
            offset_delta, _ = read_varint(body, p)
            yield base_offset + offset_delta, base_ts + ts_delta if fixed_ts is None else fixed_ts
            rpos = start + length
    except (IndexError, ValueError) as exc:
        raise CorruptRecordError(f"malformed record: {exc}") from exc


def decode_records(buf: BytesLike, pos: int = 0) -> list[Record]:
    """All records of the one batch at ``pos``, with absolute offsets and timestamps."""
    return list(iter_records(buf, pos))


def parse_control_record(record: Record) -> tuple[ControlType, int]:
    """``(ControlType, coordinator_epoch)`` of a transaction marker record."""
    key, value = record.key, record.value
    if key is None or len(key) < 4:
        raise CorruptRecordError("control record key shorter than 4 bytes")
    # ControlRecordType.parseTypeId: int16 version, int16 type; newer versions only append.
    type_id = _INT16.unpack_from(key, 2)[0]
    if type_id not in (ControlType.ABORT, ControlType.COMMIT):
        raise CorruptRecordError(f"not a transaction marker: control type {type_id}")
    if value is None or len(value) < 6:
        raise CorruptRecordError("end transaction marker value shorter than 6 bytes")
    # EndTransactionMarker: int16 version, int32 coordinatorEpoch.
    return ControlType(type_id), _INT32.unpack_from(value, 2)[0]


# --------------------------------------------------------------------------- building


RecordLike = Record | tuple[bytes | None, bytes | None]


def _encode_record(
    out: bytearray,
    offset_delta: int,
    ts_delta: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]],
    attributes: int,
) -> None:
    body = bytearray((attributes,))
    write_varint(ts_delta, body)
    write_varint(offset_delta, body)
    _write_bytes(body, key)
    _write_bytes(body, value)
    write_varint(len(headers), body)
    for hkey, hvalue in headers:
        _write_bytes(body, hkey.encode("utf-8"))
        _write_bytes(body, hvalue)
    write_varint(len(body), out)
    out += body


def _write_bytes(out: bytearray, data: bytes | None) -> None:
    if data is None:
        write_varint(-1, out)
    else:
        write_varint(len(data), out)
        out += data


def _normalise(records: Iterable[RecordLike], timestamp_ms: int | None) -> list[Record]:
    result: list[Record] = []
    for index, item in enumerate(records):
        if isinstance(item, Record):
            result.append(item)
        elif timestamp_ms is None:  # wire reads no clock: the caller says when
            raise LocalProtocolError("build_batch: (key, value) records need timestamp_ms")
        else:
            key, value = item
            result.append(Record(index, timestamp_ms, key, value))
    return result


def build_batch(
    records: Iterable[RecordLike],
    *,
    base_offset: int = 0,
    compression: int = 0,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = NO_SEQUENCE,
    transactional: bool = False,
    control: bool = False,
    timestamp_type: int = 0,
    partition_leader_epoch: int = -1,
    timestamp_ms: int | None = None,
) -> bytes:
    """Build one RecordBatch v2.

    ``records`` are ``Record`` objects (their offsets and timestamps are made relative to
    the first record's) or ``(key, value)`` pairs (offset deltas 0, 1, ... and timestamp
    ``timestamp_ms``, which pairs require). ``base_offset`` goes in the header as is.
    """
    items = _normalise(records, timestamp_ms)
    body = bytearray()
    if items:
        first_offset, base_ts = items[0].offset, items[0].timestamp
        max_ts = max(r.timestamp for r in items)
        last_delta = max(r.offset for r in items) - first_offset
        for r in items:
            offset_delta, ts_delta = r.offset - first_offset, r.timestamp - base_ts
            _encode_record(body, offset_delta, ts_delta, r.key, r.value, r.headers, r.attributes)
    else:  # empty batch, as compaction may leave (DefaultRecordBatch.writeEmptyHeader)
        base_ts = max_ts = NO_TIMESTAMP
        last_delta = 0
    if compression:
        body = bytearray(compress(compression, body))
    attributes = (
        (compression & COMPRESSION_MASK)
        | (TIMESTAMP_TYPE_MASK if timestamp_type else 0)
        | (TRANSACTIONAL_FLAG if transactional else 0)
        | (CONTROL_FLAG if control else 0)
    )
    out = bytearray(HEADER_SIZE)
    _HEADER.pack_into(
        out, 0, base_offset, HEADER_SIZE - LOG_OVERHEAD + len(body), partition_leader_epoch, MAGIC, 0,
        attributes, last_delta, base_ts, max_ts, producer_id, producer_epoch, base_sequence, len(items),
    )  # fmt: skip
    out += body
    _UINT32.pack_into(out, _CRC_OFFSET, compute_crc(out, 0, len(out)))
    return bytes(out)


def build_control_batch(
    *,
    producer_id: int,
    producer_epoch: int,
    commit: bool,
    coordinator_epoch: int,
    base_offset: int,
    timestamp_ms: int,
    partition_leader_epoch: int = -1,
) -> bytes:
    """A transaction marker batch (``MemoryRecords.writeEndTransactionalMarker``)."""
    control_type = ControlType.COMMIT if commit else ControlType.ABORT
    key = _INT16.pack(0) + _INT16.pack(control_type)  # ControlRecordType key, version 0
    value = _INT16.pack(0) + _INT32.pack(coordinator_epoch)  # EndTransactionMarker, version 0
    return build_batch(
        [Record(0, timestamp_ms, key, value)],
        base_offset=base_offset,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=NO_SEQUENCE,
        transactional=True,
        control=True,
        partition_leader_epoch=partition_leader_epoch,
    )
