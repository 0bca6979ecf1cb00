"""Rate limits: login failures per account, login attempts and sign-ups per
client address."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

import httpx
import psycopg
import pytest
import redis
from psycopg.rows import DictRow

from dongne.accounts.ratelimit import (
    ACCOUNT_FAILURES,
    ADDRESS_ATTEMPTS,
    SIGNUP_WINDOW_S,
    WINDOW_S,
)
from dongne.cache.keys import Keys
from dongne.config import Settings
from tests.support.accounts import PASSWORD, signup, unique_email

PROBLEM = "application/problem+json"


SIGNUPS_PER_HOUR = 12


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    """The suite's settings with a sign-up limit this module can reach."""
    return settings.model_copy(update={"signup_limit_per_hour": SIGNUPS_PER_HOUR})


@pytest.fixture(scope="module")
def redis_client(settings: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(str(settings.redis_url))
    yield client
    client.close()


@pytest.fixture
def keys(settings: Settings, redis_client: redis.Redis) -> Iterator[Keys]:
    """Every test here logs in from 127.0.0.1; start each with a fresh address budget."""
    keys = Keys(settings.redis_key_prefix)
    budgets = [keys.login_attempts_address("127.0.0.1"), keys.signup_attempts_address("127.0.0.1")]
    redis_client.delete(*budgets)
    yield keys
    redis_client.delete(*budgets)


def _login(api: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return api.post("/api/v1/auth/login", json={"email": email, "password": password})


def _email_of(db: psycopg.Connection[DictRow], user_id: UUID) -> str:
    row = db.execute("SELECT email FROM users WHERE id = %s", (user_id,)).fetchone()
    assert row is not None
    return str(row["email"])


def test_account_is_locked_after_five_failures(
    api: httpx.Client, db: psycopg.Connection[DictRow], keys: Keys
) -> None:
    victim = _email_of(db, signup(api)[0])
    bystander = _email_of(db, signup(api)[0])
    for _ in range(ACCOUNT_FAILURES):
        assert _login(api, victim, "wrong-password").status_code == 401
    locked = _login(api, victim)
    assert locked.status_code == 429
    assert locked.headers["content-type"] == PROBLEM
    assert 0 < int(locked.headers["Retry-After"]) <= WINDOW_S
    # The address is not blocked, only the account: others still log in.
    assert _login(api, bystander).status_code == 200
    # Case does not open a second budget for the same account.
    assert _login(api, victim.upper()).status_code == 429


def test_success_clears_the_failures(
    api: httpx.Client, db: psycopg.Connection[DictRow], keys: Keys
) -> None:
    email = _email_of(db, signup(api)[0])
    for _ in range(ACCOUNT_FAILURES - 1):
        assert _login(api, email, "wrong-password").status_code == 401
    assert _login(api, email).status_code == 200
    for _ in range(ACCOUNT_FAILURES - 1):
        assert _login(api, email, "wrong-password").status_code == 401
    assert _login(api, email).status_code == 200


def test_locked_window_expires(
    api: httpx.Client, db: psycopg.Connection[DictRow], keys: Keys, redis_client: redis.Redis
) -> None:
    email = _email_of(db, signup(api)[0])
    for _ in range(ACCOUNT_FAILURES):
        _login(api, email, "wrong-password")
    assert _login(api, email).status_code == 429
    key = keys.login_attempts_account(email)
    assert 0 < int(redis_client.ttl(key)) <= WINDOW_S
    redis_client.delete(key)  # what the expiry does after 15 minutes
    assert _login(api, email).status_code == 200


def test_address_budget(api: httpx.Client, db: psycopg.Connection[DictRow], keys: Keys) -> None:
    email = _email_of(db, signup(api)[0])
    for _ in range(ADDRESS_ATTEMPTS):
        assert _login(api, unique_email()).status_code == 401
    blocked = _login(api, email)
    assert blocked.status_code == 429
    assert blocked.headers["content-type"] == PROBLEM
    assert 0 < int(blocked.headers["Retry-After"]) <= WINDOW_S


def test_forwarded_for_does_not_buy_a_fresh_budget(
    api: httpx.Client, db: psycopg.Connection[DictRow]
) -> None:
    """The budget follows the socket peer; X-Forwarded-For changes nothing.

    uvicorn would rewrite the client address from X-Forwarded-For for peers in
    ``forwarded_allow_ips`` (127.0.0.1 by default); dongne's servers run with
    proxy headers off, as a server not behind a trusted reverse proxy must.
    """
    email = _email_of(db, signup(api)[0])
    for n in range(ADDRESS_ATTEMPTS):
        spoofed = {"X-Forwarded-For": f"203.0.113.{n + 1}"}
        body = {"email": unique_email(), "password": PASSWORD}
        assert api.post("/api/v1/auth/login", json=body, headers=spoofed).status_code == 401
    blocked = api.post(
        "/api/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.1"},
    )
    assert blocked.status_code == 429


def test_an_address_opening_accounts_by_the_dozen_is_stopped(
    api: httpx.Client, db: psycopg.Connection[DictRow], keys: Keys
) -> None:
    first = signup(api)[0]
    for _ in range(SIGNUPS_PER_HOUR - 1):
        signup(api)
    email = unique_email()
    body = {"email": email, "password": PASSWORD, "nickname": "열세번째"}
    body["region_code"] = "KR-49-01-01"
    refused = api.post("/api/v1/auth/signup", json=body)
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"].endswith("too-many-signups")
    assert 0 < int(refused.headers["Retry-After"]) <= SIGNUP_WINDOW_S
    # Nothing was written, and logging in is a budget of its own.
    taken = db.execute("SELECT count(*) AS n FROM users WHERE email = %s", (email,)).fetchone()
    assert taken == {"n": 0}
    assert _login(api, _email_of(db, first)).status_code == 200
