"""Executes the transaction coordinator's marker plans (Kafka's ``TransactionMarkerChannelManager``).

The ``TransactionCoordinator`` decides and returns ``MarkerWrite`` plans; this module carries
them out against storage and the group coordinator, without awaiting anything:
- append a COMMIT/ABORT control batch to every partition (``PartitionLog.append_control``),
  all made durable together (one fsync under fsync=always);
- wake the Fetch long polls parked on those partitions;
- commit or drop the groups' pending transactional offsets;
- then ``txns.complete(plan)`` stores Complete*.
Durability order as Kafka's: the Prepare* record was stored before the plan existed. A partition
that no longer exists is skipped (Kafka drops markers for deleted partitions); on any other
storage error the plan stays in Prepare* and the coordinator's ``tick`` offers it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kafkaish.coordinator.group import GroupCoordinator
from kafkaish.coordinator.txn import MarkerWrite, TransactionCoordinator
from kafkaish.storage import StorageEngine
from kafkaish.wire.errors import ErrorCode, KafkaError

log = logging.getLogger("kafkaish.markers")


class MarkerWriter:
    def __init__(self, storage: StorageEngine, groups: GroupCoordinator, txns: TransactionCoordinator,
                 data_arrived: Callable[[str, int], None]) -> None:
        self.storage = storage
        self.groups = groups
        self.txns = txns
        self._data_arrived = data_arrived

    def write(self, plan: MarkerWrite, now_ms: int) -> bool:
        """Execute one plan (markers, then group offsets) and complete it; False if it must be retried."""
        with self.storage.group_commit():
            written = self._append_markers(plan, now_ms)
        if not written:
            return False
        for topic, partition in plan.partitions:
            self._data_arrived(topic, partition)
        if plan.groups:
            self.groups.complete_txn_offsets(plan.producer_id, plan.groups, plan.commit, now_ms)
        self.txns.complete(plan, now_ms)
        return True

    def tick(self, now_ms: int) -> None:
        """The coordinator's timers: abort timed-out transactions, retry unfinished plans."""
        for plan in self.txns.tick(now_ms):
            self.write(plan, now_ms)

    def _append_markers(self, plan: MarkerWrite, now_ms: int) -> bool:
        for topic, partition in plan.partitions:
            try:
                self.storage.log(topic, partition).append_control(
                    producer_id=plan.producer_id,
                    producer_epoch=plan.producer_epoch,
                    commit=plan.commit,
                    coordinator_epoch=plan.coordinator_epoch,
                    now_ms=now_ms,
                )
            except KafkaError as e:
                if e.code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
                    continue  # deleted meanwhile: nothing left to mark
                if e.code == ErrorCode.INVALID_PRODUCER_EPOCH:
                    # The partition saw a newer epoch than this marker's: Kafka's marker handler stops
                    # sending for such a plan (TransactionMarkerRequestCompletionHandler).
                    log.warning("marker for %s to %s-%d refused: %s", plan.transactional_id, topic, partition, e)
                    continue
                log.warning("marker for %s to %s-%d failed, will retry: %s",
                            plan.transactional_id, topic, partition, e)
                return False
        return True
