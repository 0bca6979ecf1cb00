"""Feeds: filters, every sort, keyset pagination that never skips or repeats."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg.rows import DictRow, dict_row

from dongne.config import Settings
from tests.support.factories import make_answer, make_question, make_user
from tests.support.sessions import login_as

DISTRICTS = ["KR-49-01-02", "KR-49-01-01", "KR-49-02-05"]


@pytest.fixture(scope="module")
def board(database_url: str) -> list[UUID]:
    """36 questions over three districts with varied counters and urgency."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as db:
        author = make_user(db)
        helpers = [make_user(db) for _ in range(3)]
        ids = []
        for n in range(36):
            question = make_question(
                db, author,
                region_code=DISTRICTS[n % 3],
                category=["food", "transport", "travel"][n % 3 if n % 4 else 0],
                urgency=["normal", "urgent", "emergency", "normal"][n % 4],
                view_count=(n * 7) % 11,
                id=db.execute(
                    "SELECT uuidv7(make_interval(mins => %s) * -1) AS id", (n,)
                ).fetchone()["id"],  # type: ignore[index]
            )  # fmt: skip
            for helper in helpers[: n % 4]:
                make_answer(db, question, helper)
            ids.append(question)
        return ids


def _walk(api: httpx.Client, **params: object) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        query = {**params, "limit": 5, **({"cursor": cursor} if cursor else {})}
        response = api.get("/api/v1/questions", params=query)  # type: ignore[arg-type]
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


@pytest.mark.usefixtures("board")
@pytest.mark.parametrize("sort", ["newest", "popular", "urgent", "most_answers", "most_views"])
def test_every_sort_pages_through_everything_once(api: httpx.Client, sort: str) -> None:
    items = _walk(api, sort=sort)
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids)) == 36
    if sort == "newest":
        assert ids == sorted(ids, reverse=True)
    if sort == "most_answers":
        counts = [i["answer_count"] for i in items]
        assert counts == sorted(counts, reverse=True)
    if sort == "most_views":
        views = [i["view_count"] for i in items]
        assert views == sorted(views, reverse=True)
    if sort == "urgent":
        rank = {"emergency": 2, "urgent": 1, "normal": 0}
        ranks = [rank[str(i["urgency"])] for i in items]
        assert ranks == sorted(ranks, reverse=True)


@pytest.mark.usefixtures("board")
def test_popular_follows_the_seed_score(api: httpx.Client) -> None:
    items = _walk(api, sort="popular")

    def score(item: dict[str, Any]) -> float:
        bonus = {"emergency": 10, "urgent": 5}.get(item["urgency"], 0)
        base = item["view_count"] * 0.1 + item["answer_count"] * 2 + item["like_count"] + bonus
        created = datetime.fromisoformat(str(item["created_at"]))
        age_hours = (datetime.now(created.tzinfo) - created).total_seconds() / 3600
        return float(max(base, 0.001) * 0.5 ** (age_hours / 24))

    scores = [score(i) for i in items]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.usefixtures("board")
def test_region_filter_includes_sub_regions(api: httpx.Client) -> None:
    aewol = _walk(api, region="KR-49-01-02")
    assert {i["region_code"] for i in aewol} == {"KR-49-01-02"}
    assert len(aewol) == 12
    jeju_city = _walk(api, region="KR-49-01")
    assert {i["region_code"] for i in jeju_city} == {"KR-49-01-02", "KR-49-01-01"}
    assert len(_walk(api, region="KR-49")) == 36
    assert api.get("/api/v1/questions", params={"region": "KR-49-01-99"}).status_code == 404


@pytest.mark.usefixtures("board")
def test_category_and_status_filters(api: httpx.Client) -> None:
    food = _walk(api, category="food")
    assert food
    assert {i["category"] for i in food} == {"food"}
    assert _walk(api, status="answered") == []
    assert len(_walk(api, status="open")) == 36


@pytest.mark.usefixtures("board")
def test_hidden_and_deleted_questions_leave_the_feed(
    api: httpx.Client, db: psycopg.Connection[DictRow], board: list[UUID]
) -> None:
    db.execute("UPDATE questions SET status = 'hidden' WHERE id = %s", (board[0],))
    db.execute("UPDATE questions SET deleted_at = now() WHERE id = %s", (board[1],))
    try:
        ids = {i["id"] for i in _walk(api)}
        assert str(board[0]) not in ids
        assert str(board[1]) not in ids
        assert len(ids) == 34
        assert api.get(f"/api/v1/questions/{board[0]}").status_code == 404
    finally:
        db.execute("UPDATE questions SET status = 'open' WHERE id = %s", (board[0],))
        db.execute("UPDATE questions SET deleted_at = NULL WHERE id = %s", (board[1],))


def _forge(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


@pytest.mark.parametrize(
    ("sort", "cursor"),
    [
        ("newest", "%%%"),
        ("newest", _forge({"k": "questions:popular", "v": [1.0, "x"]})),
        ("newest", _forge({"k": "questions:newest", "v": ["not-a-uuid"]})),
        ("most_answers", _forge({"k": "questions:most_answers", "v": ["1; DROP", "x"]})),
        (
            "urgent",
            _forge(
                {"k": "questions:urgent", "v": ["panic", "01950000-0000-7000-8000-000000000000"]}
            ),
        ),
        ("popular", _forge([1, 2])),
    ],
)
def test_tampered_cursors_are_422(api: httpx.Client, sort: str, cursor: str) -> None:
    response = api.get("/api/v1/questions", params={"sort": sort, "cursor": cursor})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_feed_by_author(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    user, headers = login_as(db, settings)
    body = {
        "title": "표선 해비치 근처 아침 식사 되는 곳?",
        "content": "표선해수욕장 근처에서 아침 일찍 문 여는 식당 찾습니다. 추천 부탁해요.",
        "region_code": "KR-49-02-03",
        "category": "food",
    }
    created = api.post("/api/v1/questions", json=body, headers=headers).json()
    mine = _walk(api, author=str(user))
    assert [i["id"] for i in mine] == [created["id"]]
