"""The index recommender reads a real workload; the analyser flags real plans."""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row

from dongne.ops import report
from dongne.ops.explain import analyse
from dongne.ops.recommender import filtered_columns, recommend_indexes


@pytest.fixture(scope="module")
def probe_table(database_url: str) -> str:
    """20 000 rows: ``tenant`` has 500 values (selective), ``kind`` has 3 (not)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            """
            CREATE TABLE ops_probe (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                tenant integer NOT NULL, kind integer NOT NULL, payload text NOT NULL)
            """
        )
        conn.execute(
            "INSERT INTO ops_probe (tenant, kind, payload) "
            "SELECT i % 500, i % 3, md5(i::text) FROM generate_series(1, 20000) i"
        )
        conn.execute("ANALYZE ops_probe")
    return "ops_probe"


@pytest.fixture
async def aconn(database_url: str) -> AsyncIterator[AsyncConnection[DictRow]]:
    conn = await AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row)
    try:
        yield conn
    finally:
        await conn.close()


def _workload(database_url: str, query: str, values: list[int]) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for value in values:
            conn.execute(query, (value,)).fetchall()


def test_filtered_columns_reads_planner_filters() -> None:
    columns = {"tenant", "region_code", "created_at", "kind"}
    text = "((tenant = $1) AND ((region_code)::text = $2) AND (created_at >= $3) AND (kind <> 2))"
    assert filtered_columns(text, columns) == {
        "tenant": "eq", "region_code": "eq", "created_at": "range"
    }  # fmt: skip


async def test_recommends_an_index_only_where_one_is_missing(
    probe_table: str, database_url: str, aconn: AsyncConnection[DictRow]
) -> None:
    _workload(database_url, "SELECT id, payload FROM ops_probe WHERE tenant = %s", [1, 2, 3, 4])
    _workload(database_url, "SELECT count(*) FROM ops_probe WHERE kind = %s", [0, 1, 2])

    advice = [r for r in await recommend_indexes(aconn) if r.table == probe_table]
    assert [r.columns for r in advice] == [["tenant"]], advice
    assert advice[0].ddl.startswith("CREATE INDEX CONCURRENTLY")
    assert advice[0].calls >= 4
    assert advice[0].table_rows >= 19_000

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE INDEX ops_probe_tenant_idx ON ops_probe (tenant)")
    advice = [r for r in await recommend_indexes(aconn) if r.table == probe_table]
    assert advice == []


async def test_analyser_flags_a_planted_seq_scan(
    probe_table: str, aconn: AsyncConnection[DictRow]
) -> None:
    planted = await analyse(aconn, "SELECT * FROM ops_probe WHERE payload = %s", ("nope",))
    scans = [f for f in planted.findings if f.kind == "seq_scan_large_table"]
    assert scans and scans[0].relation == probe_table

    indexed = await analyse(aconn, "SELECT * FROM ops_probe WHERE id = %s", (42,))
    assert "seq_scan_large_table" not in indexed.kinds()
    assert indexed.execution_ms >= 0


async def test_analyser_flags_a_sort_spilling_to_disk(
    probe_table: str, aconn: AsyncConnection[DictRow]
) -> None:
    await aconn.execute("SET work_mem = '64kB'")
    try:
        spilled = await analyse(aconn, "SELECT * FROM ops_probe ORDER BY payload")
    finally:
        await aconn.execute("RESET work_mem")
    assert "sort_spilled_to_disk" in spilled.kinds()


async def test_analysed_writes_are_rolled_back(
    probe_table: str, aconn: AsyncConnection[DictRow]
) -> None:
    await analyse(aconn, "DELETE FROM ops_probe WHERE tenant = %s", (7,))
    cursor = await aconn.execute("SELECT count(*) AS n FROM ops_probe WHERE tenant = 7")
    row = await cursor.fetchone()
    assert row is not None and row["n"] == 40


async def test_report_sections(probe_table: str, database_url: str,
                               aconn: AsyncConnection[DictRow]) -> None:  # fmt: skip
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE INDEX ops_probe_kind_a ON ops_probe (kind)")
        conn.execute("CREATE INDEX ops_probe_kind_b ON ops_probe (kind)")
    full = await report.full_report(aconn)
    assert set(full) >= {
        "slow_queries",
        "index_usage",
        "unused_indexes",
        "duplicate_indexes",
        "table_sizes",
        "cache_hit_ratio",
        "bloat",
        "index_recommendations",
    }
    assert isinstance(full["slow_queries"], list) and full["slow_queries"]
    assert {"total_exec_ms", "mean_exec_ms", "parallel_workers_launched"} <= set(
        full["slow_queries"][0]
    )
    duplicates = [d for d in full["duplicate_indexes"] if d["table"] == "ops_probe"]
    assert duplicates and set(duplicates[0]["indexes"]) == {"ops_probe_kind_a", "ops_probe_kind_b"}
    unused = {u["index"] for u in full["unused_indexes"]}
    assert {"ops_probe_kind_a", "ops_probe_kind_b"} <= unused
    sizes = {s["table"]: s for s in full["table_sizes"]}
    assert sizes["questions"]["partitions"] >= 4  # partitions summed under their parent
    assert sizes["ops_probe"]["estimated_rows"] == 20000
    bloat = {b["table"] for b in full["bloat"]}
    assert "ops_probe" in bloat


async def test_without_pg_stat_statements_ops_says_how_to_enable(
    probe_table: str, database_url: str, aconn: AsyncConnection[DictRow]
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP EXTENSION pg_stat_statements")
    try:
        with pytest.raises(report.StatementsUnavailableError, match="shared_preload_libraries"):
            await report.slow_queries(aconn)
        full = await report.full_report(aconn)
        assert "CREATE EXTENSION pg_stat_statements" in full["slow_queries"]["unavailable"]
        assert full["table_sizes"]
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
