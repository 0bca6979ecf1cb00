"""From the database triggers to the inbox: answers, acceptance, points and
badges become notifications once, however many workers deliver them and
however often an event is delivered."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dongne.db.router import ShardRouter
from dongne.outbox.worker import OutboxWorker
from tests.support.factories import AEWOL, make_answer, make_question, make_user


def _inbox(db: psycopg.Connection[DictRow], user: UUID, kind: str | None = None) -> list[DictRow]:
    return db.execute(
        "SELECT type::text AS type, title, message, data, source_event_id, source_key"
        " FROM notifications WHERE user_id = %s AND (%s::text IS NULL OR type::text = %s)"
        " ORDER BY id",
        (user, kind, kind),
    ).fetchall()


def _accept(db: psycopg.Connection[DictRow], answer: UUID) -> None:
    db.execute("UPDATE answers SET is_accepted = true WHERE id = %s", (answer,))


def _redeliver_everything(db: psycopg.Connection[DictRow]) -> int:
    """What a crash after commit (or an operator) can do: hand every event out again."""
    cursor = db.execute("UPDATE outbox SET processed_at = NULL WHERE processed_at IS NOT NULL")
    return cursor.rowcount


def _counts(db: psycopg.Connection[DictRow]) -> dict[str, Any]:
    row = db.execute(
        "SELECT (SELECT count(*) FROM notifications) AS notifications,"
        " (SELECT count(*) FROM user_badges) AS badges,"
        " (SELECT count(*) FROM point_transactions) AS ledger,"
        " (SELECT sum(point_balance) FROM users) AS balances"
    ).fetchone()
    assert row is not None
    return dict(row)


async def test_answers_and_acceptance_reach_the_inbox(
    db: psycopg.Connection[DictRow], router: ShardRouter
) -> None:
    asker, answerer = make_user(db), make_user(db, nickname="애월토박이")
    questions = [make_question(db, asker) for _ in range(3)]
    answers = [make_answer(db, question, answerer) for question in questions]
    make_answer(db, questions[0], asker, content="저도 궁금해서 찾아봤는데 여기 괜찮대요.")
    for answer in answers:
        _accept(db, answer)

    # 4 answer.created, 3 answer.accepted, 3 points.awarded (from award_points).
    assert await OutboxWorker(router).run_once() == 10

    received = _inbox(db, asker, "answer_received")
    assert [n["data"]["answer_id"] for n in received] == [str(a) for a in answers]
    assert received[0]["title"] == "새 답변이 달렸어요"
    assert "애월토박이님이 답변을 남겼어요" in received[0]["message"]
    # Their own answer told them nothing; it did earn them a first-answer badge.
    assert [n["type"] for n in _inbox(db, asker)] == ["answer_received"] * 3 + ["badge_earned"]

    accepted = _inbox(db, answerer, "answer_accepted")
    assert len(accepted) == 3
    assert {n["data"]["answer_id"] for n in accepted} == {str(a) for a in answers}
    assert accepted[0]["title"] == "답변이 채택되었습니다!"
    assert "150 포인트를 획득했습니다" in accepted[0]["message"]

    badges = db.execute(
        "SELECT badge_type, badge_level, metadata FROM user_badges WHERE user_id = %s"
        " ORDER BY badge_type",
        (answerer,),
    ).fetchall()
    district = f"district_expert:{AEWOL.lower()}"
    assert [(b["badge_type"], b["badge_level"]) for b in badges] == [
        (district, 1),
        ("first_answer", 1),
    ]
    assert badges[0]["metadata"]["accepted_answers"] == 3
    earned = _inbox(db, answerer, "badge_earned")
    assert sorted(n["data"]["badge_type"] for n in earned) == [district, "first_answer"]
    expert = next(n for n in earned if n["data"]["badge_type"] == district)
    assert expert["title"] == "새 배지를 획득했어요!"
    assert expert["message"] == '"애월읍 동네 전문가" 배지를 획득했어요.'
    assert expert["data"]["earned_by"]["region_code"] == AEWOL

    # 0 → 150 crossed the 100-point milestone, once.
    milestones = _inbox(db, answerer, "points_milestone")
    assert [n["data"]["milestone"] for n in milestones] == [100]

    # At-least-once delivery, exactly-once effects: handing every event out
    # again changes nothing.
    before = _counts(db)
    assert _redeliver_everything(db) == 10
    assert await OutboxWorker(router).run_once() == 10
    assert _counts(db) == before


async def test_no_notice_for_answers_on_deleted_questions(
    db: psycopg.Connection[DictRow], router: ShardRouter
) -> None:
    asker, answerer = make_user(db), make_user(db)
    question = make_question(db, asker)
    make_answer(db, question, answerer)
    db.execute("UPDATE questions SET deleted_at = now() WHERE id = %s", (question,))
    await OutboxWorker(router).run_once()
    assert _inbox(db, asker) == []


async def test_two_workers_turn_200_answers_into_200_notifications(
    db: psycopg.Connection[DictRow], router: ShardRouter
) -> None:
    await OutboxWorker(router).run_once()  # whatever earlier tests left
    asker = make_user(db)
    answerers = [make_user(db) for _ in range(10)]
    questions = [make_question(db, asker) for _ in range(20)]
    answers = {make_answer(db, q, a) for q in questions for a in answerers}

    workers = [OutboxWorker(router, batch_size=8) for _ in range(2)]
    counts = await asyncio.gather(*(w.run_once() for w in workers))

    # 200 answer.created, then one points.awarded per answerer's 10-answer milestone.
    assert sum(counts) == 210
    assert all(count > 0 for count in counts)
    received = _inbox(db, asker, "answer_received")
    assert len(received) == 200
    assert {UUID(n["data"]["answer_id"]) for n in received} == answers
    badges = db.execute(
        "SELECT count(*) AS n FROM notifications WHERE type = 'badge_earned' AND user_id = ANY(%s)",
        (answerers,),
    ).fetchone()
    assert badges == {"n": 10}
    milestones = db.execute(
        "SELECT count(*) AS n, sum(amount) AS points FROM point_transactions"
        " WHERE transaction_type = 'earn_milestone' AND user_id = ANY(%s)",
        (answerers,),
    ).fetchone()
    assert milestones == {"n": 10, "points": 500}
    failed = db.execute("SELECT count(*) AS n FROM outbox WHERE processed_at IS NULL").fetchone()
    assert failed == {"n": 0}


async def test_balance_milestones_are_announced_once_per_user(
    db: psycopg.Connection[DictRow], router: ShardRouter
) -> None:
    user = make_user(db)

    def award(amount: int, key: str) -> None:
        db.execute(
            "SELECT award_points(%s, %s, 'admin_adjustment', 'test', NULL, NULL, %s)",
            (user, amount, f"{key}:{user}"),
        )

    award(600, "jump")  # 0 → 600 crosses 100 and 500
    await OutboxWorker(router).run_once()
    notes = _inbox(db, user, "points_milestone")
    assert [n["data"]["milestone"] for n in notes] == [100, 500]
    assert notes[1]["message"] == "보유 포인트가 500점을 넘었어요. 축하해요!"
    assert notes[1]["data"]["balance"] == 600

    award(-550, "spend")  # 600 → 50
    award(1000, "again")  # 50 → 1050: crosses 100, 500 again and 1000 for the first time
    await OutboxWorker(router).run_once()
    assert [n["data"]["milestone"] for n in _inbox(db, user, "points_milestone")] == [
        100,
        500,
        1000,
    ]
