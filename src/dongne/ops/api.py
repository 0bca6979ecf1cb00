"""Admin operations endpoints: the ``dongne ops`` reports over HTTP (admins only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from dongne.accounts.deps import AdminUser
from dongne.api.deps import RouterDep
from dongne.api.problems import Problem
from dongne.db.router import Workload
from dongne.ops import report
from dongne.ops.explain import analyse
from dongne.ops.recommender import recommend_indexes

router = APIRouter(prefix="/admin/ops", tags=["admin"])

_SECTIONS = {
    "slow-queries": report.slow_queries,
    "index-usage": report.index_usage,
    "unused-indexes": report.unused_indexes,
    "duplicate-indexes": report.duplicate_indexes,
    "table-sizes": report.table_sizes,
    "cache-hit-ratio": report.cache_hit_ratio,
    "bloat": report.bloat_estimate,
}


@router.get("/report")
async def ops_report(db: RouterDep, admin: AdminUser) -> dict[str, Any]:
    async with db.connection(Workload.BACKGROUND) as conn:
        return await report.full_report(conn)


@router.get("/index-recommendations")
async def index_recommendations(
    db: RouterDep, admin: AdminUser, min_rows: Annotated[int, Query(ge=0)] = 10_000
) -> list[dict[str, Any]]:
    async with db.connection(Workload.BACKGROUND) as conn:
        try:
            return [r.as_dict() for r in await recommend_indexes(conn, min_rows=min_rows)]
        except report.StatementsUnavailableError as error:
            raise Problem(503, "pg_stat_statements가 필요합니다", str(error),
                          slug="statements-unavailable") from None  # fmt: skip


@router.get("/{section}")
async def ops_section(section: str, db: RouterDep, admin: AdminUser) -> list[dict[str, Any]]:
    if section not in _SECTIONS:
        raise Problem(404, "알 수 없는 보고서입니다", f"{section}", slug="not-found")
    async with db.connection(Workload.BACKGROUND) as conn:
        try:
            rows: list[dict[str, Any]] = await _SECTIONS[section](conn)
        except report.StatementsUnavailableError as error:
            raise Problem(503, "pg_stat_statements가 필요합니다", str(error),
                          slug="statements-unavailable") from None  # fmt: skip
    return rows


class ExplainIn(BaseModel):
    query: Annotated[str, Field(min_length=6, max_length=20_000)]


@router.post("/explain")
async def explain(body: ExplainIn, db: RouterDep, admin: AdminUser) -> dict[str, Any]:
    """EXPLAIN ANALYZE a read-only statement (run in a read-only, rolled-back transaction)."""
    async with db.connection(Workload.READ) as conn:
        await conn.execute("SET default_transaction_read_only = on")
        try:
            result = await analyse(conn, body.query)
        finally:
            await conn.execute("RESET default_transaction_read_only")
    return result.as_dict()
