"""Resize connection pools from measured wait time, within configured bounds.

Every ``interval`` the resizer compares each pool's cumulative psycopg_pool
counters with the previous sample. If requests waited for a connection
(average wait above ``grow_wait_ms`` or requests still queued) the pool's
``max_size`` grows by a quarter (at least one); if nobody waited and the pool
never had more than half of its connections lent out, it shrinks by one. It
never leaves ``[resize_floor, resize_ceiling]`` of the workload's settings.
Pools are per process, so each process resizes its own (no advisory lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from dongne.config import PoolSettings
from dongne.db.router import ShardRouter
from dongne.metrics.registry import POOL_RESIZES

logger = logging.getLogger(__name__)


def resize_bounds(settings: PoolSettings) -> tuple[int, int]:
    floor = settings.resize_floor or max(1, settings.min_size, settings.max_size // 2)
    ceiling = settings.resize_ceiling or settings.max_size * 2
    floor = max(floor, settings.min_size, 1)
    return floor, max(floor, ceiling)


@dataclass
class _Sample:
    requests: int
    wait_ms: int
    queued: int


@dataclass(frozen=True)
class ResizeDecision:
    pool: str
    old_max: int
    new_max: int
    avg_wait_ms: float
    requests: int


def decide(
    current_max: int,
    bounds: tuple[int, int],
    *,
    requests: int,
    wait_ms: int,
    queued: int,
    waiting_now: int,
    in_use: int,
    grow_wait_ms: float,
) -> int:
    """The new maximum size for one sampling window (pure: tested directly)."""
    floor, ceiling = bounds
    avg_wait = wait_ms / requests if requests else 0.0
    if waiting_now > 0 or (queued > 0 and avg_wait > grow_wait_ms):
        target = current_max + max(1, current_max // 4)
    elif queued == 0 and in_use <= current_max // 2:
        target = current_max - 1
    else:
        target = current_max
    return min(ceiling, max(floor, target))


class PoolResizer:
    def __init__(
        self, router: ShardRouter, *, interval_s: float = 30.0, grow_wait_ms: float = 5.0
    ) -> None:
        self._router = router
        self.interval_s = interval_s
        self.grow_wait_ms = grow_wait_ms
        self._last: dict[str, _Sample] = {}

    async def resize_once(self) -> list[ResizeDecision]:
        decisions: list[ResizeDecision] = []
        for shard, workload, settings, pool in self._router.pools():
            name = f"{shard}/{pool.name}"
            stats = pool.get_stats()
            sample = _Sample(
                requests=stats.get("requests_num", 0),
                wait_ms=stats.get("requests_wait_ms", 0),
                queued=stats.get("requests_queued", 0),
            )
            previous = self._last.get(name)
            self._last[name] = sample
            if previous is None:
                continue
            requests = sample.requests - previous.requests
            wait_ms = sample.wait_ms - previous.wait_ms
            new_max = decide(
                pool.max_size,
                resize_bounds(settings),
                requests=requests,
                wait_ms=wait_ms,
                queued=sample.queued - previous.queued,
                waiting_now=stats.get("requests_waiting", 0),
                in_use=stats.get("pool_size", 0) - stats.get("pool_available", 0),
                grow_wait_ms=self.grow_wait_ms,
            )
            if new_max == pool.max_size:
                if pool.min_size != min(settings.min_size, new_max):
                    await pool.resize(min(settings.min_size, new_max), new_max)
                continue
            old_max = pool.max_size
            waiting_now = stats.get("requests_waiting", 0)
            new_min = min(settings.min_size, new_max)
            if new_max > old_max and waiting_now:
                # psycopg_pool opens connections for requests made after a
                # resize, not for those already queued: raise the minimum so
                # it opens them now (the next window lowers it back).
                new_min = min(new_max, stats.get("pool_size", 0) + waiting_now)
            await pool.resize(new_min, new_max)
            direction = "up" if new_max > old_max else "down"
            POOL_RESIZES.labels(name, direction).inc()
            decision = ResizeDecision(
                name, old_max, new_max, wait_ms / requests if requests else 0.0, requests
            )
            decisions.append(decision)
            logger.info(
                "pool %s (%s) resized %d → %d (avg wait %.1f ms over %d requests)",
                name, workload.value, old_max, new_max, decision.avg_wait_ms, requests,
            )  # fmt: skip
        return decisions

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await self.resize_once()
            except Exception:
                logger.exception("pool resize failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)
