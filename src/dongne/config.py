"""Typed, fail-closed configuration: every setting comes from ``DONGNE_*``.

Development defaults start private embedded servers under ``DONGNE_HOME``;
production refuses to start unless real servers and a secret are configured.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class PoolSettings(BaseSettings):
    """Sizes and statement timeouts of one workload class's connection pool."""

    min_size: int = Field(ge=0)
    max_size: int = Field(ge=1)
    statement_timeout_ms: int = Field(ge=0)
    acquire_timeout_s: float = Field(gt=0)
    # Bounds of the pool resizer (dongne.ops.pools): max_size moves within
    # [resize_floor, resize_ceiling]; unset means [max_size // 2, 2 × max_size].
    resize_floor: int | None = Field(default=None, ge=1)
    resize_ceiling: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _min_not_above_max(self) -> PoolSettings:
        if self.min_size > self.max_size:
            raise ValueError("min_size must not exceed max_size")
        return self


def _read_pool() -> PoolSettings:
    return PoolSettings(min_size=2, max_size=20, statement_timeout_ms=30_000, acquire_timeout_s=5)


def _search_pool() -> PoolSettings:
    # A search is CPU work on the database: more searches at once than about
    # twice its cores only share the cores, and each takes that many times
    # longer. Sized so, the pool is the admission queue: a search beyond it
    # waits its turn (first come, first served). Its size is fixed: the
    # resizer neither grows it (waiting is the queue, not a shortage) nor
    # shrinks it while idle, which left the next burst two connections and
    # cold backends (docs/search.md, "The search pool is the admission
    # queue"). The embedded database shares this machine's cores; behind a
    # separate database, set DONGNE_SEARCH_POOL from its cores and the API
    # processes.
    # A search's cost is bounded (dongne.search.postgres): ten seconds is a
    # fault, not a slow search.
    size = 2 * (os.cpu_count() or 1)
    return PoolSettings(
        min_size=size,
        max_size=size,
        statement_timeout_ms=10_000,
        acquire_timeout_s=5,
        resize_floor=size,
        resize_ceiling=size,
    )


def _write_pool() -> PoolSettings:
    return PoolSettings(min_size=1, max_size=10, statement_timeout_ms=10_000, acquire_timeout_s=2)


def _background_pool() -> PoolSettings:
    return PoolSettings(min_size=0, max_size=4, statement_timeout_ms=0, acquire_timeout_s=10)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DONGNE_", env_nested_delimiter="__", extra="ignore"
    )

    environment: Literal["development", "test", "production"] = "development"
    home: Path = Path(".dongne")
    database_url: str | None = None
    redis_url: str | None = None
    shards_file: Path | None = None
    default_shard: str = Field(default="jeju", pattern=r"^[a-z][a-z0-9_]{0,30}$")
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    secret_key: SecretStr | None = None
    read_pool: PoolSettings = Field(default_factory=_read_pool)
    write_pool: PoolSettings = Field(default_factory=_write_pool)
    background_pool: PoolSettings = Field(default_factory=_background_pool)
    search_pool: PoolSettings = Field(default_factory=_search_pool)
    # psycopg's server-side prepared statements: a query is prepared after it ran
    # this many times on a connection (0: at once; None: never — needed behind a
    # transaction-mode pgbouncer). 5 is psycopg's default; the bench measured it
    # against "never" and "at once" (docs/performance.md).
    db_prepare_threshold: int | None = Field(default=5, ge=0)
    partitions_ahead_months: int = Field(default=3, ge=1, le=24)
    # Keeps several deployments (or test modules) apart on one Redis.
    redis_key_prefix: str = Field(default="", pattern=r"^[a-z0-9_:-]{0,40}$")
    session_ttl_s: int = Field(default=24 * 3600, ge=60)
    # Sign-ups per client address per hour: an address opening accounts by the
    # dozen is a script, not a neighbour.
    signup_limit_per_hour: int = Field(default=20, ge=1)
    view_flush_interval_s: float = Field(default=5.0, gt=0)
    # Redis Cluster: "host:port" of some masters (DONGNE_REDIS_CLUSTER_NODES as a
    # JSON list); when set the caches and realtime use the cluster.
    redis_cluster_nodes: list[str] = Field(default_factory=list)
    # Two-tier cache (dongne.cache): Redis calls of the cache fail fast and a
    # circuit breaker stops trying for a while, so a slow Redis cannot slow reads.
    cache_enabled: bool = True
    cache_l1_max_entries: int = Field(default=5000, ge=0)
    cache_redis_timeout_s: float = Field(default=0.25, gt=0)
    cache_breaker_failures: int = Field(default=3, ge=1)
    cache_breaker_reset_s: float = Field(default=2.0, gt=0)
    cache_warm_up: bool = True
    # Realtime WebSocket: the largest text frame a client may send.
    ws_max_frame_bytes: int = Field(default=4096, ge=256)
    # Run an outbox worker inside the API process (one machine, `dongne up`).
    # Larger deployments run `dongne worker` processes instead.
    embedded_worker: bool = False
    # Search (issue 5): the embedded default ranks in PostgreSQL; an
    # Elasticsearch cluster (nori plugin) is the scale-out backend.
    search_backend: Literal["postgres", "elasticsearch"] = "postgres"
    elasticsearch_url: str | None = None
    elasticsearch_index: str = Field(default="dongne-questions", pattern=r"^[a-z0-9_-]{1,60}$")

    @model_validator(mode="after")
    def _production_needs_real_servers(self) -> Settings:
        if self.environment != "production":
            return self
        missing = [
            name
            for name, value in (
                ("DONGNE_DATABASE_URL", self.database_url or self.shards_file),
                ("DONGNE_REDIS_URL", self.redis_url),
                ("DONGNE_SECRET_KEY", self.secret_key),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"production requires {', '.join(missing)}")
        return self

    @property
    def uses_embedded_postgres(self) -> bool:
        return self.database_url is None and self.shards_file is None

    @property
    def uses_embedded_redis(self) -> bool:
        return self.redis_url is None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
