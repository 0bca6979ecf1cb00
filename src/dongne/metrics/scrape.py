"""``/metrics``: the process registry plus series read at scrape time.

Pool statistics come from psycopg_pool, outbox depth and age and the
PostgreSQL buffer-cache hit ratio from the database, Redis's keyspace hit
ratio from ``INFO``. A source that is down yields ``dongne_scrape_error`` = 1
for it instead of failing the scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from dongne.cache.client import info_stats
from dongne.db.router import Workload
from dongne.metrics.registry import REGISTRY
from dongne.runtime import Runtime

logger = logging.getLogger(__name__)


class _Snapshot(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics


def pool_metrics(pool_stats: dict[str, dict[str, int]]) -> list[Metric]:
    size = GaugeMetricFamily("dongne_db_pool_size", "Open connections.", labels=["pool"])
    in_use = GaugeMetricFamily("dongne_db_pool_in_use", "Connections lent out.", labels=["pool"])
    bounds = GaugeMetricFamily(
        "dongne_db_pool_max_size", "Current maximum size of the pool.", labels=["pool"]
    )
    waiting = GaugeMetricFamily(
        "dongne_db_pool_requests_waiting", "Requests waiting for a connection.", labels=["pool"]
    )
    wait = CounterMetricFamily(
        "dongne_db_pool_wait_seconds", "Total time requests waited for a connection.",
        labels=["pool"],
    )  # fmt: skip
    requests = CounterMetricFamily(
        "dongne_db_pool_requests", "Connection requests served.", labels=["pool"]
    )
    queued = CounterMetricFamily(
        "dongne_db_pool_requests_queued", "Requests that had to wait in the queue.",
        labels=["pool"],
    )  # fmt: skip
    errors = CounterMetricFamily(
        "dongne_db_pool_request_errors", "Requests that got no connection.", labels=["pool"]
    )
    for name, stats in sorted(pool_stats.items()):
        open_now = stats.get("pool_size", 0)
        size.add_metric([name], open_now)
        in_use.add_metric([name], open_now - stats.get("pool_available", 0))
        bounds.add_metric([name], stats.get("pool_max", 0))
        waiting.add_metric([name], stats.get("requests_waiting", 0))
        wait.add_metric([name], stats.get("requests_wait_ms", 0) / 1000)
        requests.add_metric([name], stats.get("requests_num", 0))
        queued.add_metric([name], stats.get("requests_queued", 0))
        errors.add_metric([name], stats.get("requests_errors", 0))
    return [size, in_use, bounds, waiting, wait, requests, queued, errors]


async def database_metrics(runtime: Runtime) -> list[Metric]:
    pending = GaugeMetricFamily(
        "dongne_outbox_pending_events", "Outbox events neither processed nor dead.",
        labels=["shard"],
    )  # fmt: skip
    age = GaugeMetricFamily(
        "dongne_outbox_oldest_pending_age_seconds",
        "Age of the oldest pending outbox event (0 when none).", labels=["shard"],
    )  # fmt: skip
    lag = GaugeMetricFamily(
        "dongne_outbox_lag_seconds",
        "How long the oldest due event has been due (0 when none).", labels=["shard"],
    )  # fmt: skip
    dead = GaugeMetricFamily(
        "dongne_outbox_dead_events", "Outbox events that gave up.", labels=["shard"]
    )
    ratio = GaugeMetricFamily(
        "dongne_cache_hit_ratio", "Cache hit ratio per tier (0..1).", labels=["tier", "shard"]
    )
    for shard in runtime.router.shard_names:
        async with runtime.router.connection(Workload.READ, shard=shard) as conn:
            cur = await conn.execute(
                """
                SELECT count(*) AS pending,
                       coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age,
                       coalesce(extract(epoch FROM now() - min(available_at)
                                FILTER (WHERE available_at <= now())), 0) AS lag,
                       (SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL) AS dead
                FROM outbox WHERE processed_at IS NULL AND dead_at IS NULL
                """
            )
            row = await cur.fetchone()
            assert row is not None
            pending.add_metric([shard], row["pending"])
            age.add_metric([shard], float(row["age"]))
            lag.add_metric([shard], float(row["lag"]))
            dead.add_metric([shard], row["dead"])
            cur = await conn.execute(
                "SELECT blks_hit, blks_read FROM pg_stat_database "
                "WHERE datname = current_database()"
            )
            stat = await cur.fetchone()
            if stat is not None and stat["blks_hit"] + stat["blks_read"] > 0:
                total = stat["blks_hit"] + stat["blks_read"]
                ratio.add_metric(["postgres_buffers", shard], stat["blks_hit"] / total)
    return [pending, age, lag, dead, ratio]


async def redis_metrics(runtime: Runtime) -> list[Metric]:
    ratio = GaugeMetricFamily(
        "dongne_redis_keyspace_hit_ratio", "Redis keyspace hits / lookups (0..1).", labels=[]
    )
    nodes = await info_stats(runtime.redis)  # every primary of a cluster
    hits = sum(int(info.get("keyspace_hits", 0)) for info in nodes)
    misses = sum(int(info.get("keyspace_misses", 0)) for info in nodes)
    if hits + misses:
        ratio.add_metric([], hits / (hits + misses))
    return [ratio]


async def render_metrics(runtime: Runtime) -> bytes:
    """The exposition text: process series, then series read now."""
    snapshot: list[Metric] = pool_metrics(runtime.router.pool_stats())
    errors = GaugeMetricFamily(
        "dongne_scrape_error", "1 when a source could not be read.", labels=["source"]
    )
    try:
        snapshot += await database_metrics(runtime)
        errors.add_metric(["database"], 0)
    except Exception as error:  # a scrape must not fail because a source is down
        logger.warning("metrics: database unavailable: %s", error)
        errors.add_metric(["database"], 1)
    try:
        snapshot += await redis_metrics(runtime)
        errors.add_metric(["redis"], 0)
    except (RedisError, OSError) as error:
        logger.warning("metrics: redis unavailable: %s", error)
        errors.add_metric(["redis"], 1)
    snapshot.append(errors)
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_Snapshot(snapshot))
    return generate_latest(REGISTRY) + generate_latest(scrape)
