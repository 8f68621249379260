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
