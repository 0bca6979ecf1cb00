"""Local verification: GPS check-ins in the home district, levels, admin grants."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg import errors
from psycopg.rows import DictRow

from dongne.accounts.verification import level_after_checkins
from tests.support.accounts import auth, make_admin, signup

PROBLEM = "application/problem+json"
AEWOL = {"lat": 33.464722, "lng": 126.331944}
HALLIM = {"lat": 33.414722, "lng": 126.266111}
SEOUL = {"lat": 37.5665, "lng": 126.978}
CHECKINS = "/api/v1/me/verification/checkins"


def _past_checkin(db: psycopg.Connection[DictRow], user_id: UUID, days_ago: int) -> None:
    """A counted check-in on an earlier (Korean) day, as if made then."""
    db.execute(
        "INSERT INTO user_checkins (user_id, region_code, location, created_at) "
        "VALUES (%s, 'KR-49-01-02', point(126.331944, 33.464722), "
        "        now() - make_interval(days => %s))",
        (user_id, days_ago),
    )


def _history(db: psycopg.Connection[DictRow], user_id: UUID) -> list[tuple[int, int]]:
    rows = db.execute(
        "SELECT from_level, to_level FROM user_verification_history WHERE user_id = %s ORDER BY id",
        (user_id,),
    ).fetchall()
    return [(r["from_level"], r["to_level"]) for r in rows]


def _verified_events(db: psycopg.Connection[DictRow], user_id: UUID) -> list[int]:
    rows = db.execute(
        "SELECT payload FROM outbox WHERE topic = 'user.verified' AND aggregate_id = %s "
        "ORDER BY id",
        (user_id,),
    ).fetchall()
    return [r["payload"]["level"] for r in rows]


@pytest.mark.parametrize(
    ("current", "days", "expected"),
    [(0, 0, 0), (0, 1, 1), (0, 2, 1), (0, 3, 2), (1, 5, 2), (2, 1, 2), (3, 3, 3), (3, 0, 3)],
)
def test_level_rules_never_lower(current: int, days: int, expected: int) -> None:
    assert level_after_checkins(current, days) == expected


def test_checkin_in_home_district_grants_level_one(
    api: httpx.Client, db: psycopg.Connection[DictRow]
) -> None:
    user_id, token = signup(api)
    first = api.post(CHECKINS, headers=auth(token), json=AEWOL)
    assert first.status_code == 201
    body = first.json()
    assert body["level"] == 1
    assert body["counted_days_last_30"] == 1
    assert body["checkin"]["region_code"] == "KR-49-01-02"
    assert body["checkin"]["region_name"] == "애월읍"
    assert body["checkin"]["counted"] is True
    assert (body["checkin"]["lat"], body["checkin"]["lng"]) == (AEWOL["lat"], AEWOL["lng"])

    again = api.post(CHECKINS, headers=auth(token), json=AEWOL).json()
    assert again["checkin"]["counted"] is False
    assert (again["level"], again["counted_days_last_30"]) == (1, 1)

    assert _history(db, user_id) == [(0, 1)]
    assert _verified_events(db, user_id) == [1]
    me = api.get("/api/v1/me", headers=auth(token)).json()
    assert me["verification_level"] == 1 and me["is_local_verified"] is True
    status = api.get("/api/v1/me/verification", headers=auth(token)).json()
    assert status["level"] == 1 and status["counted_days_last_30"] == 1
    assert [(h["from_level"], h["to_level"]) for h in status["history"]] == [(0, 1)]
    assert status["history"][0]["reason"]


@pytest.mark.parametrize(
    ("point", "slug", "named"),
    [
        (HALLIM, "outside-home-district", "한림읍"),
        (SEOUL, "outside-service-area", "서비스 지역"),
        # Half a kilometre off 애월's coast: it snaps to 애월읍 but is not inside it.
        ({"lat": 33.4747, "lng": 126.331944}, "outside-home-district", "애월읍(KR-49-01-02) 경계"),
    ],
)
def test_checkin_outside_home_district_is_422(
    api: httpx.Client,
    db: psycopg.Connection[DictRow],
    point: dict[str, float],
    slug: str,
    named: str,
) -> None:
    user_id, token = signup(api)
    response = api.post(CHECKINS, headers=auth(token), json=point)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"].endswith(slug)
    assert named in body["detail"]
    count = db.execute("SELECT count(*) AS n FROM user_checkins WHERE user_id = %s", (user_id,))
    assert count.fetchone() == {"n": 0}
    assert _history(db, user_id) == []


def test_checkin_needs_login_and_valid_coordinates(api: httpx.Client) -> None:
    assert api.post(CHECKINS, json=AEWOL).status_code == 401
    _, token = signup(api)
    bad = api.post(CHECKINS, headers=auth(token), json={"lat": 95, "lng": 126.5})
    assert bad.status_code == 422
    assert "body.lat" in [e["field"] for e in bad.json()["errors"]]


def test_three_days_in_thirty_grant_level_two(
    api: httpx.Client, db: psycopg.Connection[DictRow]
) -> None:
    user_id, token = signup(api)
    assert api.post(CHECKINS, headers=auth(token), json=AEWOL).json()["level"] == 1
    _past_checkin(db, user_id, 12)
    _past_checkin(db, user_id, 29)
    body = api.post(CHECKINS, headers=auth(token), json=AEWOL).json()
    assert (body["level"], body["counted_days_last_30"]) == (2, 3)
    assert _history(db, user_id) == [(0, 1), (1, 2)]
    assert _verified_events(db, user_id) == [1, 2]


def test_old_and_other_district_checkins_do_not_count(
    api: httpx.Client, db: psycopg.Connection[DictRow]
) -> None:
    user_id, token = signup(api)
    _past_checkin(db, user_id, 30)
    _past_checkin(db, user_id, 45)
    db.execute(
        "INSERT INTO user_checkins (user_id, region_code, location, created_at) "
        "VALUES (%s, 'KR-49-01-01', point(126.266111, 33.414722), now() - interval '2 days')",
        (user_id,),
    )
    body = api.post(CHECKINS, headers=auth(token), json=AEWOL).json()
    assert (body["level"], body["counted_days_last_30"]) == (1, 1)


def test_concurrent_checkins_grant_once(api: httpx.Client, db: psycopg.Connection[DictRow]) -> None:
    user_id, token = signup(api)
    _past_checkin(db, user_id, 3)
    _past_checkin(db, user_id, 5)

    def check_in(_: int) -> httpx.Response:
        with httpx.Client(base_url=api.base_url, timeout=30) as client:
            return client.post(CHECKINS, headers=auth(token), json=AEWOL)

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(check_in, range(8)))
    assert [r.status_code for r in responses] == [201] * 8
    assert {r.json()["level"] for r in responses} == {2}
    assert sum(r.json()["checkin"]["counted"] for r in responses) == 1
    assert _history(db, user_id) == [(0, 2)]
    assert _verified_events(db, user_id) == [2]
    today = db.execute(
        "SELECT count(*) FILTER (WHERE counted) AS counted, count(*) AS total "
        "FROM user_checkins WHERE user_id = %s AND created_at > now() - interval '1 hour'",
        (user_id,),
    ).fetchone()
    assert today == {"counted": 1, "total": 8}


def test_admin_sets_official_level(api: httpx.Client, db: psycopg.Connection[DictRow]) -> None:
    target, target_token = signup(api)
    admin, admin_token = signup(api)
    make_admin(db, admin)
    path = f"/api/v1/admin/users/{target}/verification"

    forbidden = api.post(path, headers=auth(target_token), json={"level": 3, "reason": "셀프"})
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"] == PROBLEM
    assert api.post(path, json={"level": 3, "reason": "익명"}).status_code == 401

    granted = api.post(path, headers=auth(admin_token), json={"level": 3, "reason": "이장님 확인"})
    assert granted.status_code == 200
    assert granted.json()["level"] == 3
    row = db.execute(
        "SELECT from_level, to_level, reason, granted_by FROM user_verification_history "
        "WHERE user_id = %s",
        (target,),
    ).fetchone()
    assert row == {"from_level": 0, "to_level": 3, "reason": "이장님 확인", "granted_by": admin}
    assert _verified_events(db, target) == [3]

    # Check-ins never lower an official level.
    assert api.post(CHECKINS, headers=auth(target_token), json=AEWOL).json()["level"] == 3
    same = api.post(path, headers=auth(admin_token), json={"level": 3, "reason": "다시"})
    assert same.status_code == 200
    lowered = api.post(path, headers=auth(admin_token), json={"level": 0, "reason": "이사 확인"})
    assert lowered.json()["level"] == 0
    assert _history(db, target) == [(0, 3), (3, 0)]
    assert _verified_events(db, target) == [3, 0]


@pytest.mark.parametrize(
    ("body", "status"),
    [({"level": 4, "reason": "x"}, 422), ({"level": 2, "reason": "  "}, 422), ({"level": 2}, 422)],
)
def test_admin_grant_validation(
    api: httpx.Client, db: psycopg.Connection[DictRow], body: dict[str, object], status: int
) -> None:
    admin, token = signup(api)
    make_admin(db, admin)
    target, _ = signup(api)
    response = api.post(
        f"/api/v1/admin/users/{target}/verification", headers=auth(token), json=body
    )
    assert response.status_code == status


def test_admin_grant_to_unknown_user_is_404(
    api: httpx.Client, db: psycopg.Connection[DictRow]
) -> None:
    admin, token = signup(api)
    make_admin(db, admin)
    missing = "/api/v1/admin/users/01950000-0000-7000-8000-000000000000/verification"
    response = api.post(missing, headers=auth(token), json={"level": 3, "reason": "x"})
    assert response.status_code == 404


def test_public_profile_shows_levels_not_places(
    api: httpx.Client, db: psycopg.Connection[DictRow]
) -> None:
    user_id, token = signup(api)
    api.post(CHECKINS, headers=auth(token), json=AEWOL)
    body = api.get(f"/api/v1/users/{user_id}").json()
    assert body["verification_level"] == 1
    assert [set(h) for h in body["verification_history"]] == [
        {"from_level", "to_level", "created_at"}
    ]
    assert "33.46" not in str(body) and "126.33" not in str(body)


def test_database_guards_the_tables(db: psycopg.Connection[DictRow]) -> None:
    user = db.execute(
        "INSERT INTO users (email, nickname, region_code) "
        "VALUES ('guard@example.kr', '경비', 'KR-49-01-02') RETURNING id"
    ).fetchone()
    assert user is not None
    for from_level, to_level in ((1, 1), (0, 4), (-1, 0)):
        with pytest.raises(errors.CheckViolation):
            db.execute(
                "INSERT INTO user_verification_history (user_id, from_level, to_level, reason) "
                "VALUES (%s, %s, %s, '테스트')",
                (user["id"], from_level, to_level),
            )
    _past_checkin(db, user["id"], 0)
    with pytest.raises(errors.UniqueViolation):
        _past_checkin(db, user["id"], 0)
    db.execute("DELETE FROM users WHERE id = %s", (user["id"],))
    left = db.execute("SELECT count(*) AS n FROM user_checkins WHERE user_id = %s", (user["id"],))
    assert left.fetchone() == {"n": 0}
