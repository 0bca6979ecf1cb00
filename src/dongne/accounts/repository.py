"""SQL for accounts, profiles and local verification. Functions take a
connection and never commit: the caller's transaction is the unit of work."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection, sql
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

DAILY_LOGIN_POINTS = 10

# Columns PATCH /me may write; anything else never reaches the SQL text.
PROFILE_COLUMNS = frozenset(
    {
        "nickname",
        "bio",
        "profile_image_url",
        "region_code",
        "interested_categories",
        "notification_settings",
        "privacy_settings",
    }
)
_JSON_COLUMNS = frozenset({"notification_settings", "privacy_settings"})

_PRIVATE_COLUMNS = """
    id, email, nickname, region_code, role::text AS role, verification_level,
    is_local_verified, point_balance, total_earned_points, question_count, answer_count,
    accepted_answer_count, bio, profile_image_url, interested_categories,
    notification_settings, privacy_settings, created_at
"""

_PUBLIC_COLUMNS = """
    id, nickname, region_code, verification_level, is_local_verified, bio, profile_image_url,
    question_count, answer_count, accepted_answer_count, created_at
"""

# The Asia/Seoul calendar day of the transaction's clock, as SQL.
_SEOUL_TODAY = "(now() AT TIME ZONE 'Asia/Seoul')::date"


async def _one(
    conn: AsyncConnection[DictRow], query: str | sql.Composed, params: Any = None
) -> dict[str, Any] | None:
    cursor = await conn.execute(query, params)
    return await cursor.fetchone()


async def _all(
    conn: AsyncConnection[DictRow], query: str, params: Any = None
) -> list[dict[str, Any]]:
    cursor = await conn.execute(query, params)
    return await cursor.fetchall()


async def is_active_district(conn: AsyncConnection[DictRow], code: str) -> bool:
    row = await _one(
        conn,
        "SELECT 1 FROM regions WHERE code = %s AND region_type = 'district' AND is_active",
        (code,),
    )
    return row is not None


async def unknown_categories(conn: AsyncConnection[DictRow], codes: list[str]) -> list[str]:
    rows = await _all(
        conn,
        """
        SELECT c AS code FROM unnest(%s::text[]) WITH ORDINALITY AS u(c, pos)
        WHERE NOT EXISTS (SELECT 1 FROM categories WHERE code = u.c)
        ORDER BY pos
        """,
        (codes,),
    )
    return [row["code"] for row in rows]


async def insert_user(
    conn: AsyncConnection[DictRow],
    *,
    email: str,
    password_hash: str,
    nickname: str,
    region_code: str,
) -> UUID:
    row = await _one(
        conn,
        """
        INSERT INTO users (email, password_hash, nickname, region_code)
        VALUES (%s, %s, %s, %s) RETURNING id
        """,
        (email, password_hash, nickname, region_code),
    )
    assert row is not None
    user_id: UUID = row["id"]
    return user_id


async def find_credentials(conn: AsyncConnection[DictRow], email: str) -> dict[str, Any] | None:
    """The live account with this e-mail address: its id and password hash."""
    return await _one(
        conn,
        "SELECT id, password_hash FROM users WHERE email = %s AND deleted_at IS NULL",
        (email,),
    )


async def record_login(
    conn: AsyncConnection[DictRow], user_id: UUID, new_password_hash: str | None
) -> bool:
    """Mark the user active (and store an upgraded hash); False if the account is gone."""
    row = await _one(
        conn,
        """
        UPDATE users
        SET last_active_at = now(), password_hash = coalesce(%s, password_hash)
        WHERE id = %s AND deleted_at IS NULL
        RETURNING id
        """,
        (new_password_hash, user_id),
    )
    return row is not None


async def award_daily_login(conn: AsyncConnection[DictRow], user_id: UUID) -> str | None:
    """Today's login points, keyed by the Korean calendar day; the day if newly awarded."""
    row = await _one(
        conn,
        f"""
        SELECT day, award_points(%(user)s, %(points)s, 'earn_daily_login', '일일 로그인', NULL,
                                 NULL, 'daily_login:' || %(user)s::text || ':' || day) AS awarded
        FROM (SELECT to_char({_SEOUL_TODAY}, 'YYYY-MM-DD') AS day) AS today
        """,  # noqa: S608 - only a constant is formatted in
        {"user": user_id, "points": DAILY_LOGIN_POINTS},
    )
    assert row is not None
    return str(row["day"]) if row["awarded"] is not None else None


async def enqueue(
    conn: AsyncConnection[DictRow],
    topic: str,
    aggregate_type: str,
    aggregate_id: UUID,
    payload: dict[str, Any],
) -> None:
    await conn.execute(
        "SELECT enqueue_outbox(%s, %s, %s, %s)",
        (topic, aggregate_type, aggregate_id, Jsonb(payload)),
    )


