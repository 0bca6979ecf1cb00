"""Q&A routes: questions, answers, likes, acceptance, feeds, trending and region stats."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from dongne.accounts.deps import CurrentUser, OptionalUser
from dongne.api.cursors import decode_cursor, encode_cursor
from dongne.api.deps import RouterDep, get_runtime
from dongne.api.problems import Problem
from dongne.cache.deps import CacheDep, cached, invalidate
from dongne.cache.domains import QUESTION_FEED, REGION_STATS, TRENDING, Tags
from dongne.geo import services as geo_services
from dongne.qa import repository, services, stats
from dongne.qa.feeds import FeedQuery, question_feed
from dongne.qa.schemas import (
    AcceptOut,
    AnswerCreate,
    AnswerOut,
    AnswerPage,
    AnswerUpdate,
    Author,
    Category,
    FeedSort,
    LikeOut,
    Location,
    QuestionCreate,
    QuestionOut,
    QuestionPage,
    QuestionUpdate,
    RegionCode,
    RegionStats,
    Status,
    TrendingOut,
    TrendingTag,
)
from dongne.qa.views import ViewCounter

router = APIRouter()

Limit = Annotated[int, Query(ge=1, le=50)]


def question_out(row: dict[str, Any], extra_views: int = 0) -> QuestionOut:
    location = None
    if row["lat"] is not None:
        location = Location(lat=row["lat"], lng=row["lng"])
    return QuestionOut(
        id=row["id"], title=row["title"], content=row["content"], hashtags=row["hashtags"],
        category=row["category"], urgency=row["urgency"], status=row["status"],
        region_code=row["region_code"], location=location,
        location_description=row["location_description"], images=row["images"],
        view_count=row["view_count"] + extra_views, like_count=row["like_count"],
        answer_count=row["answer_count"], accepted_answer_id=row["accepted_answer_id"],
        highlighted=row["highlighted"], author=_author(row),
        created_at=row["created_at"], updated_at=row["updated_at"],
    )  # fmt: skip


def answer_out(row: dict[str, Any]) -> AnswerOut:
    return AnswerOut(
        id=row["id"], question_id=row["question_id"], content=row["content"],
        images=row["images"], like_count=row["like_count"], is_accepted=row["is_accepted"],
        accepted_at=row["accepted_at"], author=_author(row), created_at=row["created_at"],
        updated_at=row["updated_at"],
    )  # fmt: skip


def _author(row: dict[str, Any]) -> Author:
    return Author(
        id=row["user_id"], nickname=row["author_nickname"], verification_level=row["author_level"]
    )


def _views(request: Request) -> ViewCounter:
    runtime = get_runtime(request)
    return ViewCounter(runtime.redis, runtime.keys)


async def _scope(db: RouterDep, region: str | None) -> list[str] | None:
    if region is None:
        return None
    scope = await geo_services.region_scope(db, region)
    if not scope:
        raise Problem(404, "지역을 찾을 수 없습니다", f"지역 코드 {region}가 없습니다",
                      slug="unknown-region")  # fmt: skip
    return scope


@router.post("/questions", status_code=201, response_model=QuestionOut, tags=["questions"])
async def ask(
    db: RouterDep, cache: CacheDep, user: CurrentUser, body: QuestionCreate
) -> QuestionOut:
    category: str | None = body.category
    if category is None:
        # Imported here: Kiwi's model is large, and a process that never has to
        # guess a category (workers, the CLI) should not pay for loading it.
        from dongne.qa.classifier import classify_question_category

        guess = await run_in_threadpool(classify_question_category, body.title, body.content)
        category = guess.category
    out = question_out(await services.ask(db, user, body, category))
    await invalidate(cache, Tags.FEED, Tags.STATS, Tags.TRENDING, Tags.user(user.id))
    return out


@router.get("/questions", response_model=QuestionPage, tags=["questions"])
async def feed(
    db: RouterDep,
    cache: CacheDep,
    region: Annotated[RegionCode | None, Query()] = None,
    category: Annotated[Category | None, Query()] = None,
    status: Annotated[Status | None, Query()] = None,
    sort: Annotated[FeedSort, Query()] = "newest",
    author: Annotated[UUID | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Limit = 20,
) -> QuestionPage:
    async def load() -> dict[str, Any]:
        scope = await _scope(db, region)
        query = FeedQuery(sort=sort, regions=scope, category=category, status=status,
                          author_id=author, cursor=cursor, limit=limit)  # fmt: skip
        async with db.connection(region=region) as conn:
            page = await question_feed(conn, query)
        return QuestionPage(
            items=[question_out(r) for r in page.rows], next_cursor=page.next_cursor
        ).model_dump(mode="json")

    params = [region, category, status, sort, author, cursor, limit]
    result = await cached(cache, QUESTION_FEED, params, [Tags.FEED], load,
                          QuestionPage.model_validate)  # fmt: skip
    assert result is not None
    return result


@router.get("/questions/{question_id}", response_model=QuestionOut, tags=["questions"])
async def read_question(
    request: Request, db: RouterDep, viewer: OptionalUser, question_id: UUID
) -> QuestionOut:
    row = await services.get_question(db, question_id, viewer)
    views = _views(request)
    who = str(viewer.id) if viewer else (request.client.host if request.client else "anonymous")
    await views.record(question_id, who)
    return question_out(row, extra_views=await views.pending(question_id))


@router.patch("/questions/{question_id}", response_model=QuestionOut, tags=["questions"])
async def edit_question(
    db: RouterDep, cache: CacheDep, user: CurrentUser, question_id: UUID, body: QuestionUpdate
) -> QuestionOut:
    out = question_out(await services.edit_question(db, user, question_id, body))
    await invalidate(cache, Tags.FEED, Tags.TRENDING)
    return out


@router.delete("/questions/{question_id}", status_code=204, tags=["questions"])
async def delete_question(
    db: RouterDep, cache: CacheDep, user: CurrentUser, question_id: UUID
) -> Response:
    await services.delete_question(db, user, question_id)
    await invalidate(cache, Tags.FEED, Tags.STATS, Tags.TRENDING)
    return Response(status_code=204)


@router.put("/questions/{question_id}/like", response_model=LikeOut, tags=["questions"])
async def like_question(
    db: RouterDep, cache: CacheDep, user: CurrentUser, question_id: UUID
) -> LikeOut:
    count = await services.set_question_like(db, user, question_id, liked=True)
    await invalidate(cache, Tags.FEED)
    return LikeOut(liked=True, like_count=count)


@router.delete("/questions/{question_id}/like", response_model=LikeOut, tags=["questions"])
async def unlike_question(
    db: RouterDep, cache: CacheDep, user: CurrentUser, question_id: UUID
) -> LikeOut:
    count = await services.set_question_like(db, user, question_id, liked=False)
    await invalidate(cache, Tags.FEED)
    return LikeOut(liked=False, like_count=count)


@router.get("/questions/{question_id}/answers", response_model=AnswerPage, tags=["answers"])
async def list_answers(
    db: RouterDep,
    viewer: OptionalUser,
    question_id: UUID,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Limit = 20,
) -> AnswerPage:
    await services.get_question(db, question_id, viewer)
    after = None
    if cursor:
        accepted, last_id = decode_cursor(cursor, "answers", (_strict_bool, UUID))
        after = (accepted, last_id)
    async with db.connection() as conn:
        rows = await repository.list_answers(conn, question_id, after, limit + 1)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor("answers", [rows[-1]["is_accepted"], str(rows[-1]["id"])])
    return AnswerPage(items=[answer_out(r) for r in rows], next_cursor=next_cursor)


def _strict_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError("expected a boolean")
    return value


@router.post(
    "/questions/{question_id}/answers", status_code=201, response_model=AnswerOut,
    tags=["answers"],
)  # fmt: skip
async def create_answer(
    db: RouterDep, cache: CacheDep, user: CurrentUser, question_id: UUID, body: AnswerCreate
) -> AnswerOut:
    out = answer_out(await services.answer(db, user, question_id, body))
    await invalidate(cache, Tags.FEED, Tags.STATS, Tags.user(user.id))
    return out


@router.patch("/answers/{answer_id}", response_model=AnswerOut, tags=["answers"])
async def edit_answer(
    db: RouterDep, user: CurrentUser, answer_id: UUID, body: AnswerUpdate
) -> AnswerOut:
    return answer_out(await services.edit_answer(db, user, answer_id, body))


@router.delete("/answers/{answer_id}", status_code=204, tags=["answers"])
async def delete_answer(
    db: RouterDep, cache: CacheDep, user: CurrentUser, answer_id: UUID
) -> Response:
    await services.delete_answer(db, user, answer_id)
    await invalidate(cache, Tags.FEED, Tags.STATS)
    return Response(status_code=204)


@router.put("/answers/{answer_id}/like", response_model=LikeOut, tags=["answers"])
async def like_answer(db: RouterDep, user: CurrentUser, answer_id: UUID) -> LikeOut:
    count = await services.set_answer_like(db, user, answer_id, liked=True)
    return LikeOut(liked=True, like_count=count)


@router.delete("/answers/{answer_id}/like", response_model=LikeOut, tags=["answers"])
async def unlike_answer(db: RouterDep, user: CurrentUser, answer_id: UUID) -> LikeOut:
    count = await services.set_answer_like(db, user, answer_id, liked=False)
    return LikeOut(liked=False, like_count=count)


@router.post("/answers/{answer_id}/accept", response_model=AcceptOut, tags=["answers"])
async def accept_answer(
    db: RouterDep, cache: CacheDep, user: CurrentUser, answer_id: UUID
) -> AcceptOut:
    out = AcceptOut(**await services.accept(db, user, answer_id))
    await invalidate(cache, Tags.FEED, Tags.STATS)
    return out


@router.get("/hashtags/trending", response_model=TrendingOut, tags=["hashtags"])
async def trending(
    db: RouterDep,
    cache: CacheDep,
    region: Annotated[RegionCode, Query()] = "KR-49",
    window: Annotated[Literal["24h", "7d"], Query()] = "24h",
    limit: Annotated[int, Query(ge=1, le=50)] = 15,
) -> TrendingOut:
    async def load() -> dict[str, Any]:
        scope = await _scope(db, region)
        assert scope is not None
        async with db.connection() as conn:
            rows = await stats.trending_hashtags(conn, scope, window, limit)
        return TrendingOut(
            region_code=region, window=window, items=[TrendingTag(**r) for r in rows]
        ).model_dump(mode="json")

    result = await cached(cache, TRENDING, [region, window, limit], [Tags.TRENDING], load,
                          TrendingOut.model_validate)  # fmt: skip
    assert result is not None
    return result


@router.get("/regions/{code}/stats", response_model=RegionStats, tags=["regions"])
async def region_stats(
    db: RouterDep,
    cache: CacheDep,
    code: Annotated[str, Path(pattern=r"^[A-Z]{2}(-[0-9]{2}){0,3}$", max_length=20)],
) -> RegionStats:
    async def load() -> dict[str, Any]:
        scope = await _scope(db, code)
        assert scope is not None
        async with db.connection() as conn:
            row = await stats.region_stats(conn, scope)
        questions = int(row["questions"])
        median = row["median_minutes_to_first_answer"]
        return RegionStats(
            region_code=code,
            questions=questions,
            answered_questions=row["answered_questions"],
            accepted_questions=row["accepted_questions"],
            answer_rate=round(row["answered_questions"] / questions, 4) if questions else 0.0,
            median_minutes_to_first_answer=round(float(median), 1) if median is not None else None,
            active_verified_locals=row["active_verified_locals"],
        ).model_dump(mode="json")

    result = await cached(cache, REGION_STATS, [code], [Tags.STATS], load,
                          RegionStats.model_validate)  # fmt: skip
    assert result is not None
    return result
