"""kafkaish.wire.records and kafkaish.wire.compression: RecordBatch v2, codecs, control records.

Interop: batches from kafka-python's and aiokafka's own builders decode with ours, and ours
decode with their readers, for every codec.
"""

from __future__ import annotations

import socketserver
import struct
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkaish.wire import compression, records
from kafkaish.wire.compression import XERIAL_MAGIC, compress, decompress
from kafkaish.wire.errors import ErrorCode, KafkaError, LocalProtocolError
from kafkaish.wire.records import (
    HEADER_SIZE,
    BatchHeader,
    ControlType,
    CorruptRecordError,
    Record,
    build_batch,
    build_control_batch,
    decode_records,
    is_control_batch,
    iter_batches,
    iter_records,
    parse_control_record,
    parse_header,
    set_base_offset,
    set_log_append_time,
    set_partition_leader_epoch,
    single_batch,
    stored_header,
    verify_crc,
)
from kafkaish.wire.varint import read_varint, write_varint

CODECS = [0, 1, 2, 3, 4]
PAYLOAD = b"".join(b"kafkaish record %d " % i for i in range(2000))
TS = 1_700_000_000_000  # (key, value) records take their timestamp from the caller


def _sample_records() -> list[Record]:
    return [
        Record(0, 1_700_000_000_000, b"key-0", b"value-0", [("h1", b"v1"), ("h2", None)]),
        Record(1, 1_700_000_000_005, None, b"value-1"),
        Record(2, 1_699_999_999_990, b"key-2", None, [("\u00e9t\u00e9", b"")]),
    ]


# ----------------------------------------------------------------------------- varints


@pytest.mark.parametrize("value", [0, 1, -1, 63, -64, 64, 300, -300, 2**31 - 1, -(2**31), 2**63 - 1, -(2**63)])
def test_varint_round_trip(value: int) -> None:
    out = bytearray()
    write_varint(value, out)
    assert read_varint(out, 0) == (value, len(out))


def test_varint_matches_kafka_zigzag() -> None:
    # ByteUtils.writeVarint: 0 -> 00, -1 -> 01, 1 -> 02, 64 -> 80 01
    for value, encoded in [(0, b"\x00"), (-1, b"\x01"), (1, b"\x02"), (64, b"\x80\x01"), (-65, b"\x81\x01")]:
        out = bytearray()
        write_varint(value, out)
        assert bytes(out) == encoded


def test_varint_too_long_rejected() -> None:
    with pytest.raises(ValueError):
        read_varint(b"\xff" * 11, 0)


# -------------------------------------------------------------------------- compression


@pytest.mark.parametrize("codec", [1, 2, 3, 4])
@pytest.mark.parametrize("data", [b"", b"x", PAYLOAD], ids=["empty", "one", "big"])
def test_compression_round_trip(codec: int, data: bytes) -> None:
    packed = compress(codec, data)
    assert isinstance(packed, bytes)
    assert decompress(codec, packed) == data
    assert decompress(codec, memoryview(bytearray(packed))) == data


def test_snappy_writes_xerial_and_reads_raw() -> None:
    import snappy  # python-snappy, an independent implementation

    packed = compress(2, PAYLOAD)
    assert packed.startswith(XERIAL_MAGIC + struct.pack(">ii", 1, 1))
    assert decompress(2, snappy.compress(PAYLOAD)) == PAYLOAD  # raw block, as librdkafka writes
    assert snappy.decompress(packed[20:20 + struct.unpack(">i", packed[16:20])[0]]) == PAYLOAD[: 32 * 1024]


def test_snappy_empty_input_still_has_a_block() -> None:
    # librdkafka only takes the xerial path for input longer than 20 bytes (header + 4)
    packed = compress(2, b"")
    assert packed.startswith(XERIAL_MAGIC) and len(packed) > 20
    assert decompress(2, packed) == b""


def test_snappy_reads_kafka_python_xerial() -> None:
    from kafka.codec import snappy_encode

    framed = snappy_encode(PAYLOAD, xerial_compatible=True, xerial_blocksize=4096)
    assert framed.startswith(XERIAL_MAGIC)
    assert decompress(2, framed) == PAYLOAD


def test_lz4_frame_uses_independent_blocks() -> None:
    import lz4.frame

    packed = compress(3, PAYLOAD)
    assert packed[:4] == b"\x04\x22\x4d\x18"  # LZ4 frame magic
    assert packed[4] & 0x20  # FLG.BlockIndependence: KafkaLZ4BlockInputStream needs it
    assert lz4.frame.decompress(packed) == PAYLOAD
    assert decompress(3, lz4.frame.compress(PAYLOAD, block_linked=False)) == PAYLOAD


