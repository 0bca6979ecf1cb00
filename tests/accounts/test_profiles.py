"""The own profile (GET/PATCH/DELETE /me) and public profiles."""

from __future__ import annotations

from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg.rows import DictRow

from tests.support.accounts import auth, signup

PROBLEM = "application/problem+json"
HALLIM = "KR-49-01-01"

PRIVATE_FIELDS = {
    "id", "email", "nickname", "region_code", "role", "verification_level",
    "is_local_verified", "verification_history", "point_balance", "total_earned_points",
    "question_count", "answer_count", "accepted_answer_count", "bio", "profile_image_url",
    "interested_categories", "notification_settings", "privacy_settings", "created_at",
}  # fmt: skip


def test_me_is_the_private_profile(api: httpx.Client) -> None:
    user_id, token = signup(api, nickname="한라봉")
    me = api.get("/api/v1/me", headers=auth(token)).json()
    assert set(me) == PRIVATE_FIELDS
    assert me["id"] == str(user_id)
    assert me["nickname"] == "한라봉"
    assert me["role"] == "member"
    assert me["region_code"] == "KR-49-01-02"
    assert me["interested_categories"] == []
    assert me["notification_settings"] == {} == me["privacy_settings"]


def test_patch_changes_only_what_was_sent(api: httpx.Client) -> None:
    _, token = signup(api, nickname="귤밭주인")
    patched = api.patch(
        "/api/v1/me",
        headers=auth(token),
        json={
            "bio": "애월에서 20년째 귤 농사 짓고 있어요",
            "profile_image_url": "https://img.dongne.kr/u/1.png",
            "interested_categories": ["food", "living", "food"],
            "notification_settings": {"answer_received": True, "push": False},
            "privacy_settings": {"show_region": False},
        },
    )
    assert patched.status_code == 200
    body = patched.json()
    assert body["nickname"] == "귤밭주인"
    assert body["bio"] == "애월에서 20년째 귤 농사 짓고 있어요"
    assert body["profile_image_url"] == "https://img.dongne.kr/u/1.png"
    assert body["interested_categories"] == ["food", "living"]
    assert body["notification_settings"] == {"answer_received": True, "push": False}
    assert api.get("/api/v1/me", headers=auth(token)).json() == body

    cleared = api.patch("/api/v1/me", headers=auth(token), json={"bio": None, "nickname": " 돌담 "})
    assert cleared.json()["bio"] is None
    assert cleared.json()["nickname"] == "돌담"
    assert cleared.json()["interested_categories"] == ["food", "living"]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"bio": "가" * 501}, "body.bio"),
        ({"interested_categories": ["food", "surfing"]}, "body.interested_categories"),
        ({"interested_categories": ["food"] * 13}, "body.interested_categories"),
        ({"profile_image_url": "ftp://img.dongne.kr/1.png"}, "body.profile_image_url"),
        ({"profile_image_url": "javascript:alert(1)"}, "body.profile_image_url"),
        ({"region_code": "KR-49-01-99"}, "body.region_code"),
        ({"nickname": "a"}, "body.nickname"),
        ({"nickname": None}, "body.nickname"),
        ({"notification_settings": ["push"]}, "body.notification_settings"),
        ({"privacy_settings": None}, "body.privacy_settings"),
        ({"email": "new@example.kr"}, "body.email"),
        ({"verification_level": 3}, "body.verification_level"),
    ],
)
def test_bad_patches_are_422_naming_the_field(
    api: httpx.Client, db: psycopg.Connection[DictRow], patch: dict[str, object], field: str
) -> None:
    user_id, token = signup(api)
    response = api.patch("/api/v1/me", headers=auth(token), json=patch)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert field in [error["field"] for error in response.json()["errors"]]
    row = db.execute(
        "SELECT bio, verification_level, updated_at = created_at AS untouched "
        "FROM users WHERE id = %s",
        (user_id,),
    ).fetchone()
    assert row == {"bio": None, "verification_level": 0, "untouched": True}


