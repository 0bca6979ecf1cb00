"""The after-commit side effects of a worker process that serves no HTTP.

`dongne up` runs its worker inside the API process and reuses the app's cache
layer and realtime hub. A standalone `dongne worker` has neither, yet its
commits change what other processes have cached and what connected clients
should hear; it builds its own so invalidations and pushes still go out, after
commit, through Redis.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dongne.cache.service import CacheLayer
from dongne.outbox.worker import EventCallback
from dongne.realtime.service import Realtime
from dongne.runtime import Runtime


@asynccontextmanager
async def after_commit_effects(runtime: Runtime) -> AsyncIterator[list[EventCallback]]:
    settings = runtime.settings
    layer = None
    if settings.cache_enabled:
        layer = CacheLayer(settings, runtime.urls.redis_url, runtime.keys, runtime.router)
        await layer.start()
    realtime = Realtime(runtime, layer.subscriber if layer is not None else None)
    await realtime.start()
    try:
        callbacks: list[EventCallback] = [realtime.on_outbox_event]
        if layer is not None:
            callbacks.insert(0, layer.on_outbox_event)
        yield callbacks
    finally:
        await realtime.stop()
        if layer is not None:
            await layer.stop()
