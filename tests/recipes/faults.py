"""Broker faults for the recipe tests, built on the public ``kb.control`` hook.

``kb.control(fn, api_key)`` lets ``fn`` answer a request itself, drop it or close the
connection. ``script_produce_faults`` plays a list of faults on the Produce requests that
carry records for one topic:

- ``"lost_answer"``: the broker writes the records, then the connection closes before the
  answer: the producer cannot know the write happened, so it sends the records again;
- ``"not_leader"``: answered NOT_LEADER_OR_FOLLOWER without writing anything (a leader change);
- ``"close"``: the connection closes before anything is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from kafkaish.testing import EmbeddedBroker, FaultAction
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages import ApiKey
from kafkaish.wire.messages.produce import ProduceResponse
from kafkaish.wire.records import iter_batches


@dataclass
class FaultLog:
    played: list[tuple[str, int]] = field(default_factory=list)  # (fault, records in the request)

    def records_written_unacknowledged(self) -> int:
        """Records the broker wrote although the producer saw no answer."""
        return sum(n for fault, n in self.played if fault == "lost_answer")


def records_in(request_body: object, topic: str) -> int:
    return sum(h.records_count for t in request_body.topic_data if t.name == topic  # type: ignore[attr-defined]
               for p in t.partition_data if p.records for _, h in iter_batches(bytes(p.records)))


def _not_leader(body: object) -> ProduceResponse:
    return ProduceResponse(responses=[
        ProduceResponse.TopicProduceResponse(name=t.name, partition_responses=[
            ProduceResponse.PartitionProduceResponse(index=p.index, error_code=ErrorCode.NOT_LEADER_OR_FOLLOWER)
            for p in t.partition_data])
        for t in body.topic_data])  # type: ignore[attr-defined]


def script_produce_faults(kb: EmbeddedBroker, topic: str, faults: list[str]) -> FaultLog:
    log = FaultLog()
    script = list(faults)
    passing: list[object] = []  # requests re-dispatched by a lost_answer: let them through

    def control(request: object) -> object:
        n = records_in(request.body, topic)  # type: ignore[attr-defined]
        if any(r is request for r in passing) or not script or n == 0:
            return None
        fault = script.pop(0)
        log.played.append((fault, n))
        if fault == "not_leader":
            return _not_leader(request.body)  # type: ignore[attr-defined]
        if fault == "lost_answer":
            passing.append(request)
            # the real Produce handler writes the records; its answer goes nowhere
            asyncio.ensure_future(kb.broker.dispatch(request))  # type: ignore[union-attr, arg-type]
        return FaultAction.CLOSE

    kb.control(control, api_key=ApiKey.PRODUCE, keep=True)
    return log


def close_first(kb: EmbeddedBroker, *apis: int) -> Callable[[], list[int]]:
    """A fault rule per API: its first request closes the connection (the clients retry).

    Returns a function that lists the APIs whose rule has acted (``kb.faults``, the declarative
    fault API; its rules are plain data, the same as ``POST /v1/faults`` takes).
    """
    ids = {kb.faults.add(api=int(api), close=True, times=1): int(api) for api in apis}
    return lambda: sorted(ids[r["id"]] for r in kb.faults.list() if r["id"] in ids and r["hits"])
