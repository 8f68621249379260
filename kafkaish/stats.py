"""Request and traffic counters of one broker, kept as plain ints and dicts on the hot path.

``Broker.stats`` is a ``BrokerStats`` (None with ``metrics = false``). The server calls
``request_done`` once per answered request; Produce and Fetch add bytes/records per topic. Nothing
here formats or locks: the admin port's /metrics (``kafkaish.control.metrics``) reads these
numbers at scrape time. At DEBUG, ``request_done`` also logs one line per request.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from kafkaish.storage.latency import LatencyCounts
from kafkaish.wire.messages import API_NAMES

request_log = logging.getLogger("kafkaish.request")


class BrokerStats:
    __slots__ = ("requests", "latency", "bytes_in", "records_in", "bytes_out")

    def __init__(self) -> None:
        self.requests: dict[tuple[int, int], int] = {}  # (api_key, top-level error code) -> count
        self.latency: dict[int, LatencyCounts] = {}  # api_key -> seconds
        self.bytes_in: dict[str, int] = {}  # topic -> bytes appended by Produce
        self.records_in: dict[str, int] = {}
        self.bytes_out: dict[str, int] = {}  # topic -> record bytes answered by Fetch

    def request_done(self, request: Any, response: Any, start: float) -> None:
        """Count one answered request (``start`` from ``time.perf_counter()``)."""
        elapsed = time.perf_counter() - start
        key = request.api_key
        error = getattr(response, "error_code", 0) or 0
        k = (key, error)
        self.requests[k] = self.requests.get(k, 0) + 1
        counts = self.latency.get(key)
        if counts is None:
            counts = self.latency[key] = LatencyCounts()
        counts.observe(elapsed)
        if request_log.isEnabledFor(logging.DEBUG):
            request_log.debug("request %s v%d client_id=%s correlation_id=%d duration_ms=%.3f error_code=%d",
                              API_NAMES.get(key, key), request.api_version, request.client_id,
                              request.correlation_id, elapsed * 1000, error,
                              extra={"api": API_NAMES.get(key, str(key)), "api_version": request.api_version,
                                     "client_id": request.client_id, "correlation_id": request.correlation_id,
                                     "duration_ms": round(elapsed * 1000, 3), "error_code": error})

    def produced(self, topic: str, nbytes: int, records: int) -> None:
        self.bytes_in[topic] = self.bytes_in.get(topic, 0) + nbytes
        self.records_in[topic] = self.records_in.get(topic, 0) + records

    def fetched(self, topic: str, nbytes: int) -> None:
        self.bytes_out[topic] = self.bytes_out.get(topic, 0) + nbytes
