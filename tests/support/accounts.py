"""Accounts through the real API, for any test that needs a logged-in user."""

from __future__ import annotations

import itertools
import uuid
from uuid import UUID

import httpx
import psycopg
from psycopg.rows import DictRow

AEWOL = "KR-49-01-02"
PASSWORD = "jeju-dongne-1234"

_counter = itertools.count(1)
# Unique across test modules and runs that share one database or Redis.
_RUN = uuid.uuid4().hex[:8]


def unique_email() -> str:
    return f"neighbour-{_RUN}-{next(_counter)}@example.kr"


def signup(
    api: httpx.Client, *, region_code: str = AEWOL, nickname: str | None = None
) -> tuple[UUID, str]:
    """Sign a new user up (unique e-mail, password ``PASSWORD``); their id and session token."""
    response = api.post(
        "/api/v1/auth/signup",
        json={
            "email": unique_email(),
            "password": PASSWORD,
            "nickname": nickname or f"이웃{next(_counter)}",
            "region_code": region_code,
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return UUID(body["user"]["id"]), str(body["token"])


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_admin(db: psycopg.Connection[DictRow], user_id: UUID) -> None:
    db.execute("UPDATE users SET role = 'admin' WHERE id = %s", (user_id,))
