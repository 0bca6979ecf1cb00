"""The database reports behind ``dongne ops report`` and ``/api/v1/admin/ops``.

Every function takes a connection to the database it reports on and returns
plain rows (dicts), so the CLI prints them and the API returns them as JSON.
Slow queries use PostgreSQL 18's ``pg_stat_statements`` columns.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow

Rows = list[dict[str, Any]]

ENABLE_HINT = (
    "pg_stat_statements is not available on this server. Enable it: add "
    "shared_preload_libraries = 'pg_stat_statements' (and compute_query_id = auto) to "
    "postgresql.conf, restart PostgreSQL, then run CREATE EXTENSION pg_stat_statements; "
    "in the database (dongne's embedded server and migrations do both)."
)


class StatementsUnavailableError(RuntimeError):
    """pg_stat_statements is not installed or not preloaded: the message says how to fix it."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(ENABLE_HINT + (f" ({detail})" if detail else ""))


async def _rows(conn: AsyncConnection[DictRow], query: str, params: Any = None) -> Rows:
    cursor = await conn.execute(query, params)
    return [dict(row) for row in await cursor.fetchall()]


async def require_statements(conn: AsyncConnection[DictRow]) -> None:
    """Raise StatementsUnavailableError unless pg_stat_statements can be read here."""
    cursor = await conn.execute(
        "SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'"
    )
    if await cursor.fetchone() is None:
        raise StatementsUnavailableError("extension not created in this database")
    try:
        async with conn.transaction():
            await conn.execute("SELECT 1 FROM pg_stat_statements LIMIT 1")
    except psycopg.errors.ObjectNotInPrerequisiteState as error:
        raise StatementsUnavailableError(str(error).splitlines()[0]) from None


async def slow_queries(conn: AsyncConnection[DictRow], limit: int = 20) -> Rows:
    await require_statements(conn)
    return await _rows(
        conn,
        """
        SELECT queryid, left(regexp_replace(query, '\\s+', ' ', 'g'), 300) AS query,
               calls, round(total_exec_time::numeric, 2) AS total_exec_ms,
               round(mean_exec_time::numeric, 3) AS mean_exec_ms,
               round(stddev_exec_time::numeric, 3) AS stddev_exec_ms,
               round(max_exec_time::numeric, 3) AS max_exec_ms,
               round(total_plan_time::numeric, 2) AS total_plan_ms,
               rows, shared_blks_hit, shared_blks_read, temp_blks_written, wal_bytes,
               parallel_workers_to_launch, parallel_workers_launched,
               round((100 * shared_blks_hit / nullif(shared_blks_hit + shared_blks_read, 0))
                     ::numeric, 2) AS hit_percent,
               stats_since
        FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND toplevel
        ORDER BY total_exec_time DESC
        LIMIT %s
        """,
        (limit,),
    )


async def index_usage(conn: AsyncConnection[DictRow], limit: int = 50) -> Rows:
    return await _rows(
        conn,
        """
        SELECT s.schemaname AS schema, s.relname AS table, s.indexrelname AS index,
               s.idx_scan, s.last_idx_scan, s.idx_tup_read, s.idx_tup_fetch,
               pg_relation_size(s.indexrelid) AS size_bytes,
               pg_size_pretty(pg_relation_size(s.indexrelid)) AS size
        FROM pg_stat_user_indexes s
        ORDER BY s.idx_scan DESC, pg_relation_size(s.indexrelid) DESC
        LIMIT %s
        """,
        (limit,),
    )


async def unused_indexes(conn: AsyncConnection[DictRow]) -> Rows:
    """Indexes never scanned since statistics were reset that enforce nothing."""
    return await _rows(
        conn,
        """
        SELECT s.schemaname AS schema, s.relname AS table, s.indexrelname AS index,
               pg_relation_size(s.indexrelid) AS size_bytes,
               pg_size_pretty(pg_relation_size(s.indexrelid)) AS size
        FROM pg_stat_user_indexes s
        JOIN pg_index i ON i.indexrelid = s.indexrelid
        WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = s.indexrelid)
          AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = s.indexrelid)
        ORDER BY pg_relation_size(s.indexrelid) DESC
        """,
    )


async def duplicate_indexes(conn: AsyncConnection[DictRow]) -> Rows:
    """Indexes with the same table, columns, operator classes, expressions and predicate."""
    return await _rows(
        conn,
        """
        SELECT i.indrelid::regclass::text AS table,
               array_agg(i.indexrelid::regclass::text ORDER BY i.indexrelid) AS indexes,
               pg_size_pretty(sum(pg_relation_size(i.indexrelid))) AS total_size
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
        GROUP BY i.indrelid, i.indkey::text, i.indclass::text,
                 coalesce(pg_get_expr(i.indexprs, i.indrelid), ''),
                 coalesce(pg_get_expr(i.indpred, i.indrelid), '')
        HAVING count(*) > 1
        """,
    )


