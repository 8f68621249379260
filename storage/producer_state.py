"""Producer state of one partition: idempotent dedupe, sequence and epoch fencing, transactions.

This is Kafka's ``ProducerStateManager`` together with the pieces it leans on
(``ProducerAppendInfo`` for validation, ``ProducerStateEntry`` for per-producer memory,
``TransactionIndex`` for aborted transactions), cut down to one synchronous object per
partition. ``PartitionLog`` drives it:

    dup = state.check_append(header)            # before assigning offsets; raises KafkaError
    if dup is not None: answer dup, store nothing
    ... store the batch at [first_offset, last_offset] ...
    state.on_append(header, first_offset, last_offset, timestamp)

    ... store a COMMIT/ABORT control batch at marker_offset ...
    state.on_control(producer_id, producer_epoch, commit, marker_offset)

Theory of operation
-------------------
* Each producer id has an entry: its current epoch, the metadata of its last five data
  batches (``ProducerStateEntry.NUM_BATCHES_TO_RETAIN``: clients keep at most five requests in
  flight when idempotent, so a retried batch is always among them), the max timestamp of its last
  write and, when it has an open transaction here, the offset of that transaction's first batch.
* A batch whose (epoch, base sequence, last sequence) equals a retained batch is a duplicate:
  it is not stored and its original offsets are answered with no error (KIP-98;
  DUPLICATE_SEQUENCE_NUMBER is defined but the broker never returns it).
* Sequences run per (producer id, epoch, partition) and wrap to 0 after 2**31-1. A new epoch must
  restart at 0, unless the partition has no state for that producer at all (its data may have been
  deleted by retention; ``ProducerAppendInfo.checkSequence``).
* Transactions: the first transactional batch of a producer opens a transaction at its base
  offset; the COMMIT/ABORT marker closes it. The earliest open transaction's first offset is the
  first unstable offset (the last stable offset, LSO, when there is one). An aborted transaction is
  remembered as (producer id, first offset, marker offset, LSO right after it) so read_committed
  fetches can list it (``TransactionIndex.collectAbortedTxns``).

Deliberate simplifications: no coordinator-epoch check on markers (one coordinator, never
fenced), no "unreplicated" completed transactions (the high watermark is the log end offset,
so a marker is stable as soon as it is stored). Transaction verification (KIP-890 part 1) is the
produce handler's, against the coordinator, before ``check_append`` (``has_ongoing_transaction``).
Producers are only expired on request (``remove_expired_producers``), never implicitly.
"""

from __future__ import annotations

import struct
import zlib
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kafkaish.wire.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kafkaish.wire.records import BatchHeader

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1
BATCHES_TO_RETAIN = 5  # ProducerStateEntry.NUM_BATCHES_TO_RETAIN
DEFAULT_PRODUCER_ID_EXPIRATION_MS = 86_400_000  # producer.id.expiration.ms
_INT32_MAX = 2**31 - 1


class CorruptSnapshotError(ValueError):
    """A producer-state snapshot failed its magic, version, CRC or length checks."""


@dataclass(frozen=True, slots=True)
class BatchMetadata:
    """One retained data batch of a producer (Kafka's ``BatchMetadata``)."""

    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int
    timestamp: int  # the stored batch's max timestamp (its LogAppendTime on such topics)


@dataclass(frozen=True, slots=True)
class AbortedTxn:
    """An aborted transaction as Kafka's transaction index stores it (``AbortedTxn``).

    ``last_offset`` is the ABORT marker's offset; ``last_stable_offset`` is the LSO right after
    the marker, which lets a search stop early (see ``aborted_transactions``).
    """

    producer_id: int
    first_offset: int
    last_offset: int
    last_stable_offset: int


@dataclass(frozen=True, slots=True)
class ProducerInfo:
    """Read-only view of one producer, shaped like DescribeProducers' ``ProducerState``."""

    producer_id: int
    producer_epoch: int
    last_sequence: int
    last_timestamp: int
    coordinator_epoch: int
    current_txn_start_offset: int


