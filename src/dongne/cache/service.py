"""The cache layer of one process: Redis client, breaker, L1+L2, pub/sub, warm-up,
and the outbox callback that invalidates (and pushes realtime events) after commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from redis.exceptions import RedisError

from dongne.cache.breaker import CircuitBreaker
from dongne.cache.client import RedisClient, make_client
from dongne.cache.domains import Tags, tags_for_event
from dongne.cache.keys import Keys
from dongne.cache.metrics import CacheMetrics
from dongne.cache.pubsub import Subscriber
from dongne.cache.store import TwoTierCache
from dongne.config import Settings
from dongne.db.router import ShardRouter, Workload
from dongne.outbox.repository import OutboxEvent

logger = logging.getLogger(__name__)

# Start-up's patience with Redis: a down Redis delays start-up by at most
# their product, and the cache then fails open as it would later.
CONNECT_ATTEMPTS = 2
CONNECT_TIMEOUT_S = 1.0

# Called with (event, notifications created by it as (id, user_id)) after commit.
EventListener = Callable[[OutboxEvent, list[tuple[UUID, UUID]]], Awaitable[None]]


class CacheLayer:
    def __init__(self, settings: Settings, redis_url: str, keys: Keys, router: ShardRouter) -> None:
        self.settings = settings
        self.keys = keys
        self.router = router
        self.metrics = CacheMetrics()
        self.breaker = CircuitBreaker(
            failures=settings.cache_breaker_failures,
            reset_s=settings.cache_breaker_reset_s,
            timeout_s=settings.cache_redis_timeout_s,
            metrics=self.metrics,
        )
        self.redis: RedisClient = make_client(
            settings, redis_url, timeout_s=settings.cache_redis_timeout_s
        )
        self.cache = TwoTierCache(
            self.redis, keys, metrics=self.metrics, breaker=self.breaker,
            l1_max_entries=settings.cache_l1_max_entries,
        )  # fmt: skip
        self.subscriber = Subscriber(settings, redis_url)
        self.subscriber.add(keys.cache_invalidations(), self.cache.on_message)
        self.subscriber.on_up.append(self._l1_up)
        self.subscriber.on_down.append(self._l1_down)
        self.listeners: list[EventListener] = []
        # True once the start-up warm-up finished (health checks, tests).
        self.warmed = False

    def _l1_up(self) -> None:
        # Messages may have been missed while unsubscribed: start from empty.
        self.cache.l1.clear()
        self.cache.l1_live = True

    def _l1_down(self) -> None:
        self.cache.l1_live = False
        self.cache.l1.clear()

    async def start(self) -> None:
        await self._connect()
        self.subscriber.start()

    async def _connect(self) -> None:
        """Open the command connection before the first request, outside the
        breaker. A cold cluster client's first command also fetches the slot
        map and the command table, which can outlast the command timeout on a
        busy machine; the request behind it would then be served from
        PostgreSQL with nothing wrong in Redis (and count as a failure)."""
        for _ in range(CONNECT_ATTEMPTS):
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    await self.redis.ping()
                return
            except (RedisError, OSError, TimeoutError):
                continue
        logger.warning("Redis did not answer at start-up; the cache serves from PostgreSQL")

    async def stop(self) -> None:
        await self.subscriber.stop()
        await self.cache.aclose()
        await self.redis.aclose()

    async def on_outbox_event(self, event: OutboxEvent) -> None:
        """Worker after-commit callback: invalidate and notify listeners (realtime)."""
        tags = tags_for_event(event.topic, event.aggregate_id, event.payload)
        notifications: list[tuple[UUID, UUID]] = []
        async with self.router.connection(Workload.BACKGROUND) as conn:
            if event.topic.startswith("question.") and "user_id" not in event.payload:
                cursor = await conn.execute(
                    "SELECT user_id FROM questions WHERE id = %s", (event.aggregate_id,)
                )
                row = await cursor.fetchone()
                if row is not None:
                    tags.append(Tags.user(row["user_id"]))
            cursor = await conn.execute(
                "SELECT id, user_id FROM notifications WHERE source_event_id = %s ORDER BY id",
                (event.id,),
            )
            for row in await cursor.fetchall():
                notifications.append((row["id"], row["user_id"]))
                tags.append(Tags.notifications(row["user_id"]))
        await self.cache.invalidate(*dict.fromkeys(tags))
        for listener in self.listeners:
            await listener(event, notifications)

    async def warm_up(self, load: Callable[[], Awaitable[Any]]) -> None:
        """Run the app's warm-up (the seed's list); failures only cost a cold start."""
        try:
            await asyncio.wait_for(self.subscriber.subscribed.wait(), timeout=5)
        except TimeoutError:
            logger.warning("cache warm-up without a live subscription")
        try:
            await load()
        except Exception:
            logger.exception("cache warm-up failed")
        self.warmed = True


# -- glue for dongne.api.app: three small calls keep the app module simple --


# By id(runtime): a Runtime is an unhashable dataclass; one entry per app built.
_LAYERS: dict[int, CacheLayer] = {}


def install(app: Any, runtime: Any) -> CacheLayer | None:
    """Create the process's cache layer (None when caching is off) on ``app.state``."""
    layer = None
    if runtime.settings.cache_enabled:
        layer = CacheLayer(runtime.settings, runtime.urls.redis_url, runtime.keys, runtime.router)
        _LAYERS[id(runtime)] = layer
    app.state.cache_layer = layer
    return layer


def layer_for(runtime: Any) -> CacheLayer | None:
    """The cache layer an app built on ``runtime`` uses (metrics, tests)."""
    return _LAYERS.get(id(runtime))


async def start(app: Any) -> list[asyncio.Task[Any]]:
    """Start pub/sub and the warm-up; the tasks are the caller's to cancel."""
    layer: CacheLayer | None = app.state.cache_layer
    if layer is None:
        return []
    from dongne.cache.warmup import warm_up

    await layer.start()
    if not layer.settings.cache_warm_up:
        return []
    return [asyncio.create_task(layer.warm_up(lambda: warm_up(layer.router, layer.cache)))]


def outbox_callbacks(app: Any) -> list[Callable[[OutboxEvent], Awaitable[None]]]:
    layer: CacheLayer | None = app.state.cache_layer
    return [layer.on_outbox_event] if layer is not None else []


async def stop(app: Any) -> None:
    layer: CacheLayer | None = app.state.cache_layer
    if layer is not None:
        await layer.stop()
