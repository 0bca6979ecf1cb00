"""Badges and answer milestones, granted by the outbox worker from real events."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from dongne.db.router import ShardRouter
from dongne.outbox.worker import OutboxWorker
from dongne.points.badges import consecutive_days, level_for
from tests.support.factories import AEWOL, HALLIM, make_answer, make_question, make_user

SEOUL = ZoneInfo("Asia/Seoul")


def _badge(db: psycopg.Connection[DictRow], user: UUID, badge_type: str) -> DictRow | None:
    return db.execute(
        "SELECT badge_level, metadata FROM user_badges WHERE user_id = %s AND badge_type = %s",
        (user, badge_type),
    ).fetchone()


def _badge_notes(db: psycopg.Connection[DictRow], user: UUID, badge_type: str) -> list[DictRow]:
    return db.execute(
        "SELECT title, message, data FROM notifications"
        " WHERE user_id = %s AND type = 'badge_earned' AND data->>'badge_type' = %s ORDER BY id",
        (user, badge_type),
    ).fetchall()


def _event(db: psycopg.Connection[DictRow], topic: str, user: UUID, **payload: object) -> int:
    row = db.execute(
        "SELECT enqueue_outbox(%s, 'user', %s, %s) AS id",
        (topic, user, Jsonb({"user_id": str(user), **payload})),
    ).fetchone()
    assert row is not None
    event_id: int = row["id"]
    return event_id


def _accepted_answers(
    db: psycopg.Connection[DictRow], asker: UUID, answerer: UUID, count: int, region: str
) -> None:
    for _ in range(count):
        answer = make_answer(db, make_question(db, asker, region_code=region), answerer)
        db.execute("UPDATE answers SET is_accepted = true WHERE id = %s", (answer,))


def test_levels_and_streaks() -> None:
    assert [level_for(n, (3, 10, 30)) for n in (0, 2, 3, 9, 10, 29, 30, 99)] == [
        0, 0, 1, 1, 2, 2, 3, 3,
    ]  # fmt: skip
    today = date(2026, 3, 10)
    days = {today, today - timedelta(days=1), today - timedelta(days=2), today - timedelta(4)}
    assert consecutive_days(days, today) == 3
    assert consecutive_days(days, today - timedelta(days=4)) == 1
    assert consecutive_days(days, today + timedelta(days=1)) == 0


async def test_first_answer_badge_is_granted_once(
    db: psycopg.Connection[DictRow], router: ShardRouter
) -> None:
    asker, answerer = make_user(db), make_user(db)
    first = make_answer(db, make_question(db, asker), answerer)
    make_answer(db, make_question(db, asker), answerer)
    await OutboxWorker(router).run_once()
    badge = _badge(db, answerer, "first_answer")
    assert badge is not None
    assert badge["badge_level"] == 1
    assert badge["metadata"]["answer_id"] == str(first)
    notes = _badge_notes(db, answerer, "first_answer")
    assert [(n["title"], n["message"]) for n in notes] == [
        ("새 배지를 획득했어요!", '"첫 답변" 배지를 획득했어요.')
    ]


async def test_district_expert_levels_up_per_district(
    db: psycopg.Connection[DictRow], router: ShardRouter
) -> None:
    asker, answerer = make_user(db), make_user(db)
    aewol, hallim = f"district_expert:{AEWOL.lower()}", f"district_expert:{HALLIM.lower()}"

    _accepted_answers(db, asker, answerer, 2, AEWOL)
    _accepted_answers(db, asker, answerer, 2, HALLIM)
    await OutboxWorker(router).run_once()
    assert _badge(db, answerer, aewol) is None  # two is not yet three

    _accepted_answers(db, asker, answerer, 1, AEWOL)
    await OutboxWorker(router).run_once()
    badge = _badge(db, answerer, aewol)
    assert badge is not None and badge["badge_level"] == 1
    assert _badge(db, answerer, hallim) is None  # other districts count on their own

    _accepted_answers(db, asker, answerer, 7, AEWOL)
    await OutboxWorker(router).run_once()
    badge = _badge(db, answerer, aewol)
    assert badge is not None
    assert badge["badge_level"] == 2
    assert badge["metadata"]["accepted_answers"] == 10
    notes = _badge_notes(db, answerer, aewol)
    assert [n["data"]["level"] for n in notes] == [1, 2]
    assert notes[1]["title"] == "배지 등급이 올랐어요!"
    assert notes[1]["message"] == '"애월읍 동네 전문가" 배지가 2단계로 올랐어요.'
    assert notes[1]["data"]["previous_level"] == 1


async def test_answer_milestone_pays_once(
    db: psycopg.Connection[DictRow], router: ShardRouter
) -> None:
    asker, answerer = make_user(db), make_user(db)
    question = make_question(db, asker)
    for _ in range(9):
        make_answer(db, question, answerer)
    await OutboxWorker(router).run_once()

    def milestones() -> list[DictRow]:
        return db.execute(
            "SELECT amount, idempotency_key FROM point_transactions"
            " WHERE user_id = %s AND transaction_type = 'earn_milestone'",
            (answerer,),
        ).fetchall()

    assert milestones() == []
    make_answer(db, question, answerer)  # the tenth
    make_answer(db, question, answerer)  # and an eleventh before the worker runs
    await OutboxWorker(router).run_once()
    assert milestones() == [{"amount": 50, "idempotency_key": f"milestone:answers:10:{answerer}"}]
    balance = db.execute("SELECT point_balance FROM users WHERE id = %s", (answerer,)).fetchone()
    assert balance == {"point_balance": 50}

    db.execute("UPDATE outbox SET processed_at = NULL WHERE topic = 'answer.created'")
    await OutboxWorker(router).run_once()  # every answer.created delivered again
    assert len(milestones()) == 1


async def test_login_streak_counts_consecutive_seoul_days(
    db: psycopg.Connection[DictRow], router: ShardRouter
) -> None:
    user = make_user(db)
    today = datetime.now(SEOUL).date()

    def logged_in(day: date) -> None:
        db.execute(
            "SELECT award_points(%s, 10, 'earn_daily_login', '출석 체크', NULL, NULL, %s)",
            (user, f"daily_login:{user}:{day.isoformat()}"),
        )

    def login_event(day: date) -> None:
        _event(db, "user.login", user, day=day.isoformat())

    for back in (0, 1, 3):  # a gap two days ago
        logged_in(today - timedelta(days=back))
    login_event(today)
    await OutboxWorker(router).run_once()
    assert _badge(db, user, "login_streak") is None  # a two-day streak

    logged_in(today - timedelta(days=2))  # the gap filled: four days
    login_event(today)
    await OutboxWorker(router).run_once()
    badge = _badge(db, user, "login_streak")
    assert badge is not None
    assert badge["badge_level"] == 1
    assert badge["metadata"] == {"streak_days": 4, "through": today.isoformat()}

    for back in range(4, 7):  # seven days in a row
        logged_in(today - timedelta(days=back))
    login_event(today)
    await OutboxWorker(router).run_once()
    badge = _badge(db, user, "login_streak")
    assert badge is not None and badge["badge_level"] == 2
    assert [n["data"]["level"] for n in _badge_notes(db, user, "login_streak")] == [1, 2]


async def test_login_event_with_a_bad_day_is_dead_at_once(
    db: psycopg.Connection[DictRow], router: ShardRouter
) -> None:
    user = make_user(db)
    event = _event(db, "user.login", user, day="어제")
    await OutboxWorker(router).run_once()
    row = db.execute("SELECT attempts, dead_at, last_error FROM outbox WHERE id = %s", (event,))
    dead = row.fetchone()
    assert dead is not None
    assert dead["attempts"] == 1 and dead["dead_at"] is not None
    assert "YYYY-MM-DD" in dead["last_error"]


@pytest.mark.parametrize(
    ("levels", "expected_level", "notified_levels"),
    [([2, 1], 2, [2]), ([1, 3], 3, [1, 3]), ([0], None, [])],
)
async def test_verified_local_follows_the_verification_level_upwards(
    db: psycopg.Connection[DictRow],
    router: ShardRouter,
    levels: list[int],
    expected_level: int | None,
    notified_levels: list[int],
) -> None:
    user = make_user(db)
    for level in levels:
        _event(db, "user.verified", user, level=level)
    await OutboxWorker(router).run_once()
    badge = _badge(db, user, "verified_local")
    assert (badge["badge_level"] if badge else None) == expected_level
    notes = _badge_notes(db, user, "verified_local")
    assert [n["data"]["level"] for n in notes] == notified_levels
    if notes:
        assert "인증된 현지인" in notes[0]["message"]