def test_zstd_reads_streamed_frame_without_content_size() -> None:
    import zstandard

    obj = zstandard.ZstdCompressor(write_content_size=False).compressobj()
    framed = obj.compress(PAYLOAD) + obj.flush()
    assert decompress(4, framed) == PAYLOAD


@pytest.mark.parametrize("codec", [0, 5, 7, -1])
def test_unknown_codec(codec: int) -> None:
    for fn in (compress, decompress):
        with pytest.raises(KafkaError) as info:
            fn(codec, b"abc")
        assert info.value.code == ErrorCode.UNSUPPORTED_COMPRESSION_TYPE
        assert not isinstance(info.value, CorruptRecordError)


@pytest.mark.parametrize("codec", [1, 2, 3, 4])
def test_corrupt_compressed_data(codec: int) -> None:
    garbage = b"\x00\x01garbage that is not compressed \xff\xff\xff"
    with pytest.raises(CorruptRecordError) as info:
        decompress(codec, garbage)
    assert info.value.code == ErrorCode.CORRUPT_MESSAGE


def test_truncated_xerial_block() -> None:
    packed = compress(2, PAYLOAD)
    with pytest.raises(CorruptRecordError):
        decompress(2, packed[:-10])


def test_corrupt_record_error_is_kafka_error() -> None:
    err = CorruptRecordError("x")
    assert isinstance(err, KafkaError)
    assert err.code == ErrorCode.CORRUPT_MESSAGE
    assert records.CorruptRecordError is compression.CorruptRecordError


# ------------------------------------------------------------------------------ batches


def test_build_and_parse_header() -> None:
    data = build_batch(
        _sample_records(), base_offset=100, producer_id=7, producer_epoch=3, base_sequence=10,
        transactional=True, partition_leader_epoch=5,
    )  # fmt: skip
    header = parse_header(data)
    assert isinstance(header, BatchHeader)
    assert header.size == len(data) == 12 + header.batch_length
    assert (header.base_offset, header.last_offset_delta, header.last_offset) == (100, 2, 102)
    assert header.magic == 2 and header.records_count == 3
    assert header.base_timestamp == 1_700_000_000_000
    assert header.max_timestamp == 1_700_000_000_005
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (7, 3, 10)
    assert header.last_sequence == 12
    assert header.partition_leader_epoch == 5
    assert header.is_transactional and not header.is_control
    assert header.compression == 0 and header.timestamp_type == 0
    assert verify_crc(data, 0, header)


def test_decode_records_absolute_offsets_and_timestamps() -> None:
    data = build_batch(_sample_records(), base_offset=100)
    got = decode_records(data)
    assert [r.offset for r in got] == [100, 101, 102]
    assert [r.timestamp for r in got] == [r.timestamp for r in _sample_records()]
    assert got[0].headers == [("h1", b"v1"), ("h2", None)]
    assert got[1].key is None and got[2].value is None
    assert got[2].headers == [("\u00e9t\u00e9", b"")]
    assert list(iter_records(data)) == got


def test_build_from_key_value_pairs() -> None:
    data = build_batch([(b"a", b"1"), (None, b"2"), (b"c", None)], base_offset=5, timestamp_ms=42)
    got = decode_records(data)
    assert [(r.offset, r.timestamp, r.key, r.value) for r in got] == [
        (5, 42, b"a", b"1"), (6, 42, None, b"2"), (7, 42, b"c", None),
    ]  # fmt: skip


@pytest.mark.parametrize("codec", CODECS)
def test_batch_round_trip_every_codec(codec: int) -> None:
    recs = [Record(i, 1000 + i, b"k%d" % i, PAYLOAD[: 50 * i], [("i", b"%d" % i)]) for i in range(40)]
    data = build_batch(recs, compression=codec)
    header = parse_header(data)
    assert header.compression == codec
    assert verify_crc(data, 0, header)
    assert decode_records(data) == recs
    if codec:
        assert len(data) < len(build_batch(recs))


def test_empty_batch() -> None:
    data = build_batch([])
    header = parse_header(data)
    assert header.records_count == 0 and header.size == HEADER_SIZE
    assert decode_records(data) == []


