"""Badges and answer milestones, granted by outbox handlers.

Every rule is computed from the database as it is when the event is handled
(counts, ledger days), never from counters carried in the event, and writes
are upgrade-only: handling an event twice, late or out of step with another
worker grants nothing new. Each new badge or level-up adds a 'badge_earned'
notification in the same transaction.

- ``first_answer`` — level 1, on the user's first answer ('answer.created').
- ``district_expert:<region code, lower case>`` — 3 / 10 / 30 accepted answers
  on questions of that district → level 1 / 2 / 3 ('answer.accepted').
- ``verified_local`` — level = local-verification level 1..3 ('user.verified').
- ``login_streak`` — 3 / 7 / 30 consecutive Asia/Seoul days with a daily-login
  ledger row ending on the login day → level 1 / 2 / 3 ('user.login').
- Answer milestones — 10 / 50 / 100 live answers → 50 / 200 / 500 points, once
  each through the ledger key ``milestone:answers:<n>:<user id>``.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from dongne.notifications.handlers import notify_badge_earned
from dongne.outbox.handlers import (
    HandlerRegistry,
    InvalidEventError,
    payload_int,
    payload_str,
    payload_uuid,
)
from dongne.outbox.repository import OutboxEvent
from dongne.points.service import award

FIRST_ANSWER = "first_answer"
VERIFIED_LOCAL = "verified_local"
LOGIN_STREAK = "login_streak"
DISTRICT_EXPERT = "district_expert"

DISTRICT_EXPERT_THRESHOLDS = (3, 10, 30)
LOGIN_STREAK_THRESHOLDS = (3, 7, 30)
# (live answers reached, points awarded)
ANSWER_MILESTONES = ((10, 50), (50, 200), (100, 500))

_BADGE_NAMES = {
    FIRST_ANSWER: "첫 답변",
    VERIFIED_LOCAL: "인증된 현지인",
    LOGIN_STREAK: "연속 출석",
}
# A daily-login ledger key ends with its Asia/Seoul day ('daily_login:<user>:<day>').
# The key, not created_at, says which day a login counted for.
_KEY_DAY = re.compile(r"(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class BadgeAward:
    user_id: UUID
    badge_type: str
    level: int
    previous_level: int | None
    metadata: dict[str, Any]


def register(registry: HandlerRegistry) -> None:
    registry.register("answer.created", on_answer_created)
    registry.register("answer.accepted", on_answer_accepted)
    registry.register("user.verified", on_user_verified)
    registry.register("user.login", on_user_login)


def level_for(count: int, thresholds: tuple[int, ...]) -> int:
    """How many thresholds ``count`` has reached: 0 (none) … len(thresholds)."""
    return bisect_right(thresholds, count)


def district_badge_type(region_code: str) -> str:
    return f"{DISTRICT_EXPERT}:{region_code.lower()}"


def consecutive_days(days: set[date], through: date) -> int:
    """Length of the run of consecutive days in ``days`` that ends on ``through``."""
    streak = 0
    while through - timedelta(days=streak) in days:
        streak += 1
    return streak


async def grant(
    conn: AsyncConnection[DictRow],
    user_id: UUID,
    badge_type: str,
    level: int,
    metadata: dict[str, Any],
) -> BadgeAward | None:
    """Give a badge at ``level`` or raise it to ``level``; never lower it.

    None when nothing changed (already at that level or above, or the user is
    gone). A concurrent grant of the same badge waits on the unique key and then
    sees the row, so two workers never both report the same level-up.
    """
    cursor = await conn.execute(
        """
        INSERT INTO user_badges AS b (user_id, badge_type, badge_level, metadata)
        SELECT u.id, %s, %s, %s FROM users u WHERE u.id = %s AND u.deleted_at IS NULL
        ON CONFLICT (user_id, badge_type) DO UPDATE
            SET badge_level = EXCLUDED.badge_level, metadata = EXCLUDED.metadata,
                earned_at = now()
            WHERE b.badge_level < EXCLUDED.badge_level
        RETURNING old.badge_level AS previous_level, new.badge_level AS level
        """,
        (badge_type, level, Jsonb(metadata), user_id),
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    return BadgeAward(
        user_id=user_id,
        badge_type=badge_type,
        level=row["level"],
        previous_level=row["previous_level"],
        metadata=metadata,
    )


async def _grant_and_notify(
    conn: AsyncConnection[DictRow],
    event: OutboxEvent,
    user_id: UUID,
    badge_type: str,
    badge_name: str,
    level: int,
    metadata: dict[str, Any],
) -> BadgeAward | None:
    awarded = await grant(conn, user_id, badge_type, level, metadata)
    if awarded is not None:
        await notify_badge_earned(
            conn,
            event,
            user_id=user_id,
            badge_type=badge_type,
            badge_name=badge_name,
            level=awarded.level,
            previous_level=awarded.previous_level,
            metadata=metadata,
        )
    return awarded


async def on_answer_created(conn: AsyncConnection[DictRow], event: OutboxEvent) -> None:
    """First-answer badge and answer-count milestones for the answerer."""
    answer_id = payload_uuid(event, "answer_id")
    user_id = payload_uuid(event, "user_id")
    cursor = await conn.execute(
        "SELECT 1 FROM answers WHERE id = %s AND deleted_at IS NULL", (answer_id,)
    )
    if await cursor.fetchone() is not None:
        await _grant_and_notify(
            conn, event, user_id, FIRST_ANSWER, _BADGE_NAMES[FIRST_ANSWER], 1,
            {"answer_id": str(answer_id), "question_id": str(event.aggregate_id)},
        )  # fmt: skip
    await award_answer_milestones(conn, user_id, answer_id)


async def award_answer_milestones(
    conn: AsyncConnection[DictRow], user_id: UUID, answer_id: UUID
) -> list[int]:
    """Award every answer milestone the user's live answer count has reached;
    the ledger's idempotency key makes each happen once. Returns those awarded now."""
    cursor = await conn.execute(
        "SELECT answer_count FROM users WHERE id = %s AND deleted_at IS NULL", (user_id,)
    )
    row = await cursor.fetchone()
    if row is None:
        return []
    reached = {
        milestone_key(count, user_id): (count, points)
        for count, points in ANSWER_MILESTONES
        if row["answer_count"] >= count
    }
    if not reached:
        return []
    # award_points() locks the user row even when its key was used already;
    # looking the keys up first keeps the common case (long since awarded)
    # free of that lock, which other workers' events for this user may need.
    cursor = await conn.execute(
        "SELECT idempotency_key FROM point_transactions WHERE idempotency_key = ANY(%s)",
        (list(reached),),
    )
    for done in await cursor.fetchall():
        reached.pop(done["idempotency_key"], None)
    awarded: list[int] = []
    for key, (count, points) in reached.items():
        transaction = await award(
            conn, user_id, points, "earn_milestone", f"답변 {count}개 달성",
            ("answer", answer_id), key,
        )  # fmt: skip
        if transaction is not None:
            awarded.append(count)
    return awarded


