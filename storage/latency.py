"""Latency counts in fixed buckets: cheap to update on a hot path, read at scrape time.

``LatencyCounts.observe(seconds)`` does a bisect and two additions; exporters (the admin port's
/metrics) turn ``counts``/``total`` into a histogram. ``FSYNC`` counts every fdatasync of a
segment in this process.
"""

from __future__ import annotations

from bisect import bisect_left

# Prometheus-style upper bounds in seconds; one more slot counts +Inf.
BUCKETS: tuple[float, ...] = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class LatencyCounts:
    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, cumulative count) pairs with "+Inf" last, as a Prometheus histogram has them."""
        out, running = [], 0
        for bound, n in zip((*map(str, BUCKETS), "+Inf"), self.counts):
            running += n
            out.append((bound, running))
        return out


FSYNC = LatencyCounts()  # every segment fdatasync of this process