def test_crc_detects_flipped_byte() -> None:
    data = bytearray(build_batch(_sample_records()))
    header = parse_header(data)
    assert verify_crc(data, 0, header)
    for index in (21, 40, HEADER_SIZE + 3, len(data) - 1):
        flipped = bytearray(data)
        flipped[index] ^= 0x01
        assert not verify_crc(flipped, 0, parse_header(flipped)), index


def test_crc_excludes_offset_and_leader_epoch() -> None:
    data = bytearray(build_batch(_sample_records()))
    set_base_offset(data, 0, 123456789)
    set_partition_leader_epoch(data, 0, 77)
    header = parse_header(data)
    assert (header.base_offset, header.partition_leader_epoch) == (123456789, 77)
    assert verify_crc(data, 0, header)
    assert [r.offset for r in decode_records(data)] == [123456789, 123456790, 123456791]


def test_set_base_offset_at_position_in_buffer() -> None:
    first, second = build_batch([(b"a", b"1")], timestamp_ms=TS), build_batch([(b"b", b"2"), (b"c", b"3")], timestamp_ms=TS)
    buf = bytearray(first + second)
    set_base_offset(buf, len(first), 10)
    batches = list(iter_batches(buf))
    assert [(pos, h.base_offset, h.last_offset) for pos, h in batches] == [(0, 0, 0), (len(first), 10, 11)]
    assert all(verify_crc(buf, pos, h) for pos, h in batches)



def _one_batch_per_iter_batches(buf: bytes) -> BatchHeader | None:
    try:
        batches = list(iter_batches(buf))
    except CorruptRecordError:
        return None
    return batches[0][1] if len(batches) == 1 else None


def test_single_batch_agrees_with_iter_batches() -> None:
    """The validator's one-parse fast path (issue #15) accepts exactly what iter_batches reads as
    one whole batch, with the same header: every truncation, every byte of the header flipped, and
    two batches back to back (which must take the general path)."""
    data = build_batch(_sample_records(), timestamp_ms=TS)
    cases = [data[:n] for n in range(len(data) + 1)]
    cases += [data + data, data + data[:10]]
    for i in range(HEADER_SIZE):
        for flip in (0x01, 0x80, 0xFF):
            damaged = bytearray(data)
            damaged[i] ^= flip
            cases.append(bytes(damaged))
    accepted = 0
    for case in cases:
        for wrap in (bytes, memoryview):
            header = single_batch(wrap(case))
            assert header == _one_batch_per_iter_batches(case)
            if header is not None:
                accepted += 1
                assert type(header) is BatchHeader and header == parse_header(case)
    assert single_batch(data) == parse_header(data) and accepted > 2
    assert single_batch(data + data) is None  # two batches: iter_batches' job


def test_stored_header_is_the_rewritten_header() -> None:
    """PartitionLog derives the stored header instead of parsing the rewritten bytes again."""
    buf = bytearray(build_batch(_sample_records(), timestamp_ms=TS, producer_id=7, base_sequence=3))
    header = parse_header(buf)
    set_base_offset(buf, 0, 4242)
    set_partition_leader_epoch(buf, 0, 0)
    stored = stored_header(header, 4242, 0)
    assert stored == parse_header(buf) and type(stored) is BatchHeader
    assert (stored.last_offset, stored.size, stored.producer_id) == (4244, len(buf), 7)


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview], ids=["bytes", "bytearray", "memoryview"])
def test_buffer_types_and_positions(wrap: type) -> None:
    first, second = build_batch([(b"a", b"1")], timestamp_ms=1), build_batch(_sample_records(), compression=2)
    buf = wrap(b"junk" + first + second)
    batches = list(iter_batches(buf, 4))
    assert [pos for pos, _ in batches] == [4, 4 + len(first)]
    pos, header = batches[1]
    assert parse_header(buf, pos) == header and verify_crc(buf, pos, header)
    assert decode_records(buf, pos) == decode_records(second)
    assert all(type(r.key) is bytes for r in decode_records(buf, pos) if r.key is not None)


@pytest.mark.parametrize("codec", [0, 3])
def test_set_log_append_time(codec: int) -> None:
    data = bytearray(build_batch(_sample_records(), compression=codec))
    before = parse_header(data)
    set_log_append_time(data, 0, 1_800_000_000_000)
    header = parse_header(data)
    assert header.timestamp_type == 1 and header.compression == codec
    assert header.max_timestamp == 1_800_000_000_000
    assert header.crc != before.crc
    assert verify_crc(data, 0, header)
    # LogAppendTime: every record reads the batch's maxTimestamp (DefaultRecordBatch iterator)
    assert {r.timestamp for r in decode_records(data)} == {1_800_000_000_000}


