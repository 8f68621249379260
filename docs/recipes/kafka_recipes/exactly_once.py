"""Exactly-once consume-transform-produce with confluent-kafka transactions.

The output records and the input offsets are committed in one Kafka transaction
(``send_offsets_to_transaction``), so a crash anywhere either commits both or neither; a
restarted process (same ``transactional.id``) fences the dead one and aborts its open
transaction. Downstream consumers must read with ``isolation.level=read_committed``.
``offsets_in_txn=False`` commits the offsets after the transaction instead (the negative check).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from kafka_recipes.at_least_once import caught_up
from kafka_recipes.crash import crash_point


def transform_stream(bootstrap: str, source: str, target: str, group: str, transform: Callable[[bytes], bytes], *,
                     offsets_in_txn: bool = True, batch: int = 5) -> None:
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "transactional.id": f"{group}-{source}",  # stable across restarts: that is what fences a zombie
    })
    producer.init_transactions(30)  # aborts what a previous incarnation left open
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.instance.id": f"{group}-worker",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",  # never read another transaction's aborted output
    })
    consumer.subscribe([source])
    try:
        while True:
            records = consumer.consume(num_messages=batch, timeout=0.5)
            for r in records:
                if r.error():
                    raise KafkaException(r.error())
            if not records:
                if caught_up(consumer):
                    return
                continue
            offsets = [TopicPartition(r.topic(), r.partition(), r.offset() + 1) for r in records]
            producer.begin_transaction()
            for r in records:
                producer.produce(target, key=r.key(), value=transform(r.value()))
            producer.flush(30)  # commit_transaction would flush too; here the crash below finds the output in the log
            if offsets_in_txn:
                # the input offsets become part of the transaction (TxnOffsetCommit)
                producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 30)
            crash_point("before_commit")  # output written, nothing committed: aborted on restart
            producer.commit_transaction(30)
            crash_point("after_commit")
            if not offsets_in_txn:
                consumer.commit(offsets=offsets, asynchronous=False)  # too late if we died just above
    finally:
        consumer.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--offsets-after-txn", action="store_true", help="commit offsets outside the transaction")
    a = p.parse_args()
    transform_stream(a.bootstrap, a.source, a.target, a.group, bytes.upper, offsets_in_txn=not a.offsets_after_txn)


if __name__ == "__main__":
    main()
