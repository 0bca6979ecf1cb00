"""A query analyser: runs ``EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`` and flags
the plan shapes that make queries slow.

* ``seq_scan_large_table``: a sequential scan of a table with at least
  ``large_table_rows`` rows (by ``pg_class.reltuples``);
* ``row_estimate_error``: a node whose actual rows differ from the estimate by
  ``estimate_factor`` or more (and by at least 100 rows);
* ``nested_loop_many_rows``: a nested loop whose inner side runs over at
  least ``nested_loop_rows`` rows in total;
* ``sort_spilled_to_disk``: a sort that used an external (disk) method.

The statement runs inside a transaction that is always rolled back, so
analysing an UPDATE changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import DictRow


@dataclass(frozen=True)
class Finding:
    kind: str
    node: str
    detail: str
    relation: str | None = None


@dataclass
class Analysis:
    plan: dict[str, Any]
    execution_ms: float
    planning_ms: float
    findings: list[Finding] = field(default_factory=list)

    def kinds(self) -> set[str]:
        return {f.kind for f in self.findings}

    def as_dict(self) -> dict[str, Any]:
        return {
            "execution_ms": self.execution_ms,
            "planning_ms": self.planning_ms,
            "findings": [asdict(f) for f in self.findings],
            "plan": self.plan,
        }


class _Rollback(Exception):
    pass


async def explain_analyze(
    conn: AsyncConnection[DictRow], query: str | sql.Composable, params: Any = None
) -> dict[str, Any]:
    """The JSON plan of ``query`` executed for real inside a rolled-back transaction."""
    statement = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ") + (
        sql.SQL(query) if isinstance(query, str) else query
    )
    document: Any = None
    try:
        async with conn.transaction():
            cursor = await conn.execute(statement, params)
            row = await cursor.fetchone()
            assert row is not None
            document = next(iter(row.values()))
            raise _Rollback
    except _Rollback:
        pass
    result: dict[str, Any] = (json.loads(document) if isinstance(document, str) else document)[0]
    return result


async def _table_rows(conn: AsyncConnection[DictRow], names: set[str]) -> dict[str, float]:
    if not names:
        return {}
    cursor = await conn.execute(
        "SELECT relname, greatest(reltuples, 0) AS rows FROM pg_class WHERE relname = ANY(%s)",
        (sorted(names),),
    )
    return {str(r["relname"]): float(r["rows"]) for r in await cursor.fetchall()}


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found, stack = [], [plan]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node.get("Plans", []))
    return found


def find_problems(
    plan: dict[str, Any],
    table_rows: dict[str, float],
    *,
    large_table_rows: int = 10_000,
    estimate_factor: float = 10.0,
    nested_loop_rows: int = 10_000,
) -> list[Finding]:
    findings: list[Finding] = []
    for node in _nodes(plan):
        kind = node.get("Node Type", "?")
        relation = node.get("Relation Name")
        loops = max(int(node.get("Actual Loops", 1)), 1)
        actual = float(node.get("Actual Rows", 0)) * loops
        estimated = float(node.get("Plan Rows", 0)) * loops
        if kind == "Seq Scan" and relation:
            rows = table_rows.get(relation, 0.0)
            if rows >= large_table_rows:
                removed = node.get("Rows Removed by Filter", 0)
                findings.append(Finding(
                    "seq_scan_large_table", kind,
                    f"sequential scan of {relation} (~{int(rows)} rows, "
                    f"{removed} removed by filter)", relation,
                ))  # fmt: skip
        if "Actual Rows" in node and max(actual, estimated) >= 100:
            low, high = sorted((max(actual, 1.0), max(estimated, 1.0)))
            if high / low >= estimate_factor:
                findings.append(Finding(
                    "row_estimate_error", kind,
                    f"estimated {int(estimated)} rows, got {int(actual)}", relation,
                ))  # fmt: skip
        if kind == "Nested Loop":
            children = node.get("Plans", [])
            if len(children) == 2:
                inner = children[1]
                inner_rows = float(inner.get("Actual Rows", 0)) * max(
                    int(inner.get("Actual Loops", 1)), 1
                )
                if inner_rows >= nested_loop_rows:
                    findings.append(Finding(
                        "nested_loop_many_rows", kind,
                        f"inner side produced {int(inner_rows)} rows over "
                        f"{inner.get('Actual Loops', 1)} loops", relation,
                    ))  # fmt: skip
        if kind in ("Sort", "Incremental Sort") and (
            node.get("Sort Space Type") == "Disk" or "external" in str(node.get("Sort Method", ""))
        ):
            findings.append(Finding(
                "sort_spilled_to_disk", kind,
                f"{node.get('Sort Method')} using {node.get('Sort Space Used')} kB on disk",
            ))  # fmt: skip
    return findings


async def analyse(
    conn: AsyncConnection[DictRow],
    query: str | sql.Composable,
    params: Any = None,
    **thresholds: Any,
) -> Analysis:
    result = await explain_analyze(conn, query, params)
    plan: dict[str, Any] = result["Plan"]
    relations = {str(n["Relation Name"]) for n in _nodes(plan) if n.get("Relation Name")}
    findings = find_problems(plan, await _table_rows(conn, relations), **thresholds)
    return Analysis(
        plan=plan,
        execution_ms=float(result.get("Execution Time", 0.0)),
        planning_ms=float(result.get("Planning Time", 0.0)),
        findings=findings,
    )
