"""Compression codecs of RecordBatch v2 (attributes bits 0-2), via cramjam.

Kafka's ``CompressionType``: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd. A compressed batch
compresses the whole records section (everything after the 61-byte header) as one stream.

Snappy comes in two framings on the wire:

- **xerial** (``SnappyOutputStream`` of snappy-java, used by the Java client and
  kafka-python): ``\\x82SNAPPY\\x00``, int32 version (1), int32 min-compatible version (1),
  then blocks of ``int32 length + raw snappy``;
- **raw** snappy block (what librdkafka writes).

``decompress`` detects and reads both (librdkafka does the same, ``rd_kafka_snappy_java_uncompress``);
``compress`` writes xerial, like the Java client, because every client reads it.

LZ4 is the standard LZ4 *frame* format. Java's ``KafkaLZ4BlockInputStream`` rejects
dependent (linked) blocks, so we write independent blocks.

This module also owns ``CorruptRecordError`` (the records module depends on this one and
re-exports it), so that decompression failures carry Kafka's CORRUPT_MESSAGE code.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from kafkaish.wire.constants import Codec
from kafkaish.wire.errors import ErrorCode, KafkaError


class _LazyCramjam:
    """cramjam, imported on first use: a broker that sees no compressed batch never loads it."""

    def __getattr__(self, name: str) -> Any:
        global cramjam
        import cramjam as module

        cramjam = module  # later calls go straight to the module
        return getattr(module, name)


cramjam: Any = _LazyCramjam()

BytesLike = bytes | bytearray | memoryview


class CorruptRecordError(KafkaError):
    """Malformed record batch bytes (Kafka's ``CorruptRecordException``, CORRUPT_MESSAGE)."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(ErrorCode.CORRUPT_MESSAGE, message)


XERIAL_MAGIC = b"\x82SNAPPY\x00"
# snappy-java SnappyCodec header: magic, int32 version, int32 minimum compatible version.
_XERIAL_HEADER = XERIAL_MAGIC + struct.pack(">ii", 1, 1)
_XERIAL_HEADER_SIZE = 16
# snappy-java SnappyOutputStream.DEFAULT_BLOCK_SIZE.
XERIAL_BLOCK_SIZE = 32 * 1024
_INT32 = struct.Struct(">i")


def _snappy_compress(data: BytesLike) -> bytes:
    out = bytearray(_XERIAL_HEADER)
    view = memoryview(data)
    # Always at least one block: librdkafka only takes the xerial path for inputs longer than
    # header + 4 bytes (rdkafka_msgset_reader.c), so a bare 16-byte header would be read as raw.
    for start in range(0, max(len(view), 1), XERIAL_BLOCK_SIZE):
        block = bytes(cramjam.snappy.compress_raw(view[start : start + XERIAL_BLOCK_SIZE]))
        out += _INT32.pack(len(block))
        out += block
    return bytes(out)


def _xerial_decompress(data: BytesLike) -> bytes:
    view = memoryview(data)
    if len(view) < _XERIAL_HEADER_SIZE:
        raise CorruptRecordError("truncated xerial snappy header")
    out = bytearray()
    pos = _XERIAL_HEADER_SIZE
    end = len(view)
    while pos < end:
        if pos + 4 > end:
            raise CorruptRecordError("truncated xerial snappy block length")
        (size,) = _INT32.unpack_from(view, pos)
        pos += 4
        if size < 0 or pos + size > end:
            raise CorruptRecordError(f"bad xerial snappy block length {size}")
        out += cramjam.snappy.decompress_raw(view[pos : pos + size])
        pos += size
    return bytes(out)


def _snappy_decompress(data: BytesLike) -> bytes:
    if bytes(data[:8]) == XERIAL_MAGIC:
        return _xerial_decompress(data)
    return bytes(cramjam.snappy.decompress_raw(data))


def _lz4_compress(data: BytesLike) -> bytes:
    # block_linked=False: KafkaLZ4BlockInputStream only reads independent blocks.
    comp = cramjam.lz4.Compressor(content_checksum=False, block_linked=False)
    comp.compress(bytes(data))
    return bytes(comp.finish())


_COMPRESSORS: dict[int, Callable[[BytesLike], bytes]] = {
    Codec.GZIP: lambda d: bytes(cramjam.gzip.compress(d)),
    Codec.SNAPPY: _snappy_compress,
    Codec.LZ4: _lz4_compress,
    Codec.ZSTD: lambda d: bytes(cramjam.zstd.compress(d)),
}

_DECOMPRESSORS: dict[int, Callable[[BytesLike], bytes]] = {
    Codec.GZIP: lambda d: bytes(cramjam.gzip.decompress(d)),
    Codec.SNAPPY: _snappy_decompress,
    Codec.LZ4: lambda d: bytes(cramjam.lz4.decompress(d)),
    Codec.ZSTD: lambda d: bytes(cramjam.zstd.decompress(d)),
}


LZ4_FRAME_MAGIC = 0x184D2204
_M32 = 0xFFFFFFFF
_XXH_P1, _XXH_P2, _XXH_P3, _XXH_P4, _XXH_P5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def _xxh32_short(data: bytes, seed: int = 0) -> int:
    """XXH32 (xxHash spec) of fewer than 16 bytes: the LZ4 frame descriptor's header checksum."""
    n = len(data)
    h = (seed + _XXH_P5 + n) & _M32
    i = 0
    while i + 4 <= n:
        h = (h + int.from_bytes(data[i:i + 4], "little") * _XXH_P3) & _M32
        h = (_rotl32(h, 17) * _XXH_P4) & _M32
        i += 4
    for b in data[i:]:
        h = (h + b * _XXH_P5) & _M32
        h = (_rotl32(h, 11) * _XXH_P1) & _M32
    h = ((h ^ (h >> 15)) * _XXH_P2) & _M32
    h = ((h ^ (h >> 13)) * _XXH_P3) & _M32
    return h ^ (h >> 16)


def check_lz4_frame(data: BytesLike) -> None:
    """The frame header checks Kafka makes before it reads an LZ4 batch (Lz4BlockInputStream.readHeader,
    FLG/BD.validate): magic, version 01, reserved bits 0, independent blocks (a linked-block frame, as
    python-lz4 and lz4js write by default, is refused), a block size id 4-7, the header checksum.
    Kafka answers any failure UNKNOWN_SERVER_ERROR. Only the header is read: blocks are not decoded."""
    view = memoryview(data)
    if len(view) < 6 or int.from_bytes(view[:4], "little") != LZ4_FRAME_MAGIC:
        raise KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, "lz4: stream frame descriptor corrupted or not supported")
    flg, bd = view[4], view[5]
    if flg & 0x03 or bd & 0x8F:
        raise KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, "lz4: reserved bits must be 0")
    if not flg & 0x20:
        raise KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, "lz4: dependent block stream is unsupported")
    if flg >> 6 != 1:
        raise KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, f"lz4: version {flg >> 6} is unsupported")
    if (bd >> 4) & 7 < 4:
        raise KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, "lz4: block size value must be between 4 and 7")
    end = 14 if flg & 0x08 else 6  # FLG, BD and the optional 8-byte content size
    if len(view) <= end or view[end] != (_xxh32_short(bytes(view[4:end])) >> 8) & 0xFF:
        raise KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, "lz4: stream frame descriptor corrupted")


def _unsupported(codec: int) -> KafkaError:
    return KafkaError(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, f"unsupported compression codec {codec}")


def compress(codec: int, data: BytesLike) -> bytes:
    """Compress ``data`` with Kafka codec ``codec`` (1-4)."""
    fn = _COMPRESSORS.get(codec)
    if fn is None:
        raise _unsupported(codec)
    return fn(data)


def decompress(codec: int, data: BytesLike) -> bytes:
    """Decompress ``data``; CorruptRecordError on bad input, KafkaError for an unknown codec."""
    fn = _DECOMPRESSORS.get(codec)
    if fn is None:
        raise _unsupported(codec)
    try:
        return fn(data)
    except CorruptRecordError:
        raise
    except Exception as exc:  # cramjam.DecompressionError, ValueError, ...
        raise CorruptRecordError(f"{Codec(codec).name.lower()} decompression failed: {exc}") from exc
