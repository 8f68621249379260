"""InitProducerId for idempotent producers without a transactional id (basic form).

kafka-python's default producer is idempotent, so this is needed from the start. Producer
ids come from a counter persisted in the storage engine's state store, so ids are never
reused across restarts of a file-backed broker (reuse would break duplicate detection).
The transaction coordinator module replaces this handler.
"""

from __future__ import annotations

from kafkaish.registry import RequestContext, handler
from kafkaish.wire.errors import ErrorCode
from kafkaish.wire.messages.init_producer_id import InitProducerIdRequest, InitProducerIdResponse

BLOCK = 1000


class ProducerIdAllocator:
    def __init__(self, store) -> None:  # type: ignore[no-untyped-def]
        self._store = store
        raw = store.items().get("next_block")
        self._next = int(raw) if raw else 1
        self._limit = self._next

    def allocate(self) -> int:
        if self._next >= self._limit:
            self._limit = self._next + BLOCK
            self._store.put("next_block", str(self._limit).encode())
        pid = self._next
        self._next += 1
        return pid


def setup(broker) -> None:  # type: ignore[no-untyped-def]
    broker.producer_ids = ProducerIdAllocator(broker.storage.state_store("producer_ids"))


@handler(InitProducerIdRequest, min_version=0, max_version=5)
async def init_producer_id(ctx: RequestContext, req: InitProducerIdRequest) -> InitProducerIdResponse:
    if req.transactional_id is not None:
        return InitProducerIdResponse(error_code=ErrorCode.COORDINATOR_NOT_AVAILABLE, producer_id=-1, producer_epoch=-1)
    return InitProducerIdResponse(error_code=0, producer_id=ctx.broker.producer_ids.allocate(), producer_epoch=0)
