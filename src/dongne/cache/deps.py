"""FastAPI glue: the process's cache, and a helper that works with caching off."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Depends, Request

from dongne.cache.store import Loader, Policy, TwoTierCache

if TYPE_CHECKING:
    from dongne.cache.service import CacheLayer

T = TypeVar("T")


def get_layer(request: Request) -> CacheLayer | None:
    layer: CacheLayer | None = getattr(request.app.state, "cache_layer", None)
    return layer


async def get_cache(request: Request) -> TwoTierCache | None:
    # Async: a plain ``def`` dependency would run in FastAPI's thread pool.
    layer = get_layer(request)
    return layer.cache if layer is not None else None


CacheDep = Annotated[TwoTierCache | None, Depends(get_cache)]


async def cached(
    cache: TwoTierCache | None,
    policy: Policy,
    params: Any,
    tags: Sequence[str],
    loader: Loader,
    parse: Callable[[Any], T],
) -> T | None:
    if cache is None:
        data = await loader()
        return None if data is None else parse(data)
    return await cache.get_or_set(policy, params, tags, loader, parse)


async def invalidate(cache: TwoTierCache | None, *tags: str) -> None:
    """After a commit: drop what the write changed, here and in every process."""
    if cache is not None:
        await cache.invalidate(*tags)
