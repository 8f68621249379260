"""LogValidator: the checks a produced batch must pass before it is appended, and the rebuild a
topic's compression.type asks for (Kafka's ``LogValidator`` and ``UnifiedLog.analyzeAndValidateRecords``).

``PartitionLog.append`` calls ``validate`` (no log state needed) and, for a topic whose
compression.type is not ``producer``, ``recompress``. Errors are ``KafkaError``s with Kafka's codes;
``RecordValidationError`` names the rejected records by index (KIP-467).

Cost: the common path reads batch headers only. Records are read only where a check needs them: a
compacted topic (keys), a timestamp check the header cannot settle (a finite
message.timestamp.before.max.ms, or a max timestamp past the after-limit; timestamps only), a
LogAppendTime batch on a LogAppendTime topic, and a rebuild. Unlike Kafka, compressed payloads are
not decompressed only to check them (the LZ4 frame header is), and record structure is not walked.
"""

from __future__ import annotations

from kafkaish.storage.types import LogConfig
from kafkaish.wire.compression import check_lz4_frame
from kafkaish.wire.constants import LOG_OVERHEAD, Codec, TimestampType
from kafkaish.wire.errors import ErrorCode, KafkaError
from kafkaish.wire.records import (
    COMPRESSION_MASK,
    CONTROL_FLAG,
    HEADER_SIZE,
    TIMESTAMP_TYPE_MASK,
    BatchHeader,
    Record,
    build_batch,
    compute_crc,
    iter_batches,
    iter_records,
    record_timestamps,
    single_batch,
)


class RecordValidationError(KafkaError):
    """Records of a batch rejected by index (KIP-467, Kafka's RecordValidationException): the client
    fails only those. INVALID_TIMESTAMP when any is a timestamp error, else INVALID_RECORD, with
    LogValidator.processRecordErrors' wording."""

    def __init__(self, record_errors: list[tuple[int, str]], timestamp: bool = False) -> None:
        if timestamp:
            super().__init__(ErrorCode.INVALID_TIMESTAMP,
                             "One or more records have been rejected due to invalid timestamp")
        else:
            shown = ", ".join(f"RecordError(batchIndex={i}, message='{m}')" for i, m in record_errors[:3])
            super().__init__(ErrorCode.INVALID_RECORD,
                             f"One or more records have been rejected due to {len(record_errors)} record errors in "
                             f"total, and only showing the first three errors at most: [{shown}]")
        self.record_errors = record_errors


def validate(buf: bytearray | memoryview, cfg: LogConfig, now_ms: int, topic: str,
             partition: int) -> list[tuple[int, BatchHeader]]:
    """LogValidator's checks that need no log state: magic 2, CRC, size, offset range, sequence,
    codec (and an LZ4 frame's header), then the per-record checks (keys, timestamps).

    Per batch: one header parse (``single_batch`` for the usual one-batch partition), its fields
    read once from the tuple, and the records left alone unless a check needs them (issue #15)."""
    header = single_batch(buf)
    if header is not None:
        batches = [(0, header)]
    else:
        batches = list(iter_batches(buf))
        if not batches:
            raise KafkaError(ErrorCode.INVALID_RECORD, "produce request without record batches")
    for pos, header in batches:
        (_, length, _, _, crc, attributes, last_offset_delta, _, max_timestamp, producer_id, _,
         base_sequence, records_count) = header
        size = length + LOG_OVERHEAD
        if size > cfg.max_message_bytes:
            raise KafkaError(ErrorCode.MESSAGE_TOO_LARGE,
                             f"batch of {size} bytes > max.message.bytes {cfg.max_message_bytes}")
        if compute_crc(buf, pos, size) != crc:  # iter_batches/single_batch checked the size
            raise KafkaError(ErrorCode.CORRUPT_MESSAGE, "record batch CRC mismatch")
        if records_count <= 0 or last_offset_delta + 1 != records_count:
            raise KafkaError(ErrorCode.INVALID_RECORD, "inconsistent batch offset range and record count")
        if attributes & CONTROL_FLAG:
            raise KafkaError(ErrorCode.INVALID_RECORD, "clients may not produce control batches")
        if producer_id >= 0 and base_sequence < 0:  # LogValidator.validateBatch
            raise KafkaError(ErrorCode.INVALID_RECORD, f"Invalid sequence number {base_sequence} in "
                                                       f"record batch with producerId {producer_id}")
        codec = attributes & COMPRESSION_MASK
        if codec > _ZSTD:  # CompressionType.forId: IllegalArgumentException
            raise KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, f"Unknown compression type id: {codec}")
        if codec == _LZ4:
            check_lz4_frame(memoryview(buf)[pos + HEADER_SIZE:pos + size])
        # The records are read only when a key or timestamp check may fail (_record_errors decides;
        # a CreateTime batch on a delete topic whose max timestamp is in range needs none).
        if cfg.compact or cfg.log_append_time or attributes & TIMESTAMP_TYPE_MASK or (max_timestamp != -1 and (
                max_timestamp - now_ms > cfg.timestamp_after_max_ms or cfg.timestamp_before_max_ms < now_ms)):
            errors = _record_errors(buf, pos, header, cfg, now_ms, f"{topic}-{partition}")
            if errors:
                raise RecordValidationError([(i, m) for i, m, _ in errors], any(t for _, _, t in errors))
    return batches


