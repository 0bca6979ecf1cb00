"""The seed's warm-up list, computed through the same code paths as the routes."""

from __future__ import annotations

from dongne.cache.domains import WARM_REGIONS
from dongne.cache.store import TwoTierCache
from dongne.db.router import ShardRouter


async def warm_up(router: ShardRouter, cache: TwoTierCache) -> None:
    # Imported here: the routes import the cache package.
    from dongne.qa import api as qa_api

    for code in WARM_REGIONS:
        await qa_api.region_stats(router, cache, code)
    await qa_api.trending(router, cache, region="KR-49", window="24h", limit=15)
    await qa_api.feed(router, cache, region="KR-49", sort="popular")