def test_last_sequence_wraps() -> None:
    fields = dict(
        base_offset=0, batch_length=49, partition_leader_epoch=-1, magic=2, crc=0, attributes=0,
        last_offset_delta=4, base_timestamp=0, max_timestamp=0, producer_id=1, producer_epoch=0,
        records_count=5,
    )  # fmt: skip
    assert BatchHeader(base_sequence=2**31 - 2, **fields).last_sequence == 2
    assert BatchHeader(base_sequence=2**31 - 5, **fields).last_sequence == 2**31 - 1
    assert BatchHeader(base_sequence=-1, **fields).last_sequence == -1


# ------------------------------------------------------------------- corrupt / partial


def test_parse_header_rejects_other_magic() -> None:
    data = bytearray(build_batch([(b"k", b"v")], timestamp_ms=TS))
    for magic in (0, 1, 3):
        data[16] = magic
        with pytest.raises(CorruptRecordError, match="magic"):
            parse_header(data)
        with pytest.raises(CorruptRecordError):
            list(iter_batches(data))


def test_parse_header_rejects_short_and_bad_length() -> None:
    data = bytearray(build_batch([(b"k", b"v")], timestamp_ms=TS))
    with pytest.raises(CorruptRecordError):
        parse_header(data[:60])
    struct.pack_into(">i", data, 8, 10)
    with pytest.raises(CorruptRecordError, match="length"):
        parse_header(data)


def test_iter_batches_partial_trailing_batch() -> None:
    batches = [build_batch([(b"k%d" % i, b"v" * i)], base_offset=i, timestamp_ms=TS) for i in range(3)]
    buf = b"".join(batches)
    for cut in (1, 16, 30, HEADER_SIZE, len(batches[2]) - 1):
        truncated = buf[:-cut]
        with pytest.raises(CorruptRecordError, match="truncated"):
            list(iter_batches(truncated))
        got = [h.base_offset for _, h in iter_batches(truncated, allow_partial=True)]
        assert got == [0, 1], cut
    assert [h.base_offset for _, h in iter_batches(buf)] == [0, 1, 2]
    assert list(iter_batches(b"")) == []


def test_decode_corrupt_records_raises() -> None:
    data = bytearray(build_batch(_sample_records()))
    struct.pack_into(">i", data, 57, 4)  # claims 4 records, holds 3
    with pytest.raises(CorruptRecordError):
        decode_records(data)
    data = bytearray(build_batch(_sample_records()))
    data[HEADER_SIZE] = 0x7F  # first record length varint now wrong
    with pytest.raises(CorruptRecordError):
        decode_records(data)


def test_decode_corrupt_compressed_body() -> None:
    data = bytearray(build_batch(_sample_records(), compression=4))
    data[HEADER_SIZE + 2] ^= 0xFF
    with pytest.raises(CorruptRecordError):
        decode_records(data)


# -------------------------------------------------------------------------- control


def test_build_batch_reads_no_clock() -> None:
    # wire is sans-IO: (key, value) pairs carry the caller's timestamp, never time.time()
    with pytest.raises(LocalProtocolError):
        build_batch([(b"k", b"v")])
    assert [r.timestamp for r in decode_records(build_batch([(b"k", b"v"), (b"l", b"w")], timestamp_ms=5))] == [5, 5]


@pytest.mark.parametrize("commit", [True, False])
def test_control_batch(commit: bool) -> None:
    data = build_control_batch(
        producer_id=4000, producer_epoch=2, commit=commit, coordinator_epoch=9, base_offset=50, timestamp_ms=77
    )
    header = parse_header(data)
    assert header.attributes == 0x30 and header.is_control and header.is_transactional
    assert header.base_sequence == -1 and header.records_count == 1
    assert (header.producer_id, header.producer_epoch, header.base_offset) == (4000, 2, 50)
    assert verify_crc(data, 0, header) and is_control_batch(data)
    (record,) = decode_records(data)
    assert record.key == struct.pack(">hh", 0, 1 if commit else 0)  # ControlRecordType
    assert record.value == struct.pack(">hi", 0, 9)  # EndTransactionMarker
    assert (record.offset, record.timestamp) == (50, 77)
    assert parse_control_record(record) == (ControlType.COMMIT if commit else ControlType.ABORT, 9)
    assert not is_control_batch(build_batch([(b"k", b"v")], timestamp_ms=TS))