_ZSTD = int(Codec.ZSTD)
_LZ4 = int(Codec.LZ4)


def _record_errors(buf: bytearray | memoryview, pos: int, header: BatchHeader, cfg: LogConfig, now_ms: int,
                   where: str) -> list[tuple[int, str, bool]]:
    """LogValidator.validateRecord for each record: a compacted topic's record needs a key, else
    its timestamp must lie within message.timestamp.before/after.max.ms of now on CreateTime
    topics (KIP-937), and no producer may send a LogAppendTime batch to a LogAppendTime topic.
    Returns (index, message, is_timestamp_error). Records are decoded only when a check needs
    them: the header's max timestamp settles the after-limit, and the before-limit needs them
    only when it is finite (Kafka iterates every record)."""
    lat_batch = header.timestamp_type == TimestampType.LOG_APPEND_TIME
    if cfg.log_append_time:
        ts_check = "type" if lat_batch else None
    elif lat_batch:  # every record's timestamp is the batch's max timestamp
        late = header.max_timestamp != -1 and (header.max_timestamp - now_ms > cfg.timestamp_after_max_ms
                                               or now_ms - header.max_timestamp > cfg.timestamp_before_max_ms)
        ts_check = "type" if header.max_timestamp == -1 else "range" if late else None
    else:
        ts_check = "range" if header.max_timestamp != -1 and (
            header.max_timestamp - now_ms > cfg.timestamp_after_max_ms
            or cfg.timestamp_before_max_ms < now_ms) else None
    if not cfg.compact and ts_check is None:
        return []
    if not cfg.compact and ts_check == "range":  # only timestamps: skip keys, values and headers
        return [(i, _out_of_range(ts, offset, now_ms, cfg), True)
                for i, (offset, ts) in enumerate(record_timestamps(buf, pos))
                if ts != -1 and (now_ms - ts > cfg.timestamp_before_max_ms
                                 or ts - now_ms > cfg.timestamp_after_max_ms)]
    errors: list[tuple[int, str, bool]] = []
    for i, r in enumerate(iter_records(buf, pos)):
        if cfg.compact and r.key is None:
            errors.append((i, "Compacted topic cannot accept message without key in topic partition "
                              f"{where}", False))
        elif ts_check == "type":
            errors.append((i, f"Invalid timestamp type in message DefaultRecord(offset={r.offset}, "
                              f"timestamp={r.timestamp}, key={_size(r.key)} bytes, value={_size(r.value)} bytes). "
                              "Producer should not set timestamp type to LogAppendTime.", True))
        elif ts_check == "range" and r.timestamp != -1 and (now_ms - r.timestamp > cfg.timestamp_before_max_ms
                                                           or r.timestamp - now_ms > cfg.timestamp_after_max_ms):
            errors.append((i, _out_of_range(r.timestamp, r.offset, now_ms, cfg), True))
    return errors

def recompress(buf: bytearray | memoryview, batches: list[tuple[int, BatchHeader]],
               cfg: LogConfig) -> tuple[bytearray | memoryview, list[tuple[int, BatchHeader]]]:
    """A topic whose compression.type is not ``producer`` stores its codec: a batch sent with
    another one is rebuilt (LogValidator.buildRecordsAndAssignOffsets: records renumbered from
    0, the producer id, epoch, base sequence and transactional flag kept; compression levels
    are the codecs' defaults)."""
    target = cfg.compression
    if all(h.compression == target for _, h in batches):
        return buf, batches
    out = bytearray()
    for pos, h in batches:
        if h.compression == target:
            out += buf[pos:pos + h.size]
            continue
        records = [Record(i, r.timestamp, r.key, r.value, r.headers) for i, r in enumerate(iter_records(buf, pos))]
        out += build_batch(records, compression=target or 0, producer_id=h.producer_id,
                           producer_epoch=h.producer_epoch, base_sequence=h.base_sequence,
                           transactional=h.is_transactional)
    rebuilt = list(iter_batches(out))
    for _, h in rebuilt:  # UnifiedLog.append checks the sizes again after a rebuild
        if h.size > cfg.max_message_bytes:
            raise KafkaError(ErrorCode.MESSAGE_TOO_LARGE, f"batch of {h.size} bytes after recompression > "
                             f"max.message.bytes {cfg.max_message_bytes}")
    return out, rebuilt


def _out_of_range(timestamp: int, offset: int, now_ms: int, cfg: LogConfig) -> str:
    return (f"Timestamp {timestamp} of message with offset {offset} is out of range. The timestamp should be "
            f"within [{now_ms - cfg.timestamp_before_max_ms}, {now_ms + cfg.timestamp_after_max_ms}]")


def _size(data: bytes | None) -> int:
    return 0 if data is None else len(data)
