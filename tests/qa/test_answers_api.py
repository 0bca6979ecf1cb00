"""Answers, acceptance and the points they earn, over HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
from psycopg.rows import DictRow

from dongne.config import Settings
from dongne.points.service import ANSWER_DAILY_CAP, ANSWER_POINTS
from tests.support.sessions import login_as

QUESTION = {
    "title": "중문 근처 아이랑 갈 만한 실내 장소 있을까요?",
    "content": "비 예보가 있어서 서귀포 중문 쪽 아이랑 갈 실내 체험 장소 찾고 있어요.",
    "region_code": "KR-49-02-16",
    "category": "travel",
}
ANSWER = {"content": "중문 쪽 박물관 단지가 실내라 비 와도 괜찮아요. 아이들 좋아해요."}


def _ask(api: httpx.Client, headers: dict[str, str]) -> dict[str, object]:
    response = api.post("/api/v1/questions", json=QUESTION, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def _answer(api: httpx.Client, question_id: object, headers: dict[str, str]) -> dict[str, object]:
    response = api.post(f"/api/v1/questions/{question_id}/answers", json=ANSWER, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def _balance(db: psycopg.Connection[DictRow], user: object) -> int:
    row = db.execute("SELECT point_balance FROM users WHERE id = %s", (user,)).fetchone()
    assert row is not None
    return int(row["point_balance"])


def test_accepting_awards_150_once_and_is_idempotent(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    _, asker = login_as(db, settings)
    helper_id, helper = login_as(db, settings)
    question = _ask(api, asker)
    answer = _answer(api, question["id"], helper)
    assert _balance(db, helper_id) == ANSWER_POINTS
    path = f"/api/v1/answers/{answer['id']}/accept"
    first = api.post(path, headers=asker)
    retry = api.post(path, headers=asker)
    assert first.status_code == retry.status_code == 200
    assert first.json() == retry.json()
    assert _balance(db, helper_id) == ANSWER_POINTS + 150
    detail = api.get(f"/api/v1/questions/{question['id']}").json()
    assert detail["status"] == "answered"
    assert detail["accepted_answer_id"] == answer["id"]
    answers = api.get(f"/api/v1/questions/{question['id']}/answers").json()["items"]
    assert answers[0]["is_accepted"] is True


def test_acceptance_rules(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    _, asker = login_as(db, settings)
    _, first = login_as(db, settings)
    _, second = login_as(db, settings)
    question = _ask(api, asker)
    own = _answer(api, question["id"], asker)
    a1 = _answer(api, question["id"], first)
    a2 = _answer(api, question["id"], second)
    own_accept = api.post(f"/api/v1/answers/{own['id']}/accept", headers=asker)
    assert own_accept.status_code == 409
    assert api.post(f"/api/v1/answers/{a1['id']}/accept", headers=first).status_code == 403
    assert api.post(f"/api/v1/answers/{a1['id']}/accept", headers=asker).status_code == 200
    other = api.post(f"/api/v1/answers/{a2['id']}/accept", headers=asker)
    assert other.status_code == 409
    assert other.json()["type"].endswith("already-accepted")
    assert api.delete(f"/api/v1/answers/{a1['id']}", headers=first).status_code == 409


def test_fifty_concurrent_accepts_award_once(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    _, asker = login_as(db, settings)
    helper_id, helper = login_as(db, settings)
    question = _ask(api, asker)
    answers = [_answer(api, question["id"], helper) for _ in range(2)]
    before = _balance(db, helper_id)

    def accept(index: int) -> int:
        target = answers[index % 2]["id"]
        with httpx.Client(base_url=str(api.base_url), timeout=60) as client:
            return client.post(f"/api/v1/answers/{target}/accept", headers=asker).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(accept, range(50)))
    assert set(statuses) <= {200, 409}
    assert 200 in statuses
    assert _balance(db, helper_id) == before + 150
    awards = db.execute(
        "SELECT count(*) AS n FROM point_transactions WHERE user_id = %s "
        "AND transaction_type = 'earn_accepted_answer'",
        (helper_id,),
    ).fetchone()
    assert awards == {"n": 1}


def test_answer_points_have_a_daily_cap(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    _, asker = login_as(db, settings)
    helper_id, helper = login_as(db, settings)
    question = _ask(api, asker)
    for _ in range(ANSWER_DAILY_CAP + 3):
        _answer(api, question["id"], helper)
    assert _balance(db, helper_id) == ANSWER_POINTS * ANSWER_DAILY_CAP


def test_only_authors_edit_and_delete_answers(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    _, asker = login_as(db, settings)
    _, helper = login_as(db, settings)
    question = _ask(api, asker)
    answer = _answer(api, question["id"], helper)
    path = f"/api/v1/answers/{answer['id']}"
    assert api.patch(path, json={"content": "남의 답변을 고쳐 보려는 시도입니다"},
                     headers=asker).status_code == 403  # fmt: skip
    edited = api.patch(path, json={"content": "박물관 단지 말고 감귤 체험도 실내 있어요."},
                       headers=helper)  # fmt: skip
    assert edited.status_code == 200
    assert edited.json()["content"].startswith("박물관 단지 말고")
    assert api.patch(path, json={"content": "짧음"}, headers=helper).status_code == 422
    assert api.delete(path, headers=helper).status_code == 204
    listed = api.get(f"/api/v1/questions/{question['id']}/answers").json()["items"]
    assert answer["id"] not in [a["id"] for a in listed]
    count = api.get(f"/api/v1/questions/{question['id']}").json()["answer_count"]
    assert count == 0


def test_answer_likes_and_answer_paging(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    _, asker = login_as(db, settings)
    _, helper = login_as(db, settings)
    question = _ask(api, asker)
    created = [_answer(api, question["id"], helper) for _ in range(5)]
    liked = api.put(f"/api/v1/answers/{created[0]['id']}/like", headers=asker)
    assert liked.json() == {"liked": True, "like_count": 1}
    api.post(f"/api/v1/answers/{created[3]['id']}/accept", headers=asker)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get(f"/api/v1/questions/{question['id']}/answers", params=params).json()
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = [created[3]["id"]] + [a["id"] for a in created if a is not created[3]]
    assert seen == expected
    bad = api.get(f"/api/v1/questions/{question['id']}/answers", params={"cursor": "garbage"})
    assert bad.status_code == 422
