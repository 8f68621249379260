"""The zero-copy seam end to end: the file engine's Fetch records leave the server by sendfile(2)."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from kafkaish.storage.region import FileRegion, as_bytes
from kafkaish.wire.records import build_batch
from tests.e2e.test_fetch_semantics import Conn, fetch_req


def test_fetched_batches_from_the_file_engine_are_sent_with_sendfile(broker_factory, tmp_path, topic_name,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[int] = []
    real_sendfile = os.sendfile

    def counting_sendfile(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        n = real_sendfile(out_fd, in_fd, offset, count)
        sent.append(n)
        return n

    monkeypatch.setattr(os, "sendfile", counting_sendfile)  # asyncio's loop.sendfile calls os.sendfile
    kb = broker_factory(data_dir=tmp_path / "data")
    storage = kb.broker.storage
    now = int(time.time() * 1000)
    batches = [build_batch([(b"k%d" % i, b"v" * 3000)], timestamp_ms=now) for i in range(3)]

    def fill() -> bytes:
        storage.create_topic(topic_name, 1, {}, uuid.uuid4())
        log = storage.log(topic_name, 0)
        for b in batches:
            log.append(b, now_ms=now)
        stored = log.read(0, 1 << 20).records
        assert isinstance(stored, FileRegion)
        return as_bytes(stored)

    on_disk = kb.call(fill)
    records = Conn(kb.bootstrap).call(fetch_req(topic_name, {0: 0}), 12).responses[0].partitions[0].records
    assert bytes(records) == on_disk and len(on_disk) == sum(len(b) for b in batches)
    assert sum(sent) >= len(on_disk)


def _produce_big(bootstrap: str, topic: str) -> list[bytes]:
    """A real client's Produce request carrying one batch bigger than the codec's scratch buffer."""
    from confluent_kafka import Producer

    values = [os.urandom(20_000) for _ in range(4)]
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 200, "acks": "all", "compression.type": "none"})
    for v in values:
        p.produce(topic, v, partition=0)
    assert p.flush(30) == 0
    return values


def _consume(bootstrap: str, topic: str, n: int) -> list[bytes]:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "zc", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(got) < n and time.monotonic() < deadline:
        m = c.poll(1)
        if m is not None and not m.error():
            got.append(m.value())
    c.close()
    return got


def test_a_big_produced_batch_is_written_to_the_log_from_the_request_frame_itself(broker_factory, tmp_path, topic_name,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The produce zero-copy path: the socket reads a big request into a buffer of its own
    (wire.codec.FrameBuffer), the offsets are rewritten in that buffer and the segment is written
    from a view of it; a copy anywhere on the way (codec, handler, log) makes the written view's
    buffer the batch alone."""
    from kafkaish.wire.codec import SCRATCH

    writes: list[tuple[object, int]] = []
    real_write = os.write

    def recording_write(fd: int, data) -> int:  # type: ignore[no-untyped-def]
        writes.append((data.obj if isinstance(data, memoryview) else data, len(data)))
        return real_write(fd, data)

    kb = broker_factory(data_dir=tmp_path / "data")
    monkeypatch.setattr(os, "write", recording_write)
    values = _produce_big(kb.bootstrap, topic_name)
    monkeypatch.setattr(os, "write", real_write)

    big = [(obj, n) for obj, n in writes if n > SCRATCH]
    assert big, f"no batch over {SCRATCH} bytes was written: {[n for _, n in writes]}"
    for obj, n in big:  # a view of the whole request frame: header and topic name around the batch
        assert isinstance(obj, bytearray) and len(obj) > n
    assert _consume(kb.bootstrap, topic_name, len(values)) == values


def test_a_big_produced_batch_is_kept_by_the_memory_engine_as_a_view_of_the_request_frame(broker_factory,
                                                                                          topic_name) -> None:
    """The memory engine stores the same bytes the socket wrote: no copy between request and log."""
    from kafkaish.wire.codec import SCRATCH

    kb = broker_factory()
    values = _produce_big(kb.bootstrap, topic_name)
    stored = kb.call(lambda: [b for s in kb.broker.storage.log(topic_name, 0).segments() for b in s._batches])
    big = [b for b in stored if len(b) > SCRATCH]
    assert big, f"no batch over {SCRATCH} bytes: {[len(b) for b in stored]}"
    for b in big:
        assert isinstance(b, memoryview) and isinstance(b.obj, bytearray) and len(b.obj) > len(b)
    assert _consume(kb.bootstrap, topic_name, len(values)) == values


def test_memory_engine_keeps_nothing_per_batch_that_the_garbage_collector_tracks(broker_factory, topic_name) -> None:
    """Full collections scanned a memoryview and a header object per stored batch, so their pauses grew
    with the log (20-30 ms, issue #15): a small batch is kept as the log's own bytearray and its header
    as ints, none of which the collector tracks."""
    import gc

    from confluent_kafka import Producer

    kb = broker_factory()
    p = Producer({"bootstrap.servers": kb.bootstrap, "linger.ms": 0, "acks": "all"})
    for i in range(20):
        p.produce(topic_name, b"v%d" % i, partition=0)
        p.flush(10)

    def stored() -> list[object]:
        segments = kb.broker.storage.log(topic_name, 0).segments()
        return [o for s in segments for o in (*s._batches, *s._bases, *s._lasts, *s._max_ts)]

    objects = kb.call(stored)
    assert len(objects) == 80 and not any(gc.is_tracked(o) for o in objects)
