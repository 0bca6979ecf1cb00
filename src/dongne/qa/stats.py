"""Region statistics and trending hashtags, computed from PostgreSQL."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow

WINDOWS = {"24h": "24 hours", "7d": "7 days"}


async def region_stats(conn: AsyncConnection[DictRow], regions: list[str]) -> dict[str, Any]:
    """Questions, answer rate, median time to first answer, active verified locals."""
    cursor = await conn.execute(
        """
        WITH scoped AS (
            SELECT q.id, q.created_at, q.answer_count, q.status
            FROM questions q
            WHERE q.region_code = ANY(%(regions)s) AND q.deleted_at IS NULL
              AND q.status <> 'hidden'
        ), first_answers AS (
            SELECT min(a.created_at) - s.created_at AS wait
            FROM scoped s JOIN answers a ON a.question_id = s.id AND a.deleted_at IS NULL
            GROUP BY s.id, s.created_at
        )
        SELECT
            (SELECT count(*) FROM scoped) AS questions,
            (SELECT count(*) FROM scoped WHERE answer_count > 0) AS answered_questions,
            (SELECT count(*) FROM scoped WHERE status = 'answered') AS accepted_questions,
            (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM wait)) / 60
             FROM first_answers) AS median_minutes_to_first_answer,
            (SELECT count(*) FROM users u
             WHERE u.region_code = ANY(%(regions)s) AND u.verification_level >= 1
               AND u.deleted_at IS NULL
               AND u.last_active_at > now() - interval '30 days') AS active_verified_locals
        """,
        {"regions": regions},
    )
    row = await cursor.fetchone()
    assert row is not None
    return row


async def trending_hashtags(
    conn: AsyncConnection[DictRow], regions: list[str], window: str, limit: int
) -> list[dict[str, Any]]:
    cursor = await conn.execute(
        """
        SELECT h.normalized_name AS name, count(*) AS count
        FROM question_hashtags qh
        JOIN hashtags h ON h.id = qh.hashtag_id
        JOIN questions q ON q.id = qh.question_id
        WHERE qh.region_code = ANY(%(regions)s)
          AND qh.created_at > now() - %(window)s::interval
          AND q.status <> 'hidden' AND q.deleted_at IS NULL
        GROUP BY h.normalized_name
        ORDER BY count DESC, name
        LIMIT %(limit)s
        """,
        {"regions": regions, "window": WINDOWS[window], "limit": limit},
    )
    return await cursor.fetchall()