@dataclass(slots=True)
class _ProducerEntry:
    """Mutable per-producer memory (Kafka's ``ProducerStateEntry``)."""

    producer_id: int
    epoch: int = NO_PRODUCER_EPOCH
    batches: deque[BatchMetadata] = field(default_factory=lambda: deque(maxlen=BATCHES_TO_RETAIN))
    last_timestamp: int = -1
    coordinator_epoch: int = -1
    current_txn_first_offset: int | None = None

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else NO_SEQUENCE

    def set_epoch(self, epoch: int) -> None:
        # ProducerStateEntry.maybeUpdateProducerEpoch: sequences restart with a new epoch, so
        # batches remembered under the old one can no longer match a retry.
        if epoch != self.epoch:
            self.batches.clear()
            self.epoch = epoch

    def find_duplicate(self, epoch: int, first_seq: int, last_seq: int) -> BatchMetadata | None:
        if epoch != self.epoch:
            return None
        for meta in self.batches:
            if meta.first_seq == first_seq and meta.last_seq == last_seq:
                return meta
        return None


def _in_sequence(last_seq: int, next_seq: int) -> bool:
    # ProducerAppendInfo.inSequence: the next batch follows directly, wrapping after int32 max.
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == _INT32_MAX)


class ProducerStateManager:
    """Producer state of one partition (Kafka's ``ProducerStateManager``)."""

    __slots__ = ("_producers", "_ongoing", "_aborted")

    def __init__(self) -> None:
        self._producers: dict[int, _ProducerEntry] = {}
        # producer id -> first offset of its open transaction here (Kafka's ongoingTxns)
        self._ongoing: dict[int, int] = {}
        # aborted transactions in marker order, so last_offset ascends (Kafka's TransactionIndex)
        self._aborted: list[AbortedTxn] = []

    # ----------------------------------------------------------------------------- appends

    def check_append(self, header: BatchHeader) -> tuple[int, int, int] | None:
        """Validate a batch before it is stored.

        Returns ``(first_offset, last_offset, timestamp)`` of the original batch when the batch is a
        retried duplicate (store nothing, answer those offsets and that timestamp as its
        log_append_time with no error, as UnifiedLog.append does), else
        None. Raises ``KafkaError`` with INVALID_PRODUCER_EPOCH, OUT_OF_ORDER_SEQUENCE_NUMBER or
        INVALID_TXN_STATE.
        """
        pid = header.producer_id
        if pid == NO_PRODUCER_ID:
            # Not idempotent: aiokafka and kafkajs send base_sequence 0 here, so nothing to check.
            return None
        entry = self._producers.get(pid)
        if entry is None:
            return None  # no state: any epoch and sequence is accepted (ProducerAppendInfo)
        if not header.is_control:
            dup = entry.find_duplicate(header.producer_epoch, header.base_sequence, header.last_sequence)
            if dup is not None:
                return dup.first_offset, dup.last_offset, dup.timestamp
        self._check_epoch(entry, header.producer_epoch)
        if header.is_control:
            return None  # markers carry no sequence (baseSequence -1)
        self._check_sequence(entry, header.producer_epoch, header.base_sequence)
        if entry.current_txn_first_offset is not None and not header.is_transactional:
            # ProducerAppendInfo.appendDataBatch: a plain write while this producer's txn is open.
            raise KafkaError(
                ErrorCode.INVALID_TXN_STATE,
                f"non-transactional batch from producer {pid} inside its open transaction",
            )
        return None

    @staticmethod
    def _check_epoch(entry: _ProducerEntry, epoch: int) -> None:
        if epoch < entry.epoch:
            # Since Kafka 2.7 the produce path answers INVALID_PRODUCER_EPOCH, not PRODUCER_FENCED,
            # so a transactional client can abort and go on (ProducerAppendInfo.checkProducerEpoch).
            raise KafkaError(
                ErrorCode.INVALID_PRODUCER_EPOCH,
                f"producer {entry.producer_id} epoch {epoch} is older than {entry.epoch}",
            )

    @staticmethod
    def _check_sequence(entry: _ProducerEntry, epoch: int, first_seq: int) -> None:
        if epoch != entry.epoch:
            if first_seq != 0 and entry.epoch != NO_PRODUCER_EPOCH:
                raise KafkaError(
                    ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                    f"producer {entry.producer_id} new epoch {epoch} must start at sequence 0, got {first_seq}",
                )
        elif not _in_sequence(entry.last_seq, first_seq):
            raise KafkaError(
                ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                f"producer {entry.producer_id} sequence {first_seq} does not follow {entry.last_seq}",
            )

    def on_append(self, header: BatchHeader, first_offset: int, last_offset: int, timestamp: int) -> None:
        """Record a data batch that was stored at ``[first_offset, last_offset]``.

        A control batch is ignored here: markers are reported through ``on_control``.
        """
        pid = header.producer_id
        if pid == NO_PRODUCER_ID or header.is_control:
            return
        entry = self._producers.get(pid)
        if entry is None:
            entry = self._producers[pid] = _ProducerEntry(pid)
        entry.set_epoch(header.producer_epoch)
        entry.batches.append(
            BatchMetadata(header.base_sequence, header.last_sequence, first_offset, last_offset, timestamp)
        )
        entry.last_timestamp = timestamp if timestamp >= 0 else header.max_timestamp
        if header.is_transactional and entry.current_txn_first_offset is None:
            entry.current_txn_first_offset = first_offset
            self._ongoing[pid] = first_offset

    def on_control(self, producer_id: int, producer_epoch: int, commit: bool, marker_offset: int) -> None:
        """Record a COMMIT/ABORT marker stored at ``marker_offset``; it ends the producer's txn."""
        entry = self._producers.get(producer_id)
        if entry is None:
            # Kafka keeps an entry even for a partition the producer never wrote to: the marker's
            # (possibly bumped) epoch then fences a zombie's late writes here.
            entry = self._producers[producer_id] = _ProducerEntry(producer_id)
        if producer_epoch > entry.epoch:
            entry.set_epoch(producer_epoch)
        first = entry.current_txn_first_offset
        if first is None:
            return  # no data from this producer in the transaction: nothing to remember
        entry.current_txn_first_offset = None
        del self._ongoing[producer_id]
        if not commit:
            # ProducerStateManager.lastStableOffset(completedTxn): LSO once this txn is complete.
            lso = min(self._ongoing.values(), default=marker_offset + 1)
            self._aborted.append(AbortedTxn(producer_id, first, marker_offset, lso))

    # ------------------------------------------------------------------------------- reads

    def has_ongoing_transaction(self, producer_id: int) -> bool:
        return producer_id in self._ongoing

    def first_unstable_offset(self) -> int | None:
        """First offset of the earliest open transaction, or None when all are decided."""
        return min(self._ongoing.values(), default=None)

    def aborted_transactions(self, fetch_offset: int, upper_bound: int) -> list[tuple[int, int]]:
        """Aborted txns overlapping ``[fetch_offset, upper_bound)`` as (producer_id, first_offset).

        Kafka's ``TransactionIndex.collectAbortedTxns``: the search stops at the first entry whose
        LSO is at or past ``upper_bound``; every later abort started at or after that LSO.
        """
        start = bisect_left(self._aborted, fetch_offset, key=lambda a: a.last_offset)
        found: list[tuple[int, int]] = []
        for txn in self._aborted[start:]:
            if txn.first_offset < upper_bound:
                found.append((txn.producer_id, txn.first_offset))
            if txn.last_stable_offset >= upper_bound:
                break
        return found

    def on_log_start_offset(self, offset: int) -> None:
        """Forget aborted transactions that lie wholly below the new log start offset."""
        cut = bisect_left(self._aborted, offset, key=lambda a: a.last_offset)
        del self._aborted[:cut]

    def active_producers(self) -> list[ProducerInfo]:
        """Every producer with state here, for DescribeProducers (KIP-664)."""
        return [
            ProducerInfo(
                producer_id=e.producer_id,
                producer_epoch=e.epoch,
                last_sequence=e.last_seq,
                last_timestamp=e.last_timestamp,
                coordinator_epoch=e.coordinator_epoch,
                current_txn_start_offset=-1 if e.current_txn_first_offset is None else e.current_txn_first_offset,
            )
            for e in self._producers.values()
        ]

    def remove_expired_producers(self, now_ms: int, expiration_ms: int = DEFAULT_PRODUCER_ID_EXPIRATION_MS) -> int:
        """Drop producers idle for ``expiration_ms`` with no open txn (``removeExpiredProducers``).

        Idleness is measured from the producer's last batch timestamp, as Kafka does. Returns the
        number of producers removed.
        """
        expired = [
            pid
            for pid, e in self._producers.items()
            if e.current_txn_first_offset is None and now_ms - e.last_timestamp >= expiration_ms
        ]
        for pid in expired:
            del self._producers[pid]
        return len(expired)

    # --------------------------------------------------------------------------- snapshots

    def snapshot(self) -> bytes:
        """Serialise the whole state (layout in the comment below the class)."""
        return _encode(self)

    @classmethod
    def restore(cls, data: bytes) -> ProducerStateManager:
        """Rebuild a manager from ``snapshot()`` bytes; raises ``CorruptSnapshotError``."""
        return _decode(cls, data)


