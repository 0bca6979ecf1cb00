"""SQL for users, questions and answers. Functions never commit: the caller's
transaction is the unit of work, and the database's triggers keep counters,
hashtags and the points ledger consistent with every write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import DictRow


@dataclass(frozen=True)
class NewQuestion:
    user_id: UUID
    title: str
    content: str
    hashtags: list[str]
    category: str | None = None
    region_code: str | None = None
    urgency: str = "normal"
    location: tuple[float, float] | None = None  # (lng, lat)
    location_description: str | None = None
    created_at: datetime | None = None


async def insert_user(
    conn: AsyncConnection[DictRow],
    *,
    email: str,
    nickname: str,
    region_code: str | None,
    verification_level: int = 0,
    password_hash: str | None = None,
) -> UUID:
    cursor = await conn.execute(
        """
        INSERT INTO users (email, nickname, region_code, verification_level, password_hash)
        VALUES (%s, %s, %s, %s, %s) RETURNING id
        """,
        (email, nickname, region_code, verification_level, password_hash),
    )
    row = await cursor.fetchone()
    assert row is not None
    user_id: UUID = row["id"]
    return user_id


async def insert_question(conn: AsyncConnection[DictRow], question: NewQuestion) -> dict[str, Any]:
    """Insert a question; a past ``created_at`` yields a UUIDv7 id from that instant."""
    location = None
    if question.location is not None:
        location = f"({question.location[0]!r},{question.location[1]!r})"
    cursor = await conn.execute(
        """
        INSERT INTO questions (id, user_id, title, content, hashtags, category, region_code,
                               urgency, location, location_description)
        VALUES (
            CASE WHEN %(created_at)s::timestamptz IS NULL THEN uuidv7()
                 ELSE uuidv7(%(created_at)s::timestamptz - clock_timestamp()) END,
            %(user_id)s, %(title)s, %(content)s, %(hashtags)s, %(category)s, %(region)s,
            %(urgency)s::question_urgency, %(location)s::point, %(location_description)s)
        RETURNING id, region_code, category, hashtags, created_at
        """,
        {
            "created_at": question.created_at,
            "user_id": question.user_id,
            "title": question.title,
            "content": question.content,
            "hashtags": question.hashtags,
            "category": question.category,
            "region": question.region_code,
            "urgency": question.urgency,
            "location": location,
            "location_description": question.location_description,
        },
    )
    row = await cursor.fetchone()
    assert row is not None
    return row


async def insert_answer(
    conn: AsyncConnection[DictRow],
    *,
    question_id: UUID,
    user_id: UUID,
    content: str,
    created_at: datetime | None = None,
) -> UUID:
    cursor = await conn.execute(
        """
        INSERT INTO answers (question_id, user_id, content, created_at, updated_at)
        VALUES (%(question)s, %(user)s, %(content)s,
                coalesce(%(at)s::timestamptz, now()), coalesce(%(at)s::timestamptz, now()))
        RETURNING id
        """,
        {"question": question_id, "user": user_id, "content": content, "at": created_at},
    )
    row = await cursor.fetchone()
    assert row is not None
    answer_id: UUID = row["id"]
    return answer_id


async def accept_answer(conn: AsyncConnection[DictRow], answer_id: UUID) -> bool:
    """Mark an answer accepted; False when it already was (a retried request)."""
    cursor = await conn.execute(
        "UPDATE answers SET is_accepted = true WHERE id = %s AND NOT is_accepted", (answer_id,)
    )
    return cursor.rowcount == 1


async def like_question(conn: AsyncConnection[DictRow], question_id: UUID, user_id: UUID) -> bool:
    """Like once; True when this call added the like."""
    cursor = await conn.execute(
        "INSERT INTO question_likes (question_id, user_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (question_id, user_id),
    )
    return cursor.rowcount == 1


async def like_answer(conn: AsyncConnection[DictRow], answer_id: UUID, user_id: UUID) -> bool:
    cursor = await conn.execute(
        "INSERT INTO answer_likes (answer_id, user_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (answer_id, user_id),
    )
    return cursor.rowcount == 1
