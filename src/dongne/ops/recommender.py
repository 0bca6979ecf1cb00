"""An index recommender that reads the workload, not a fixed answer.

1. Take the statements that cost the most time in this database from
   ``pg_stat_statements`` (normalised text with ``$n`` parameters).
2. Plan each with ``EXPLAIN (GENERIC_PLAN, FORMAT JSON)`` — PostgreSQL ≥ 16
   plans a parameterised statement without values — and collect the
   sequential scans of tables at least ``min_rows`` large, with their filters.
3. Read the filtered columns out of each filter (``col = $1`` is an equality,
   ``col < $2`` a range) and estimate the selectivity of each equality from
   ``pg_stats`` (``n_distinct``, most-common frequencies).
4. Suggest an index on the selective equality columns (most selective first),
   then one range column, unless the table already has an index led by one
   of those columns. Suggestions are ranked by the statements' total time.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from dongne.ops.report import require_statements

logger = logging.getLogger(__name__)

_PLANNABLE = re.compile(r"^\s*(select|with|update|delete)\b", re.IGNORECASE)
_SYSTEM = re.compile(r"\b(pg_catalog|pg_stat|pg_class|information_schema|pg_index)\w*", re.I)
_RANGE_OPS = {"<", ">", "<=", ">="}


@dataclass
class Recommendation:
    table: str
    columns: list[str]
    ddl: str
    calls: int
    total_exec_ms: float
    estimated_selectivity: float
    table_rows: int
    statements: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Scan:
    relation: str
    schema: str
    filter: str


def _seq_scans(plan: dict[str, Any]) -> list[_Scan]:
    found: list[_Scan] = []
    stack = [plan]
    while stack:
        node = stack.pop()
        if node.get("Node Type") == "Seq Scan" and node.get("Filter"):
            found.append(_Scan(node["Relation Name"], node.get("Schema", "public"), node["Filter"]))
        stack.extend(node.get("Plans", []))
    return found


def filtered_columns(filter_text: str, columns: set[str]) -> dict[str, str]:
    """Columns compared in a plan's filter: column → 'eq' or 'range'.

    Planner filters look like ``((tenant = $1) AND ((region_code)::text = $2))``;
    a column counts when it is compared to a parameter, a constant or an
    expression with ``=``/``<``/``>``/``<=``/``>=`` (``<>`` and ``IS NULL`` never
    make an index worthwhile on their own).
    """
    found: dict[str, str] = {}
    pattern = re.compile(
        r"(?<![\w.$])\(?([a-z_][a-z0-9_]*)\)?(?:::[a-z_ ]+(?:\(\d+\))?)?\s*(<=|>=|=|<|>)(?![>=])"
    )
    for match in pattern.finditer(filter_text):
        column, op = match.group(1), match.group(2)
        if column not in columns:
            continue
        kind = "range" if op in _RANGE_OPS else "eq"
        if found.get(column) != "eq":
            found[column] = kind
    return found


def _quote(name: str) -> str:
    return name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else '"' + name.replace('"', '""') + '"'


async def _fetchall(
    conn: AsyncConnection[DictRow], query: str, params: Any = None
) -> list[DictRow]:
    cursor = await conn.execute(query, params)
    return await cursor.fetchall()


async def _generic_plan(conn: AsyncConnection[DictRow], query: str) -> dict[str, Any] | None:
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL statement_timeout = '5s'")
            # The statement text comes from pg_stat_statements, i.e. it already ran here.
            cursor = await conn.execute(f"EXPLAIN (GENERIC_PLAN, FORMAT JSON) {query}")
            row = await cursor.fetchone()
    except psycopg.Error as error:
        logger.debug("cannot plan %r: %s", query[:80], error)
        return None
    if row is None:
        return None
    raw = next(iter(row.values()))
    document = json.loads(raw) if isinstance(raw, str) else raw
    plan: dict[str, Any] = document[0]["Plan"]
    return plan


async def _table_facts(
    conn: AsyncConnection[DictRow], schema: str, relation: str
) -> dict[str, Any] | None:
    rows = await _fetchall(
        conn,
        """
        SELECT c.oid, c.relname,
               coalesce(p.relname, c.relname) AS logical, coalesce(p.relkind, c.relkind) AS kind,
               greatest(c.reltuples, 0)::bigint AS rows,
               coalesce((SELECT sum(greatest(k.reltuples, 0)) FROM pg_inherits h
                         JOIN pg_class k ON k.oid = h.inhrelid WHERE h.inhparent = p.oid),
                        greatest(c.reltuples, 0))::bigint AS logical_rows,
               array(SELECT attname::text FROM pg_attribute
                     WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped) AS columns
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
        LEFT JOIN pg_class p ON p.oid = i.inhparent AND p.relkind = 'p'
        WHERE n.nspname = %s AND c.relname = %s
        """,
        (schema, relation),
    )
    return dict(rows[0]) if rows else None


async def _leading_index_columns(conn: AsyncConnection[DictRow], relation_oid: int) -> set[str]:
    """First key column of every valid index on the table (expression indexes excluded)."""
    rows = await _fetchall(
        conn,
        """
        SELECT a.attname::text AS column
        FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = %s AND i.indisvalid AND i.indkey[0] <> 0
        """,
        (relation_oid,),
    )
    return {str(r["column"]) for r in rows}


async def _selectivity(
    conn: AsyncConnection[DictRow], schema: str, relation: str, column: str, rows: int
) -> float | None:
    found = await _fetchall(
        conn,
        """
        SELECT n_distinct, null_frac, most_common_freqs::text::float8[] AS mcf
        FROM pg_stats WHERE schemaname = %s AND tablename = %s AND attname = %s
        ORDER BY inherited LIMIT 1
        """,
        (schema, relation, column),
    )
    if not found:
        return None
    stat = found[0]
    n_distinct = float(stat["n_distinct"])
    distinct = n_distinct if n_distinct > 0 else -n_distinct * max(rows, 1)
    if distinct <= 0:
        return None
    mcf: list[float] = stat["mcf"] or []
    # An equality on a random value: the most common values weigh what they
    # weigh, the rest share what is left evenly.
    rest = max(0.0, 1.0 - float(stat["null_frac"]) - sum(mcf))
    others = max(distinct - len(mcf), 1)
    expected = sum(f * f for f in mcf) + rest * rest / others
    return max(expected, 1.0 / max(rows, 1))


async def recommend_indexes(
    conn: AsyncConnection[DictRow],
    *,
    min_rows: int = 10_000,
    min_calls: int = 2,
    max_selectivity: float = 0.05,
    statements: int = 100,
) -> list[Recommendation]:
    """Index suggestions for this database's workload (see the module docstring)."""
    await require_statements(conn)
    workload = await _fetchall(
        conn,
        """
        SELECT query, calls, total_exec_time
        FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND toplevel AND calls >= %s
        ORDER BY total_exec_time DESC LIMIT %s
        """,
        (min_calls, statements),
    )
    suggestions: dict[tuple[str, tuple[str, ...]], Recommendation] = {}
    for statement in workload:
        query: str = statement["query"]
        if not _PLANNABLE.match(query) or _SYSTEM.search(query) or "EXPLAIN" in query.upper():
            continue
        plan = await _generic_plan(conn, query)
        if plan is None:
            continue
        for scan in _seq_scans(plan):
            facts = await _table_facts(conn, scan.schema, scan.relation)
            if facts is None or facts["logical_rows"] < min_rows:
                continue
            compared = filtered_columns(scan.filter, set(facts["columns"]))
            equalities: list[tuple[float, str]] = []
            for column, kind in compared.items():
                if kind != "eq":
                    continue
                sel = await _selectivity(
                    conn, scan.schema, scan.relation, column, int(facts["rows"])
                )
                if sel is not None and sel <= max_selectivity:
                    equalities.append((sel, column))
            if not equalities:
                continue
            equalities.sort()
            columns = [c for _, c in equalities]
            ranges = [c for c, kind in compared.items() if kind == "range"]
            columns += ranges[:1]
            if set(columns) & await _leading_index_columns(conn, int(facts["oid"])):
                continue
            table = str(facts["logical"])
            key = (table, tuple(columns))
            rec = suggestions.get(key)
            if rec is None:
                partitioned = facts["kind"] == "p"
                name = _quote(f"{table}_{'_'.join(columns)}_idx"[:63])
                concurrently = "" if partitioned else "CONCURRENTLY "
                ddl = (
                    f"CREATE INDEX {concurrently}{name} ON {_quote(scan.schema)}.{_quote(table)} "
                    f"({', '.join(_quote(c) for c in columns)})"
                )
                rec = Recommendation(
                    table=table, columns=columns, ddl=ddl, calls=0, total_exec_ms=0.0,
                    estimated_selectivity=round(equalities[0][0], 6),
                    table_rows=int(facts["logical_rows"]),
                )  # fmt: skip
                suggestions[key] = rec
            if query[:300] not in rec.statements:
                rec.statements.append(query[:300])
                rec.calls += int(statement["calls"])
                rec.total_exec_ms += float(statement["total_exec_time"])
    ranked = sorted(suggestions.values(), key=lambda r: r.total_exec_ms, reverse=True)
    for rec in ranked:
        rec.total_exec_ms = round(rec.total_exec_ms, 3)
    return ranked
