"""Inbox use cases: each opens its own connection or transaction."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from psycopg.rows import DictRow

from dongne.db.router import ShardRouter
from dongne.notifications import repository


@dataclass(frozen=True)
class Page:
    items: list[DictRow]
    # The last item's id when more items follow, else None.
    last_id: UUID | None


async def list_notifications(
    router: ShardRouter, user_id: UUID, *, unread_only: bool, before: UUID | None, limit: int
) -> Page:
    async with router.connection() as conn:
        rows = await repository.list_for_user(
            conn, user_id, unread_only=unread_only, before=before, limit=limit + 1
        )
    if len(rows) > limit:
        rows = rows[:limit]
        return Page(items=rows, last_id=rows[-1]["id"])
    return Page(items=rows, last_id=None)


async def unread_count(router: ShardRouter, user_id: UUID) -> int:
    async with router.connection() as conn:
        return await repository.unread_count(conn, user_id)


async def mark_read(router: ShardRouter, user_id: UUID, notification_id: UUID) -> DictRow | None:
    """The notification, now read; None if the user has no such notification."""
    async with router.transaction() as conn:
        return await repository.mark_read(conn, user_id, notification_id)


async def mark_all_read(router: ShardRouter, user_id: UUID) -> int:
    async with router.transaction() as conn:
        return await repository.mark_all_read(conn, user_id)
