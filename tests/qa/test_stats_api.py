"""Region statistics and trending hashtags over HTTP."""

from __future__ import annotations

import httpx
import psycopg
from psycopg.rows import DictRow

from tests.support.factories import make_question, make_user


def test_region_stats(api: httpx.Client, db: psycopg.Connection[DictRow]) -> None:
    asker = make_user(db)
    helper = make_user(db, region_code="KR-49-01-07", verification_level=2)
    make_user(db, region_code="KR-49-01-07", verification_level=0)
    answered = make_question(db, asker, region_code="KR-49-01-07")
    make_question(db, asker, region_code="KR-49-01-07")
    db.execute(
        "INSERT INTO answers (question_id, user_id, content, created_at) "
        "SELECT id, %s, '우도 도항선은 성산항에서 30분 간격이에요.', "
        "created_at + interval '12 minutes' "
        "FROM questions WHERE id = %s",
        (helper, answered),
    )
    stats = api.get("/api/v1/regions/KR-49-01-07/stats").json()
    assert stats == {
        "region_code": "KR-49-01-07",
        "questions": 2,
        "answered_questions": 1,
        "accepted_questions": 0,
        "answer_rate": 0.5,
        "median_minutes_to_first_answer": 12.0,
        "active_verified_locals": 1,
    }
    city = api.get("/api/v1/regions/KR-49-01/stats").json()
    assert city["questions"] >= 2
    assert api.get("/api/v1/regions/KR-49-01-99/stats").status_code == 404


def test_trending_hashtags_per_region_and_window(
    api: httpx.Client, db: psycopg.Connection[DictRow]
) -> None:
    user = make_user(db)
    for tags in (["우도땅콩", "자전거"], ["우도땅콩"], ["우도땅콩", "검멀레"]):
        make_question(db, user, region_code="KR-49-01-07", hashtags=tags)
    old = db.execute("SELECT uuidv7(interval '-3 days') AS id").fetchone()
    assert old is not None
    make_question(db, user, region_code="KR-49-01-07", hashtags=["자전거", "자전거대여"],
                  id=old["id"])  # fmt: skip
    make_question(db, user, region_code="KR-49-02-05", hashtags=["일출"])
    day = api.get("/api/v1/hashtags/trending", params={"region": "KR-49-01-07"}).json()
    assert day["items"][0] == {"name": "우도땅콩", "count": 3}
    assert {"name": "자전거", "count": 1} in day["items"]
    assert {"name": "자전거대여", "count": 1} not in day["items"]
    week = api.get("/api/v1/hashtags/trending",
                   params={"region": "KR-49-01-07", "window": "7d"}).json()  # fmt: skip
    assert {"name": "자전거", "count": 2} in week["items"]
    assert all(item["name"] != "일출" for item in week["items"])
    assert api.get("/api/v1/hashtags/trending", params={"window": "1y"}).status_code == 422
