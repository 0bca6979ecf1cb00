"""Q&A use cases. Each owns one transaction; the database triggers keep the
counters, hashtag links and points ledger consistent inside it, and side
effects leave through the outbox in the same transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection, errors
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from dongne.accounts.deps import AuthenticatedUser
from dongne.api.problems import Problem
from dongne.db.router import ShardRouter
from dongne.geo.services import OutsideServiceAreaError, resolve
from dongne.points import service as points
from dongne.qa import repository
from dongne.qa.schemas import AnswerCreate, AnswerUpdate, QuestionCreate, QuestionUpdate


def _field_problem(field: str, message: str, code: str) -> Problem:
    return Problem(
        422, "요청 값이 올바르지 않습니다", message, slug="validation",
        errors=[{"field": field, "message": message, "code": code}],
    )  # fmt: skip


def _not_found(what: str = "질문") -> Problem:
    return Problem(404, f"{what}을 찾을 수 없습니다", slug="not-found")


async def _enqueue(
    conn: AsyncConnection[DictRow], topic: str, kind: str, aggregate: UUID, payload: dict[str, Any]
) -> None:
    await conn.execute(
        "SELECT enqueue_outbox(%s, %s, %s, %s)", (topic, kind, aggregate, Jsonb(payload))
    )


async def _region_for(router: ShardRouter, data: QuestionCreate) -> str:
    """The district a question belongs to: given, or resolved from its map point."""
    async with router.connection() as conn:
        if data.region_code is not None:
            if not await repository.is_active_district(conn, data.region_code):
                raise _field_problem(
                    "body.region_code", "알 수 없는 읍·면·동입니다", "unknown_region"
                )
            if data.location is None:
                return data.region_code
    if data.location is None:
        raise _field_problem("body.location", "지역 코드나 위치 중 하나는 필요합니다", "missing")
    try:
        hit = await resolve(router, data.location.lat, data.location.lng)
    except OutsideServiceAreaError as error:
        raise _field_problem("body.location", str(error), "outside_service_area") from error
    return data.region_code or hit.code


async def ask(
    router: ShardRouter, actor: AuthenticatedUser, data: QuestionCreate, category: str
) -> dict[str, Any]:
    """Ask a question; ``category`` is the asker's choice or the classifier's guess."""
    region = await _region_for(router, data)
    location = (data.location.lng, data.location.lat) if data.location else None
    async with router.transaction(region=region) as conn:
        row = await repository.insert_question(
            conn,
            repository.NewQuestion(
                user_id=actor.id, title=data.title, content=data.content,
                hashtags=data.hashtags, category=category, region_code=region,
                urgency=data.urgency, location=location,
                location_description=data.location_description,
                images=tuple(str(url) for url in data.images),
            ),
        )  # fmt: skip
        await _enqueue(conn, "question.created", "question", row["id"],
                       {"user_id": str(actor.id), "region_code": region})  # fmt: skip
        await points.award_first_question(conn, actor.id, row["id"])
        question = await repository.get_question(conn, row["id"])
    assert question is not None
    return question


def _visible_to(question: dict[str, Any] | None, viewer: AuthenticatedUser | None) -> bool:
    if question is None or question["deleted_at"] is not None:
        return False
    if question["status"] != "hidden":
        return True
    return viewer is not None and (viewer.is_admin or viewer.id == question["user_id"])


async def get_question(
    router: ShardRouter, question_id: UUID, viewer: AuthenticatedUser | None
) -> dict[str, Any]:
    async with router.connection() as conn:
        question = await repository.get_question(conn, question_id)
    if question is None or not _visible_to(question, viewer):
        raise _not_found()
    return question


def _require_author(row: dict[str, Any], actor: AuthenticatedUser, *, admin_may: bool) -> None:
    if row["user_id"] != actor.id and not (admin_may and actor.is_admin):
        raise Problem(403, "작성자만 할 수 있습니다", slug="forbidden")


def _changes(data: QuestionUpdate | AnswerUpdate) -> dict[str, Any]:
    """The fields a PATCH set, image URLs as plain strings for the database."""
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "images" in changes:
        changes["images"] = [str(url) for url in changes["images"]]
    return changes


async def _owned_question(
    conn: AsyncConnection[DictRow], question_id: UUID, actor: AuthenticatedUser, *,
    admin_may: bool = False,
) -> dict[str, Any]:  # fmt: skip
    question = await repository.get_question(conn, question_id, lock=True)
    if question is None or not _visible_to(question, actor):
        raise _not_found()
    _require_author(question, actor, admin_may=admin_may)
    return question


async def edit_question(
    router: ShardRouter, actor: AuthenticatedUser, question_id: UUID, data: QuestionUpdate
) -> dict[str, Any]:
    changes = _changes(data)
    async with router.transaction() as conn:
        await _owned_question(conn, question_id, actor)
        await repository.update_question(conn, question_id, changes)
        if changes:
            await _enqueue(conn, "question.updated", "question", question_id,
                           {"fields": sorted(changes)})  # fmt: skip
        question = await repository.get_question(conn, question_id)
    assert question is not None
    return question


async def delete_question(router: ShardRouter, actor: AuthenticatedUser, question_id: UUID) -> None:
    async with router.transaction() as conn:
        await _owned_question(conn, question_id, actor, admin_may=True)
        await repository.update_question(conn, question_id, {"deleted_at": datetime.now(UTC)})
        await _enqueue(conn, "question.deleted", "question", question_id, {})


async def set_question_like(
    router: ShardRouter, actor: AuthenticatedUser, question_id: UUID, liked: bool
) -> int:
    async with router.transaction() as conn:
        question = await repository.get_question(conn, question_id)
        if not _visible_to(question, actor):
            raise _not_found()
        if liked:
            changed = await repository.like_question(conn, question_id, actor.id)
        else:
            changed = await repository.unlike_question(conn, question_id, actor.id)
        if changed:
            await _enqueue(conn, "question.liked", "question", question_id, {"liked": liked})
        return await repository.like_count(conn, "questions", question_id)


async def answer(
    router: ShardRouter, actor: AuthenticatedUser, question_id: UUID, data: AnswerCreate
) -> dict[str, Any]:
    async with router.transaction() as conn:
        question = await repository.get_question(conn, question_id, lock=True)
        if not _visible_to(question, actor):
            raise _not_found()
        assert question is not None
        if question["status"] == "closed":
            raise Problem(409, "닫힌 질문에는 답변할 수 없습니다", slug="question-closed")
        answer_id = await repository.insert_answer(
            conn, question_id=question_id, user_id=actor.id, content=data.content,
            images=[str(url) for url in data.images],
        )  # fmt: skip
        await points.award_for_answer(conn, actor.id, answer_id)
        row = await repository.get_answer(conn, answer_id)
    assert row is not None
    return row


async def _owned_answer(
    conn: AsyncConnection[DictRow], answer_id: UUID, actor: AuthenticatedUser, *,
    admin_may: bool = False,
) -> dict[str, Any]:  # fmt: skip
    row = await repository.get_answer(conn, answer_id, lock=True)
    if row is None or row["deleted_at"] is not None:
        raise _not_found("답변")
    _require_author(row, actor, admin_may=admin_may)
    return row


async def edit_answer(
    router: ShardRouter, actor: AuthenticatedUser, answer_id: UUID, data: AnswerUpdate
) -> dict[str, Any]:
    changes = _changes(data)
    async with router.transaction() as conn:
        await _owned_answer(conn, answer_id, actor)
        await repository.update_answer(conn, answer_id, changes)
        row = await repository.get_answer(conn, answer_id)
    assert row is not None
    return row


async def delete_answer(router: ShardRouter, actor: AuthenticatedUser, answer_id: UUID) -> None:
    async with router.transaction() as conn:
        row = await _owned_answer(conn, answer_id, actor, admin_may=True)
        if row["is_accepted"]:
            raise Problem(409, "채택된 답변은 삭제할 수 없습니다", slug="answer-accepted")
        await repository.update_answer(conn, answer_id, {"deleted_at": datetime.now(UTC)})


async def set_answer_like(
    router: ShardRouter, actor: AuthenticatedUser, answer_id: UUID, liked: bool
) -> int:
    async with router.transaction() as conn:
        row = await repository.get_answer(conn, answer_id)
        if row is None or row["deleted_at"] is not None:
            raise _not_found("답변")
        if liked:
            await repository.like_answer(conn, answer_id, actor.id)
        else:
            await repository.unlike_answer(conn, answer_id, actor.id)
        return await repository.like_count(conn, "answers", answer_id)


async def accept(router: ShardRouter, actor: AuthenticatedUser, answer_id: UUID) -> dict[str, Any]:
    """Accept an answer: atomic and idempotent.

    The question row is locked first, so concurrent requests serialise; a
    retry of an acceptance that already happened returns the same result, and
    the trigger awards the 150 points exactly once.
    """
    async with router.transaction() as conn:
        row = await repository.get_answer(conn, answer_id)
        if row is None or row["deleted_at"] is not None:
            raise _not_found("답변")
        question = await repository.get_question(conn, row["question_id"], lock=True)
        if not _visible_to(question, actor):
            raise _not_found()
        assert question is not None
        if question["user_id"] != actor.id:
            raise Problem(403, "질문 작성자만 답변을 채택할 수 있습니다", slug="forbidden")
        if row["user_id"] == actor.id:
            raise Problem(409, "자신의 답변은 채택할 수 없습니다", slug="own-answer")
        accepted = question["accepted_answer_id"]
        if accepted is not None and accepted != answer_id:
            raise Problem(409, "이미 다른 답변이 채택되었습니다", slug="already-accepted")
        if accepted is None:
            try:
                await repository.accept_answer(conn, answer_id)
            except errors.CheckViolation as error:
                raise Problem(409, "채택할 수 없는 답변입니다", str(error.diag.message_primary),
                              slug="not-acceptable") from error  # fmt: skip
    return {"question_id": row["question_id"], "answer_id": answer_id, "points_awarded": 150}