def milestone_key(count: int, user_id: UUID) -> str:
    return f"milestone:answers:{count}:{user_id}"


async def on_answer_accepted(conn: AsyncConnection[DictRow], event: OutboxEvent) -> None:
    """District expert: accepted answers by this user in the question's district."""
    answer_id = payload_uuid(event, "answer_id")
    user_id = payload_uuid(event, "user_id")
    cursor = await conn.execute(
        "SELECT q.region_code, r.name FROM questions q JOIN regions r ON r.code = q.region_code"
        " WHERE q.id = %s",
        (event.aggregate_id,),
    )
    question = await cursor.fetchone()
    if question is None:
        return
    cursor = await conn.execute(
        """
        SELECT count(*) AS n
        FROM answers a JOIN questions q ON q.id = a.question_id
        WHERE a.user_id = %s AND a.is_accepted AND q.region_code = %s AND q.deleted_at IS NULL
        """,
        (user_id, question["region_code"]),
    )
    counted = await cursor.fetchone()
    accepted = int(counted["n"]) if counted else 0
    level = level_for(accepted, DISTRICT_EXPERT_THRESHOLDS)
    if level == 0:
        return
    await _grant_and_notify(
        conn, event, user_id, district_badge_type(question["region_code"]),
        f"{question['name']} 동네 전문가", level,
        {
            "region_code": question["region_code"],
            "accepted_answers": accepted,
            "answer_id": str(answer_id),
            "question_id": str(event.aggregate_id),
        },
    )  # fmt: skip


async def on_user_verified(conn: AsyncConnection[DictRow], event: OutboxEvent) -> None:
    """Verified local at the verification level; a lowered level keeps the badge."""
    user_id = payload_uuid(event, "user_id")
    level = payload_int(event, "level")
    if not 0 <= level <= 3:
        raise InvalidEventError(f"user.verified #{event.id}: level {level} is not 0..3")
    if level == 0:
        return
    await _grant_and_notify(
        conn, event, user_id, VERIFIED_LOCAL, _BADGE_NAMES[VERIFIED_LOCAL], level,
        {"verification_level": level},
    )  # fmt: skip


async def on_user_login(conn: AsyncConnection[DictRow], event: OutboxEvent) -> None:
    """Login streak ending on the event's day."""
    user_id = payload_uuid(event, "user_id")
    try:
        day = date.fromisoformat(payload_str(event, "day"))
    except ValueError as error:
        raise InvalidEventError(f"user.login #{event.id}: day is not YYYY-MM-DD") from error
    streak = await login_streak(conn, user_id, day)
    level = level_for(streak, LOGIN_STREAK_THRESHOLDS)
    if level == 0:
        return
    await _grant_and_notify(
        conn, event, user_id, LOGIN_STREAK, _BADGE_NAMES[LOGIN_STREAK], level,
        {"streak_days": streak, "through": day.isoformat()},
    )  # fmt: skip


async def login_streak(conn: AsyncConnection[DictRow], user_id: UUID, through: date) -> int:
    """Consecutive days with a daily-login ledger row ending on ``through``,
    counted up to the longest threshold (further days change no level)."""
    window = LOGIN_STREAK_THRESHOLDS[-1]
    # A login's ledger row is written on its day or later, never before: rows
    # created before the window's first day cannot count inside it.
    cursor = await conn.execute(
        """
        SELECT idempotency_key, (created_at AT TIME ZONE 'Asia/Seoul')::date AS created_day
        FROM point_transactions
        WHERE user_id = %s AND transaction_type = 'earn_daily_login'
          AND created_at >= (%s::date)::timestamp AT TIME ZONE 'Asia/Seoul'
        """,
        (user_id, through - timedelta(days=window)),
    )
    days: set[date] = set()
    for row in await cursor.fetchall():
        days.add(_login_day(row["idempotency_key"]) or row["created_day"])
    return min(consecutive_days(days, through), window)


def _login_day(key: str | None) -> date | None:
    match = _KEY_DAY.search(key or "")
    if match is None:
        return None
    try:
        return date.fromisoformat(match[1])
    except ValueError:
        return None
