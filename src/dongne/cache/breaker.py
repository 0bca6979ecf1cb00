"""A circuit breaker for Redis: fail fast while Redis is down or slow.

Closed: calls go through with a short timeout; ``failures`` consecutive
failures open it. Open: calls fail at once (no waiting on a dead socket) for
``reset_s``; then one probe call is let through (half-open): success closes
it, failure opens it again. Recovery is automatic, no operator needed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import RedisError

from dongne.cache.metrics import CacheMetrics

T = TypeVar("T")

CLOSED, HALF_OPEN, OPEN = 0, 1, 2


class RedisUnavailableError(Exception):
    """Redis did not answer (down, slow, or the breaker is open)."""


class CircuitBreaker:
    def __init__(
        self, *, failures: int, reset_s: float, timeout_s: float, metrics: CacheMetrics
    ) -> None:
        self._threshold = failures
        self._reset_s = reset_s
        self.timeout_s = timeout_s
        self._metrics = metrics
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self.state = CLOSED
        # Called on every transition back to CLOSED (flush deferred work).
        self.on_close: list[Callable[[], None]] = []

    def allow(self) -> bool:
        if self.state == CLOSED:
            return True
        if self.state == OPEN and time.monotonic() - self._opened_at >= self._reset_s:
            self._set(HALF_OPEN)
        if self.state == HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def success(self) -> None:
        self._failures = 0
        self._probing = False
        if self.state != CLOSED:
            self._set(CLOSED)
            for callback in self.on_close:
                callback()

    def failure(self) -> None:
        self._metrics.redis_errors += 1
        self._probing = False
        self._failures += 1
        if self.state == HALF_OPEN or self._failures >= self._threshold:
            if self.state != OPEN:
                self._metrics.breaker_opened += 1
            self._opened_at = time.monotonic()
            self._set(OPEN)

    def _set(self, state: int) -> None:
        self.state = state
        self._metrics.breaker_state = state

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis operation under the breaker and the short timeout."""
        if not self.allow():
            raise RedisUnavailableError("circuit open")
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await operation()
        except (RedisError, OSError, TimeoutError) as error:
            self.failure()
            raise RedisUnavailableError(str(error) or type(error).__name__) from error
        except BaseException:
            # Cancellation or a bug: not Redis's fault, but free the probe slot.
            self._probing = False
            raise
        self.success()
        return result