def test_parse_control_record_rejects_garbage() -> None:
    for key, value in [(None, b"\x00" * 6), (b"\x00\x00", b"\x00" * 6), (b"\x00\x00\x00\x05", b"\x00" * 6),
                       (b"\x00\x00\x00\x01", b"\x00\x00")]:  # fmt: skip
        with pytest.raises(CorruptRecordError):
            parse_control_record(Record(0, 0, key, value))


def test_control_batch_read_by_kafka_python() -> None:
    from kafka.record import MemoryRecords

    data = build_control_batch(
        producer_id=1, producer_epoch=0, commit=False, coordinator_epoch=3, base_offset=0, timestamp_ms=1
    )
    batch = MemoryRecords(data).next_batch()
    assert batch.is_control_batch and batch.is_transactional
    assert batch.validate_crc()


# --------------------------------------------------------------------------- interop


def _kafka_python_build(codec: int, recs: list[Record]) -> bytes:
    from kafka.record.default_records import DefaultRecordBatchBuilder

    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=codec, is_transactional=False, producer_id=9, producer_epoch=1,
        base_sequence=5, batch_size=1 << 20,
    )  # fmt: skip
    for r in recs:
        assert builder.append(r.offset, r.timestamp, r.key, r.value, r.headers) is not None
    return bytes(builder.build())


def _aiokafka_build(codec: int, recs: list[Record]) -> bytes:
    from aiokafka.record.default_records import DefaultRecordBatchBuilder

    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=codec, is_transactional=0, producer_id=9, producer_epoch=1,
        base_sequence=5, batch_size=1 << 20,
    )  # fmt: skip
    for r in recs:
        assert builder.append(r.offset, r.timestamp, r.key, r.value, r.headers) is not None
    return bytes(builder.build())


def _interop_records() -> list[Record]:
    return [Record(i, 1_700_000_000_000 + 3 * i, b"k%d" % i if i % 3 else None, PAYLOAD[: 97 * i] or None,
                   [("n", b"%d" % i), ("null", None)] if i % 2 else []) for i in range(25)]  # fmt: skip


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("builder", [_kafka_python_build, _aiokafka_build], ids=["kafka-python", "aiokafka"])
def test_their_batches_decode_with_ours(builder, codec: int) -> None:  # type: ignore[no-untyped-def]
    recs = _interop_records()
    data = builder(codec, recs)
    header = parse_header(data)
    assert header.compression == codec
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (9, 1, 5)
    assert header.records_count == 25 and header.last_offset_delta == 24
    assert verify_crc(data, 0, header)
    assert decode_records(data) == recs


