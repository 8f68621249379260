"""Log housekeeping run by ``StorageEngine.run_maintenance``: segment.ms rolls, retention
(Kafka's UnifiedLog.deleteOldSegments) and compaction (Kafka's LogCleaner / Cleaner).

Every step works on sealed segments, which nobody else modifies, and takes the log's lock only to
roll, to drop segments from the list, or to swap a compacted copy in; file deletion, decoding and
re-encoding happen outside the lock, so appends on the event-loop thread are never held up long.

Retention (cleanup.policy contains ``delete``): drop the oldest sealed segments while
  - their whole content is below the log start offset (DeleteRecords), or
  - their max timestamp is older than ``retention.ms`` (-1: keep forever), or
  - the log is larger than ``retention.bytes`` by at least that segment's size.
The active segment is never deleted; the log start offset moves to the first remaining segment.

Compaction (cleanup.policy contains ``compact``). Theory of operation:
  1. The cleanable range is the longest prefix of sealed segments that lies wholly below the last
     stable offset (so every transaction in it is decided) and whose newest record is older than
     ``min.compaction.lag.ms``. The active segment is never touched.
  2. A pass runs when the dirty part (segments at or past ``first_dirty_offset``, i.e. not yet
     compacted) is at least ``min.cleanable.dirty.ratio`` of the range, or when a tombstone kept
     by an earlier pass has outlived ``delete.retention.ms``.
  3. An offset map (key -> offset of its latest record) is built over the range from
     non-transactional data records (Cleaner.buildOffsetMap).
  4. Each segment is rewritten keeping a record only if it is the latest for its key; a latest
     tombstone (null value) is also dropped once ``delete.retention.ms`` has passed since its
     timestamp. Batches that lose records are decoded and re-encoded with the same codec and
     producer fields, offsets unchanged (the base offset becomes the first kept record's, base
     sequence shifted with it); untouched batches are copied byte for byte.
Deliberate simplifications: transactional batches and control markers are always kept as they
are, and never enter the offset map (so they never hide an older value: a consumer still ends on
the right value, it just sees more history); keyless records are dropped, as Kafka's cleaner does;
the tombstone clock is the record timestamp, not Kafka's delete-horizon batch attribute.
"""

from __future__ import annotations

import logging

from kafkaish.storage.log import LogMaintenance
from kafkaish.storage.segment import Segment, largest_timestamp
from kafkaish.wire.records import BatchHeader, Record, build_batch, decode_records, parse_header

log = logging.getLogger(__name__)

_INT32_MAX = 2**31 - 1


def maintain(m: LogMaintenance, now_ms: int, retention: bool = True) -> None:
    """One maintenance step for one log; errors are logged, never raised to the caller's loop.
    ``retention``: also delete old segments (due every log.retention.check.interval.ms)."""
    plog = m.log
    if plog.closed:
        return
    try:
        roll_if_due(m, now_ms, retention)
        if retention:
            apply_retention(m, now_ms)
        m.expire_producers(now_ms)  # Kafka's producer.id.expiration.ms (1 day)
        if plog.config.compact:
            compact(m, now_ms)
    except Exception:  # a bad segment must not stop maintenance of the other logs
        log.exception("maintenance of %s-%d failed", plog.topic, plog.partition)


def roll_if_due(m: LogMaintenance, now_ms: int, retention: bool = True) -> None:
    """Roll an idle active segment when segment.ms of wall time passed since its first append, or
    (``retention``) when retention.ms expired all of it (Kafka rolls before deleting an expired
    active segment)."""
    cfg = m.log.config
    with m.lock:
        active = m.log.active_segment
        if not active.size:
            return
        if m.active_created_ms is None:
            m.active_created_ms = now_ms  # unknown after a restart: start counting now
        aged = now_ms - m.active_created_ms >= cfg.segment_ms
        expired = retention and cfg.delete and cfg.retention_ms >= 0 and now_ms - largest_timestamp(active) > cfg.retention_ms
        if aged or expired:
            m.roll()


def apply_retention(m: LogMaintenance, now_ms: int) -> list[Segment]:
    """Delete old sealed segments (UnifiedLog.deleteOldSegments); returns what was deleted."""
    plog = m.log
    cfg = plog.config
    removed = m.drop_segments(lambda s, _i: s.next_offset <= plog.log_start_offset)
    if cfg.delete and cfg.retention_ms >= 0:
        removed += m.drop_segments(lambda s, _i: now_ms - largest_timestamp(s) > cfg.retention_ms)
    if cfg.delete and cfg.retention_bytes >= 0:
        excess = plog.size_bytes() - cfg.retention_bytes

        def too_big(segment: Segment, _i: int) -> bool:
            nonlocal excess
            if excess - segment.size < 0:
                return False
            excess -= segment.size
            return True

        removed += m.drop_segments(too_big)
    for segment in removed:
        m.store.delete_segment(segment)
    return removed


