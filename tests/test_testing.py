"""kafkaish.testing: the embedded broker's life cycle."""

from __future__ import annotations

import asyncio

from kafkaish.testing import run_broker


def test_stopped_embedded_broker_leaves_no_pending_task_for_the_garbage_collector() -> None:
    """A task still pending when the broker stopped (a connection, a topic change whose client
    left) was destroyed later by the garbage collector, in whatever it interrupted; on Python 3.11
    its report broke an ``ast.parse`` there: tests/e2e/test_fuzz.py failed in a pytest-rewritten
    import with "SystemError: AST constructor recursion depth mismatch"."""
    ended: list[str] = []

    async def pending() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            ended.append("finally ran")

    with run_broker() as kb:
        task = kb.call(lambda: asyncio.ensure_future(pending()))
    assert task.cancelled() and ended == ["finally ran"]
