"""Admin routes: moderation and point adjustments. Every route requires an admin."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter
from psycopg import errors
from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field

from dongne.accounts.deps import AdminUser
from dongne.api.deps import RouterDep
from dongne.api.problems import Problem
from dongne.cache.deps import CacheDep, invalidate
from dongne.cache.domains import Tags
from dongne.points import service as points
from dongne.qa import repository as qa_repository

router = APIRouter(prefix="/admin", tags=["admin"])


class ModerationIn(BaseModel):
    reason: Annotated[str, Field(min_length=2, max_length=500)]


class ModerationOut(BaseModel):
    question_id: UUID
    status: str


class AdjustmentIn(BaseModel):
    amount: Annotated[int, Field(ge=-1_000_000, le=1_000_000)]
    reason: Annotated[str, Field(min_length=2, max_length=500)]


class AdjustmentOut(BaseModel):
    user_id: UUID
    transaction_id: UUID
    balance: int


async def _set_hidden(db: RouterDep, admin: AdminUser, question_id: UUID, reason: str,
                      hidden: bool) -> ModerationOut:  # fmt: skip
    async with db.transaction() as conn:
        question = await qa_repository.get_question(conn, question_id, lock=True)
        if question is None or question["deleted_at"] is not None:
            raise Problem(404, "질문을 찾을 수 없습니다", slug="not-found")
        # Unhiding restores what the question's own state implies.
        restored = "answered" if question["accepted_answer_id"] else "open"
        status = "hidden" if hidden else restored
        await qa_repository.update_question(conn, question_id, {"status": status})
        await conn.execute(
            "SELECT enqueue_outbox(%s, 'question', %s, %s)",
            (
                "question.hidden" if hidden else "question.unhidden",
                question_id,
                Jsonb({"by": str(admin.id), "reason": reason}),
            ),
        )
    return ModerationOut(question_id=question_id, status=status)


@router.post("/questions/{question_id}/hide", response_model=ModerationOut)
async def hide_question(
    db: RouterDep, cache: CacheDep, admin: AdminUser, question_id: UUID, body: ModerationIn
) -> ModerationOut:
    out = await _set_hidden(db, admin, question_id, body.reason, hidden=True)
    await invalidate(cache, Tags.FEED, Tags.STATS, Tags.TRENDING)
    return out


@router.post("/questions/{question_id}/unhide", response_model=ModerationOut)
async def unhide_question(
    db: RouterDep, cache: CacheDep, admin: AdminUser, question_id: UUID, body: ModerationIn
) -> ModerationOut:
    out = await _set_hidden(db, admin, question_id, body.reason, hidden=False)
    await invalidate(cache, Tags.FEED, Tags.STATS, Tags.TRENDING)
    return out


@router.post("/users/{user_id}/points", response_model=AdjustmentOut, status_code=201)
async def adjust_points(
    db: RouterDep, admin: AdminUser, user_id: UUID, body: AdjustmentIn
) -> AdjustmentOut:
    if body.amount == 0:
        raise Problem(
            422, "요청 값이 올바르지 않습니다", "0 포인트는 조정할 수 없습니다", slug="validation",
            errors=[{"field": "body.amount", "message": "0이 아니어야 합니다", "code": "zero"}],
        )  # fmt: skip
    async with db.transaction() as conn:
        exists = await conn.execute(
            "SELECT 1 FROM users WHERE id = %s AND deleted_at IS NULL", (user_id,)
        )
        if await exists.fetchone() is None:
            raise Problem(404, "사용자를 찾을 수 없습니다", slug="not-found")
        try:
            transaction_id = await points.award(
                conn, user_id, body.amount, "admin_adjustment", body.reason, ("user", admin.id)
            )
        except errors.CheckViolation as error:
            raise Problem(
                409, "잔액이 음수가 될 수 없습니다", slug="insufficient-points"
            ) from error
        cursor = await conn.execute("SELECT point_balance FROM users WHERE id = %s", (user_id,))
        row = await cursor.fetchone()
    assert transaction_id is not None and row is not None
    return AdjustmentOut(
        user_id=user_id, transaction_id=transaction_id, balance=row["point_balance"]
    )