# ------------------------------------------------------------------------------ compaction
def cleanable_segments(m: LogMaintenance, now_ms: int) -> list[Segment]:
    plog = m.log
    with m.lock:  # producer state is mutated by appends on the event-loop thread
        segments = plog.segments()[:-1]
        lso = plog.last_stable_offset
    lag = plog.config.min_compaction_lag_ms
    out: list[Segment] = []
    for segment in segments:
        if segment.next_offset > lso or (lag > 0 and largest_timestamp(segment) > now_ms - lag):
            break
        out.append(segment)
    return out


def compact(m: LogMaintenance, now_ms: int) -> int:
    """One cleaning pass if due; returns the number of segments replaced."""
    cfg = m.log.config
    segments = cleanable_segments(m, now_ms)
    if not segments:
        return 0
    total = sum(s.size for s in segments) or 1
    dirty = sum(s.size for s in segments if s.next_offset > m.first_dirty_offset)
    tombstones_due = m.tombstones_due_ms is not None and now_ms >= m.tombstones_due_ms
    if dirty / total < cfg.min_cleanable_dirty_ratio and not tombstones_due:
        return 0
    latest = build_offset_map(segments)
    m.tombstones_due_ms = None
    replaced = 0
    for segment in segments:
        cleaned = clean_segment(m, segment, latest, now_ms)
        if cleaned is None:
            continue
        if m.replace_segment(segment, cleaned):  # the store disposed of the old segment
            replaced += 1
        else:
            m.store.delete_segment(cleaned)
    m.first_dirty_offset = segments[-1].next_offset
    return replaced


def build_offset_map(segments: list[Segment]) -> dict[bytes, int]:
    """key -> offset of its latest non-transactional record (Cleaner.buildOffsetMap)."""
    latest: dict[bytes, int] = {}
    for segment in segments:
        for header, data in segment.batches():
            if header.is_control or header.is_transactional:
                continue
            for record in decode_records(data):
                if record.key is not None:
                    latest[record.key] = record.offset
    return latest


def clean_segment(m: LogMaintenance, segment: Segment, latest: dict[bytes, int], now_ms: int) -> Segment | None:
    """A compacted copy of ``segment``, or None when nothing would change."""
    cfg = m.log.config
    cleaned = m.store.new_cleaned(segment.base_offset, cfg)
    changed = False
    try:
        for header, data in segment.batches():
            out = data
            if not (header.is_control or header.is_transactional):
                records = decode_records(data)
                keep = [r for r in records if _retain(m, r, latest, now_ms)]
                if len(keep) != len(records):
                    changed = True
                    if not keep:
                        continue
                    out = _reencode(header, keep)
            cleaned.append(out, parse_header(out))
        if not changed:
            m.store.delete_segment(cleaned)
            return None
        cleaned.seal()
        cleaned.last_modified_ms = segment.last_modified_ms  # as Kafka's Cleaner.cleanSegments does
        cleaned.sync()
        return cleaned
    except BaseException:
        m.store.delete_segment(cleaned)
        raise


def _retain(m: LogMaintenance, record: Record, latest: dict[bytes, int], now_ms: int) -> bool:
    if record.key is None or latest.get(record.key) != record.offset:
        return False
    if record.value is None:  # tombstone: kept delete.retention.ms so consumers can see it
        due = record.timestamp + m.log.config.delete_retention_ms
        if due <= now_ms:
            return False
        if m.tombstones_due_ms is None or due < m.tombstones_due_ms:
            m.tombstones_due_ms = due
    return True


def _reencode(header: BatchHeader, keep: list[Record]) -> bytes:
    """Re-encode kept records with the batch's codec and producer fields; offsets unchanged."""
    first = keep[0].offset
    sequence = header.base_sequence
    if sequence >= 0:  # the sequence of the first kept record, wrapping like Kafka's
        sequence = (sequence + first - header.base_offset) % (_INT32_MAX + 1)
    return build_batch(
        keep,
        base_offset=first,
        compression=header.compression,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=sequence,
        timestamp_type=header.timestamp_type,
        partition_leader_epoch=header.partition_leader_epoch,
    )
