"""The idempotent producer with confluent-kafka: retries that never duplicate.

A producer that sent a batch and lost the answer (a closed connection, a timeout) cannot
tell whether the broker wrote it, so it sends it again. With ``enable.idempotence`` every
batch carries a producer id and a sequence number per partition; the broker keeps the last
five batches of each producer (Kafka's ProducerStateManager) and answers a resent batch
with its first offsets instead of writing it twice. It also implies ``acks=all`` and
unbounded retries, and keeps order with up to five requests in flight.
``idempotent=False`` keeps the retries but drops the sequence numbers (the negative check).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from confluent_kafka import KafkaError, Producer


def publish(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]], *,
            idempotent: bool = True) -> None:
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "enable.idempotence": idempotent,
        "acks": "all",
        "linger.ms": 5,
        "retry.backoff.ms": 50,
    })
    failed: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            failed.append(err)

    for key, value in records:
        producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
        producer.poll(0)  # serve delivery callbacks
    if producer.flush(30) or failed:
        raise RuntimeError(f"not delivered: {failed or 'flush timed out'}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--not-idempotent", action="store_true")
    a = p.parse_args()
    publish(a.bootstrap, a.topic, ((None, f"m{i}".encode()) for i in range(a.count)), idempotent=not a.not_idempotent)


if __name__ == "__main__":
    main()
