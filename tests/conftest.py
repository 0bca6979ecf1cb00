"""Shared fixtures: one embedded PostgreSQL and Redis per test session, a
migrated template database built once, and a fresh clone of it per test module."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.rows import DictRow, dict_row

from dongne.config import Settings
from dongne.db.migrate import ensure_partitions, migrate
from dongne.db.router import ShardRouter
from dongne.embedded.postgres import EmbeddedPostgres
from dongne.embedded.redis import EmbeddedRedis
from dongne.embedded.stack import ServerUrls
from dongne.geo.services import load_regions
from dongne.runtime import Runtime
from tests.support.servers import create_database, drop_database, serve_api

TEMPLATE = "dongne_template"


@pytest.fixture(scope="session")
def test_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="session")
def pg(test_home: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres.under(test_home)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(test_home: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis.under(test_home)
    server.start()
    yield server
    server.stop()


def _settings(database_url: str, redis_url: str, home: Path, prefix: str = "template") -> Settings:
    return Settings(
        environment="test",
        home=home,
        database_url=database_url,
        redis_url=redis_url,
        redis_key_prefix=prefix,
        # Tests arrange rows with plain SQL, behind the application's back, so
        # no cache would ever hear of those writes. The cache suites
        # (tests/cache, tests/realtime) switch it on with model_copy().
        cache_enabled=False,
        # Every test signs its neighbours up from 127.0.0.1, dozens a module;
        # tests/accounts/test_rate_limit.py sets the production-like limit.
        signup_limit_per_hour=100_000,
    )


@pytest.fixture(scope="session")
def template_db(pg: EmbeddedPostgres, redis_server: EmbeddedRedis, test_home: Path) -> str:
    """Migrate once and load the regions; every module clones this database."""
    create_database(pg.url, TEMPLATE)
    url = pg.database_url(TEMPLATE)
    migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        ensure_partitions(conn, 3)

    async def load() -> None:
        router = ShardRouter.from_settings(_settings(url, redis_server.url, test_home), url)
        await router.open()
        try:
            await load_regions(router)
        finally:
            await router.close()

    asyncio.run(load())
    return TEMPLATE


@pytest.fixture(scope="module")
def database_url(
    request: pytest.FixtureRequest, pg: EmbeddedPostgres, template_db: str
) -> Iterator[str]:
    name = "test_" + re.sub(r"[^a-z0-9]+", "_", request.module.__name__.lower())[-50:]
    create_database(pg.url, name, template=template_db)
    yield pg.database_url(name)
    drop_database(pg.url, name)


@pytest.fixture(scope="module")
def settings(database_url: str, redis_server: EmbeddedRedis, test_home: Path) -> Settings:
    """Per-module settings: the module's own database and its own Redis key prefix."""
    prefix = database_url.split("/")[3].split("?")[0].replace("test_", "t")[-40:]
    return _settings(database_url, redis_server.url, test_home, prefix=prefix)


@pytest.fixture(scope="module")
async def router(settings: Settings, database_url: str) -> AsyncIterator[ShardRouter]:
    shard_router = ShardRouter.from_settings(settings, database_url)
    await shard_router.open()
    yield shard_router
    await shard_router.close()


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[DictRow]]:
    """A plain autocommit connection for arranging and asserting."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture(scope="module")
def api(settings: Settings, database_url: str) -> Iterator[httpx.Client]:
    """An HTTP client for the real app served by uvicorn on a loopback socket."""
    runtime = Runtime.build(settings, ServerUrls(database_url, str(settings.redis_url)))
    with serve_api(runtime) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        yield client
