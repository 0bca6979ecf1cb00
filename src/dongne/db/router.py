"""The one door to PostgreSQL: a router that hands out connections by shard and workload.

Every query asks the router for a connection for a region (or a shard) and a
workload class. Each shard has a primary and optional replicas; each workload
class has its own pool with its own size and statement timeout, as the
specification's pool manager describes (read-heavy, write-critical, background).
Adding shards later changes the shard map, not the callers.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import pydantic_core
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool

from dongne.config import PoolSettings, Settings


class Workload(StrEnum):
    READ = "read"
    WRITE = "write"
    BACKGROUND = "background"
    # Reads (from the replicas, like READ) whose sessions carry the settings
    # every search statement needs: see SEARCH_SESSION.
    SEARCH = "search"


# The search pools' session settings (dongne.search.postgres says why each).
# Set once per connection, a search needs no transaction around its
# statements to scope them, and saves a BEGIN and a COMMIT: two round trips,
# ~0.6 ms of a search at 1 M questions. Read-only, as a search is.
SEARCH_SESSION = {
    "default_transaction_read_only": "on",
    "max_parallel_workers_per_gather": "0",
    "enable_seqscan": "off",
    "plan_cache_mode": "force_custom_plan",
    "constraint_exclusion": "off",
}


class UnknownShardError(LookupError):
    pass


@dataclass(frozen=True)
class ShardConfig:
    """One shard: a primary, its read replicas, and the region-code prefixes it owns."""

    name: str
    primary: str
    replicas: tuple[str, ...] = ()
    region_prefixes: tuple[str, ...] = ()


@dataclass
class _ShardPools:
    write: AsyncConnectionPool[AsyncConnection[DictRow]]
    background: AsyncConnectionPool[AsyncConnection[DictRow]]
    reads: list[AsyncConnectionPool[AsyncConnection[DictRow]]]
    searches: list[AsyncConnectionPool[AsyncConnection[DictRow]]]
    _next_read: itertools.cycle[int] = field(init=False)
    _next_search: itertools.cycle[int] = field(init=False)

    def __post_init__(self) -> None:
        self._next_read = itertools.cycle(range(len(self.reads)))
        self._next_search = itertools.cycle(range(len(self.searches)))

    def for_workload(self, workload: Workload) -> AsyncConnectionPool[AsyncConnection[DictRow]]:
        if workload is Workload.WRITE:
            return self.write
        if workload is Workload.BACKGROUND:
            return self.background
        if workload is Workload.SEARCH:
            return self.searches[next(self._next_search)]
        return self.reads[next(self._next_read)]

    def all(self) -> list[AsyncConnectionPool[AsyncConnection[DictRow]]]:
        pools = [self.write, self.background, *self.reads, *self.searches]
        unique = {id(pool): pool for pool in pools}
        return list(unique.values())


def shards_from_settings(settings: Settings, database_url: str) -> list[ShardConfig]:
    """The shard map: a JSON shards file, or one default shard on ``database_url``."""
    if settings.shards_file is None:
        return [ShardConfig(name=settings.default_shard, primary=database_url)]
    return load_shards_file(settings.shards_file)


def load_shards_file(path: Path) -> list[ShardConfig]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        shards = [
            ShardConfig(
                name=str(item["name"]),
                primary=str(item["primary"]),
                replicas=tuple(str(r) for r in item.get("replicas", [])),
                region_prefixes=tuple(str(p) for p in item.get("regions", [])),
            )
            for item in raw["shards"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"shards file {path} is not valid: {error}") from error
    if not shards:
        raise ValueError(f"shards file {path} lists no shards")
    return shards


class ShardRouter:
    def __init__(
        self,
        shards: list[ShardConfig],
        *,
        default_shard: str,
        pool_settings: dict[Workload, PoolSettings],
        prepare_threshold: int | None = 5,
    ) -> None:
        names = [s.name for s in shards]
        if len(set(names)) != len(names):
            raise ValueError("shard names must be unique")
        if default_shard not in names:
            raise UnknownShardError(f"default shard {default_shard!r} is not configured")
        self.default_shard = default_shard
        self._shards = {s.name: s for s in shards}
        # Search pools are sized like the read pools unless told otherwise.
        self._pool_settings = {Workload.SEARCH: pool_settings[Workload.READ], **pool_settings}
        self._prepare_threshold = prepare_threshold
        self._pools: dict[str, _ShardPools] = {}

    @classmethod
    def from_settings(cls, settings: Settings, database_url: str) -> ShardRouter:
        return cls(
            shards_from_settings(settings, database_url),
            default_shard=settings.default_shard,
            pool_settings={
                Workload.READ: settings.read_pool,
                Workload.WRITE: settings.write_pool,
                Workload.BACKGROUND: settings.background_pool,
                Workload.SEARCH: settings.search_pool,
            },
            prepare_threshold=settings.db_prepare_threshold,
        )

    @property
    def sessions_persist(self) -> bool:
        """Whether a pooled connection keeps its session between uses: not
        behind a transaction-mode pooler, for which prepared statements are
        switched off (``db_prepare_threshold`` None) and which hands each
        transaction any server connection."""
        return self._prepare_threshold is not None

    @property
    def shard_names(self) -> list[str]:
        return list(self._shards)

    def shard_for_region(self, region_code: str | None) -> str:
        """The shard owning a region: the longest matching prefix, else the default."""
        if region_code:
            best = max(
                (
                    (len(prefix), shard.name)
                    for shard in self._shards.values()
                    for prefix in shard.region_prefixes
                    if region_code == prefix or region_code.startswith(prefix + "-")
                ),
                default=None,
            )
            if best is not None:
                return best[1]
        return self.default_shard

    async def open(self) -> None:
        for shard in self._shards.values():
            self._pools[shard.name] = await self._open_shard(shard)

    async def close(self) -> None:
        for pools in self._pools.values():
            for pool in pools.all():
                await pool.close()
        self._pools.clear()

    @asynccontextmanager
    async def connection(
        self,
        workload: Workload = Workload.READ,
        *,
        region: str | None = None,
        shard: str | None = None,
    ) -> AsyncIterator[AsyncConnection[DictRow]]:
        """A pooled autocommit connection; use ``conn.transaction()`` for writes."""
        name = shard or self.shard_for_region(region)
        if name not in self._pools:
            raise UnknownShardError(f"shard {name!r} is not open")
        pool = self._pools[name].for_workload(workload)
        settings = self._pool_settings[workload]
        async with pool.connection(timeout=settings.acquire_timeout_s) as conn:
            yield conn

    @asynccontextmanager
    async def transaction(
        self, *, region: str | None = None, shard: str | None = None
    ) -> AsyncIterator[AsyncConnection[DictRow]]:
        """A write connection inside one transaction: the use case's unit of work."""
        async with (
            self.connection(Workload.WRITE, region=region, shard=shard) as conn,
            conn.transaction(),
        ):
            yield conn

    def pool_stats(self) -> dict[str, dict[str, int]]:
        stats: dict[str, dict[str, int]] = {}
        for shard, pools in self._pools.items():
            for pool in pools.all():
                stats[f"{shard}/{pool.name}"] = dict(pool.get_stats())
        return stats

    def pools(
        self,
    ) -> list[tuple[str, Workload, PoolSettings, AsyncConnectionPool[AsyncConnection[DictRow]]]]:
        """Every open pool with its shard, workload and settings (for the pool resizer)."""
        found = []
        for shard, pools in self._pools.items():
            for workload in (Workload.WRITE, Workload.BACKGROUND):
                pool = pools.for_workload(workload)
                found.append((shard, workload, self._pool_settings[workload], pool))
            replicated = ((Workload.READ, pools.reads), (Workload.SEARCH, pools.searches))
            for workload, group in replicated:
                found += [(shard, workload, self._pool_settings[workload], pool) for pool in group]
        return found

    async def _open_shard(self, shard: ShardConfig) -> _ShardPools:
        write = await self._open_pool(shard.name, Workload.WRITE, shard.primary)
        background = await self._open_pool(shard.name, Workload.BACKGROUND, shard.primary)
        read_targets = shard.replicas or (shard.primary,)
        reads = [
            await self._open_pool(shard.name, Workload.READ, url, index)
            for index, url in enumerate(read_targets)
        ]
        searches = [
            await self._open_pool(shard.name, Workload.SEARCH, url, index)
            for index, url in enumerate(read_targets)
        ]
        return _ShardPools(write=write, background=background, reads=reads, searches=searches)

    async def _open_pool(
        self, shard: str, workload: Workload, conninfo: str, index: int = 0
    ) -> AsyncConnectionPool[AsyncConnection[DictRow]]:
        settings = self._pool_settings[workload]
        replicated = workload in (Workload.READ, Workload.SEARCH)
        name = f"{workload.value}-{index}" if replicated else workload.value
        options = {"statement_timeout": str(settings.statement_timeout_ms)}
        if workload is Workload.SEARCH:
            options |= SEARCH_SESSION
        pool: AsyncConnectionPool[AsyncConnection[DictRow]] = AsyncConnectionPool(
            conninfo,
            name=name,
            min_size=settings.min_size,
            max_size=settings.max_size,
            timeout=settings.acquire_timeout_s,
            open=False,
            connection_class=AsyncConnection[DictRow],
            configure=_configure,
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "application_name": f"dongne-{shard}-{name}",
                "options": " ".join(f"-c {key}={value}" for key, value in options.items()),
                "prepare_threshold": self._prepare_threshold,
            },
        )
        await pool.open(wait=settings.min_size > 0, timeout=30)
        return pool


async def _configure(conn: AsyncConnection[DictRow]) -> None:
    """JSON columns parsed by pydantic-core's parser: a search reads its page,
    facets and rows as JSON, and the standard library's decoder was 6 % of the
    API's CPU under the search bench."""
    set_json_loads(pydantic_core.from_json, conn)
