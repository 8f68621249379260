"""The transaction coordinator: producer ids, transactional ids, epochs, timeouts and markers.

Synchronous state machine (no asyncio, no sockets, time passed in). The handler layer
(``kafkaish.handlers.txn``) calls it and executes the marker writes it plans.

Theory of operation
-------------------
Kafka's ``TransactionCoordinator`` + ``TransactionStateManager`` + ``TransactionMetadata``
(KIP-98). Each transactional id has one ``TransactionMetadata`` in one of these states
(``TransactionState``; ids as on the wire of DescribeTransactions/ListTransactions):

    Empty (0)             initialised by InitProducerId, no transaction open
    Ongoing (1)           partitions or a group were added; data may be in the logs
    PrepareCommit (2)     EndTxn(commit) accepted; markers being written
    PrepareAbort (3)      EndTxn(abort), a timeout or a fence; markers being written
    CompleteCommit (4)    all COMMIT markers written, group offsets committed
    CompleteAbort (5)     all ABORT markers written, pending group offsets dropped
    Dead (6)              transactional id expired (transactional.id.expiration.ms); removed
    PrepareEpochFence (7) the epoch was bumped to fence a producer; an abort follows

Transitions (``VALID_PREVIOUS`` in ``txn_metadata`` is the table):

    InitProducerId   Empty|Complete* -> Empty      epoch + 1 (new producer id once exhausted)
                     Ongoing -> PrepareEpochFence -> PrepareAbort (epoch + 1), answer
                              CONCURRENT_TRANSACTIONS; the client's retry then bumps again
                     Prepare* -> CONCURRENT_TRANSACTIONS
    AddPartitions/   Empty|Complete*|Ongoing -> Ongoing (no-op when nothing new)
    AddOffsets       Prepare* -> CONCURRENT_TRANSACTIONS
    EndTxn           Ongoing -> PrepareCommit|PrepareAbort -> (markers) -> Complete*
                     retry of the finished result -> NONE; of the preparing one ->
                     CONCURRENT_TRANSACTIONS; any other -> INVALID_TXN_STATE
    tick             Ongoing past its timeout -> PrepareEpochFence -> PrepareAbort (epoch + 1)
                     Empty|Complete* idle past the expiration -> Dead (deleted)

Marker seam: the coordinator never touches a log. A transition into Prepare* yields a
``MarkerWrite`` plan (partitions, groups, producer id/epoch, result). The handler appends the
control batch to each partition, commits/aborts the pending offsets of each group, then calls
``complete(plan, now_ms)`` (Prepare* -> Complete*). Plans are returned by ``end_txn``,
``init_producer_id`` (fencing) and ``tick`` (timeouts, and re-offers of plans not completed
within ``marker_retry_ms``; a marker written twice is harmless, as in Kafka).

Errors are Kafka's current ones (PRODUCER_FENCED, never the request-version-dependent
INVALID_PRODUCER_EPOCH that older clients expect): the handlers map them by request version.

Durability: every change is written through ``StateStore.put`` ("txn:<id>" -> JSON,
"producer_id_block" -> end of the allocated block, "coordinator_epoch"). ``restore`` reloads
them, bumps the coordinator epoch and makes every Prepare* plan due at once, so the next
``tick`` rewrites its markers and completes it; an Ongoing transaction stays open and is aborted
by its timeout or by the next InitProducerId, as Kafka does after a coordinator failover.

Deliberate simplifications (one broker, one coordinator):
* No ``__transaction_state`` topic or partitioning: the ``StateStore`` is the transaction log.
* PrepareEpochFence is passed through inside one call, never persisted (Kafka keeps it as a
  pending state only while the fence record is being written).
* EndTxn is answered after the markers are written (Kafka answers once PrepareCommit is durable
  and writes markers asynchronously); the handler does both in one step, so Prepare* is
  observable only when a marker write failed.
* Transaction version 2 (KIP-890 part 2: epoch bump per transaction, EndTxn v5) is not
  implemented; partition verification (part 1, ``verify_partitions``) answers AddPartitionsToTxn
  verifyOnly and the produce handler's check of a partition's first transactional batch.
* Pending offsets are per group, not per ``__consumer_offsets`` partition, so TxnOffsetCommit
  is checked here (``check_offset_commit``) instead of by that partition's producer state.
* Timeouts are found on the first ``tick`` after they pass (the server ticks every ~50 ms;
  Kafka scans every 10 s, transaction.abort.timed.out.transaction.cleanup.interval.ms); a full
  scan runs only when a deadline may be due, and at least once a second for id expiry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from kafkaish.coordinator.txn_metadata import (
    COMPLETE,
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    PREPARING,
    TopicPartition,
    TransactionMetadata,
    TxnState,
    is_epoch_exhausted,
)
from kafkaish.coordinator.txn_results import (
    EndTxnResult,
    InitProducerIdResult,
    ListTransactionsResult,
    MarkerWrite,
    StateStore,
    TxnConfig,
    TxnDescription,
    TxnListing,
)
from kafkaish.storage.memory import MemoryStateStore
from kafkaish.wire.errors import ErrorCode

__all__ = [
    "EndTxnResult",
    "InitProducerIdResult",
    "ListTransactionsResult",
    "MarkerWrite",
    "StateStore",
    "TopicPartition",
    "TransactionCoordinator",
    "TxnConfig",
    "TxnDescription",
    "TxnListing",
    "TxnState",
]

log = logging.getLogger("kafkaish.txn")

_TXN_PREFIX = "txn:"
_MAX_SCAN_INTERVAL_MS = 1_000
_PID_BLOCK_KEY = "producer_id_block"
_COORDINATOR_EPOCH_KEY = "coordinator_epoch"


class TransactionCoordinator:
    """Kafka's ``TransactionCoordinator`` for a single broker (see the module docstring)."""

    def __init__(
        self,
        store: StateStore | None = None,
        config: TxnConfig | None = None,
        *,
        coordinator_epoch: int = 0,
    ) -> None:
        self._store: StateStore = store if store is not None else MemoryStateStore()
        self.config = config or TxnConfig()
        self.coordinator_epoch = coordinator_epoch
        self._txns: dict[str, TransactionMetadata] = {}
        self._next_pid = 0
        self._pid_block_end = 0
        # transactional id -> when its Prepare* plan is (re-)offered by tick
        self._marker_due: dict[str, int] = {}
        # tick scans every transaction only when a timeout or expiry may be due (or once a second)
        self._next_scan_ms = 0

    # ------------------------------------------------------------------------ restore

    @classmethod
    def restore(cls, store: StateStore, now_ms: int, config: TxnConfig | None = None) -> TransactionCoordinator:
        """Reload from ``store.items()``; Prepare* transactions are re-offered by the next ``tick``."""
        items = dict(store.items())
        epoch = int(items.get(_COORDINATOR_EPOCH_KEY, b"-1")) + 1
        # Kafka's coordinator epoch is the leader epoch of __transaction_state; bumping it on
        # every load marks the markers of this incarnation.
        store.put(_COORDINATOR_EPOCH_KEY, str(epoch).encode())
        coord = cls(store, config, coordinator_epoch=epoch)
        next_pid = int(items.get(_PID_BLOCK_KEY, b"0"))
        for key, value in items.items():
            if not key.startswith(_TXN_PREFIX):
                continue
            try:
                meta = TransactionMetadata.decode(value)
            except (ValueError, KeyError, TypeError) as exc:
                # Start anyway (a dev/CI broker that refuses to start helps nobody); the id
                # behaves as new and an open txn it had in a log waits for no one.
                log.warning("skipping unreadable transaction state %r: %s", key, exc)
                continue
            coord._txns[meta.transactional_id] = meta
            next_pid = max(next_pid, meta.producer_id + 1, meta.last_producer_id + 1)
            if meta.state in PREPARING:
                coord._marker_due[meta.transactional_id] = now_ms
        coord._next_pid = coord._pid_block_end = next_pid
        return coord

    def _persist(self, meta: TransactionMetadata) -> None:
        self._store.put(_TXN_PREFIX + meta.transactional_id, meta.encode())

    # -------------------------------------------------------------------- producer ids

    def allocate_producer_id(self) -> int:
        """A fresh producer id (Kafka's ``ProducerIdManager``), durable by blocks."""
        if self._next_pid >= self._pid_block_end:
            self._pid_block_end = self._next_pid + self.config.producer_id_block_size
            # The block end is stored before any id of the block is handed out, so a restart
            # never reissues an id some partition still has state for.
            self._store.put(_PID_BLOCK_KEY, str(self._pid_block_end).encode())
        pid = self._next_pid
        self._next_pid += 1
        return pid

    def init_producer_id(
        self,
        transactional_id: str | None,
        timeout_ms: int,
        now_ms: int,
        producer_id: int = NO_PRODUCER_ID,
        producer_epoch: int = NO_PRODUCER_EPOCH,
    ) -> InitProducerIdResult:
        """InitProducerId (``TransactionCoordinator.handleInitProducerId``)."""
        if transactional_id is None:
            # Idempotent-only producer: always a new id with epoch 0, even on a KIP-360 bump.
            return InitProducerIdResult(ErrorCode.NONE, self.allocate_producer_id(), 0)
        if transactional_id == "":
            return InitProducerIdResult(ErrorCode.INVALID_REQUEST)
        if (producer_id == NO_PRODUCER_ID) != (producer_epoch == NO_PRODUCER_EPOCH):
            return InitProducerIdResult(ErrorCode.INVALID_REQUEST)  # KafkaApis: both or neither
        if not 0 < timeout_ms <= self.config.max_timeout_ms:
            return InitProducerIdResult(ErrorCode.INVALID_TRANSACTION_TIMEOUT)
        meta = self._txns.get(transactional_id)
        if meta is None:
            meta = TransactionMetadata(transactional_id, self.allocate_producer_id(), timeout_ms=timeout_ms)
            meta.update_ms = now_ms
            self._txns[transactional_id] = meta
        expected = None if producer_id == NO_PRODUCER_ID else (producer_id, producer_epoch)
        return self._init_existing(meta, timeout_ms, now_ms, expected)

    def _init_existing(
        self, meta: TransactionMetadata, timeout_ms: int, now_ms: int, expected: tuple[int, int] | None
    ) -> InitProducerIdResult:
        if expected is not None and not _is_valid_producer_id(meta, *expected):
            return InitProducerIdResult(ErrorCode.PRODUCER_FENCED)
        if meta.state in PREPARING:
            return InitProducerIdResult(ErrorCode.CONCURRENT_TRANSACTIONS)
        if meta.state == TxnState.ONGOING:
            # Fence the current producer and abort its transaction; the bumped epoch is never
            # returned. The client retries on CONCURRENT_TRANSACTIONS and gets a second bump
            # (or a new producer id if the fence exhausted the epochs).
            plan = self._fence_and_abort(meta, now_ms)
            return InitProducerIdResult(ErrorCode.CONCURRENT_TRANSACTIONS, markers=(plan,))
        expected_epoch = None if expected is None else expected[1]
        if is_epoch_exhausted(meta.producer_epoch) and expected_epoch in (None, meta.producer_epoch):
            self._rotate_producer_id(meta, recorded_epoch=expected_epoch is not None)
        else:
            error = _bump_epoch(meta, expected_epoch)
            if error is not None:
                return InitProducerIdResult(error)
        meta.timeout_ms = timeout_ms
        meta.partitions.clear()
        meta.groups.clear()
        meta.start_ms = -1
        meta.transition(TxnState.EMPTY, now_ms)
        self._persist(meta)
        return InitProducerIdResult(ErrorCode.NONE, meta.producer_id, meta.producer_epoch)

    def _rotate_producer_id(self, meta: TransactionMetadata, *, recorded_epoch: bool) -> None:
        # TransactionMetadata.prepareProducerIdRotation: the epoch ran out, start a new id at 0.
        meta.last_producer_id = meta.producer_id
        meta.last_producer_epoch = meta.producer_epoch if recorded_epoch else NO_PRODUCER_EPOCH
        meta.producer_id = self.allocate_producer_id()
        meta.producer_epoch = 0

    # ------------------------------------------------------------------- transactions

    def add_partitions(
        self,
        transactional_id: str,
        producer_id: int,
        producer_epoch: int,
        partitions: Iterable[TopicPartition],
        now_ms: int,
    ) -> ErrorCode:
        """AddPartitionsToTxn: one error for every partition of the request."""
        new = set(partitions)
        return self._add(transactional_id, producer_id, producer_epoch, now_ms, new, set())

    def add_offsets(
        self, transactional_id: str, producer_id: int, producer_epoch: int, group_id: str, now_ms: int
    ) -> ErrorCode:
        """AddOffsetsToTxn: the group's pending offsets will follow the transaction's result."""
        return self._add(transactional_id, producer_id, producer_epoch, now_ms, set(), {group_id})

    def _add(
        self,
        transactional_id: str,
        producer_id: int,
        producer_epoch: int,
        now_ms: int,
        partitions: set[TopicPartition],
        groups: set[str],
    ) -> ErrorCode:
        meta = self._txns.get(transactional_id)
        error = _check_producer(meta, producer_id, producer_epoch)
        if error is not None:
            return error
        assert meta is not None
        if meta.state in PREPARING:
            return ErrorCode.CONCURRENT_TRANSACTIONS
        if meta.state == TxnState.ONGOING and partitions <= meta.partitions and groups <= meta.groups:
            return ErrorCode.NONE
        if meta.state != TxnState.ONGOING:
            meta.start_ms = now_ms  # TransactionMetadata.prepareAddPartitions: a new txn starts
            self._next_scan_ms = min(self._next_scan_ms, _timeout_deadline(meta))
        meta.partitions |= partitions
        meta.groups |= groups
        meta.transition(TxnState.ONGOING, now_ms)
        self._persist(meta)
        return ErrorCode.NONE

    def verify_partitions(
        self, transactional_id: str, producer_id: int, producer_epoch: int, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, ErrorCode]:
        """AddPartitionsToTxn v4+ ``verify_only``, and the produce path's KIP-890 check: is each
        partition in the open transaction? (TransactionCoordinator.handleVerifyPartitionsInTransaction:
        TRANSACTION_ABORTABLE when not; the produce handler maps it for older request versions.)"""
        wanted = list(partitions)
        meta = self._txns.get(transactional_id)
        error = _check_producer(meta, producer_id, producer_epoch)
        if error is None and meta is not None and meta.state in PREPARING:
            error = ErrorCode.CONCURRENT_TRANSACTIONS
        if error is not None:
            return {tp: error for tp in wanted}
        assert meta is not None
        return {tp: ErrorCode.NONE if tp in meta.partitions else ErrorCode.TRANSACTION_ABORTABLE for tp in wanted}

    def check_offset_commit(
        self, transactional_id: str, producer_id: int, producer_epoch: int, group_id: str
    ) -> ErrorCode:
        """May TxnOffsetCommit add pending offsets for ``group_id`` to this producer's transaction?

        Kafka (before KIP-890) relies on the ``__consumer_offsets`` partition's producer state,
        where the abort marker's bumped epoch rejects a fenced producer with
        INVALID_PRODUCER_EPOCH. Offsets are kept per group here, so the same check is made
        against the coordinator; offsets for a group AddOffsetsToTxn never added would wait for
        a marker that never comes, hence INVALID_TXN_STATE.
        """
        meta = self._txns.get(transactional_id)
        if meta is None or meta.producer_id != producer_id:
            return ErrorCode.INVALID_PRODUCER_ID_MAPPING
        if meta.producer_epoch != producer_epoch:
            return ErrorCode.INVALID_PRODUCER_EPOCH
        if meta.state in PREPARING:
            return ErrorCode.CONCURRENT_TRANSACTIONS
        if meta.state != TxnState.ONGOING or group_id not in meta.groups:
            return ErrorCode.INVALID_TXN_STATE
        return ErrorCode.NONE

    def end_txn(
        self, transactional_id: str, producer_id: int, producer_epoch: int, commit: bool, now_ms: int
    ) -> EndTxnResult:
        """EndTxn (``handleEndTransaction``): on NONE with a plan, write its markers, then ``complete``."""
        meta = self._txns.get(transactional_id)
        error = _check_producer(meta, producer_id, producer_epoch)
        if error is not None:
            return EndTxnResult(error)
        assert meta is not None
        state = meta.state
        if state == TxnState.ONGOING:
            target = TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT
            return EndTxnResult(ErrorCode.NONE, self._prepare(meta, target, now_ms))
        finished = TxnState.COMPLETE_COMMIT if commit else TxnState.COMPLETE_ABORT
        preparing = TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT
        if state == finished:
            return EndTxnResult(ErrorCode.NONE)  # a retry of a request that already succeeded
        if state == preparing:
            return EndTxnResult(ErrorCode.CONCURRENT_TRANSACTIONS)
        return EndTxnResult(ErrorCode.INVALID_TXN_STATE)  # Empty, or the opposite result

    def complete(self, plan: MarkerWrite, now_ms: int) -> bool:
        """All markers of ``plan`` are written: Prepare* -> Complete*. False if the plan is stale."""
        meta = self._txns.get(plan.transactional_id)
        preparing = TxnState.PREPARE_COMMIT if plan.commit else TxnState.PREPARE_ABORT
        if (
            meta is None
            or meta.state != preparing
            or meta.producer_id != plan.producer_id
            or meta.producer_epoch != plan.producer_epoch
        ):
            return False
        meta.partitions.clear()
        meta.groups.clear()
        meta.transition(TxnState.COMPLETE_COMMIT if plan.commit else TxnState.COMPLETE_ABORT, now_ms)
        self._marker_due.pop(meta.transactional_id, None)
        self._persist(meta)
        return True

    def _prepare(self, meta: TransactionMetadata, target: TxnState, now_ms: int) -> MarkerWrite:
        meta.transition(target, now_ms)
        self._persist(meta)
        self._marker_due[meta.transactional_id] = now_ms + self.config.marker_retry_ms
        return self._plan(meta)

    def _plan(self, meta: TransactionMetadata) -> MarkerWrite:
        return MarkerWrite(
            transactional_id=meta.transactional_id,
            producer_id=meta.producer_id,
            producer_epoch=meta.producer_epoch,
            commit=meta.state == TxnState.PREPARE_COMMIT,
            coordinator_epoch=self.coordinator_epoch,
            partitions=tuple(sorted(meta.partitions)),
            groups=tuple(sorted(meta.groups)),
        )

    def _fence_and_abort(self, meta: TransactionMetadata, now_ms: int) -> MarkerWrite:
        # TransactionMetadata.prepareFenceProducerEpoch, then handleEndTransaction(ABORT,
        # isFromClient=false): the abort markers carry the bumped epoch, so the old producer's
        # late produce gets INVALID_PRODUCER_EPOCH and its EndTxn/AddPartitions PRODUCER_FENCED.
        meta.transition(TxnState.PREPARE_EPOCH_FENCE, now_ms)
        meta.producer_epoch += 1
        meta.last_producer_epoch = NO_PRODUCER_EPOCH
        return self._prepare(meta, TxnState.PREPARE_ABORT, now_ms)

    # --------------------------------------------------------------------------- time

    def tick(self, now_ms: int) -> list[MarkerWrite]:
        """Abort timed-out transactions, re-offer overdue plans, expire idle transactional ids."""
        plans: list[MarkerWrite] = []
        for txn_id, due in list(self._marker_due.items()):
            if due <= now_ms:
                self._marker_due[txn_id] = now_ms + self.config.marker_retry_ms
                plans.append(self._plan(self._txns[txn_id]))
        if now_ms >= self._next_scan_ms:
            plans += self._scan(now_ms)
        return plans

    def _scan(self, now_ms: int) -> list[MarkerWrite]:
        plans: list[MarkerWrite] = []
        next_scan = now_ms + _MAX_SCAN_INTERVAL_MS
        for meta in list(self._txns.values()):
            if meta.state == TxnState.ONGOING:
                deadline = _timeout_deadline(meta)
                if deadline <= now_ms:
                    log.info("transaction %r timed out after %d ms (producer id %d epoch %d): aborting",
                             meta.transactional_id, meta.timeout_ms, meta.producer_id, meta.producer_epoch)
                    plans.append(self._fence_and_abort(meta, now_ms))  # abortTimedOutTransactions
                    continue
            elif meta.state == TxnState.EMPTY or meta.state in COMPLETE:
                deadline = meta.update_ms + self.config.id_expiration_ms
                if deadline <= now_ms:  # TransactionStateManager: transactionalId-expiration
                    meta.transition(TxnState.DEAD, now_ms)
                    del self._txns[meta.transactional_id]
                    self._store.put(_TXN_PREFIX + meta.transactional_id, None)
                    continue
            else:
                continue
            next_scan = min(next_scan, deadline)
        self._next_scan_ms = next_scan
        return plans

    def pending_markers(self) -> list[MarkerWrite]:
        """Plans of every transaction still in Prepare* (e.g. right after ``restore``)."""
        return [self._plan(m) for m in self._txns.values() if m.state in PREPARING]

    # ------------------------------------------------------------------------ queries

    def describe(self, transactional_ids: Iterable[str]) -> list[TxnDescription]:
        """DescribeTransactions (KIP-664)."""
        out: list[TxnDescription] = []
        for txn_id in transactional_ids:
            meta = self._txns.get(txn_id)
            if meta is None:
                out.append(TxnDescription(txn_id, ErrorCode.TRANSACTIONAL_ID_NOT_FOUND))
                continue
            out.append(
                TxnDescription(
                    transactional_id=txn_id,
                    error=ErrorCode.NONE,
                    state=meta.state.state_name,
                    timeout_ms=meta.timeout_ms,
                    start_ms=meta.start_ms,
                    producer_id=meta.producer_id,
                    producer_epoch=meta.producer_epoch,
                    partitions=tuple(sorted(meta.partitions)),
                )
            )
        return out

    def list_transactions(
        self,
        state_filters: Iterable[str] = (),
        producer_id_filters: Iterable[int] = (),
        duration_filter_ms: int = -1,
        *,
        now_ms: int,
    ) -> ListTransactionsResult:
        """ListTransactions (KIP-664; ``duration_filter_ms`` is v1, KIP-994)."""
        names = list(state_filters)
        unknown = tuple(n for n in names if TxnState.from_name(n) is None)
        states = {TxnState.from_name(n) for n in names} - {None}
        pids = set(producer_id_filters)
        found = tuple(
            TxnListing(m.transactional_id, m.producer_id, m.state.state_name)
            for m in self._txns.values()
            if (not names or m.state in states)
            and (not pids or m.producer_id in pids)
            and (duration_filter_ms < 0 or (m.start_ms >= 0 and now_ms - m.start_ms > duration_filter_ms))
        )
        return ListTransactionsResult(found, unknown)

    def state_of(self, transactional_id: str) -> TxnState | None:
        """The current state of one transactional id (tests, admin)."""
        meta = self._txns.get(transactional_id)
        return None if meta is None else meta.state


