"""The shard router: shard by region prefix, pools per workload with their own timeouts."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pydantic_core
import pytest
from psycopg.pq import Format
from pydantic import SecretStr

from dongne.config import PoolSettings, Settings
from dongne.db.router import (
    SEARCH_SESSION,
    ShardConfig,
    ShardRouter,
    UnknownShardError,
    Workload,
    load_shards_file,
)
from dongne.embedded.postgres import EmbeddedPostgres
from tests.support.servers import create_database, drop_database


def _pools() -> dict[Workload, PoolSettings]:
    return {
        Workload.READ: PoolSettings(
            min_size=0, max_size=2, statement_timeout_ms=30_000, acquire_timeout_s=5
        ),
        Workload.WRITE: PoolSettings(
            min_size=0, max_size=2, statement_timeout_ms=10_000, acquire_timeout_s=5
        ),
        Workload.BACKGROUND: PoolSettings(
            min_size=0, max_size=1, statement_timeout_ms=0, acquire_timeout_s=5
        ),
    }


def test_region_prefixes_pick_the_shard() -> None:
    router = ShardRouter(
        [
            ShardConfig("jeju", "postgresql:///a", region_prefixes=("KR-49",)),
            ShardConfig("seogwipo", "postgresql:///b", region_prefixes=("KR-49-02",)),
            ShardConfig("seoul", "postgresql:///c", region_prefixes=("KR-11",)),
        ],
        default_shard="jeju",
        pool_settings=_pools(),
    )
    assert router.shard_for_region("KR-49-01-02") == "jeju"
    assert router.shard_for_region("KR-49-02-05") == "seogwipo"
    assert router.shard_for_region("KR-49-02") == "seogwipo"
    assert router.shard_for_region("KR-11-01") == "seoul"
    assert router.shard_for_region("KR-110") == "jeju"  # a prefix is a whole code segment
    assert router.shard_for_region(None) == "jeju"


def test_misconfiguration_is_refused() -> None:
    with pytest.raises(UnknownShardError):
        ShardRouter([ShardConfig("a", "x")], default_shard="b", pool_settings=_pools())
    with pytest.raises(ValueError, match="unique"):
        ShardRouter(
            [ShardConfig("a", "x"), ShardConfig("a", "y")],
            default_shard="a",
            pool_settings=_pools(),
        )


def test_shards_file(tmp_path: Path) -> None:
    path = tmp_path / "shards.json"
    path.write_text(
        json.dumps(
            {
                "shards": [
                    {
                        "name": "jeju",
                        "primary": "postgresql:///p",
                        "replicas": ["postgresql:///r"],
                        "regions": ["KR-49"],
                    }
                ]
            }
        )
    )
    assert load_shards_file(path) == [
        ShardConfig("jeju", "postgresql:///p", ("postgresql:///r",), ("KR-49",))
    ]
    path.write_text('{"shards": [{"name": "x"}]}')
    with pytest.raises(ValueError, match="not valid"):
        load_shards_file(path)
    path.write_text('{"shards": []}')
    with pytest.raises(ValueError, match="no shards"):
        load_shards_file(path)


async def test_workloads_get_their_own_pools_and_timeouts(router: ShardRouter) -> None:
    seen = {}
    for workload in Workload:
        async with router.connection(workload, region="KR-49-01-02") as conn:
            cursor = await conn.execute(
                "SELECT current_setting('statement_timeout') AS timeout, "
                "current_setting('application_name') AS app"
            )
            seen[workload] = await cursor.fetchone()
    assert seen[Workload.READ] == {"timeout": "30s", "app": "dongne-jeju-read-0"}
    assert seen[Workload.WRITE] == {"timeout": "10s", "app": "dongne-jeju-write"}
    assert seen[Workload.BACKGROUND] == {"timeout": "0", "app": "dongne-jeju-background"}
    assert seen[Workload.SEARCH] == {"timeout": "10s", "app": "dongne-jeju-search-0"}
    assert {"jeju/read-0", "jeju/write", "jeju/background", "jeju/search-0"} <= set(
        router.pool_stats()
    )


async def test_search_sessions_carry_the_search_settings_and_read_only(
    router: ShardRouter,
) -> None:
    """A search runs outside any transaction: its session holds what a
    ``SET LOCAL`` would have, and refuses writes."""
    async with router.connection(Workload.SEARCH) as conn:
        for name, value in SEARCH_SESSION.items():
            cursor = await conn.execute("SELECT current_setting(%s) AS value", (name,))
            assert await cursor.fetchone() == {"value": value}
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            await conn.execute("CREATE TEMP TABLE search_probe (n int)")
    async with router.connection(Workload.READ) as conn:
        cursor = await conn.execute("SELECT current_setting('enable_seqscan') AS value")
        assert await cursor.fetchone() == {"value": "on"}


async def test_prepare_threshold_setting_reaches_every_connection(database_url: str) -> None:
    assert Settings().db_prepare_threshold == 5  # psycopg's own default, kept on measurement
    for threshold in (None, 0):
        settings = Settings(db_prepare_threshold=threshold)
        router = ShardRouter.from_settings(settings, database_url)
        await router.open()
        try:
            for workload in Workload:
                async with router.connection(workload) as conn:
                    assert conn.prepare_threshold == threshold
        finally:
            await router.close()


async def test_transaction_commits_or_rolls_back(router: ShardRouter) -> None:
    async with router.transaction() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS router_probe (n int)")

    async def failing_use_case() -> None:
        async with router.transaction() as conn:
            await conn.execute("INSERT INTO router_probe VALUES (1)")
            raise RuntimeError("use case failed")

    with pytest.raises(RuntimeError):
        await failing_use_case()
    async with router.connection() as conn:
        cursor = await conn.execute("SELECT count(*) AS n FROM router_probe")
        assert await cursor.fetchone() == {"n": 0}


async def test_reads_go_to_replicas_and_writes_to_the_primary(
    pg: EmbeddedPostgres, template_db: str
) -> None:
    # Two databases on one server stand in for a primary and its replica: the
    # point is which one the router picks for each workload.
    create_database(pg.url, "router_primary", template=template_db)
    create_database(pg.url, "router_replica", template=template_db)
    router = ShardRouter(
        [
            ShardConfig(
                "jeju",
                pg.database_url("router_primary"),
                replicas=(pg.database_url("router_replica"),),
            )
        ],
        default_shard="jeju",
        pool_settings=_pools(),
    )
    await router.open()
    try:
        for workload, expected in [
            (Workload.READ, "router_replica"),
            (Workload.WRITE, "router_primary"),
            (Workload.BACKGROUND, "router_primary"),
            (Workload.SEARCH, "router_replica"),
        ]:
            async with router.connection(workload) as conn:
                cursor = await conn.execute("SELECT current_database() AS db")
                assert await cursor.fetchone() == {"db": expected}
        with pytest.raises(UnknownShardError):
            async with router.connection(shard="mars"):
                pass
    finally:
        await router.close()
        drop_database(pg.url, "router_primary")
        drop_database(pg.url, "router_replica")


def test_settings_fail_closed_in_production() -> None:
    with pytest.raises(ValueError, match="DONGNE_DATABASE_URL"):
        Settings(environment="production")
    with pytest.raises(ValueError, match="min_size"):
        PoolSettings(min_size=5, max_size=1, statement_timeout_ms=0, acquire_timeout_s=1)
    Settings(
        environment="production",
        database_url="postgresql:///x",
        redis_url="redis://x",
        secret_key=SecretStr("s3cret"),
    )


async def test_json_columns_come_back_as_python_values(router: ShardRouter) -> None:
    """Pooled connections parse JSON with pydantic-core: the same values as
    the standard library's decoder, Korean, nesting and numbers included."""
    document = {"제목": "애월 맛집", "n": [1, 2.5, None, True], "깊이": {"a": '따옴표 " 포함'}}
    async with router.connection() as conn:
        cursor = await conn.execute(
            "SELECT %s::jsonb AS b, %s::json AS j", (json.dumps(document), json.dumps(document))
        )
        row = await cursor.fetchone()
        loader = conn.adapters.get_loader(conn.adapters.types["jsonb"].oid, Format.TEXT)
    assert row == {"b": document, "j": document}
    assert loader is not None and loader._loads is pydantic_core.from_json  # type: ignore[attr-defined]
