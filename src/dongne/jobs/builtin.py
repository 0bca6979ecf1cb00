"""The jobs ``dongne worker`` schedules.

* ``ensure_partitions`` (daily 03:17 UTC): question partitions up to
  ``DONGNE_PARTITIONS_AHEAD_MONTHS`` (default 3) months ahead.
* ``flush_views`` (every minute): apply Redis view counters to PostgreSQL —
  a safety net; API processes also flush every few seconds.
* ``analyze_hot_tables`` (hourly): ``ANALYZE`` on questions and answers so the
  planner (and the index recommender, which reads ``pg_stats``) sees fresh
  statistics after bulk growth.
* ``refresh_search_frequency`` (hourly): the words frequent in the newest
  search window, which tell a search whether to read that window alone first
  (``dongne.search.frequency``).
* ``merge_search_partitions`` (daily 03:37 UTC): the search index's months
  of quarters, and the partitions of years, that ended three months before
  this month become one partition per quarter or year (migrations 0020, 0022).
* ``purge_job_runs`` (daily): drop job-run records older than 30 days.
* ``resize_pools`` (every minute, this process only): pool sizes from wait.

Trending and popularity need no recomputation job: popularity is an immutable
indexed key (see docs/decisions.md) and trending is read from the indexed
``question_hashtags`` link table; region statistics are computed on read.
"""

from __future__ import annotations

from dongne.db.router import Workload
from dongne.jobs.scheduler import Job
from dongne.ops.pools import PoolResizer
from dongne.qa.views import ViewCounter
from dongne.runtime import Runtime
from dongne.search import services as search_services


def default_jobs(runtime: Runtime, *, resizer: PoolResizer | None = None) -> list[Job]:
    router = runtime.router
    months = runtime.settings.partitions_ahead_months
    pool_resizer = resizer or PoolResizer(router)

    async def ensure_partitions() -> int:
        created = 0
        for shard in router.shard_names:
            async with router.connection(Workload.BACKGROUND, shard=shard) as conn:
                cursor = await conn.execute(
                    """
                    SELECT ensure_question_partitions(
                        (now() AT TIME ZONE 'UTC')::date,
                        ((now() AT TIME ZONE 'UTC') + make_interval(months => %s))::date) AS n
                    """,
                    (months,),
                )
                row = await cursor.fetchone()
                created += int(row["n"]) if row else 0
        return created

    async def flush_views() -> int:
        return await ViewCounter(runtime.redis, runtime.keys).flush(router)

    async def analyze_hot_tables() -> str:
        for shard in router.shard_names:
            async with router.connection(Workload.BACKGROUND, shard=shard) as conn:
                await conn.execute("ANALYZE questions, answers, question_hashtags")
        return "analyzed"

    async def refresh_search_frequency() -> int:
        return await search_services.refresh_frequency(router)

    async def merge_search_partitions() -> int:
        return len(await search_services.merge_partitions(router))

    async def purge_job_runs() -> int:
        async with router.connection(Workload.BACKGROUND) as conn:
            cursor = await conn.execute(
                "DELETE FROM job_runs WHERE started_at < now() - interval '30 days'"
            )
            return cursor.rowcount

    async def resize_pools() -> int:
        return len(await pool_resizer.resize_once())

    return [
        Job("ensure_partitions", "17 3 * * *", ensure_partitions),
        Job("flush_views", "* * * * *", flush_views),
        Job("analyze_hot_tables", "41 * * * *", analyze_hot_tables),
        Job("refresh_search_frequency", "7 * * * *", refresh_search_frequency),
        Job("merge_search_partitions", "37 3 * * *", merge_search_partitions),
        Job("purge_job_runs", "23 4 * * *", purge_job_runs),
        Job("resize_pools", "* * * * *", resize_pools, exclusive=False, max_attempts=1),
    ]