async def table_sizes(conn: AsyncConnection[DictRow], limit: int = 30) -> Rows:
    """Tables (a partitioned table summed over its partitions) and their index sizes."""
    return await _rows(
        conn,
        """
        WITH rel AS (
            SELECT c.oid, c.relname, c.reltuples,
                   coalesce((SELECT p.relname FROM pg_inherits h JOIN pg_class p
                             ON p.oid = h.inhparent WHERE h.inhrelid = c.oid
                             AND p.relkind = 'p'), c.relname) AS logical
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname = 'public'
        )
        SELECT logical AS table, count(*) AS partitions,
               sum(greatest(reltuples, 0))::bigint AS estimated_rows,
               sum(pg_table_size(oid)) AS table_bytes,
               sum(pg_indexes_size(oid)) AS index_bytes,
               pg_size_pretty(sum(pg_total_relation_size(oid))) AS total
        FROM rel GROUP BY logical
        ORDER BY sum(pg_total_relation_size(oid)) DESC
        LIMIT %s
        """,
        (limit,),
    )


async def cache_hit_ratio(conn: AsyncConnection[DictRow]) -> Rows:
    return await _rows(
        conn,
        """
        SELECT 'database' AS scope,
               round(blks_hit::numeric / nullif(blks_hit + blks_read, 0), 4) AS hit_ratio
        FROM pg_stat_database WHERE datname = current_database()
        UNION ALL
        SELECT 'tables',
               round(sum(heap_blks_hit)::numeric
                     / nullif(sum(heap_blks_hit) + sum(heap_blks_read), 0), 4)
        FROM pg_statio_user_tables
        UNION ALL
        SELECT 'indexes',
               round(sum(idx_blks_hit)::numeric
                     / nullif(sum(idx_blks_hit) + sum(idx_blks_read), 0), 4)
        FROM pg_statio_user_indexes
        """,
    )


async def bloat_estimate(conn: AsyncConnection[DictRow], min_pages: int = 10) -> Rows:
    """Estimated table bloat: actual pages against pages the live rows need.

    Expected pages = live rows × (row header 24 B + null bitmap + average column
    widths from pg_stats) ÷ (usable page bytes × fillfactor). Dead tuples from
    the statistics collector are reported beside it.
    """
    return await _rows(
        conn,
        """
        WITH widths AS (
            SELECT s.schemaname, s.tablename, sum(s.avg_width) AS row_width
            FROM pg_stats s WHERE s.schemaname = 'public'
            GROUP BY s.schemaname, s.tablename
        ),
        t AS (
            SELECT c.relname, c.relpages, c.reltuples,
                   coalesce((SELECT (regexp_match(o, 'fillfactor=(\\d+)'))[1]::int
                             FROM unnest(c.reloptions) o WHERE o LIKE 'fillfactor=%%'), 100)
                       AS fillfactor,
                   w.row_width, st.n_dead_tup, st.n_live_tup, st.last_autovacuum
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
            JOIN widths w ON w.tablename = c.relname
            LEFT JOIN pg_stat_user_tables st ON st.relid = c.oid
            WHERE c.relkind = 'r' AND c.relpages >= %s
        )
        SELECT relname AS table, relpages AS pages, reltuples::bigint AS estimated_rows,
               ceil(greatest(reltuples, 0) * (row_width + 28)
                    / ((current_setting('block_size')::int - 24) * fillfactor / 100.0))::bigint
                   AS expected_pages,
               round(greatest(0, 1 - ceil(greatest(reltuples, 0) * (row_width + 28)
                    / ((current_setting('block_size')::int - 24) * fillfactor / 100.0))
                    / nullif(relpages, 0))::numeric, 3) AS bloat_ratio,
               n_dead_tup AS dead_tuples, last_autovacuum
        FROM t ORDER BY relpages DESC
        """,
        (min_pages,),
    )


async def full_report(conn: AsyncConnection[DictRow]) -> dict[str, Any]:
    """Every report; slow queries are replaced by the enabling hint when unavailable."""
    from dongne.ops.recommender import recommend_indexes

    report: dict[str, Any] = {}
    try:
        report["slow_queries"] = await slow_queries(conn)
        report["index_recommendations"] = [r.as_dict() for r in await recommend_indexes(conn)]
    except StatementsUnavailableError as error:
        report["slow_queries"] = {"unavailable": str(error)}
        report["index_recommendations"] = {"unavailable": str(error)}
    report["index_usage"] = await index_usage(conn)
    report["unused_indexes"] = await unused_indexes(conn)
    report["duplicate_indexes"] = await duplicate_indexes(conn)
    report["table_sizes"] = await table_sizes(conn)
    report["cache_hit_ratio"] = await cache_hit_ratio(conn)
    report["bloat"] = await bloat_estimate(conn)
    return report
