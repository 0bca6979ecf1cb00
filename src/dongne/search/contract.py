"""The search contract both backends answer: ``SearchQuery`` → ``SearchResult``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol
from uuid import UUID

from dongne.api.problems import Problem

SearchSort = Literal[
    "relevance", "newest", "oldest", "popularity", "most_answers", "most_views", "urgent"
]  # fmt: skip
SORTS: tuple[str, ...] = (
    "relevance", "newest", "oldest", "popularity", "most_answers", "most_views", "urgent",
)  # fmt: skip
URGENCIES = ("normal", "urgent", "emergency")
# Answered questions are the knowledge base, so the default includes them;
# hidden (moderated) and deleted questions are never searchable at all.
DEFAULT_STATUSES: tuple[str, ...] = ("open", "answered", "closed")
SEARCHABLE_STATUSES = frozenset(DEFAULT_STATUSES)

MAX_RADIUS_KM = 100.0  # Jeju is ~75 km across; more is certainly a mistake.
MAX_LIMIT = 50
FACET_SIZES = {"categories": 10, "regions": 20, "hashtags": 30}
# A search works on at most this many matches (the newest): ranking, facets,
# sorts and paging. A term that matches half the corpus then costs what a
# rarer one does (docs/search.md, "Bounded cost").
CANDIDATE_LIMIT = 200
# Elasticsearch counts ``total`` exactly up to here (``track_total_hits``);
# the PostgreSQL backend up to CANDIDATE_LIMIT. Beyond, ``total_exact`` is false.
TOTAL_LIMIT = 10_000


@dataclass(frozen=True)
class GeoFilter:
    lat: float
    lng: float
    radius_km: float


@dataclass(frozen=True)
class SearchQuery:
    text: str
    regions: tuple[str, ...] | None = None  # a region and all its sub-regions, expanded
    category: str | None = None
    hashtags: tuple[str, ...] = ()  # any of
    urgency: str | None = None
    has_answers: bool | None = None
    local_only: bool = False
    created_from: datetime | None = None
    created_to: datetime | None = None
    near: GeoFilter | None = None
    statuses: tuple[str, ...] = DEFAULT_STATUSES
    sort: str = "relevance"
    cursor: str | None = None
    limit: int = 20
    facets: bool = True
    highlight: bool = True
    # Internal (evaluation): only these questions. Not exposed by the API.
    within: tuple[UUID, ...] | None = None


@dataclass(frozen=True)
class SearchHit:
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
    highlight: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FacetBucket:
    key: str
    count: int


@dataclass(frozen=True)
class SearchResult:
    hits: list[SearchHit]
    total: int
    total_exact: bool
    took_ms: float
    next_cursor: str | None
    facets: dict[str, list[FacetBucket]]
    # True when no question matched every word and the results match some.
    relaxed: bool = False


class SearchBackend(Protocol):
    name: str

    async def search(self, query: SearchQuery) -> SearchResult: ...


def field_problem(field_name: str, message: str, code: str) -> Problem:
    return Problem(
        422, "검색 조건이 올바르지 않습니다", message, slug="validation",
        errors=[{"field": field_name, "message": message, "code": code}],
    )  # fmt: skip


def validate(query: SearchQuery) -> None:
    """Reject what no backend should ever receive (API and CLI share this)."""
    if query.sort not in SORTS:
        raise field_problem("query.sort", "알 수 없는 정렬입니다", "unknown_sort")
    if query.urgency is not None and query.urgency not in URGENCIES:
        raise field_problem("query.urgency", "알 수 없는 긴급도입니다", "unknown_urgency")
    if not 1 <= query.limit <= MAX_LIMIT:
        raise field_problem("query.limit", f"limit은 1~{MAX_LIMIT}입니다", "out_of_range")
    unknown = set(query.statuses) - SEARCHABLE_STATUSES
    if unknown or not query.statuses:
        raise field_problem("query.status", "검색할 수 없는 상태입니다", "unknown_status")
    if query.near is not None and not 0 < query.near.radius_km <= MAX_RADIUS_KM:
        raise field_problem(
            "query.radius_km", f"반경은 0보다 크고 {MAX_RADIUS_KM:g}km 이하여야 합니다",
            "out_of_range",
        )  # fmt: skip
    if query.created_from and query.created_to and query.created_from > query.created_to:
        raise field_problem("query.created_from", "기간의 시작이 끝보다 늦습니다", "bad_range")