def _timeout_deadline(meta: TransactionMetadata) -> int:
    # TransactionStateManager.timedOutTransactions: txnStartTimestamp + txnTimeoutMs < now.
    return meta.start_ms + meta.timeout_ms + 1


def _check_producer(meta: TransactionMetadata | None, producer_id: int, producer_epoch: int) -> ErrorCode | None:
    # TransactionCoordinator: unknown id or another producer id -> INVALID_PRODUCER_ID_MAPPING,
    # another epoch -> PRODUCER_FENCED (strict equality for client requests).
    if meta is None or meta.producer_id != producer_id:
        return ErrorCode.INVALID_PRODUCER_ID_MAPPING
    if meta.producer_epoch != producer_epoch:
        return ErrorCode.PRODUCER_FENCED
    return None


def _is_valid_producer_id(meta: TransactionMetadata, producer_id: int, producer_epoch: int) -> bool:
    # TransactionCoordinator.isValidProducerId (KIP-360): a fresh id, the current id, or the
    # previous id retrying the bump that exhausted its epochs.
    return (
        meta.producer_epoch == NO_PRODUCER_EPOCH
        or producer_id == meta.producer_id
        or (producer_id == meta.last_producer_id and is_epoch_exhausted(producer_epoch))
    )


def _bump_epoch(meta: TransactionMetadata, expected_epoch: int | None) -> ErrorCode | None:
    # TransactionMetadata.prepareIncrementProducerEpoch.
    if expected_epoch is None:
        meta.producer_epoch += 1  # a new or re-initialising producer: fences any older one
        meta.last_producer_epoch = NO_PRODUCER_EPOCH
    elif meta.producer_epoch == NO_PRODUCER_EPOCH or expected_epoch == meta.producer_epoch:
        meta.last_producer_epoch = meta.producer_epoch  # KIP-360 bump after an abortable error
        meta.producer_epoch += 1
    elif expected_epoch != meta.last_producer_epoch:
        return ErrorCode.PRODUCER_FENCED
    # else: the expected epoch is the previous one: a retry of a bump that already happened
    return None
