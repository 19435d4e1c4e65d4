"""A token bucket per principal for writes: a runaway script or a stuck retry loop is
answered with 429 and Retry-After instead of crowding out everyone else's writes.

The buckets live in the serving process: with several workers a token's allowance is
per worker, which bounds the damage just as well and needs no shared store.
"""

from __future__ import annotations

import math
import time
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import TooManyRequestsException
from litestar.handlers import BaseRouteHandler

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

BUCKETS_MAX = 10_000
"""Principals tracked per process; past it, full (idle) buckets are dropped: a token
that has not written for a while would start full anyway."""


class RateLimited(TooManyRequestsException):
    problem_code = "rate_limited"


class WriteLimiter:
    def __init__(self, per_second: float, burst: int) -> None:
        assert per_second >= 0 and burst >= 1
        self.per_second = per_second
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}  # principal → (tokens, at)

    def take(self, principal_id: str) -> float:
        """0 when the write may go ahead, else the seconds until it may."""
        if self.per_second == 0:
            return 0.0
        now = time.monotonic()
        tokens, at = self._buckets.get(principal_id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.per_second)
        if tokens < 1:
            self._buckets[principal_id] = (tokens, now)
            return (1 - tokens) / self.per_second
        if len(self._buckets) >= BUCKETS_MAX:
            self._prune(now)
        self._buckets[principal_id] = (tokens - 1, now)
        return 0.0

    def _prune(self, now: float) -> None:
        full = [p for p, (tokens, at) in self._buckets.items() if tokens + (now - at) * self.per_second >= self.burst]
        for principal_id in full:
            del self._buckets[principal_id]


def limit_writes(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if connection.scope.get("method") not in WRITE_METHODS:
        return
    wait = connection.app.state.write_limiter.take(connection.user.id)
    if wait > 0:
        seconds = math.ceil(wait)
        raise RateLimited(
            f"this token made more than {connection.app.state.write_limiter.per_second:g} writes a second; "
            f"retry in {seconds} s",
            headers={"Retry-After": str(seconds)},
            extra={"retry_after_seconds": seconds},
        )
