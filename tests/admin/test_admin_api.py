"""Admin routes refuse non-admins and moderate through the normal write path."""

from __future__ import annotations

import httpx
import psycopg
from psycopg.rows import DictRow

from dongne.config import Settings
from tests.support.sessions import login_as

QUESTION = {
    "title": "협재해변 근처 조용한 숙소 추천해주세요",
    "content": "다음 달에 한림 협재 쪽에서 일주일 머물 조용한 숙소 찾고 있어요. 추천 부탁!",
    "region_code": "KR-49-01-01",
    "category": "lodging",
}


def test_hide_and_unhide(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    _, author = login_as(db, settings)
    _, admin = login_as(db, settings, role="admin")
    question = api.post("/api/v1/questions", json=QUESTION, headers=author).json()
    hide = f"/api/v1/admin/questions/{question['id']}/hide"
    assert api.post(hide, json={"reason": "광고성 글"}, headers=author).status_code == 403
    assert api.post(hide, json={"reason": "광고성 글"}).status_code == 401
    hidden = api.post(hide, json={"reason": "광고성 글"}, headers=admin)
    assert hidden.json() == {"question_id": question["id"], "status": "hidden"}
    assert api.get(f"/api/v1/questions/{question['id']}").status_code == 404
    assert api.get(f"/api/v1/questions/{question['id']}", headers=author).status_code == 200
    unhide = f"/api/v1/admin/questions/{question['id']}/unhide"
    assert api.post(unhide, json={"reason": "확인 완료"}, headers=admin).json()["status"] == "open"
    assert api.get(f"/api/v1/questions/{question['id']}").status_code == 200


def test_point_adjustments_are_ledger_rows(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    user, member = login_as(db, settings)
    _, admin = login_as(db, settings, role="admin")
    path = f"/api/v1/admin/users/{user}/points"
    assert api.post(path, json={"amount": 50, "reason": "이벤트"}, headers=member) \
        .status_code == 403  # fmt: skip
    granted = api.post(path, json={"amount": 50, "reason": "이벤트 당첨"}, headers=admin)
    assert granted.status_code == 201
    assert granted.json()["balance"] == 50
    too_much = api.post(path, json={"amount": -51, "reason": "회수"}, headers=admin)
    assert too_much.status_code == 409
    zero = api.post(path, json={"amount": 0, "reason": "없음"}, headers=admin)
    assert zero.status_code == 422
    missing = api.post("/api/v1/admin/users/01950000-0000-7000-8000-000000000000/points",
                       json={"amount": 5, "reason": "없는 사람"}, headers=admin)  # fmt: skip
    assert missing.status_code == 404
    row = db.execute(
        "SELECT transaction_type::text AS type, amount, reference_type FROM point_transactions "
        "WHERE user_id = %s",
        (user,),
    ).fetchall()
    assert row == [{"type": "admin_adjustment", "amount": 50, "reference_type": "user"}]
