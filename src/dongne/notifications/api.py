"""Notification routes: the caller's inbox, unread count, marking read.

Every route is scoped to the caller: another user's notification is answered
exactly like a missing one (404), so ids cannot be probed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from psycopg.rows import DictRow
from pydantic import BaseModel

from dongne.accounts.deps import CurrentUser
from dongne.api.cursors import decode_cursor, encode_cursor
from dongne.api.deps import RouterDep
from dongne.api.problems import Problem
from dongne.cache.deps import CacheDep, cached, invalidate
from dongne.cache.domains import UNREAD_COUNT, Tags
from dongne.notifications import services

router = APIRouter(tags=["notifications"])

_CURSOR_KIND = "notifications"

NotificationType = Literal[
    "answer_received", "answer_accepted", "badge_earned", "points_milestone", "system"
]


class NotificationOut(BaseModel):
    id: UUID
    type: NotificationType
    title: str
    message: str
    data: dict[str, Any]
    is_read: bool
    read_at: datetime | None
    created_at: datetime


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None


class UnreadCount(BaseModel):
    count: int


class ReadAll(BaseModel):
    updated: int


def _out(row: DictRow) -> NotificationOut:
    return NotificationOut(**row)


@router.get("/notifications", response_model=NotificationPage)
async def list_notifications(
    db: RouterDep,
    user: CurrentUser,
    unread_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> NotificationPage:
    """The caller's notifications, newest first; pass ``next_cursor`` for the next page."""
    # Keyset on id: the same cursor works with or without unread_only.
    before = decode_cursor(cursor, _CURSOR_KIND, (UUID,))[0] if cursor else None
    page = await services.list_notifications(
        db, user.id, unread_only=unread_only, before=before, limit=limit
    )
    next_cursor = encode_cursor(_CURSOR_KIND, [str(page.last_id)]) if page.last_id else None
    return NotificationPage(items=[_out(r) for r in page.items], next_cursor=next_cursor)


@router.get("/notifications/unread-count", response_model=UnreadCount)
async def unread_count(db: RouterDep, cache: CacheDep, user: CurrentUser) -> UnreadCount:
    async def load() -> dict[str, int]:
        return {"count": await services.unread_count(db, user.id)}

    result = await cached(cache, UNREAD_COUNT, [str(user.id)], [Tags.notifications(user.id)],
                          load, UnreadCount.model_validate)  # fmt: skip
    assert result is not None
    return result


@router.post("/notifications/read-all", response_model=ReadAll)
async def read_all(db: RouterDep, cache: CacheDep, user: CurrentUser) -> ReadAll:
    """Mark every unread notification of the caller read; returns how many changed."""
    out = ReadAll(updated=await services.mark_all_read(db, user.id))
    await invalidate(cache, Tags.notifications(user.id))
    return out


@router.post("/notifications/{notification_id}/read", response_model=NotificationOut)
async def read_one(
    db: RouterDep, cache: CacheDep, user: CurrentUser, notification_id: UUID
) -> NotificationOut:
    """Mark one notification read (again is fine: the first read_at is kept)."""
    row = await services.mark_read(db, user.id, notification_id)
    await invalidate(cache, Tags.notifications(user.id))
    if row is None:
        raise Problem(
            404,
            "알림을 찾을 수 없습니다",
            "해당 알림이 없거나 접근할 수 없습니다",
            slug="not-found",
        )
    return _out(row)
