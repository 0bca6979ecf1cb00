"""Everything a running dongne process holds: settings, servers, router, Redis."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from dongne.cache.client import RedisClient, make_client
from dongne.cache.keys import Keys
from dongne.config import Settings
from dongne.db import migrate
from dongne.db.router import ShardRouter, shards_from_settings
from dongne.embedded.home import HomeLock
from dongne.embedded.stack import EmbeddedStack, ServerUrls

DATABASE_NAME = "dongne"


@dataclass
class Runtime:
    settings: Settings
    urls: ServerUrls
    router: ShardRouter
    # One Redis or a Redis Cluster (settings.redis_cluster_nodes): sessions,
    # rate limits, view counts and readiness use only cluster-safe commands.
    redis: RedisClient
    keys: Keys

    @classmethod
    def build(cls, settings: Settings, urls: ServerUrls) -> Runtime:
        return cls(
            settings=settings,
            urls=urls,
            router=ShardRouter.from_settings(settings, urls.database_url),
            redis=make_client(settings, urls.redis_url, timeout_s=2),
            keys=Keys(settings.redis_key_prefix),
        )

    async def open(self) -> None:
        await self.router.open()

    async def close(self) -> None:
        await self.router.close()
        await self.redis.aclose()


def ensure_database(stack: EmbeddedStack) -> None:
    """Create the embedded cluster's application database on first start."""
    if stack.postgres is None:
        return
    with psycopg.connect(stack.postgres.url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))


def prepare_database(settings: Settings, urls: ServerUrls) -> list[migrate.Migration]:
    """Migrate every shard and create partitions ahead; return the migrations applied."""
    shard_urls = [s.primary for s in shards_from_settings(settings, urls.database_url)]
    applied: list[migrate.Migration] = []
    for url in shard_urls:
        applied = migrate.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            migrate.ensure_partitions(conn, settings.partitions_ahead_months)
    return applied


@contextmanager
def servers(settings: Settings, *, own: bool = False) -> Iterator[ServerUrls]:
    """Make the configured servers reachable for the duration of the block.

    With ``own`` (``dongne up``) this process claims DONGNE_HOME and stops the
    embedded servers on exit. Otherwise servers already running (under a
    ``dongne up``) are reused, and ones this block had to start are stopped.
    """
    stack = EmbeddedStack(settings)
    embedded = stack.postgres is not None or stack.redis is not None
    already_running = all(
        server is None or server.is_running() for server in (stack.postgres, stack.redis)
    )
    if not embedded or (already_running and not own):
        yield stack.urls()
        return
    with HomeLock(settings.home):
        stack.start()
        try:
            ensure_database(stack)
            yield stack.urls()
        finally:
            stack.stop(only_started=not own)