async def private_profile(conn: AsyncConnection[DictRow], user_id: UUID) -> dict[str, Any] | None:
    return await _one(
        conn,
        f"SELECT {_PRIVATE_COLUMNS} FROM users WHERE id = %s AND deleted_at IS NULL",  # noqa: S608
        (user_id,),
    )


async def public_profile(conn: AsyncConnection[DictRow], user_id: UUID) -> dict[str, Any] | None:
    return await _one(
        conn,
        f"SELECT {_PUBLIC_COLUMNS} FROM users WHERE id = %s AND deleted_at IS NULL",  # noqa: S608
        (user_id,),
    )


async def badges(conn: AsyncConnection[DictRow], user_id: UUID) -> list[dict[str, Any]]:
    return await _all(
        conn,
        """
        SELECT badge_type, badge_level, earned_at FROM user_badges
        WHERE user_id = %s ORDER BY earned_at, badge_type
        """,
        (user_id,),
    )


async def verification_history(
    conn: AsyncConnection[DictRow], user_id: UUID
) -> list[dict[str, Any]]:
    return await _all(
        conn,
        """
        SELECT from_level, to_level, reason, granted_by, created_at
        FROM user_verification_history WHERE user_id = %s ORDER BY id
        """,
        (user_id,),
    )


async def find_user(
    conn: AsyncConnection[DictRow], user_id: UUID, *, lock: bool = False
) -> dict[str, Any] | None:
    """The live user's verification state, home district and nickname; ``lock``
    holds the row until the transaction ends, which serialises every change of
    its level."""
    query = """
        SELECT u.id, u.region_code, r.name AS region_name, u.verification_level, u.nickname
        FROM users u LEFT JOIN regions r ON r.code = u.region_code
        WHERE u.id = %s AND u.deleted_at IS NULL
    """
    return await _one(conn, query + (" FOR NO KEY UPDATE OF u" if lock else ""), (user_id,))


async def update_profile(
    conn: AsyncConnection[DictRow], user_id: UUID, changes: dict[str, Any]
) -> None:
    unknown = set(changes) - PROFILE_COLUMNS
    if unknown:
        raise ValueError(f"not profile columns: {sorted(unknown)}")
    if not changes:
        return
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column))
        for column in changes
    )
    params = {
        column: Jsonb(value) if column in _JSON_COLUMNS else value
        for column, value in changes.items()
    }
    query = sql.SQL("UPDATE users SET {} WHERE id = {}").format(
        assignments, sql.Placeholder("user_id")
    )
    await conn.execute(query, {**params, "user_id": user_id})


async def change_level(
    conn: AsyncConnection[DictRow],
    user_id: UUID,
    *,
    from_level: int,
    to_level: int,
    reason: str,
    granted_by: UUID | None,
) -> None:
    """Set the level and record the change; one statement, so neither happens alone."""
    await conn.execute(
        """
        WITH changed AS (
            UPDATE users SET verification_level = %(to)s
            WHERE id = %(user)s AND verification_level = %(from)s
            RETURNING id
        )
        INSERT INTO user_verification_history (user_id, from_level, to_level, reason, granted_by)
        SELECT id, %(from)s, %(to)s, %(reason)s, %(by)s FROM changed
        """,
        {"user": user_id, "from": from_level, "to": to_level, "reason": reason, "by": granted_by},
    )


async def soft_delete(conn: AsyncConnection[DictRow], user_id: UUID) -> bool:
    row = await _one(
        conn,
        "UPDATE users SET deleted_at = now() WHERE id = %s AND deleted_at IS NULL RETURNING id",
        (user_id,),
    )
    return row is not None


async def insert_checkin(
    conn: AsyncConnection[DictRow], user_id: UUID, region_code: str, lat: float, lng: float
) -> dict[str, Any]:
    """Record a check-in; it counts unless one already counted today in that district."""
    row = await _one(
        conn,
        f"""
        INSERT INTO user_checkins (user_id, region_code, location, counted)
        SELECT %(user)s::uuid, %(region)s::varchar, point(%(lng)s, %(lat)s), NOT EXISTS (
            SELECT 1 FROM user_checkins
            WHERE user_id = %(user)s AND region_code = %(region)s AND counted
              AND day = {_SEOUL_TODAY}
        )
        RETURNING id, region_code, location[1] AS lat, location[0] AS lng, counted, day,
                  created_at
        """,  # noqa: S608 - only a constant is formatted in
        {"user": user_id, "region": region_code, "lat": lat, "lng": lng},
    )
    assert row is not None
    return row


async def counted_days(
    conn: AsyncConnection[DictRow], user_id: UUID, region_code: str, window_days: int
) -> int:
    """Distinct Korean calendar days with a counted check-in in the district, today included."""
    row = await _one(
        conn,
        f"""
        SELECT count(*) AS days FROM user_checkins
        WHERE user_id = %s AND region_code = %s AND counted
          AND day > {_SEOUL_TODAY} - %s::integer
        """,  # noqa: S608 - only a constant is formatted in
        (user_id, region_code, window_days),
    )
    assert row is not None
    return int(row["days"])
