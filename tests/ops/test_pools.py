"""Pools resize from measured wait time and stay within their bounds."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from dongne.config import PoolSettings, Settings
from dongne.db.router import ShardRouter, Workload
from dongne.ops.pools import PoolResizer, decide, resize_bounds


def test_decide_grows_on_wait_and_shrinks_when_idle() -> None:
    bounds = (2, 8)
    grow = dict(requests=100, wait_ms=2000, queued=40, waiting_now=0, in_use=4, grow_wait_ms=5)
    assert decide(4, bounds, **grow) == 5
    assert decide(8, bounds, **grow) == 8  # ceiling
    idle = dict(requests=100, wait_ms=0, queued=0, waiting_now=0, in_use=1, grow_wait_ms=5)
    assert decide(4, bounds, **idle) == 3
    assert decide(2, bounds, **idle) == 2  # floor
    busy = dict(requests=100, wait_ms=0, queued=0, waiting_now=0, in_use=4, grow_wait_ms=5)
    assert decide(4, bounds, **busy) == 4


def test_bounds_default_and_configured() -> None:
    base = PoolSettings(min_size=1, max_size=10, statement_timeout_ms=0, acquire_timeout_s=1)
    assert resize_bounds(base) == (5, 20)
    tuned = base.model_copy(update={"resize_floor": 3, "resize_ceiling": 12})
    assert resize_bounds(tuned) == (3, 12)


async def test_a_waiting_pool_grows_and_an_idle_one_shrinks(
    settings: Settings, database_url: str
) -> None:
    read = PoolSettings(min_size=0, max_size=2, statement_timeout_ms=5000, acquire_timeout_s=30,
                        resize_floor=1, resize_ceiling=3)  # fmt: skip
    router = ShardRouter.from_settings(settings.model_copy(update={"read_pool": read}),
                                       database_url)  # fmt: skip
    await router.open()
    try:
        pool = next(p for _, w, _, p in router.pools() if w is Workload.READ)
        resizer = PoolResizer(router)
        await resizer.resize_once()  # the first sample is the baseline
        async with AsyncExitStack() as held:
            for _ in range(2):
                await held.enter_async_context(router.connection(Workload.READ))

            async def third() -> None:
                async with router.connection(Workload.READ) as conn:
                    await conn.execute("SELECT 1")

            waiter = asyncio.create_task(third())
            while pool.get_stats().get("requests_waiting", 0) == 0:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            decisions = await resizer.resize_once()
            assert [(d.old_max, d.new_max) for d in decisions if "read" in d.pool] == [(2, 3)]
            await waiter
        assert pool.max_size == 3
        shrunk = []
        # Idle windows: the pool gives back one connection slot. The pool
        # settles (returns and opens connections) in background tasks, so the
        # first windows may still see connections in flight.
        for _ in range(100):
            shrunk += [(d.old_max, d.new_max) for d in await resizer.resize_once()
                       if "read" in d.pool]  # fmt: skip
            if shrunk:
                break
            await asyncio.sleep(0.05)
        assert shrunk == [(3, 2)]
    finally:
        await router.close()