# Snapshot layout, big-endian (versioned like Kafka's producer snapshot file, with a CRC):
#   header   magic "KPSM", int16 version (1), uint32 crc32 of everything after the header
#   int32 producer count, then per producer:
#     int64 producer_id, int16 epoch, int32 coordinator_epoch, int64 last_timestamp,
#     int64 current_txn_first_offset (-1 none), int8 batch count, then per batch:
#       int32 first_seq, int32 last_seq, int64 first_offset, int32 last-first delta, int64 timestamp
#   int32 aborted count, then per aborted txn: int64 producer_id, first, last, last_stable_offset
_MAGIC = b"KPSM"
_VERSION = 1
_HEADER = struct.Struct(">4sHI")
_COUNT = struct.Struct(">i")
_PRODUCER = struct.Struct(">qhiqqb")
_BATCH = struct.Struct(">iiqiq")
_ABORTED = struct.Struct(">qqqq")


def _encode(state: ProducerStateManager) -> bytes:
    body = bytearray(_COUNT.pack(len(state._producers)))
    for e in state._producers.values():
        txn_first = -1 if e.current_txn_first_offset is None else e.current_txn_first_offset
        body += _PRODUCER.pack(
            e.producer_id, e.epoch, e.coordinator_epoch, e.last_timestamp, txn_first, len(e.batches)
        )
        for b in e.batches:
            body += _BATCH.pack(b.first_seq, b.last_seq, b.first_offset, b.last_offset - b.first_offset, b.timestamp)
    body += _COUNT.pack(len(state._aborted))
    for a in state._aborted:
        body += _ABORTED.pack(a.producer_id, a.first_offset, a.last_offset, a.last_stable_offset)
    return _HEADER.pack(_MAGIC, _VERSION, zlib.crc32(body)) + bytes(body)


