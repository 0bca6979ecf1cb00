"""Sign-up, login, sessions and logout over the real API, Redis and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

import httpx
import psycopg
import pytest
import redis
from argon2 import PasswordHasher
from psycopg.rows import DictRow

from dongne.accounts.sessions import hash_token
from dongne.cache.keys import Keys
from dongne.config import Settings
from dongne.embedded.stack import ServerUrls
from dongne.runtime import Runtime
from tests.support.accounts import PASSWORD, auth, signup, unique_email
from tests.support.factories import make_user
from tests.support.servers import serve_api

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def redis_client(settings: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(str(settings.redis_url))
    yield client
    client.close()


def _signup_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "email": unique_email(),
        "password": PASSWORD,
        "nickname": "애월주민",
        "region_code": "KR-49-01-02",
    }
    body.update(overrides)
    return body


def _login(api: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return api.post("/api/v1/auth/login", json={"email": email, "password": password})


def _email_of(db: psycopg.Connection[DictRow], user_id: UUID) -> str:
    row = db.execute("SELECT email FROM users WHERE id = %s", (user_id,)).fetchone()
    assert row is not None
    return str(row["email"])


def test_signup_login_me_logout(api: httpx.Client, settings: Settings) -> None:
    email = unique_email()
    created = api.post(
        "/api/v1/auth/signup",
        json=_signup_body(email=email.upper(), nickname="  돌하르방  "),
    )
    assert created.status_code == 201
    body = created.json()
    assert body["expires_in"] == settings.session_ttl_s
    assert body["user"]["email"] == email
    assert body["user"]["nickname"] == "돌하르방"
    assert body["user"]["verification_level"] == 0
    assert body["user"]["verification_history"] == []

    logged_in = _login(api, email.upper())
    assert logged_in.status_code == 200
    token = logged_in.json()["token"]
    assert token != body["token"]
    assert logged_in.json()["user"]["id"] == body["user"]["id"]

    me = api.get("/api/v1/me", headers=auth(token))
    assert me.status_code == 200
    assert me.json()["email"] == email

    assert api.post("/api/v1/auth/logout", headers=auth(token)).status_code == 204
    refused = api.get("/api/v1/me", headers=auth(token))
    assert refused.status_code == 401
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["status"] == 401
    # Logging out one session leaves the sign-up session alive.
    assert api.get("/api/v1/me", headers=auth(body["token"])).status_code == 200


def test_me_needs_a_token(api: httpx.Client) -> None:
    assert api.get("/api/v1/me").status_code == 401
    response = api.get("/api/v1/me", headers=auth("not-a-session"))
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM


def test_logout_all_kills_every_session(api: httpx.Client, db: psycopg.Connection[DictRow]) -> None:
    user_id, first = signup(api)
    second = _login(api, _email_of(db, user_id)).json()["token"]
    other_id, other = signup(api)
    assert api.post("/api/v1/auth/logout-all", headers=auth(second)).status_code == 204
    assert api.get("/api/v1/me", headers=auth(first)).status_code == 401
    assert api.get("/api/v1/me", headers=auth(second)).status_code == 401
    assert api.get("/api/v1/me", headers=auth(other)).json()["id"] == str(other_id)


def test_session_ttl_slides(
    api: httpx.Client, settings: Settings, redis_client: redis.Redis
) -> None:
    user_id, token = signup(api)
    key = Keys(settings.redis_key_prefix).session(user_id, hash_token(token))
    assert 0 < int(redis_client.ttl(key)) <= settings.session_ttl_s
    redis_client.expire(key, 60)
    assert int(redis_client.ttl(key)) <= 60
    assert api.get("/api/v1/me", headers=auth(token)).status_code == 200
    assert int(redis_client.ttl(key)) > settings.session_ttl_s - 30
    # Only the hash is stored: the token itself appears in no key.
    assert not list(redis_client.scan_iter(match=f"*{token}*"))


def test_duplicate_email_is_409_until_the_account_is_deleted(api: httpx.Client) -> None:
    body = _signup_body()
    first = api.post("/api/v1/auth/signup", json=body)
    assert first.status_code == 201
    again = api.post("/api/v1/auth/signup", json={**body, "email": str(body["email"]).upper()})
    assert again.status_code == 409
    assert again.headers["content-type"] == PROBLEM
    assert again.json()["errors"][0]["field"] == "body.email"
    token = first.json()["token"]
    assert api.delete("/api/v1/me", headers=auth(token)).status_code == 204
    assert api.post("/api/v1/auth/signup", json=body).status_code == 201


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"password": "short7!"}, "body.password"),
        ({"password": "x" * 129}, "body.password"),
        ({"email": "not-an-email"}, "body.email"),
        ({"email": "someone@localhost"}, "body.email"),
        ({"nickname": " 나 "}, "body.nickname"),
        ({"region_code": "KR-49-01-99"}, "body.region_code"),
        ({"region_code": "KR-49-01"}, "body.region_code"),
        ({"region_code": None}, "body.region_code"),
        ({"role": "admin"}, "body.role"),
    ],
)
def test_bad_signups_are_422_naming_the_field(
    api: httpx.Client, overrides: dict[str, object], field: str
) -> None:
    response = api.post("/api/v1/auth/signup", json=_signup_body(**overrides))
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert field in [error["field"] for error in response.json()["errors"]]


def test_password_is_stored_as_argon2id(api: httpx.Client, db: psycopg.Connection[DictRow]) -> None:
    user_id, _ = signup(api)
    row = db.execute("SELECT password_hash FROM users WHERE id = %s", (user_id,)).fetchone()
    assert row is not None
    assert row["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in row["password_hash"]


def test_wrong_password_and_unknown_email_look_the_same(
    api: httpx.Client, db: psycopg.Connection[DictRow]
) -> None:
    user_id, _ = signup(api)
    wrong = _login(api, _email_of(db, user_id), "wrong-password")
    unknown = _login(api, unique_email())
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.headers["content-type"] == PROBLEM
    assert wrong.json() == unknown.json()


def test_account_without_password_cannot_log_in(
    api: httpx.Client, db: psycopg.Connection[DictRow]
) -> None:
    email = unique_email()
    make_user(db, email=email)
    assert _login(api, email).status_code == 401


def test_soft_deleted_user_cannot_log_in(
    api: httpx.Client, db: psycopg.Connection[DictRow]
) -> None:
    user_id, token = signup(api)
    email = _email_of(db, user_id)
    assert api.delete("/api/v1/me", headers=auth(token)).status_code == 204
    assert api.get("/api/v1/me", headers=auth(token)).status_code == 401
    row = db.execute("SELECT deleted_at FROM users WHERE id = %s", (user_id,)).fetchone()
    assert row is not None and row["deleted_at"] is not None
    assert _login(api, email).status_code == 401


def test_daily_login_reward_once_per_korean_day(
    api: httpx.Client, db: psycopg.Connection[DictRow]
) -> None:
    user_id, _ = signup(api)
    email = _email_of(db, user_id)
    assert _login(api, email).json()["user"]["point_balance"] == 10
    assert _login(api, email).json()["user"]["point_balance"] == 10
    ledger = db.execute(
        "SELECT amount, idempotency_key, "
        "       to_char(now() AT TIME ZONE 'Asia/Seoul', 'YYYY-MM-DD') AS today "
        "FROM point_transactions WHERE user_id = %s AND transaction_type = 'earn_daily_login'",
        (user_id,),
    ).fetchall()
    assert len(ledger) == 1
    assert ledger[0]["amount"] == 10
    assert ledger[0]["idempotency_key"] == f"daily_login:{user_id}:{ledger[0]['today']}"
    events = db.execute(
        "SELECT payload FROM outbox WHERE topic = 'user.login' AND aggregate_id = %s",
        (user_id,),
    ).fetchall()
    assert [e["payload"] for e in events] == [{"user_id": str(user_id), "day": ledger[0]["today"]}]
    user = db.execute(
        "SELECT point_balance, total_earned_points FROM users WHERE id = %s", (user_id,)
    ).fetchone()
    assert user == {"point_balance": 10, "total_earned_points": 10}


def test_outdated_hash_is_upgraded_on_login(
    api: httpx.Client, db: psycopg.Connection[DictRow]
) -> None:
    user_id, _ = signup(api)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    db.execute("UPDATE users SET password_hash = %s WHERE id = %s", (weak, user_id))
    assert _login(api, _email_of(db, user_id)).status_code == 200
    row = db.execute("SELECT password_hash FROM users WHERE id = %s", (user_id,)).fetchone()
    assert row is not None
    assert row["password_hash"] != weak
    assert not PasswordHasher().check_needs_rehash(row["password_hash"])
    assert _login(api, _email_of(db, user_id)).status_code == 200


def test_redis_down_is_503_not_500(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings, database_url: str
) -> None:
    _, token = signup(api)
    body = _signup_body()
    runtime = Runtime.build(settings, ServerUrls(database_url, "unix:///nonexistent/redis.sock"))
    with serve_api(runtime) as base_url, httpx.Client(base_url=base_url, timeout=30) as down:
        responses = [
            down.post("/api/v1/auth/signup", json=body),
            down.post("/api/v1/auth/login", json={"email": unique_email(), "password": PASSWORD}),
            down.get("/api/v1/me", headers=auth(token)),
        ]
    for response in responses:
        assert response.status_code == 503
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["title"] == "잠시 후 다시 시도해 주세요"
    # The sign-up rolled back with its session, so retrying later is not a 409.
    assert db.execute("SELECT 1 FROM users WHERE email = %s", (body["email"],)).fetchone() is None
