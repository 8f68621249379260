"""Thin adapters that drive each real client library the same way, for e2e tests.

Each ``roundtrip_*`` produces ``records`` (key, value, headers, timestamp_ms, partition)
with one client library, reads everything back, and answers the replay questions a user
asks (seek, offsets for a timestamp, beginning/end offsets). Results are plain tuples so
tests compare clients with one set of assertions.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

Rec = tuple[bytes, bytes, list[tuple[str, bytes]], int, int]  # key, value, headers, ts, partition


@dataclass
class Outcome:
    consumed: list[tuple[int, int, bytes, bytes, list[tuple[str, bytes]], int]] = field(default_factory=list)
    reread_from: dict[int, list[int]] = field(default_factory=dict)  # partition -> offsets after seek
    by_time: dict[int, int | None] = field(default_factory=dict)  # partition -> offset for the probe time
    beginning: dict[int, int] = field(default_factory=dict)
    end: dict[int, int] = field(default_factory=dict)


def _sorted(out: Outcome) -> Outcome:
    out.consumed.sort(key=lambda r: (r[0], r[1]))
    return out


# ----------------------------------------------------------------------------- kafka-python

def roundtrip_kafka_python(bootstrap: str, topic: str, parts: int, records: list[Rec],
                           compression: str | None, seek: int, probe_ts: int) -> Outcome:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    producer = KafkaProducer(bootstrap_servers=bootstrap, compression_type=compression, linger_ms=5)
    futures = [producer.send(topic, key=k, value=v, headers=h, timestamp_ms=ts, partition=p)
               for k, v, h, ts, p in records]
    producer.flush()
    for f in futures:
        f.get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    tps = [TopicPartition(topic, i) for i in range(parts)]
    consumer.assign(tps)
    consumer.seek_to_beginning()
    out = Outcome()
    deadline = time.monotonic() + 60
    while len(out.consumed) < len(records) and time.monotonic() < deadline:
        for tp, msgs in consumer.poll(timeout_ms=500).items():
            out.consumed += [(tp.partition, m.offset, m.key, m.value, list(m.headers), m.timestamp) for m in msgs]
    for tp in tps:
        consumer.seek(tp, seek)
    got: dict[int, list[int]] = {}
    deadline = time.monotonic() + 30
    while sum(len(v) for v in got.values()) < sum(max(0, n - seek) for n in _counts(out, parts).values()) \
            and time.monotonic() < deadline:
        for tp, msgs in consumer.poll(timeout_ms=500).items():
            got.setdefault(tp.partition, []).extend(m.offset for m in msgs)
    out.reread_from = got
    found = consumer.offsets_for_times({tp: probe_ts for tp in tps})
    out.by_time = {tp.partition: (v.offset if v else None) for tp, v in found.items()}
    out.beginning = {tp.partition: o for tp, o in consumer.beginning_offsets(tps).items()}
    out.end = {tp.partition: o for tp, o in consumer.end_offsets(tps).items()}
    consumer.close()
    return _sorted(out)


def _counts(out: Outcome, parts: int) -> dict[int, int]:
    counts = {p: 0 for p in range(parts)}
    for r in out.consumed:
        counts[r[0]] += 1
    return counts


# ----------------------------------------------------------------------------- aiokafka

def roundtrip_aiokafka(bootstrap: str, topic: str, parts: int, records: list[Rec],
                       compression: str | None, seek: int, probe_ts: int) -> Outcome:
    return asyncio.run(_aiokafka(bootstrap, topic, parts, records, compression, seek, probe_ts))


async def _aiokafka(bootstrap: str, topic: str, parts: int, records: list[Rec],
                    compression: str | None, seek: int, probe_ts: int) -> Outcome:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, compression_type=compression, linger_ms=5)
    await producer.start()
    try:
        futs = [await producer.send(topic, key=k, value=v, headers=h, timestamp_ms=ts, partition=p)
                for k, v, h, ts, p in records]
        await asyncio.wait_for(asyncio.gather(*futs), 60)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    out = Outcome()
    try:
        tps = [TopicPartition(topic, i) for i in range(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + 60
        while len(out.consumed) < len(records) and time.monotonic() < deadline:
            for tp, msgs in (await consumer.getmany(timeout_ms=500)).items():
                out.consumed += [(tp.partition, m.offset, m.key, m.value, list(m.headers), m.timestamp)
                                 for m in msgs]
        for tp in tps:
            consumer.seek(tp, seek)
        expected = sum(max(0, n - seek) for n in _counts(out, parts).values())
        deadline = time.monotonic() + 30
        while sum(len(v) for v in out.reread_from.values()) < expected and time.monotonic() < deadline:
            for tp, msgs in (await consumer.getmany(timeout_ms=500)).items():
                out.reread_from.setdefault(tp.partition, []).extend(m.offset for m in msgs)
        found = await consumer.offsets_for_times({tp: probe_ts for tp in tps})
        out.by_time = {tp.partition: (v.offset if v else None) for tp, v in found.items()}
        out.beginning = {tp.partition: o for tp, o in (await consumer.beginning_offsets(tps)).items()}
        out.end = {tp.partition: o for tp, o in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()
    return _sorted(out)


# ----------------------------------------------------------------------------- confluent-kafka

def roundtrip_confluent(bootstrap: str, topic: str, parts: int, records: list[Rec],
                        compression: str | None, seek: int, probe_ts: int) -> Outcome:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

    errors: list[object] = []
    producer = Producer({"bootstrap.servers": bootstrap, "compression.type": compression or "none",
                         "linger.ms": 5})
    for k, v, h, ts, p in records:
        producer.produce(topic, value=v, key=k, headers=h, timestamp=ts, partition=p,
                         on_delivery=lambda err, msg: errors.append(err) if err else None)
        producer.poll(0)
    if producer.flush(60) != 0 or errors:
        raise KafkaException(f"delivery failed: {errors[:3]}")
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"rt-{topic}",
                         "enable.auto.commit": False, "enable.partition.eof": False})
    out = Outcome()
    try:
        consumer.assign([TopicPartition(topic, i, OFFSET_BEGINNING) for i in range(parts)])
        deadline = time.monotonic() + 60
        while len(out.consumed) < len(records) and time.monotonic() < deadline:
            for m in consumer.consume(500, timeout=0.5):
                if m.error():
                    raise KafkaException(m.error())
                out.consumed.append((m.partition(), m.offset(), m.key(), m.value(),
                                     [(hk, hv) for hk, hv in (m.headers() or [])], m.timestamp()[1]))
        counts = _counts(out, parts)
        consumer.assign([TopicPartition(topic, i, seek) for i in range(parts)])
        expected = sum(max(0, n - seek) for n in counts.values())
        deadline = time.monotonic() + 30
        while sum(len(v) for v in out.reread_from.values()) < expected and time.monotonic() < deadline:
            for m in consumer.consume(500, timeout=0.5):
                if m.error():
                    raise KafkaException(m.error())
                out.reread_from.setdefault(m.partition(), []).append(m.offset())
        found = consumer.offsets_for_times([TopicPartition(topic, i, probe_ts) for i in range(parts)], 10)
        out.by_time = {tp.partition: (tp.offset if tp.offset >= 0 else None) for tp in found}
        for i in range(parts):
            lo, hi = consumer.get_watermark_offsets(TopicPartition(topic, i), timeout=10)
            out.beginning[i], out.end[i] = lo, hi
    finally:
        consumer.close()
    return _sorted(out)


ROUNDTRIPS = {
    "kafka-python": roundtrip_kafka_python,
    "aiokafka": roundtrip_aiokafka,
    "confluent-kafka": roundtrip_confluent,
}
