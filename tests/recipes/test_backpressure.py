"""Backpressure: a slow consumer under a burst pauses and resumes its partitions; lag grows, then drains.

A burst of 200 records into 2 partitions; the worker takes 5 ms a record; the broker closes
the consumer's connection on one Fetch mid-run. Lag is read as an operator reads it: the
group's committed offsets against the log end offsets. Every record is processed once; with
pause/resume the buffer stays under its bound (high mark + one fetch); without it (the
negative check) the consumer buffers far past the bound.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer

from kafka_recipes.backpressure import consume, group_lag
from kafkaish.testing import FaultAction
from kafkaish.wire.messages import ApiKey
from tests.recipes.helpers import create_topic, outcome

N, HIGH, FETCH_BATCH = 200, 20, 10


def close_nth_fetch(kb, n: int) -> None:
    seen = []

    def control(_request: object) -> object:
        seen.append(1)
        return FaultAction.CLOSE if len(seen) == n else None

    kb.control(control, api_key=ApiKey.FETCH)


@pytest.mark.parametrize("pause", [True, False])
def test_slow_consumer_pauses_and_the_lag_drains(kb, name, pause):
    create_topic(kb.bootstrap, name, partitions=2)
    sent = [f"v{i:03d}" for i in range(N)]
    close_nth_fetch(kb, 8)

    async def scenario():
        processed: list[str] = []
        lags: list[int] = []
        consumer = asyncio.create_task(consume(kb.bootstrap, name, name, lambda v: processed.append(v.decode()),
                                               limit=N, high=HIGH, fetch_batch=FETCH_BATCH, pause=pause))

        async def sample_lag() -> None:
            while not consumer.done():
                lags.append(await group_lag(kb.bootstrap, name, name))
                await asyncio.sleep(0.1)

        sampler = asyncio.create_task(sample_lag())
        while not lags:  # a sample before the burst
            await asyncio.sleep(0.05)
        producer = AIOKafkaProducer(bootstrap_servers=kb.bootstrap, linger_ms=5)
        await producer.start()
        await asyncio.gather(*[await producer.send(name, v.encode()) for v in sent])
        await producer.stop()
        stats = await consumer
        await sampler
        lags.append(await group_lag(kb.bootstrap, name, name))
        return stats, processed, lags

    stats, processed, lags = asyncio.run(asyncio.wait_for(scenario(), 60))
    got = outcome(sent, processed)
    assert (got.lost, got.duplicated, stats.processed) == ([], [], N)
    peak = lags.index(max(lags))
    assert lags[0] == 0 and max(lags) >= N // 2 and lags[-1] == 0, lags  # the backlog grew, then drained
    assert 0 < peak < len(lags) - 1, lags
    if pause:
        assert stats.pauses >= 1 and stats.resumes >= 1
        assert stats.max_buffered <= HIGH + FETCH_BATCH
    else:
        assert stats.pauses == 0
        assert stats.max_buffered > HIGH + FETCH_BATCH  # memory follows the backlog
