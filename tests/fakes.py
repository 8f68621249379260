"""Small fakes shared by unit tests (no broker, no sockets)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any


class DictStore:
    """An in-memory StateStore that also records every put, for persistence assertions."""

    def __init__(self, data: Mapping[str, bytes] | None = None) -> None:
        self.data: dict[str, bytes] = dict(data or {})
        self.puts: list[tuple[str, bytes | None]] = []

    def put(self, key: str, value: bytes | None) -> None:
        self.puts.append((key, value))
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value

    def items(self) -> dict[str, bytes]:
        return dict(self.data)


def call_handler(broker: Any, fn: Any, req: Any, version: int, client_id: str = "test") -> Any:
    """Run one handler against ``broker`` and check its answer encodes at ``version``."""
    from kafkaish.registry import RequestContext

    ctx = RequestContext(version, 1, client_id, "127.0.0.1", broker)
    resp = asyncio.run(fn(ctx, req))
    type(resp).decode(resp.encode(version), version)  # the answer must be encodable at this version
    return resp