def _read_with_kafka_python(data: bytes) -> list[Record]:
    from kafka.record import MemoryRecords

    mem = MemoryRecords(data)
    out = []
    while mem.has_next():
        batch = mem.next_batch()
        assert batch.validate_crc()
        out += [Record(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in batch]
    return out


def _read_with_aiokafka(data: bytes) -> list[Record]:
    from aiokafka.record.memory_records import MemoryRecords

    mem = MemoryRecords(data)
    out = []
    while mem.has_next():
        batch = mem.next_batch()
        assert batch.validate_crc()
        out += [Record(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in batch]
    return out


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("reader", [_read_with_kafka_python, _read_with_aiokafka], ids=["kafka-python", "aiokafka"])
def test_our_batches_decode_with_theirs(reader, codec: int) -> None:  # type: ignore[no-untyped-def]
    recs = _interop_records()
    data = build_batch(recs, base_offset=1000, compression=codec) + build_batch(recs[:3], base_offset=2000)
    got = reader(data)
    expected = [Record(r.offset + 1000, r.timestamp, r.key, r.value, r.headers) for r in recs]
    expected += [Record(r.offset + 2000, r.timestamp, r.key, r.value, r.headers) for r in recs[:3]]
    assert got == expected


def test_log_append_time_read_by_kafka_python() -> None:
    data = bytearray(build_batch(_interop_records(), compression=2))
    set_log_append_time(data, 0, 1_900_000_000_000)
    got = _read_with_kafka_python(bytes(data))
    assert {r.timestamp for r in got} == {1_900_000_000_000}


# -------------------------------------------------------------------------- property


_headers = st.lists(st.tuples(st.text(max_size=8), st.none() | st.binary(max_size=16)), max_size=4)
_record = st.tuples(
    st.integers(-(2**40), 2**40), st.none() | st.binary(max_size=64), st.none() | st.binary(max_size=200), _headers
)


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(_record, max_size=12),
    base_offset=st.integers(0, 2**62),
    base_ts=st.integers(0, 2**42),
    codec=st.sampled_from(CODECS),
)
def test_property_build_decode_round_trip(
    items: list[tuple[int, bytes | None, bytes | None, list[tuple[str, bytes | None]]]],
    base_offset: int,
    base_ts: int,
    codec: int,
) -> None:
    recs = [Record(i, base_ts + ts, key, value, headers) for i, (ts, key, value, headers) in enumerate(items)]
    data = build_batch(recs, base_offset=base_offset, compression=codec)
    header = parse_header(data)
    assert verify_crc(data, 0, header)
    assert header.records_count == len(recs)
    expected = [Record(base_offset + r.offset, r.timestamp, r.key, r.value, r.headers) for r in recs]
    assert decode_records(data) == expected
    if recs:
        assert header.max_timestamp == max(r.timestamp for r in recs)



@given(st.integers(-(2**63), 2**63 - 1))
def test_property_varint_round_trip(value: int) -> None:
    out = bytearray(b"\xaa")  # read at an offset, as inside a record
    write_varint(value, out)
    assert read_varint(bytes(out), 1) == (value, len(out))


@settings(max_examples=100, deadline=None)
@given(sizes=st.lists(st.integers(0, 5), min_size=1, max_size=5), cut=st.integers(0, 10_000))
def test_property_truncated_stream(sizes: list[int], cut: int) -> None:
    batches = [build_batch([(b"k", b"v" * i) for i in range(n)], base_offset=10 * j, timestamp_ms=TS) for j, n in enumerate(sizes)]
    buf = b"".join(batches)
    cut %= len(buf) + 1
    ends = [sum(len(b) for b in batches[: j + 1]) for j in range(len(batches))]
    complete = [10 * j for j, end in enumerate(ends) if end <= cut]
    assert [h.base_offset for _, h in iter_batches(buf[:cut], allow_partial=True)] == complete
    if cut in (0, *ends):
        assert [h.base_offset for _, h in iter_batches(buf[:cut])] == complete
    else:
        with pytest.raises(CorruptRecordError):
            list(iter_batches(buf[:cut]))


@settings(max_examples=300, deadline=None)
@given(
    codec=st.sampled_from(CODECS),
    flips=st.lists(st.tuples(st.integers(21, 10**6), st.integers(0, 255)), min_size=1, max_size=3),
)
def test_property_mangled_batch_raises_only_kafka_errors(codec: int, flips: list[tuple[int, int]]) -> None:
    """Whatever the bytes after the CRC field, decoding returns records or raises a KafkaError."""
    recs = [Record(i, 1000 + 7 * i, b"k%d" % i if i % 3 else None, b"v" * (40 * i), [("h", b"x")] * (i % 3))
            for i in range(12)]  # fmt: skip
    data = bytearray(build_batch(recs, compression=codec))
    for index, byte in flips:
        data[21 + index % (len(data) - 21)] = byte
    try:
        got = decode_records(data)
    except CorruptRecordError:
        return
    except KafkaError as exc:  # attributes mangled into codec 5-7
        assert exc.code == ErrorCode.UNSUPPORTED_COMPRESSION_TYPE
        return
    assert all(isinstance(r, Record) for r in got)


# ------------------------------------------------------------- librdkafka (live, in-process)
#
# librdkafka has no public record codec, so a just-enough fake broker on a loopback socket
# speaks ApiVersions, Metadata v1, FindCoordinator v0, Produce v3-v7 and Fetch v4 to a real
# confluent-kafka client: the producer's batches are captured (librdkafka writes *raw*
# snappy and its own lz4 frames), and the consumer is served batches we built.


def _kstr(s: str) -> bytes:
    return struct.pack(">h", len(s)) + s.encode()


class _Frame:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def raw(self, n: int) -> bytes:
        self.pos += max(n, 0)
        return self.data[self.pos - max(n, 0) : self.pos]

    def string(self) -> bytes:
        return self.raw(self.take(">h"))


class _FakeBroker(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, apis: list[tuple[int, int, int]], log: bytes = b"", aborted: Sequence[tuple[int, int]] = ()):
        super().__init__(("127.0.0.1", 0), _FakeBrokerHandler)
        self.port: int = self.server_address[1]
        self.apis, self.log, self.aborted = apis, log, list(aborted)
        self.high_watermark = max((h.last_offset + 1 for _, h in iter_batches(log)), default=0)
        self.captured: list[bytes] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def __enter__(self) -> _FakeBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _FakeBrokerHandler(socketserver.BaseRequestHandler):
    server: _FakeBroker

    def _recv(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.request.recv(n - len(out))
            if not chunk:
                raise ConnectionError("closed")
            out += chunk
        return out

    def handle(self) -> None:
        try:
            while True:
                frame = _Frame(self._recv(struct.unpack(">i", self._recv(4))[0]))
                api_key, version, correlation_id = frame.take(">h"), frame.take(">h"), frame.take(">i")
                frame.string()  # client_id
                body = self._answer(api_key, version, frame)
                reply = struct.pack(">i", correlation_id) + body
                self.request.sendall(struct.pack(">i", len(reply)) + reply)
        except (ConnectionError, OSError):
            return

    def _answer(self, api_key: int, version: int, frame: _Frame) -> bytes:
        srv = self.server
        if api_key == 18:  # ApiVersions; v3+ has a flexible body but a v0 response header
            if version >= 3:
                apis = b"".join(struct.pack(">hhhB", *api, 0) for api in srv.apis)
                return struct.pack(">hB", 0, len(srv.apis) + 1) + apis + struct.pack(">iB", 0, 0)
            apis = b"".join(struct.pack(">hhh", *api) for api in srv.apis)
            return struct.pack(">hi", 0, len(srv.apis)) + apis + (struct.pack(">i", 0) if version else b"")
        if api_key == 3:  # Metadata v1: one broker (us), topic "t" with one partition led by us
            broker = struct.pack(">i", 1) + _kstr("127.0.0.1") + struct.pack(">ih", srv.port, -1)
            partition = struct.pack(">hiii", 0, 0, 1, 1) + struct.pack(">iii", 1, 1, 1)
            topic = struct.pack(">h", 0) + _kstr("t") + b"\x00" + struct.pack(">i", 1) + partition
            return struct.pack(">i", 1) + broker + struct.pack(">ii", 1, 1) + topic
        if api_key == 10:  # FindCoordinator v0
            return struct.pack(">hi", 0, 1) + _kstr("127.0.0.1") + struct.pack(">i", srv.port)
        if api_key == 0:  # Produce v3-v7: same request layout
            frame.string(), frame.take(">h"), frame.take(">i")  # transactional_id, acks, timeout
            assert frame.take(">i") == 1 and frame.string() == b"t" and frame.take(">i") == 1
            frame.take(">i")  # partition
            srv.captured.append(frame.raw(frame.take(">i")))
            part = struct.pack(">ihqq", 0, 0, 0, -1) + (struct.pack(">q", 0) if version >= 5 else b"")
            return struct.pack(">i", 1) + _kstr("t") + struct.pack(">i", 1) + part + struct.pack(">i", 0)
        if api_key == 1:  # Fetch v4: everything at offset 0, nothing after
            frame.raw(17), frame.take(">i"), frame.string(), frame.take(">i"), frame.take(">i")
            data = srv.log if frame.take(">q") == 0 else b""
            if not data:
                time.sleep(0.02)  # stand-in for max_wait_ms
            aborted = b"".join(struct.pack(">qq", *a) for a in srv.aborted)
            part = struct.pack(">ihqqi", 0, 0, srv.high_watermark, srv.high_watermark, len(srv.aborted)) + aborted
            topic = _kstr("t") + struct.pack(">i", 1) + part + struct.pack(">i", len(data)) + data
            return struct.pack(">ii", 0, 1) + topic
        raise ConnectionError(f"unexpected api {api_key}")


_LIBRDKAFKA_CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


@pytest.mark.parametrize("codec_name", _LIBRDKAFKA_CODECS)
def test_librdkafka_batches_decode_with_ours(codec_name: str) -> None:
    confluent_kafka = pytest.importorskip("confluent_kafka")
    messages = [(b"k%d" % i, b"librdkafka value %d " % i * 30, [("h", b"%d" % i)]) for i in range(40)]
    # Produce v7 advertised: librdkafka only enables zstd against Produce >= 7.
    apis = [(0, 3, 7), (1, 4, 10), (3, 1, 1), (10, 0, 0), (18, 0, 3)]
    with _FakeBroker(apis) as broker:
        producer = confluent_kafka.Producer({
            "bootstrap.servers": f"127.0.0.1:{broker.port}", "compression.codec": codec_name,
            "linger.ms": 100, "enable.idempotence": False, "message.timeout.ms": 20000,
        })  # fmt: skip
        for key, value, headers in messages:
            producer.produce("t", value=value, key=key, headers=headers, partition=0, timestamp=1_700_000_000_000)
        assert producer.flush(20) == 0
    got: list[Record] = []
    for batch in broker.captured:
        header = parse_header(batch)
        assert header.compression == _LIBRDKAFKA_CODECS.index(codec_name)
        assert verify_crc(batch, 0, header)
        got += decode_records(batch)
    assert [(r.key, r.value, r.headers, r.timestamp) for r in got] == [
        (k, v, h, 1_700_000_000_000) for k, v, h in messages
    ]
    if codec_name == "snappy":  # librdkafka writes raw snappy, no xerial framing
        assert not broker.captured[0][HEADER_SIZE:].startswith(XERIAL_MAGIC)


def _librdkafka_consume(log: bytes, aborted: Sequence[tuple[int, int]], expect: int) -> list[tuple[Any, ...]]:
    confluent_kafka = pytest.importorskip("confluent_kafka")
    apis = [(0, 3, 3), (1, 4, 4), (3, 1, 1), (10, 0, 0), (18, 0, 3)]
    got: list[tuple[Any, ...]] = []
    with _FakeBroker(apis, log, aborted) as broker:
        consumer = confluent_kafka.Consumer({
            "bootstrap.servers": f"127.0.0.1:{broker.port}", "group.id": "g",
            "enable.auto.commit": False, "isolation.level": "read_committed",
        })  # fmt: skip
        consumer.assign([confluent_kafka.TopicPartition("t", 0, 0)])
        deadline = time.monotonic() + 20
        while len(got) < expect and time.monotonic() < deadline:
            msg = consumer.poll(0.1)
            if msg is not None:
                assert msg.error() is None, msg.error()
                got.append((msg.offset(), msg.key(), msg.value(), msg.headers(), msg.timestamp()))
        consumer.close()
    return got


@pytest.mark.parametrize("codec", CODECS)
def test_our_batches_decode_with_librdkafka(codec: int) -> None:
    """Our xerial snappy / lz4 / zstd / gzip, control batches and LogAppendTime, read by librdkafka."""
    recs = [Record(i, 1000 + i, b"k%d" % i, b"v%d" % i * 50, [("h", b"x")]) for i in range(5)]

    def txn(key: bytes, base_offset: int, producer_id: int) -> bytes:
        return build_batch(
            [(key, b"txn")], base_offset=base_offset, producer_id=producer_id, producer_epoch=0, base_sequence=0,
            transactional=True, compression=codec, timestamp_ms=2000 + base_offset,
        )  # fmt: skip

    last = bytearray(build_batch([(b"last", b"after")], base_offset=11, compression=codec, timestamp_ms=3000))
    set_log_append_time(last, 0, 5000)
    log = b"".join([
        build_batch(recs, compression=codec),
        txn(b"c1", 5, producer_id=7),
        build_control_batch(producer_id=7, producer_epoch=0, commit=True, coordinator_epoch=0, base_offset=6,
                            timestamp_ms=2001),
        txn(b"a1", 7, producer_id=8),
        build_control_batch(producer_id=8, producer_epoch=0, commit=False, coordinator_epoch=0, base_offset=8,
                            timestamp_ms=2003),
        # pid 8 again after its ABORT marker: delivered only if librdkafka parsed that marker
        txn(b"c2", 9, producer_id=8),
        build_control_batch(producer_id=8, producer_epoch=0, commit=True, coordinator_epoch=0, base_offset=10,
                            timestamp_ms=2005),
        bytes(last),
    ])  # fmt: skip
    got = _librdkafka_consume(log, aborted=[(8, 7)], expect=8)
    assert [(offset, key) for offset, key, *_ in got] == [
        (0, b"k0"), (1, b"k1"), (2, b"k2"), (3, b"k3"), (4, b"k4"), (5, b"c1"), (9, b"c2"), (11, b"last"),
    ]  # fmt: skip
    assert got[0][2:] == (recs[0].value, [("h", b"x")], (1, 1000))  # (TIMESTAMP_CREATE_TIME, ts)
    assert got[-1][4] == (2, 5000)  # TIMESTAMP_LOG_APPEND_TIME
