"""The two-tier cache on one Redis and on a Redis Cluster: cache-aside,
invalidation across processes, negative and corrupt entries, stampedes."""

from __future__ import annotations

import asyncio
from typing import Any

from dongne.cache.keys import Keys
from dongne.cache.service import CONNECT_ATTEMPTS, CONNECT_TIMEOUT_S, CacheLayer
from dongne.cache.store import Policy, digest
from dongne.config import Settings
from dongne.db.router import ShardRouter
from tests.cache.conftest import Layers
from tests.support.servers import free_port

POLICY = Policy("test_domain", ttl_s=60)
# Not JSON; not our envelope; our envelope with data ``parse`` rejects.
POISONS = (
    b"\x00not json",
    b'{"v": 1, "g": {"t": 0}}',
    b'{"v":1,"g":{"t":0},"t":1,"ttl":60,"neg":false,"d":42}',
)


class Source:
    """Stands in for a PostgreSQL query: counts computations, returns the current value."""

    def __init__(self, value: Any = "v1", delay_s: float = 0.0) -> None:
        self.value = value
        self.calls = 0
        self.delay_s = delay_s

    async def load(self) -> Any:
        self.calls += 1
        value = self.value  # what the query read; it returns after its work
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return value


class GatedSource(Source):
    """A computation that reads, then waits to be released: a race set up by events."""

    def __init__(self, value: Any) -> None:
        super().__init__(value)
        self.reading = asyncio.Event()
        self.release = asyncio.Event()

    async def load(self) -> Any:
        self.calls += 1
        value = self.value
        self.reading.set()
        await self.release.wait()
        return value


def _str(data: Any) -> str:
    if not isinstance(data, str):
        raise TypeError("expected a string")
    return data


async def _get(layer: CacheLayer, source: Source, params: Any = "k", tag: str = "t") -> Any:
    return await layer.cache.get_or_set(POLICY, params, [tag], source.load, _str)


async def _received(layer: CacheLayer, count: int) -> None:
    # Waits for pub/sub delivery (an event, not a duration): bounded by the test timeout.
    while layer.metrics.invalidations_received < count:  # noqa: ASYNC110 - a counter, no event
        await asyncio.sleep(0.005)


async def test_cache_aside_serves_from_l1_then_l2(layers: Layers) -> None:
    first, second = await layers.new(), await layers.new()
    source = Source()
    assert await _get(first, source) == "v1"
    assert await _get(first, source) == "v1"  # L1
    assert await _get(second, source) == "v1"  # L2 (other process)
    assert source.calls == 1
    assert first.metrics.lookups[("l1", "test_domain", "hit")] == 1
    assert second.metrics.lookups[("l2", "test_domain", "hit")] == 1


async def test_invalidation_reaches_every_process(layers: Layers) -> None:
    writer, reader = await layers.new(), await layers.new()
    source = Source()
    await _get(writer, source)
    await _get(reader, source)
    assert await _get(reader, source) == "v1"  # now in the reader's L1
    source.value = "v2"  # the committed write
    await writer.cache.invalidate("t")
    await _received(reader, 1)
    assert await _get(reader, source) == "v2"
    assert await _get(writer, source) == "v2"
    assert source.calls == 2
    # Other tags are untouched.
    other = Source("o")
    await _get(reader, other, params="x", tag="other")
    await writer.cache.invalidate("t")
    await _received(reader, 2)
    await _get(reader, other, params="x", tag="other")
    assert other.calls == 1


async def test_value_computed_before_an_invalidation_is_never_served_after_it(
    layers: Layers,
) -> None:
    writer, reader = await layers.new(), await layers.new()
    slow = GatedSource("old")
    pending = asyncio.create_task(_get(reader, slow))
    await slow.reading.wait()  # the load has read the generations and the old data
    slow.value = "new"
    await writer.cache.invalidate("t")
    await _received(reader, 1)
    slow.release.set()
    assert await pending == "old"  # the caller that raced the write gets what it read
    assert await _get(reader, slow) == "new"
    assert await _get(writer, slow) == "new"


async def test_absent_objects_are_cached_briefly(layers: Layers) -> None:
    layer = await layers.new()
    source = Source(None)
    assert await _get(layer, source) is None
    assert await _get(layer, source) is None
    assert source.calls == 1
    other = await layers.new()
    assert await _get(other, source) is None
    assert source.calls == 1


async def test_corrupt_entry_is_a_miss_and_is_replaced(layers: Layers) -> None:
    layer = await layers.new()
    key = layers.keys.cache_entry(POLICY.domain, digest("k"))
    for poison in POISONS:
        await layer.redis.set(key, poison)
        source = Source("fresh")
        assert await _get(layer, source) == "fresh"
        assert source.calls == 1
        layer.cache.l1.clear()
        again = Source("unused")
        assert await _get(layer, again) == "fresh"  # replaced in Redis
        assert again.calls == 0
        layer.cache.l1.clear()
    # Each poison is seen by the first read and by the re-check under the lock.
    assert layer.metrics.corrupt["test_domain"] == 2 * len(POISONS)


async def test_stampede_one_computation_for_200_concurrent_misses(layers: Layers) -> None:
    processes = [await layers.new() for _ in range(2)]
    source = Source("hot", delay_s=0.1)
    results = await asyncio.gather(
        *(_get(processes[n % 2], source, params="cold") for n in range(200))
    )
    assert results == ["hot"] * 200
    assert source.calls == 1


async def test_hot_key_is_refreshed_early_once(layers: Layers) -> None:
    layer = await layers.new()
    policy = Policy("test_domain", ttl_s=60, early_refresh=0.0)  # always "due"
    source = Source("a")
    assert await layer.cache.get_or_set(policy, "hot", ["t"], source.load, _str) == "a"
    layer.cache.l1.clear()
    source.value = "b"
    served = await asyncio.gather(
        *(layer.cache.get_or_set(policy, "hot", ["t"], source.load, _str) for _ in range(20))
    )
    assert served == ["a"] * 20  # callers never wait for the refresh
    while layer.metrics.early_refreshes["test_domain"] < 1:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    await asyncio.gather(*layer.cache._background)
    assert source.calls == 2  # exactly one refresh for 20 callers


async def test_a_layer_starts_without_redis_and_serves_from_the_source(
    backend_settings: Settings, router: ShardRouter
) -> None:
    """Start-up waits for Redis only briefly; then the cache fails open."""
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    settings = backend_settings.model_copy(update={"redis_url": nowhere, "redis_cluster_nodes": []})
    layer = CacheLayer(settings, nowhere, Keys("nowhere"), router)
    try:
        async with asyncio.timeout(CONNECT_ATTEMPTS * CONNECT_TIMEOUT_S + 5):
            await layer.start()
        source = Source()
        assert await _get(layer, source) == "v1"
        assert await _get(layer, source) == "v1"
        assert source.calls == 2
    finally:
        await layer.stop()
