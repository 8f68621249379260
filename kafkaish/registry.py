"""The handler registry: each API registers its key and version range.

ApiVersions is computed from this registry, so the server advertises exactly what it
implements (the kfake pattern). Handlers take a ``RequestContext`` (``kafkaish.context``,
re-exported here for them) and reach the broker only through its ``BrokerServices``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from kafkaish.context import RequestContext

__all__ = ["REGISTRY", "FaultAction", "HandlerRegistry", "HandlerSpec", "RequestContext", "ResponseAt", "handler"]


class FaultAction(Enum):
    """What a handler or a fault-injection control can answer instead of a response."""

    DROP = "drop"  # send no response (the client times out)
    CLOSE = "close"  # close the connection


@dataclass(frozen=True, slots=True)
class ResponseAt:
    """A response to encode at ``version`` instead of the request's (KIP-511: ApiVersions v0)."""

    body: Any
    version: int


Handler = Callable[["RequestContext", Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    api_key: int
    min_version: int
    max_version: int
    request_cls: type
    fn: Handler


class HandlerRegistry:
    """Handlers by api key. With an index (``use_index``), a handler module is imported when the
    first request for one of its APIs arrives, and ApiVersions is answered from the index."""

    def __init__(self) -> None:
        self._specs: dict[int, HandlerSpec] = {}
        self._index: dict[int, tuple[str, int, int]] = {}  # api key -> (module, min, max), not yet imported

    def use_index(self, package: str, index: dict[int, tuple[str, int, int]]) -> None:
        """Import ``package.MODULE`` for an api key of ``index`` on its first ``get``."""
        for key, (module, lo, hi) in index.items():
            if key not in self._specs:
                self._index[key] = (f"{package}.{module}", lo, hi)

    def register(self, spec: HandlerSpec) -> None:
        cls = spec.request_cls
        if not cls.MIN_VERSION <= spec.min_version <= spec.max_version <= cls.MAX_VERSION:
            raise ValueError(f"{cls.__name__}: versions {spec.min_version}-{spec.max_version} "
                             f"outside the definition's {cls.MIN_VERSION}-{cls.MAX_VERSION}")
        if spec.api_key in self._specs and self._specs[spec.api_key].fn is not spec.fn:
            raise ValueError(f"api key {spec.api_key} registered twice")
        self._specs[spec.api_key] = spec
        self._index.pop(spec.api_key, None)

    def get(self, api_key: int) -> HandlerSpec | None:
        spec = self._specs.get(api_key)
        if spec is None and api_key in self._index:
            # its @handler decorators register it; __import__ (not importlib.import_module), so that
            # `python -X importtime` lists it
            __import__(self._index[api_key][0])
            spec = self._specs.get(api_key)
        return spec

    def supported(self, caps: dict[int, int] | None = None) -> dict[int, tuple[int, int]]:
        """api_key -> (min, max), optionally capped (to imitate an older Kafka)."""
        ranges = {key: (lo, hi) for key, (_, lo, hi) in self._index.items()}
        ranges.update((key, (s.min_version, s.max_version)) for key, s in self._specs.items())
        out = {}
        for key, (lo, hi) in ranges.items():
            if caps and key in caps:
                hi = min(hi, caps[key])
            if hi >= lo:
                out[key] = (lo, hi)
        return out


REGISTRY = HandlerRegistry()


def handler(request_cls: type, *, min_version: int = 0, max_version: int | None = None) -> Callable[[Handler], Handler]:
    """Register ``fn`` as the handler of ``request_cls`` for a version range."""

    def deco(fn: Handler) -> Handler:
        hi = request_cls.MAX_VERSION if max_version is None else max_version
        REGISTRY.register(HandlerSpec(request_cls.API_KEY, min_version, hi, request_cls, fn))
        return fn

    return deco
