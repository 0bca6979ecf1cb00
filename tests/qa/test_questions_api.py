"""Asking, reading, editing, deleting and liking questions over HTTP."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from psycopg.rows import DictRow

from dongne.config import Settings
from tests.support.sessions import login_as

AEWOL_CENTRE = {"lat": 33.464722, "lng": 126.331944}
SEONGSAN_OFFSHORE = {"lat": 33.419444, "lng": 126.921944}
PROBLEM = "application/problem+json"


def _question(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "title": "애월 해안도로 근처 주차 어디가 좋아요?",
        "content": "주말에 한담해변 산책하려는데 주차할 곳이 마땅치 않네요. 팁 부탁드려요.",
        "hashtags": ["#애월", "주차"],
        "category": "transport",
        "region_code": "KR-49-01-02",
    }
    body.update(overrides)
    return body


def _problem_fields(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"] == PROBLEM
    return [e["field"] for e in response.json().get("errors", [])]


def test_ask_with_a_point_only_infers_the_region(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    user, headers = login_as(db, settings)
    body = _question(region_code=None, location=SEONGSAN_OFFSHORE)
    response = api.post("/api/v1/questions", json=body, headers=headers)
    assert response.status_code == 201, response.text
    question = response.json()
    assert question["region_code"] == "KR-49-02-05"
    assert question["hashtags"] == ["애월", "주차"]
    assert question["author"]["id"] == str(user)
    ledger = db.execute(
        "SELECT amount FROM point_transactions WHERE user_id = %s "
        "AND transaction_type = 'earn_first_question'",
        (user,),
    ).fetchall()
    assert ledger == [{"amount": 20}]
    second = api.post("/api/v1/questions", json=_question(title="두 번째 질문인데요 애월"),
                      headers=headers)  # fmt: skip
    assert second.status_code == 201
    assert len(db.execute(
        "SELECT 1 FROM point_transactions WHERE user_id = %s", (user,)
    ).fetchall()) == 1  # fmt: skip
    event = db.execute(
        "SELECT payload FROM outbox WHERE topic = 'question.created' AND aggregate_id = %s",
        (question["id"],),
    ).fetchone()
    assert event == {"payload": {"user_id": str(user), "region_code": "KR-49-02-05"}}


def test_category_is_classified_when_missing(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    _, headers = login_as(db, settings)
    body = _question(
        category=None,
        title="흑돼지 맛집 추천 부탁드려요",
        content="애월 쪽에서 현지인들이 가는 흑돼지 구이집이나 고기국수 맛집 알려주세요.",
    )
    response = api.post("/api/v1/questions", json=body, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["category"] == "food"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "짧은 제목"}, "body.title"),
        ({"content": "너무 짧아요"}, "body.content"),
        ({"hashtags": ["a", "b", "c", "d", "e", "f"]}, "body.hashtags"),
        ({"hashtags": ["가" * 31]}, "body.hashtags"),
        ({"region_code": "KR-49-01-99"}, "body.region_code"),
        ({"region_code": None}, "body.location"),
        ({"region_code": None, "location": {"lat": 37.5665, "lng": 126.978}}, "body.location"),
        ({"location": {"lat": 91, "lng": 126.5}}, "body.location.lat"),
        ({"urgency": "panic"}, "body.urgency"),
        ({"category": "gossip"}, "body.category"),
        ({"images": ["not a url"]}, "body.images.0"),
        ({"surprise": 1}, "body.surprise"),
    ],
)
def test_bad_questions_are_refused_with_the_field(
    api: httpx.Client,
    db: psycopg.Connection[DictRow],
    settings: Settings,
    overrides: dict[str, object],
    field: str,
) -> None:
    user, headers = login_as(db, settings)
    response = api.post("/api/v1/questions", json=_question(**overrides), headers=headers)
    assert response.status_code == 422, response.text
    assert field in _problem_fields(response)
    stored = db.execute("SELECT count(*) AS n FROM questions WHERE user_id = %s", (user,))
    assert stored.fetchone() == {"n": 0}


def test_duplicate_hashtags_collapse_before_counting(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    _, headers = login_as(db, settings)
    tags = ["#오름", "오름", "OREUM", "oreum", "새별오름", "용눈이", "다랑쉬"]
    response = api.post("/api/v1/questions", json=_question(hashtags=tags), headers=headers)
    assert response.status_code == 201
    assert response.json()["hashtags"] == ["오름", "oreum", "새별오름", "용눈이", "다랑쉬"]


def test_asking_requires_a_session(api: httpx.Client) -> None:
    response = api.post("/api/v1/questions", json=_question())
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    bad = api.post("/api/v1/questions", json=_question(),
                   headers={"Authorization": "Bearer not-a-session"})  # fmt: skip
    assert bad.status_code == 401


def test_only_the_owner_edits_and_deletes(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    _, owner = login_as(db, settings)
    _, stranger = login_as(db, settings)
    question = api.post("/api/v1/questions", json=_question(), headers=owner).json()
    path = f"/api/v1/questions/{question['id']}"
    assert api.patch(path, json={"title": "남의 질문 제목 바꾸기 시도"}, headers=stranger) \
        .status_code == 403  # fmt: skip
    assert api.delete(path, headers=stranger).status_code == 403
    edited = api.patch(path, json={"title": "애월 한담해변 주차 질문 (수정)", "hashtags": ["한담"]},
                       headers=owner)  # fmt: skip
    assert edited.status_code == 200
    assert edited.json()["hashtags"] == ["한담"]
    assert edited.json()["updated_at"] > question["updated_at"]
    assert api.patch(path, json={"content": "짧음"}, headers=owner).status_code == 422
    assert api.delete(path, headers=owner).status_code == 204
    assert api.get(path).status_code == 404
    assert api.delete(path, headers=owner).status_code == 404


def test_likes_are_idempotent(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    _, owner = login_as(db, settings)
    _, fan = login_as(db, settings)
    question = api.post("/api/v1/questions", json=_question(), headers=owner).json()
    path = f"/api/v1/questions/{question['id']}/like"
    assert api.put(path, headers=fan).json() == {"liked": True, "like_count": 1}
    assert api.put(path, headers=fan).json() == {"liked": True, "like_count": 1}
    assert api.put(path, headers=owner).json() == {"liked": True, "like_count": 2}
    assert api.delete(path, headers=fan).json() == {"liked": False, "like_count": 1}
    assert api.delete(path, headers=fan).json() == {"liked": False, "like_count": 1}


def test_views_are_counted_in_redis_and_flushed_once(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    _, owner = login_as(db, settings)
    question = api.post("/api/v1/questions", json=_question(), headers=owner).json()
    path = f"/api/v1/questions/{question['id']}"
    viewers = [login_as(db, settings)[1] for _ in range(3)]
    for headers in viewers:
        api.get(path, headers=headers)
        api.get(path, headers=headers)  # the same viewer again: not counted twice
    assert api.get(path, headers=viewers[0]).json()["view_count"] == 3
    stored = db.execute("SELECT view_count FROM questions WHERE id = %s", (question["id"],))
    assert stored.fetchone() == {"view_count": 0}  # no database write per view


def test_unknown_and_malformed_ids(api: httpx.Client) -> None:
    assert api.get("/api/v1/questions/01950000-0000-7000-8000-000000000000").status_code == 404
    response = api.get("/api/v1/questions/not-a-uuid")
    assert response.status_code == 422
    assert "path.question_id" in _problem_fields(response)
