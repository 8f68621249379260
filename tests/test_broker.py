"""The broker as composition root: what several brokers over one SharedState share, and what not."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from kafkaish.broker import Broker
from kafkaish.config import load_settings


def _pair() -> tuple[Broker, Broker]:
    first = Broker(load_settings(in_memory=True, node_id=1))
    second = Broker(load_settings(in_memory=True, node_id=2), shared=first.shared)
    return first, second


def test_brokers_over_one_shared_state_share_services_but_not_identity() -> None:
    first, second = _pair()
    try:
        shared = ("storage", "clock", "groups", "txns", "markers")
        assert all(getattr(first, name) is getattr(second, name) for name in shared)
        assert (first.node_id, second.node_id) == (1, 2)
        assert first.configs is not second.configs and first.topics is not second.topics
        assert first.cluster_id == second.cluster_id
    finally:
        second.close()  # does not own the shared state: the storage stays open
        assert first.storage.topics() == {}
        first.close()


def test_topic_changes_through_two_brokers_run_one_at_a_time() -> None:
    """One controller: a topic change through one broker waits for one through the other."""
    first, second = _pair()
    active, most = [0], [0]
    guard = threading.Lock()
    create = first.storage.create_topic

    def counting_create(*args: Any) -> Any:
        with guard:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.05)  # long enough for the other change to start if nothing serialised them
        try:
            return create(*args)
        finally:
            with guard:
                active[0] -= 1

    first.storage.create_topic = counting_create  # type: ignore[method-assign]

    async def both() -> None:
        await asyncio.gather(first.topics.create_topic("a", 1), second.topics.create_topic("b", 1))

    try:
        asyncio.run(both())
        assert sorted(first.storage.topics()) == ["a", "b"] and most[0] == 1
    finally:
        first.close()


def test_a_broker_given_a_shared_state_takes_no_storage_or_clock() -> None:
    first = Broker(load_settings(in_memory=True))
    try:
        with pytest.raises(ValueError):
            Broker(load_settings(in_memory=True), storage=first.storage, shared=first.shared)
    finally:
        first.close()


def test_a_parked_join_completes_when_the_clock_is_advanced_past_the_rebalance_delay() -> None:
    """On a frozen clock the group's timers fire on advance, at once, and not before they are due."""
    from kafkaish.context import RequestContext
    from kafkaish.handlers.groups import join_group
    from kafkaish.wire.messages.join_group import JoinGroupRequest

    broker = Broker(load_settings(in_memory=True, group_initial_rebalance_delay_ms=3000))
    req = JoinGroupRequest(group_id="g", session_timeout_ms=10_000, rebalance_timeout_ms=10_000, member_id="",
                           protocol_type="consumer",
                           protocols=[JoinGroupRequest.JoinGroupRequestProtocol(name="range", metadata=b"m")])

    async def scenario() -> Any:
        broker.clock.freeze()
        parked = asyncio.ensure_future(join_group(RequestContext(3, 1, "c", "127.0.0.1", broker), req))
        await asyncio.sleep(0.2)
        broker.tick()  # the server's 50 ms tick: nothing is due on a frozen clock
        broker.clock.advance(2_999)
        await asyncio.sleep(0)
        assert not parked.done()
        broker.clock.advance(1)
        return await asyncio.wait_for(parked, 5)

    try:
        response = asyncio.run(scenario())
    finally:
        broker.close()
    assert response.error_code == 0 and response.generation_id == 1 and response.leader == response.member_id