def test_patch_and_delete_act_only_on_the_caller(
    api: httpx.Client, db: psycopg.Connection[DictRow]
) -> None:
    victim, victim_token = signup(api, nickname="피해자")
    _, token = signup(api, nickname="공격자")
    # Ids in the body are not fields of the profile; there is no way to name another user.
    hijack = api.patch("/api/v1/me", headers=auth(token), json={"id": str(victim), "bio": "x"})
    assert hijack.status_code == 422
    assert api.patch("/api/v1/me", headers=auth(token), json={"bio": "내 소개"}).status_code == 200
    assert api.delete("/api/v1/me", headers=auth(token)).status_code == 204
    row = db.execute("SELECT bio, deleted_at FROM users WHERE id = %s", (victim,)).fetchone()
    assert row == {"bio": None, "deleted_at": None}
    assert api.get("/api/v1/me", headers=auth(victim_token)).json()["nickname"] == "피해자"
    assert api.patch(f"/api/v1/users/{victim}", json={"bio": "x"}).status_code == 405
    assert api.delete(f"/api/v1/users/{victim}", headers=auth(token)).status_code == 405


def test_public_profile_hides_private_data(
    api: httpx.Client, db: psycopg.Connection[DictRow]
) -> None:
    user_id, token = signup(api, nickname="해녀삼춘")
    api.patch(
        "/api/v1/me",
        headers=auth(token),
        json={"bio": "물질 40년", "privacy_settings": {"secret": "hidden"}},
    )
    db.execute(
        "INSERT INTO user_badges (user_id, badge_type, badge_level) VALUES (%s, 'first_answer', 2)",
        (user_id,),
    )
    response = api.get(f"/api/v1/users/{user_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(user_id)
    assert body["nickname"] == "해녀삼춘"
    assert body["bio"] == "물질 40년"
    assert [(b["badge_type"], b["badge_level"]) for b in body["badges"]] == [("first_answer", 2)]
    for private in ("email", "notification_settings", "privacy_settings", "point_balance",
                    "role", "interested_categories"):  # fmt: skip
        assert private not in body
    assert "@" not in response.text
    assert "hidden" not in response.text


def test_unknown_or_deleted_users_are_404(api: httpx.Client) -> None:
    assert api.get("/api/v1/users/01950000-0000-7000-8000-000000000000").status_code == 404
    assert api.get("/api/v1/users/not-a-uuid").status_code == 422
    user_id, token = signup(api)
    assert api.get(f"/api/v1/users/{user_id}").status_code == 200
    api.delete("/api/v1/me", headers=auth(token))
    gone = api.get(f"/api/v1/users/{user_id}")
    assert gone.status_code == 404
    assert gone.headers["content-type"] == PROBLEM


def _level(db: psycopg.Connection[DictRow], user_id: UUID) -> int:
    row = db.execute("SELECT verification_level FROM users WHERE id = %s", (user_id,)).fetchone()
    assert row is not None
    return int(row["verification_level"])


@pytest.mark.parametrize(("level", "after_move"), [(0, 0), (1, 0), (2, 0), (3, 3)])
def test_moving_resets_levels_one_and_two(
    api: httpx.Client, db: psycopg.Connection[DictRow], level: int, after_move: int
) -> None:
    user_id, token = signup(api)
    db.execute("UPDATE users SET verification_level = %s WHERE id = %s", (level, user_id))
    same = api.patch("/api/v1/me", headers=auth(token), json={"region_code": "KR-49-01-02"})
    assert same.json()["verification_level"] == level
    moved = api.patch("/api/v1/me", headers=auth(token), json={"region_code": HALLIM})
    assert moved.status_code == 200
    assert moved.json()["region_code"] == HALLIM
    assert moved.json()["verification_level"] == after_move == _level(db, user_id)
    history = [(h["from_level"], h["to_level"]) for h in moved.json()["verification_history"]]
    assert history == ([(level, 0)] if level != after_move else [])
    events = db.execute(
        "SELECT payload FROM outbox WHERE topic = 'user.verified' AND aggregate_id = %s",
        (user_id,),
    ).fetchall()
    assert [e["payload"]["level"] for e in events] == ([0] if level != after_move else [])
