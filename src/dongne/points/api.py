"""Points routes: the caller's ledger, and spending points on a highlight."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from psycopg import errors
from pydantic import BaseModel

from dongne.accounts.deps import CurrentUser
from dongne.api.cursors import decode_cursor, encode_cursor
from dongne.api.deps import RouterDep
from dongne.api.problems import Problem
from dongne.points import service
from dongne.qa import repository as qa_repository

router = APIRouter(tags=["points"])


class LedgerEntry(BaseModel):
    id: UUID
    amount: int
    transaction_type: str
    description: str | None
    reference_type: str | None
    reference_id: UUID | None
    balance_before: int
    balance_after: int
    created_at: datetime


class Ledger(BaseModel):
    balance: int
    items: list[LedgerEntry]
    next_cursor: str | None


class HighlightOut(BaseModel):
    question_id: UUID
    highlighted_until: datetime
    balance: int


@router.get("/me/points", response_model=Ledger)
async def my_points(
    db: RouterDep,
    user: CurrentUser,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Ledger:
    before = decode_cursor(cursor, "points", (UUID,))[0] if cursor else None
    async with db.connection() as conn:
        balance_cursor = await conn.execute(
            "SELECT point_balance FROM users WHERE id = %s", (user.id,)
        )
        balance = await balance_cursor.fetchone()
        rows_cursor = await conn.execute(
            """
            SELECT id, amount, transaction_type::text AS transaction_type, description,
                   reference_type, reference_id, balance_before, balance_after, created_at
            FROM point_transactions
            WHERE user_id = %s AND (%s::uuid IS NULL OR id < %s::uuid)
            ORDER BY id DESC LIMIT %s
            """,
            (user.id, before, before, limit + 1),
        )
        rows = await rows_cursor.fetchall()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor("points", [str(rows[-1]["id"])])
    return Ledger(
        balance=balance["point_balance"] if balance else 0,
        items=[LedgerEntry(**r) for r in rows],
        next_cursor=next_cursor,
    )


@router.post("/questions/{question_id}/highlight", response_model=HighlightOut)
async def highlight(db: RouterDep, user: CurrentUser, question_id: UUID) -> HighlightOut:
    """Spend points to pin a question at the top of attention for a day."""
    async with db.transaction() as conn:
        question = await qa_repository.get_question(conn, question_id, lock=True)
        if question is None or question["deleted_at"] is not None:
            raise Problem(404, "질문을 찾을 수 없습니다", slug="not-found")
        if question["user_id"] != user.id:
            raise Problem(403, "작성자만 할 수 있습니다", slug="forbidden")
        try:
            await service.award(
                conn, user.id, -service.HIGHLIGHT_COST, "spend_highlight", "질문 강조",
                ("question", question_id),
            )  # fmt: skip
        except errors.CheckViolation as error:
            raise Problem(
                409, "포인트가 부족합니다",
                f"질문 강조에는 {service.HIGHLIGHT_COST} 포인트가 필요합니다",
                slug="insufficient-points",
            ) from error  # fmt: skip
        cursor = await conn.execute(
            """
            UPDATE questions
            SET highlighted_until = greatest(coalesce(highlighted_until, now()), now())
                                    + make_interval(hours => %s)
            WHERE id = %s
            RETURNING highlighted_until,
                      (SELECT point_balance FROM users WHERE id = %s) AS balance
            """,
            (service.HIGHLIGHT_HOURS, question_id, user.id),
        )
        row = await cursor.fetchone()
    assert row is not None
    return HighlightOut(
        question_id=question_id, highlighted_until=row["highlighted_until"], balance=row["balance"]
    )
