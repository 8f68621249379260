"""Transaction metadata: the states, the legal transitions and the durable record of one transactional id.

Kafka's ``TransactionState`` / ``TransactionMetadata`` (and the value schema of ``__transaction_state``),
kept apart from the coordinator's decision logic in ``kafkaish.coordinator.txn``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import IntEnum

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
# TransactionMetadata.isEpochExhausted: epoch Short.MaxValue - 1 leaves one spare epoch for a fence.
MAX_PRODUCER_EPOCH = 2**15 - 1

TopicPartition = tuple[str, int]


class TxnState(IntEnum):
    """Kafka's ``TransactionState``; the values are its ids, the names its ``stateName``s."""

    EMPTY = 0
    ONGOING = 1
    PREPARE_COMMIT = 2
    PREPARE_ABORT = 3
    COMPLETE_COMMIT = 4
    COMPLETE_ABORT = 5
    DEAD = 6
    PREPARE_EPOCH_FENCE = 7

    @property
    def state_name(self) -> str:
        return _STATE_NAMES[self]

    @classmethod
    def from_name(cls, name: str) -> TxnState | None:
        return _STATES_BY_NAME.get(name)


_STATE_NAMES = {
    TxnState.EMPTY: "Empty",
    TxnState.ONGOING: "Ongoing",
    TxnState.PREPARE_COMMIT: "PrepareCommit",
    TxnState.PREPARE_ABORT: "PrepareAbort",
    TxnState.COMPLETE_COMMIT: "CompleteCommit",
    TxnState.COMPLETE_ABORT: "CompleteAbort",
    TxnState.DEAD: "Dead",
    TxnState.PREPARE_EPOCH_FENCE: "PrepareEpochFence",
}
_STATES_BY_NAME = {name: state for state, name in _STATE_NAMES.items()}

_S = TxnState
# TransactionState.validPreviousStates: target state -> states it may be entered from.
VALID_PREVIOUS: dict[TxnState, frozenset[TxnState]] = {
    _S.EMPTY: frozenset({_S.EMPTY, _S.COMPLETE_COMMIT, _S.COMPLETE_ABORT}),
    _S.ONGOING: frozenset({_S.ONGOING, _S.EMPTY, _S.COMPLETE_COMMIT, _S.COMPLETE_ABORT}),
    _S.PREPARE_COMMIT: frozenset({_S.ONGOING}),
    _S.PREPARE_ABORT: frozenset({_S.ONGOING, _S.PREPARE_EPOCH_FENCE}),
    _S.COMPLETE_COMMIT: frozenset({_S.PREPARE_COMMIT}),
    _S.COMPLETE_ABORT: frozenset({_S.PREPARE_ABORT}),
    _S.DEAD: frozenset({_S.EMPTY, _S.COMPLETE_COMMIT, _S.COMPLETE_ABORT}),
    _S.PREPARE_EPOCH_FENCE: frozenset({_S.ONGOING}),
}
PREPARING = frozenset({_S.PREPARE_COMMIT, _S.PREPARE_ABORT})
COMPLETE = frozenset({_S.COMPLETE_COMMIT, _S.COMPLETE_ABORT})


class IllegalTransitionError(RuntimeError):
    """A coordinator bug: a transition the state table does not allow."""


def is_epoch_exhausted(epoch: int) -> bool:
    return epoch >= MAX_PRODUCER_EPOCH - 1


@dataclass(slots=True)
class TransactionMetadata:
    """Everything the coordinator knows about one transactional id (Kafka's ``TransactionMetadata``).

    ``last_producer_id``/``last_producer_epoch`` remember the previous identity so that a retried
    InitProducerId (KIP-360) is recognised rather than fenced. ``groups`` stands in for the
    ``__consumer_offsets`` partitions Kafka adds for AddOffsetsToTxn.
    """

    transactional_id: str
    producer_id: int
    producer_epoch: int = NO_PRODUCER_EPOCH
    last_producer_id: int = NO_PRODUCER_ID
    last_producer_epoch: int = NO_PRODUCER_EPOCH
    timeout_ms: int = 60_000
    state: TxnState = TxnState.EMPTY
    partitions: set[TopicPartition] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    start_ms: int = -1
    update_ms: int = -1

    def transition(self, target: TxnState, now_ms: int) -> None:
        """Move to ``target`` if the table allows it; stamp the update time."""
        if self.state not in VALID_PREVIOUS[target]:
            raise IllegalTransitionError(
                f"transactional id {self.transactional_id!r}: {self.state.state_name} -> {target.state_name}"
            )
        self.state = target
        self.update_ms = now_ms

    def encode(self) -> bytes:
        """The durable record (JSON, versioned), like a ``__transaction_state`` value."""
        return json.dumps(
            {
                "v": 1,
                "id": self.transactional_id,
                "pid": self.producer_id,
                "epoch": self.producer_epoch,
                "last_pid": self.last_producer_id,
                "last_epoch": self.last_producer_epoch,
                "timeout_ms": self.timeout_ms,
                "state": int(self.state),
                "partitions": sorted(self.partitions),
                "groups": sorted(self.groups),
                "start_ms": self.start_ms,
                "update_ms": self.update_ms,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def decode(cls, data: bytes) -> TransactionMetadata:
        raw = json.loads(data)
        if raw.get("v") != 1:
            raise ValueError(f"unknown transaction metadata version {raw.get('v')!r}")
        return cls(
            transactional_id=raw["id"],
            producer_id=raw["pid"],
            producer_epoch=raw["epoch"],
            last_producer_id=raw["last_pid"],
            last_producer_epoch=raw["last_epoch"],
            timeout_ms=raw["timeout_ms"],
            state=TxnState(raw["state"]),
            partitions={(t, p) for t, p in raw["partitions"]},
            groups=set(raw["groups"]),
            start_ms=raw["start_ms"],
            update_ms=raw["update_ms"],
        )
