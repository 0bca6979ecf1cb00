"""Outbox handlers that fill the inbox.

Each runs in the worker's transaction for one event and inserts with the
event's id as ``source_event_id``, so a redelivered event finds its
notifications already there and adds nothing.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from dongne.notifications import repository
from dongne.outbox.handlers import HandlerRegistry, payload_int, payload_uuid
from dongne.outbox.repository import OutboxEvent

# Point balances worth a congratulation, each announced once per user.
POINT_MILESTONES = (100, 500, 1000, 5000, 10000)


def register(registry: HandlerRegistry) -> None:
    registry.register("answer.created", notify_answer_received)
    registry.register("answer.accepted", notify_answer_accepted)
    registry.register("points.awarded", notify_points_milestone)


async def _question(conn: AsyncConnection[DictRow], question_id: UUID) -> DictRow | None:
    cursor = await conn.execute(
        "SELECT user_id, title, status::text AS status, deleted_at FROM questions WHERE id = %s",
        (question_id,),
    )
    return await cursor.fetchone()


async def notify_answer_received(conn: AsyncConnection[DictRow], event: OutboxEvent) -> None:
    """'answer.created' → tell the asker, unless they answered themselves or the
    question or answer is gone by now."""
    answer_id = payload_uuid(event, "answer_id")
    answerer_id = payload_uuid(event, "user_id")
    question = await _question(conn, event.aggregate_id)
    if question is None or question["deleted_at"] is not None or question["status"] == "hidden":
        return
    if question["user_id"] == answerer_id:
        return
    cursor = await conn.execute(
        "SELECT u.nickname FROM answers a JOIN users u ON u.id = a.user_id"
        " WHERE a.id = %s AND a.deleted_at IS NULL",
        (answer_id,),
    )
    answer = await cursor.fetchone()
    if answer is None:
        return
    await repository.insert(
        conn,
        user_id=question["user_id"],
        type="answer_received",
        title="새 답변이 달렸어요",
        message=f'"{question["title"]}" 질문에 {answer["nickname"]}님이 답변을 남겼어요.',
        data={
            "question_id": str(event.aggregate_id),
            "answer_id": str(answer_id),
            "answerer_id": str(answerer_id),
        },
        source_event_id=event.id,
    )


async def notify_answer_accepted(conn: AsyncConnection[DictRow], event: OutboxEvent) -> None:
    """'answer.accepted' → tell the answerer. Acceptance is final, so this holds
    even if the question was deleted since."""
    answer_id = payload_uuid(event, "answer_id")
    answerer_id = payload_uuid(event, "user_id")
    points = payload_int(event, "points")
    question = await _question(conn, event.aggregate_id)
    title = question["title"] if question else "삭제된 질문"
    await repository.insert(
        conn,
        user_id=answerer_id,
        type="answer_accepted",
        title="답변이 채택되었습니다!",
        message=f'"{title}" 질문에 대한 답변이 채택되어 {points} 포인트를 획득했습니다.',
        data={
            "question_id": str(event.aggregate_id),
            "answer_id": str(answer_id),
            "points": points,
        },
        source_event_id=event.id,
    )


async def notify_points_milestone(conn: AsyncConnection[DictRow], event: OutboxEvent) -> None:
    """'points.awarded' → one notification per milestone balance this award
    crossed upwards that the user was never told about."""
    user_id = payload_uuid(event, "user_id")
    amount = payload_int(event, "amount")
    after = payload_int(event, "balance_after")
    before = after - amount
    for milestone in POINT_MILESTONES:
        if before < milestone <= after:
            await repository.insert(
                conn,
                user_id=user_id,
                type="points_milestone",
                title="포인트 마일스톤 달성!",
                message=f"보유 포인트가 {milestone:,}점을 넘었어요. 축하해요!",
                data={
                    "milestone": milestone,
                    "balance": after,
                    "transaction_id": str(payload_uuid(event, "transaction_id")),
                },
                source_event_id=event.id,
                source_key=f"balance:{milestone}",
            )


def badge_message(badge_name: str, level: int, previous_level: int | None) -> tuple[str, str]:
    """Title and message of a 'badge_earned' notification."""
    if previous_level is None:
        if level == 1:
            return "새 배지를 획득했어요!", f'"{badge_name}" 배지를 획득했어요.'
        return "새 배지를 획득했어요!", f'"{badge_name}" 배지({level}단계)를 획득했어요.'
    return "배지 등급이 올랐어요!", f'"{badge_name}" 배지가 {level}단계로 올랐어요.'


async def notify_badge_earned(
    conn: AsyncConnection[DictRow],
    event: OutboxEvent,
    *,
    user_id: UUID,
    badge_type: str,
    badge_name: str,
    level: int,
    previous_level: int | None,
    metadata: dict[str, Any],
) -> UUID | None:
    """A new badge or a level-up, told in the transaction that granted it."""
    title, message = badge_message(badge_name, level, previous_level)
    return await repository.insert(
        conn,
        user_id=user_id,
        type="badge_earned",
        title=title,
        message=message,
        data={
            "badge_type": badge_type,
            "badge_name": badge_name,
            "level": level,
            "previous_level": previous_level,
            "earned_by": metadata,
        },
        source_event_id=event.id,
        # One event may grant several badges; each is its own notification.
        source_key=badge_type,
    )
