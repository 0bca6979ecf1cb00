"""A short-lived router for tests that run outside the event loop of the API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from dongne.config import Settings
from dongne.db.router import ShardRouter
from dongne.outbox.worker import OutboxWorker

T = TypeVar("T")


def with_router(settings: Settings, url: str, work: Callable[[ShardRouter], Awaitable[T]]) -> T:
    async def run() -> T:
        router = ShardRouter.from_settings(settings, url)
        await router.open()
        try:
            return await work(router)
        finally:
            await router.close()

    return asyncio.run(run())


def run_worker(settings: Settings, url: str) -> int:
    """One pass of the outbox worker; how many events it handled."""
    return with_router(settings, url, lambda r: OutboxWorker(r).run_once())
