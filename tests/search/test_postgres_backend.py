# Korean prose is test data here; wrapping it would hurt more than long lines.
# ruff: noqa: E501
"""The search contract on the PostgreSQL backend: analysis, filters, sorts, paging,
highlights, facets, visibility; plus the HTTP surface and its bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from dongne.db.router import ShardRouter
from dongne.search import services
from dongne.search.contract import GeoFilter, SearchQuery
from dongne.search.postgres import PostgresSearchBackend
from tests.support.factories import make_answer, make_question, make_user

AEWOL, HALLIM, SEONGSAN = "KR-49-01-02", "KR-49-01-01", "KR-49-02-05"

CORPUS: dict[str, dict[str, Any]] = {
    "pork": {"title": "애월읍에서 흑돼지 맛집 추천해 주세요",
             "content": "부모님 모시고 가는데 애월 근처 흑돼지 구이 잘하는 곳 있을까요?",
             "hashtags": ["흑돼지", "애월"], "region_code": AEWOL, "category": "food"},
    "pork_compound": {"title": "한림 흑돼지맛집 어디가 좋아요",
                      "content": "한림읍 쪽 숙소 근처에서 저녁 먹을 곳 찾습니다. 주차 되면 좋겠어요.",
                      "hashtags": ["한림"], "region_code": HALLIM, "category": "food"},
    "cafe": {"title": "애월 바다 보이는 커피숍 알려주세요",
             "content": "조용히 책 읽을 수 있는 오션뷰 카페를 찾고 있어요. 주말에도 한적한 곳이면 좋겠습니다.",
             "hashtags": ["오션뷰"], "region_code": AEWOL, "category": "food",
             "urgency": "urgent"},
    "beach": {"title": "성산 근처 해수욕장 수영 가능한가요",
              "content": "7월 초에 아이들과 물놀이 하려고 하는데 파도가 세지 않은 곳 추천 부탁드려요.",
              "hashtags": ["물놀이"], "region_code": SEONGSAN, "category": "travel"},
    "hike": {"title": "초보자도 갈 만한 오름 추천",
             "content": "체력이 약해서 한 시간 안에 다녀올 수 있는 오름을 찾아요. 성산 쪽이면 더 좋아요.",
             "hashtags": ["오름"], "region_code": SEONGSAN, "category": "travel",
             "location": "(126.93,33.46)"},
    "bus": {"title": "제주공항에서 애월 가는 버스 시간",
            "content": "밤 늦게 도착하는데 공항에서 애월읍까지 가는 버스가 몇 시까지 있나요?",
            "hashtags": ["버스"], "region_code": AEWOL, "category": "transport",
            "urgency": "emergency", "location": "(126.33,33.46)"},
    "hidden": {"title": "흑돼지 맛집 광고 글입니다 연락주세요",
               "content": "흑돼지 맛집 광고입니다. 할인 쿠폰 드려요 전화 주세요 흑돼지 흑돼지.",
               "hashtags": ["흑돼지"], "region_code": AEWOL, "category": "food",
               "status": "hidden"},
    "deleted": {"title": "지운 흑돼지 맛집 질문입니다",
                "content": "이 질문은 삭제되었습니다. 흑돼지 맛집을 찾았었어요 감사합니다.",
                "hashtags": ["흑돼지"], "region_code": AEWOL, "category": "food"},
}  # fmt: skip


@pytest.fixture(scope="module")
def corpus(database_url: str) -> dict[str, UUID]:
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as db:
        author = make_user(db, nickname="애월토박이", verification_level=1)
        other = make_user(db, nickname="여행자", region_code=SEONGSAN)
        ids: dict[str, UUID] = {}
        for n, (key, fields) in enumerate(CORPUS.items()):
            who = author if key in {"pork", "bus", "hidden"} else other
            qid = db.execute(
                "SELECT uuidv7(make_interval(hours => %s) * -1) AS id", (len(CORPUS) - n,)
            ).fetchone()
            assert qid is not None
            ids[key] = make_question(db, who, id=qid["id"], **fields)
        make_answer(db, ids["pork"], other)
        make_answer(db, ids["pork"], other)
        make_answer(db, ids["cafe"], author)
        db.execute("UPDATE questions SET view_count = 50 WHERE id = %s", (ids["bus"],))
        return ids


@pytest.fixture(scope="module")
async def indexed(
    router: ShardRouter, corpus: dict[str, UUID], database_url: str
) -> dict[str, UUID]:
    await services.reindex(router)
    # Deleted after indexing, with no worker running: it must never show.
    with psycopg.connect(database_url, autocommit=True) as db:
        db.execute("UPDATE questions SET deleted_at = now() WHERE id = %s", (corpus["deleted"],))
    return corpus


async def _ids(router: ShardRouter, text: str, **fields: Any) -> list[UUID]:
    result = await PostgresSearchBackend(router).search(SearchQuery(text=text, **fields))
    return [hit.id for hit in result.hits]


def _keys(ids: dict[str, UUID], found: list[UUID]) -> list[str]:
    names = {v: k for k, v in ids.items()}
    return [names[i] for i in found]


async def test_particles_are_dropped_and_regions_match_short_forms(
    router: ShardRouter, indexed: dict[str, UUID]
) -> None:
    found = _keys(indexed, await _ids(router, "애월읍에서 흑돼지 맛집"))
    assert found[0] == "pork"
    assert "hidden" not in found and "deleted" not in found
    # 애월 (short form) finds 애월읍, and 애월읍 finds the text that says 애월.
    assert "bus" in _keys(indexed, await _ids(router, "애월 버스"))
    assert "cafe" in _keys(indexed, await _ids(router, "애월읍 커피숍"))


async def test_compounds_match_both_spellings(
    router: ShardRouter, indexed: dict[str, UUID]
) -> None:
    spaced = _keys(indexed, await _ids(router, "흑돼지 맛집"))
    joined = _keys(indexed, await _ids(router, "흑돼지맛집"))
    assert {"pork", "pork_compound"} <= set(spaced)
    assert {"pork", "pork_compound"} <= set(joined)


async def test_synonyms_of_the_seed(router: ShardRouter, indexed: dict[str, UUID]) -> None:
    assert "cafe" in _keys(indexed, await _ids(router, "카페"))  # text says 커피숍
    assert "beach" in _keys(indexed, await _ids(router, "바다 수영"))  # 해수욕장
    assert "hike" in _keys(indexed, await _ids(router, "등산"))  # 오름


async def test_typos_and_partial_words_fall_back_to_trigrams(
    router: ShardRouter, indexed: dict[str, UUID]
) -> None:
    assert "bus" in _keys(indexed, await _ids(router, "제주공항에서 애월 가는 버스 시강"))
    assert "beach" in _keys(indexed, await _ids(router, "해수욕"))  # prefix of a word


async def test_filters(router: ShardRouter, indexed: dict[str, UUID]) -> None:
    k = indexed
    assert _keys(k, await _ids(router, "흑돼지", regions=(HALLIM,))) == ["pork_compound"]
    assert _keys(k, await _ids(router, "애월", category="transport")) == ["bus"]
    assert _keys(k, await _ids(router, "추천", hashtags=("오름", "물놀이"))) in (
        ["hike", "beach"], ["beach", "hike"])  # fmt: skip
    assert _keys(k, await _ids(router, "애월", urgency="emergency")) == ["bus"]
    answered = set(_keys(k, await _ids(router, "흑돼지 커피숍 버스", has_answers=True)))
    assert answered <= {"pork", "cafe"}
    assert "pork" in answered
    assert set(_keys(k, await _ids(router, "애월", local_only=True))) <= {"pork", "bus"}
    near = GeoFilter(lat=33.46, lng=126.93, radius_km=5)
    assert _keys(k, await _ids(router, "오름 추천", near=near)) == ["hike"]
    future = datetime.now(UTC) + timedelta(days=1)
    assert await _ids(router, "흑돼지", created_from=future) == []


@pytest.mark.parametrize(
    "sort", ["relevance", "newest", "oldest", "popularity", "most_answers", "most_views", "urgent"]
)
async def test_every_sort_pages_without_gaps_or_repeats(
    router: ShardRouter, indexed: dict[str, UUID], sort: str
) -> None:
    backend = PostgresSearchBackend(router)
    everything = await backend.search(SearchQuery(text="애월", sort=sort, limit=50))
    seen: list[UUID] = []
    cursor = None
    for _ in range(20):
        page = await backend.search(SearchQuery(text="애월", sort=sort, limit=2, cursor=cursor))
        seen += [hit.id for hit in page.hits]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [hit.id for hit in everything.hits]
    assert len(seen) == everything.total >= 3
    if sort == "newest":
        assert [h.created_at for h in everything.hits] == sorted(
            (h.created_at for h in everything.hits), reverse=True
        )
    if sort == "most_views":
        assert everything.hits[0].id == indexed["bus"]
    if sort == "urgent":
        assert everything.hits[0].urgency == "emergency"


async def test_highlights_facets_total_and_timing(
    router: ShardRouter, indexed: dict[str, UUID]
) -> None:
    result = await PostgresSearchBackend(router).search(SearchQuery(text="흑돼지 맛집"))
    top = result.hits[0]
    assert "<mark>흑돼지</mark>" in top.highlight["title"]
    assert 1 <= len(top.highlight["content"]) <= 3
    assert all(len(f.replace("<mark>", "").replace("</mark>", "")) <= 150
               for f in top.highlight["content"])  # fmt: skip
    assert result.total == len(result.hits) and result.total_exact
    assert result.took_ms >= 0
    categories = {b.key: b.count for b in result.facets["categories"]}
    assert categories["food"] == 2
    assert {b.key for b in result.facets["regions"]} == {AEWOL, HALLIM}
    assert "흑돼지" in {b.key for b in result.facets["hashtags"]}


async def test_highlights_escape_html(router: ShardRouter, database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as db:
        user = make_user(db)
        make_question(db, user, title="<script>alert(1)</script> 감귤 체험 문의",
                      content="감귤 따기 체험 <b>어디</b>가 좋은가요? 아이랑 갈 거예요.")  # fmt: skip
    await services.reindex(router)
    result = await PostgresSearchBackend(router).search(SearchQuery(text="감귤 체험"))
    assert result.hits[0].highlight["title"].startswith("&lt;script&gt;")
    assert "<b>" not in "".join(result.hits[0].highlight["content"])


BAD_INPUT = [
    ({"q": ""}, 422),
    ({"q": "   "}, 422),
    ({"q": "가" * 2000}, 422),
    ({"q": "흑돼지", "category": "pizza"}, 422),
    ({"q": "흑돼지", "urgency": "whenever"}, 422),
    ({"q": "흑돼지", "sort": "random"}, 422),
    ({"q": "흑돼지", "region": "KR-99"}, 422),
    ({"q": "흑돼지", "region": "'; DROP TABLE"}, 422),
    ({"q": "흑돼지", "lat": 33.4, "lng": 126.5, "radius_km": 0}, 422),
    ({"q": "흑돼지", "lat": 33.4, "lng": 126.5, "radius_km": 10000}, 422),
    ({"q": "흑돼지", "lat": 33.4}, 422),
    ({"q": "흑돼지", "cursor": "bm9wZQ"}, 422),
    ({"q": "흑돼지", "status": "hidden"}, 422),
    ({"q": "흑돼지", "limit": 500}, 422),
]


@pytest.mark.parametrize(("params", "status"), BAD_INPUT)
def test_bad_input_is_a_clear_4xx(
    api: httpx.Client, indexed: dict[str, UUID], params: dict[str, Any], status: int
) -> None:
    response = api.get("/api/v1/search", params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["title"]


@pytest.mark.parametrize(
    "q",
    ["😀😀😀", "' OR 1=1 --", "흑돼지' & !맛집 | :*", '{"query":{"match_all":{}}}', "\\", "ㅋㅋㅋ",
     "!!! ??? ...", "a" * 200],
)  # fmt: skip
def test_odd_queries_are_answered_never_500(
    api: httpx.Client, indexed: dict[str, UUID], q: str
) -> None:
    response = api.get("/api/v1/search", params={"q": q})
    assert response.status_code == 200, response.text
    body = response.json()
    hidden = {str(indexed["hidden"]), str(indexed["deleted"])}
    assert not hidden & {item["id"] for item in body["items"]}


def test_search_endpoint(api: httpx.Client, indexed: dict[str, UUID]) -> None:
    response = api.get(
        "/api/v1/search", params={"q": "흑돼지맛집", "region": "KR-49-01", "limit": 1}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["items"][0]["id"] in {str(indexed["pork"]), str(indexed["pork_compound"])}
    assert body["next_cursor"]
    assert body["facets"]["categories"][0] == {"key": "food", "count": 2}
    more = api.get(
        "/api/v1/search",
        params={"q": "흑돼지맛집", "region": "KR-49-01", "limit": 1, "cursor": body["next_cursor"]},
    ).json()
    assert more["items"][0]["id"] != body["items"][0]["id"]


def test_suggest_prefix_choseong_and_region_boost(
    api: httpx.Client, indexed: dict[str, UUID]
) -> None:
    choseong = api.get("/api/v1/search/suggest", params={"q": "ㅇㅇㅇ"}).json()["items"]
    assert choseong[0] == {"text": "애월읍", "type": "region", "region_code": AEWOL,
                           "question_id": None}  # fmt: skip
    prefix = api.get("/api/v1/search/suggest", params={"q": "흑돼"}).json()["items"]
    assert prefix[0]["type"] == "hashtag" and prefix[0]["text"] == "흑돼지"
    titles = [i["text"] for i in prefix if i["type"] == "question"]
    assert CORPUS["hidden"]["title"] not in titles
    boosted = api.get("/api/v1/search/suggest", params={"q": "한", "region": HALLIM}).json()
    assert boosted["items"][0]["region_code"] == HALLIM
    assert api.get("/api/v1/search/suggest", params={"q": ""}).status_code == 422


def test_trending(api: httpx.Client, indexed: dict[str, UUID]) -> None:
    day = api.get("/api/v1/search/trending", params={"window": "24h"}).json()
    assert len(day["items"]) <= 15
    hashtags = {i["keyword"]: i["count"] for i in day["items"] if i["type"] == "hashtag"}
    assert hashtags["흑돼지"] == 1  # the hidden and deleted questions do not count
    categories = {i["keyword"]: i for i in day["items"] if i["type"] == "category"}
    assert categories["food"]["label"] == "맛집"
    assert api.get("/api/v1/search/trending", params={"window": "1y"}).status_code == 422
    week = api.get("/api/v1/search/trending", params={"window": "7d", "region": SEONGSAN})
    assert {i["keyword"] for i in week.json()["items"]} >= {"travel", "오름"}


async def test_facets_keep_each_facets_top_buckets_most_frequent_first(
    router: ShardRouter, database_url: str
) -> None:
    """35 hashtags over 12 questions: the 30 most used, by count then key."""
    tags = [f"감귤{n:02d}" for n in range(35)]
    used: dict[str, int] = {}
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as db:
        user = make_user(db)
        for i in range(12):
            mine = [tags[(i * 3 + k) % 35] for k in range(5)] if i < 7 else tags[: i - 6]
            for tag in mine:
                used[tag] = used.get(tag, 0) + 1
            make_question(
                db, user, title=f"귤밭 체험 후기 궁금해요 {i}", hashtags=mine, category="travel"
            )
    await services.reindex(router)
    result = await PostgresSearchBackend(router).search(SearchQuery(text="귤밭 체험"))
    expected = sorted(used.items(), key=lambda kv: (-kv[1], kv[0]))[:30]
    assert [(b.key, b.count) for b in result.facets["hashtags"]] == expected
    assert [(b.key, b.count) for b in result.facets["categories"]] == [("travel", 12)]
