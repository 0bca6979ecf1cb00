"""Search routes: ranked search with filters and facets, autocomplete, trending keywords."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import pydantic_core
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from dongne.api.deps import RouterDep, get_runtime
from dongne.geo import services as geo_services
from dongne.qa.hashtags import normalize_hashtags
from dongne.qa.schemas import Category, RegionCode, Status, Urgency
from dongne.search import services
from dongne.search.analysis import MAX_QUERY_LENGTH, normalize_query
from dongne.search.contract import (
    DEFAULT_STATUSES,
    MAX_LIMIT,
    MAX_RADIUS_KM,
    GeoFilter,
    SearchHit,
    SearchQuery,
    SearchResult,
    SearchSort,
    field_problem,
)

router = APIRouter(prefix="/search", tags=["search"])


class Highlight(BaseModel):
    title: str | None = None
    content: list[str] = []


class SearchHitOut(BaseModel):
    id: UUID
    title: str
    content: str
    hashtags: list[str]
    region_code: str
    category: str
    urgency: str
    status: str
    answer_count: int
    view_count: int
    like_count: int
    created_at: datetime
    author_nickname: str
    author_verified: bool
    score: float | None
    highlight: Highlight


class FacetOut(BaseModel):
    key: str
    count: int


class SearchOut(BaseModel):
    items: list[SearchHitOut]
    total: int
    total_exact: bool
    took_ms: float
    next_cursor: str | None
    relaxed: bool
    facets: dict[str, list[FacetOut]]


class SuggestionOut(BaseModel):
    text: str
    type: Literal["region", "hashtag", "question"]
    region_code: str | None
    question_id: UUID | None


class SuggestOut(BaseModel):
    items: list[SuggestionOut]


class TrendingKeyword(BaseModel):
    keyword: str
    type: Literal["hashtag", "category"]
    label: str
    count: int


class TrendingOut(BaseModel):
    window: str
    region_code: str | None
    items: list[TrendingKeyword]


async def _scope(db: RouterDep, region: str | None) -> list[str] | None:
    if region is None:
        return None
    scope = await geo_services.region_scope(db, region)
    if not scope:
        raise field_problem("query.region", f"알 수 없는 지역입니다: {region}", "unknown_region")
    return scope


@router.get("", response_model=SearchOut)
async def search(
    request: Request,
    db: RouterDep,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_LENGTH)],
    region: Annotated[RegionCode | None, Query()] = None,
    category: Annotated[Category | None, Query()] = None,
    hashtag: Annotated[list[Annotated[str, Query(max_length=64)]], Query(max_length=10)] = [],  # noqa: B006
    urgency: Annotated[Urgency | None, Query()] = None,
    has_answers: Annotated[bool | None, Query()] = None,
    local_only: Annotated[bool, Query()] = False,
    created_from: Annotated[datetime | None, Query()] = None,
    created_to: Annotated[datetime | None, Query()] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90, allow_inf_nan=False)] = None,
    lng: Annotated[float | None, Query(ge=-180, le=180, allow_inf_nan=False)] = None,
    radius_km: Annotated[float | None, Query(gt=0, le=MAX_RADIUS_KM, allow_inf_nan=False)] = None,
    status: Annotated[list[Status], Query(max_length=3)] = [],  # noqa: B006
    sort: Annotated[SearchSort, Query()] = "relevance",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    facets: Annotated[bool, Query()] = True,
    highlight: Annotated[bool, Query()] = True,
) -> Response:
    """Korean full-text search over visible questions (open, answered and closed by default)."""
    if not normalize_query(q):
        raise field_problem("query.q", "검색어를 입력해 주세요", "blank")
    near = None
    geo = (lat, lng, radius_km)
    if any(v is not None for v in geo):
        if lat is None or lng is None or radius_km is None:
            raise field_problem(
                "query.radius_km", "lat, lng, radius_km은 함께 보내야 합니다", "incomplete"
            )
        near = GeoFilter(lat, lng, radius_km)
    if created_from and created_to and created_from > created_to:
        raise field_problem("query.created_from", "기간의 시작이 끝보다 늦습니다", "bad_range")
    tags = tuple(normalize_hashtags([normalize_query(tag) for tag in hashtag]))
    query = SearchQuery(
        text=q, regions=tuple(await _scope(db, region) or ()) if region else None,
        category=category, hashtags=tags, urgency=urgency,
        has_answers=has_answers, local_only=local_only, created_from=created_from,
        created_to=created_to, near=near, statuses=tuple(status) or DEFAULT_STATUSES,
        sort=sort, cursor=cursor, limit=limit, facets=facets, highlight=highlight,
    )  # fmt: skip
    runtime = get_runtime(request)
    backend = services.backend_for(runtime.settings, db)
    result = await backend.search(query)
    return Response(pydantic_core.to_json(_payload(result)), media_type="application/json")


_HIT_FIELDS = tuple(f.name for f in fields(SearchHit))


def _payload(result: SearchResult) -> dict[str, Any]:
    """The ``SearchOut`` document, serialised straight from the result. Building
    the models and letting FastAPI validate them again cost 1.5 ms of a search's
    CPU for a page of 20 (``SearchOut`` still documents the shape, and a test
    holds the two equal)."""
    return {
        "items": [_hit_payload(hit) for hit in result.hits],
        "total": result.total,
        "total_exact": result.total_exact,
        "took_ms": result.took_ms,
        "next_cursor": result.next_cursor,
        "relaxed": result.relaxed,
        "facets": {
            name: [{"key": bucket.key, "count": bucket.count} for bucket in buckets]
            for name, buckets in result.facets.items()
        },
    }


def _hit_payload(hit: SearchHit) -> dict[str, Any]:
    payload = {name: getattr(hit, name) for name in _HIT_FIELDS}
    payload["highlight"] = {
        "title": hit.highlight.get("title"),
        "content": hit.highlight.get("content", []),
    }
    return payload


@router.get("/suggest", response_model=SuggestOut)
async def suggest(
    db: RouterDep,
    q: Annotated[str, Query(min_length=1, max_length=50)],
    region: Annotated[RegionCode | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=services.SUGGEST_MAX)] = services.SUGGEST_MAX,
) -> SuggestOut:
    """Completions for a prefix; 초성 (ㅇㅇㅇ → 애월읍) works; the region's come first."""
    scope = await _scope(db, region)
    items = await services.suggest(db, q, scope, limit)
    return SuggestOut(items=[SuggestionOut(**asdict(item)) for item in items])


@router.get("/trending", response_model=TrendingOut)
async def trending(
    db: RouterDep,
    window: Annotated[Literal["24h", "7d"], Query()] = "24h",
    region: Annotated[RegionCode | None, Query()] = None,
) -> TrendingOut:
    """Top 15 hashtags and categories of the last 24 hours or 7 days."""
    scope = await _scope(db, region)
    items = await services.trending(db, window, scope)
    return TrendingOut(
        window=window, region_code=region, items=[TrendingKeyword(**i) for i in items]
    )
