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
    images: tuple[str, ...] = ()
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
                               urgency, location, location_description, images)
        VALUES (
            CASE WHEN %(created_at)s::timestamptz IS NULL THEN uuidv7()
                 ELSE uuidv7(%(created_at)s::timestamptz - clock_timestamp()) END,
            %(user_id)s, %(title)s, %(content)s, %(hashtags)s, %(category)s, %(region)s,
            %(urgency)s::question_urgency, %(location)s::point, %(location_description)s,
            %(images)s)
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
            "images": list(question.images),
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
    images: list[str] | None = None,
    created_at: datetime | None = None,
) -> UUID:
    cursor = await conn.execute(
        """
        INSERT INTO answers (question_id, user_id, content, images, created_at, updated_at)
        VALUES (%(question)s, %(user)s, %(content)s, %(images)s,
                coalesce(%(at)s::timestamptz, now()), coalesce(%(at)s::timestamptz, now()))
        RETURNING id
        """,
        {
            "question": question_id,
            "user": user_id,
            "content": content,
            "images": images or [],
            "at": created_at,
        },
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


_QUESTION_COLUMNS = """
    q.id, q.title, q.content, q.hashtags, q.category, q.urgency::text AS urgency,
    q.status::text AS status, q.region_code, q.location[1] AS lat, q.location[0] AS lng,
    q.location_description, q.images, q.view_count, q.like_count, q.answer_count,
    q.accepted_answer_id, coalesce(q.highlighted_until > now(), false) AS highlighted,
    q.created_at, q.updated_at, q.deleted_at, q.user_id,
    u.nickname AS author_nickname, u.verification_level AS author_level
"""

_ANSWER_COLUMNS = """
    a.id, a.question_id, a.content, a.images, a.like_count, a.is_accepted, a.accepted_at,
    a.created_at, a.updated_at, a.deleted_at, a.user_id,
    u.nickname AS author_nickname, u.verification_level AS author_level
"""


async def get_question(
    conn: AsyncConnection[DictRow], question_id: UUID, *, lock: bool = False
) -> dict[str, Any] | None:
    query = f"""
        SELECT {_QUESTION_COLUMNS} FROM questions q JOIN users u ON u.id = q.user_id
        WHERE q.id = %s {"FOR NO KEY UPDATE OF q" if lock else ""}
    """  # noqa: S608 - fixed fragments only
    cursor = await conn.execute(query.encode(), (question_id,))
    return await cursor.fetchone()


# Columns a use case may change, with the cast each needs; nothing else is
# ever interpolated into an UPDATE.
_UPDATABLE: dict[str, dict[str, str]] = {
    "questions": {
        "title": "", "content": "", "hashtags": "", "category": "", "location_description": "",
        "images": "", "deleted_at": "", "highlighted_until": "",
        "urgency": "::question_urgency", "status": "::question_status",
    },
    "answers": {"content": "", "images": "", "deleted_at": ""},
}  # fmt: skip


async def _update(
    conn: AsyncConnection[DictRow], table: str, row_id: UUID, changes: dict[str, Any]
) -> None:
    columns = _UPDATABLE[table]
    unknown = set(changes) - set(columns)
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    if not changes:
        return
    assignments = ", ".join(f"{column} = %({column})s{columns[column]}" for column in changes)
    await conn.execute(
        f"UPDATE {table} SET {assignments} WHERE id = %(id)s".encode(),  # noqa: S608
        {**changes, "id": row_id},
    )


async def update_question(
    conn: AsyncConnection[DictRow], question_id: UUID, changes: dict[str, Any]
) -> None:
    await _update(conn, "questions", question_id, changes)


async def get_answer(
    conn: AsyncConnection[DictRow], answer_id: UUID, *, lock: bool = False
) -> dict[str, Any] | None:
    query = f"""
        SELECT {_ANSWER_COLUMNS} FROM answers a JOIN users u ON u.id = a.user_id
        WHERE a.id = %s {"FOR NO KEY UPDATE OF a" if lock else ""}
    """  # noqa: S608 - fixed fragments only
    cursor = await conn.execute(query.encode(), (answer_id,))
    return await cursor.fetchone()


async def update_answer(
    conn: AsyncConnection[DictRow], answer_id: UUID, changes: dict[str, Any]
) -> None:
    await _update(conn, "answers", answer_id, changes)


async def list_answers(
    conn: AsyncConnection[DictRow], question_id: UUID, after: tuple[bool, UUID] | None, limit: int
) -> list[dict[str, Any]]:
    """Accepted answer first, then oldest first; keyset on (is_accepted, id)."""
    cursor = await conn.execute(
        f"""
        SELECT {_ANSWER_COLUMNS} FROM answers a JOIN users u ON u.id = a.user_id
        WHERE a.question_id = %(question)s AND a.deleted_at IS NULL
          AND (%(accepted)s::boolean IS NULL
               OR (a.is_accepted = %(accepted)s AND a.id > %(id)s::uuid)
               OR a.is_accepted < %(accepted)s)
        ORDER BY a.is_accepted DESC, a.id
        LIMIT %(limit)s
        """.encode(),  # noqa: S608 - fixed fragments only
        {
            "question": question_id,
            "accepted": after[0] if after else None,
            "id": after[1] if after else None,
            "limit": limit,
        },
    )
    return await cursor.fetchall()


async def unlike_question(conn: AsyncConnection[DictRow], question_id: UUID, user_id: UUID) -> bool:
    cursor = await conn.execute(
        "DELETE FROM question_likes WHERE question_id = %s AND user_id = %s",
        (question_id, user_id),
    )
    return cursor.rowcount == 1


async def unlike_answer(conn: AsyncConnection[DictRow], answer_id: UUID, user_id: UUID) -> bool:
    cursor = await conn.execute(
        "DELETE FROM answer_likes WHERE answer_id = %s AND user_id = %s", (answer_id, user_id)
    )
    return cursor.rowcount == 1


async def like_count(conn: AsyncConnection[DictRow], table: str, row_id: UUID) -> int:
    if table not in {"questions", "answers"}:
        raise ValueError(table)
    cursor = await conn.execute(
        f"SELECT like_count FROM {table} WHERE id = %s".encode(),  # noqa: S608 - allow-listed
        (row_id,),
    )
    row = await cursor.fetchone()
    return int(row["like_count"]) if row else 0


async def is_active_district(conn: AsyncConnection[DictRow], code: str) -> bool:
    cursor = await conn.execute(
        "SELECT 1 FROM regions WHERE code = %s AND region_type = 'district' AND is_active",
        (code,),
    )
    return await cursor.fetchone() is not None