def _decode(cls: type[ProducerStateManager], data: bytes) -> ProducerStateManager:
    view = memoryview(data)
    if len(view) < _HEADER.size:
        raise CorruptSnapshotError("producer snapshot shorter than its header")
    magic, version, crc = _HEADER.unpack_from(view, 0)
    if magic != _MAGIC:
        raise CorruptSnapshotError(f"not a producer snapshot (magic {bytes(magic)!r})")
    if version != _VERSION:
        raise CorruptSnapshotError(f"unknown producer snapshot version {version}")
    if zlib.crc32(view[_HEADER.size :]) != crc:
        raise CorruptSnapshotError("producer snapshot CRC mismatch")
    try:
        return _decode_body(cls, view, _HEADER.size)
    except struct.error as exc:
        raise CorruptSnapshotError(f"truncated producer snapshot: {exc}") from exc


def _decode_body(cls: type[ProducerStateManager], view: memoryview, pos: int) -> ProducerStateManager:
    state = cls()
    (count,), pos = _COUNT.unpack_from(view, pos), pos + _COUNT.size
    for _ in range(count):
        pid, epoch, coord_epoch, last_ts, txn_first, n_batches = _PRODUCER.unpack_from(view, pos)
        pos += _PRODUCER.size
        entry = _ProducerEntry(pid, epoch, last_timestamp=last_ts, coordinator_epoch=coord_epoch)
        for _ in range(n_batches):
            first_seq, last_seq, first_off, delta, append_time = _BATCH.unpack_from(view, pos)
            pos += _BATCH.size
            entry.batches.append(BatchMetadata(first_seq, last_seq, first_off, first_off + delta, append_time))
        if txn_first >= 0:
            entry.current_txn_first_offset = txn_first
            state._ongoing[pid] = txn_first
        state._producers[pid] = entry
    (count,), pos = _COUNT.unpack_from(view, pos), pos + _COUNT.size
    for _ in range(count):
        state._aborted.append(AbortedTxn(*_ABORTED.unpack_from(view, pos)))
        pos += _ABORTED.size
    if pos != len(view):
        raise CorruptSnapshotError(f"{len(view) - pos} trailing bytes after producer snapshot")
    return state
