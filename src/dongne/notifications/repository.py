"""SQL of the inbox. Functions take a connection and never commit."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb


async def insert(
    conn: AsyncConnection[DictRow],
    *,
    user_id: UUID,
    type: str,
    title: str,
    message: str,
    data: dict[str, Any],
    source_event_id: int | None,
    source_key: str = "",
) -> UUID | None:
    """Add a notification for a live user; None if it exists already (same event,
    user, type and key, or a balance milestone announced before) or the user is gone.
    """
    # No conflict target: every unique rule of the table means "already told".
    cursor = await conn.execute(
        """
        INSERT INTO notifications (user_id, type, title, message, data, source_event_id,
                                   source_key)
        SELECT u.id, %s::notification_type, %s, %s, %s, %s, %s
        FROM users u WHERE u.id = %s AND u.deleted_at IS NULL
        ON CONFLICT DO NOTHING
        RETURNING id
        """,
        (type, title, message, Jsonb(data), source_event_id, source_key, user_id),
    )
    row = await cursor.fetchone()
    return row["id"] if row else None


async def list_for_user(
    conn: AsyncConnection[DictRow],
    user_id: UUID,
    *,
    unread_only: bool,
    before: UUID | None,
    limit: int,
) -> list[DictRow]:
    """Newest first, keyset on id (UUIDv7: id order is time order)."""
    cursor = await conn.execute(
        """
        SELECT id, type::text AS type, title, message, data, is_read, read_at, created_at
        FROM notifications
        WHERE user_id = %(user)s
          AND (NOT %(unread_only)s OR NOT is_read)
          AND (%(before)s::uuid IS NULL OR id < %(before)s::uuid)
        ORDER BY id DESC
        LIMIT %(limit)s
        """,
        {"user": user_id, "unread_only": unread_only, "before": before, "limit": limit},
    )
    return await cursor.fetchall()


async def unread_count(conn: AsyncConnection[DictRow], user_id: UUID) -> int:
    cursor = await conn.execute(
        "SELECT count(*) AS n FROM notifications WHERE user_id = %s AND NOT is_read", (user_id,)
    )
    row = await cursor.fetchone()
    return int(row["n"]) if row else 0


async def mark_read(
    conn: AsyncConnection[DictRow], user_id: UUID, notification_id: UUID
) -> DictRow | None:
    """Mark one of the user's notifications read (keeping the first read_at);
    None if the user has no such notification."""
    # Reading a read notification again writes nothing.
    cursor = await conn.execute(
        """
        WITH updated AS (
            UPDATE notifications SET is_read = true, read_at = now()
            WHERE id = %(id)s AND user_id = %(user)s AND NOT is_read
            RETURNING id, type::text AS type, title, message, data, is_read, read_at, created_at
        )
        SELECT * FROM updated
        UNION ALL
        SELECT id, type::text AS type, title, message, data, is_read, read_at, created_at
        FROM notifications
        WHERE id = %(id)s AND user_id = %(user)s AND NOT EXISTS (SELECT 1 FROM updated)
        """,
        {"id": notification_id, "user": user_id},
    )
    return await cursor.fetchone()


async def mark_all_read(conn: AsyncConnection[DictRow], user_id: UUID) -> int:
    cursor = await conn.execute(
        "UPDATE notifications SET is_read = true, read_at = now()"
        " WHERE user_id = %s AND NOT is_read",
        (user_id,),
    )
    return cursor.rowcount
