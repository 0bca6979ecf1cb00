"""Realtime: the ``/api/v1/ws`` WebSocket (presence, typing, pushes); see docs/realtime.md.

Three calls wire it into an app (dongne.api.app): ``install`` when the app is
built (after the cache layer, whose pub/sub connection it shares), ``start`` /
``stop`` in the lifespan, and ``outbox_callbacks`` for the embedded worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from dongne.outbox.repository import OutboxEvent


def install(app: Any, runtime: Any) -> None:
    from dongne.realtime.api import router
    from dongne.realtime.service import Realtime

    layer = getattr(app.state, "cache_layer", None)
    app.state.realtime = Realtime(runtime, layer.subscriber if layer is not None else None)
    app.include_router(router, prefix="/api/v1")


async def start(app: Any) -> list[asyncio.Task[Any]]:
    await app.state.realtime.start()
    return []


async def stop(app: Any) -> None:
    await app.state.realtime.stop()


def outbox_callbacks(app: Any) -> list[Callable[[OutboxEvent], Awaitable[None]]]:
    return [app.state.realtime.on_outbox_event]
