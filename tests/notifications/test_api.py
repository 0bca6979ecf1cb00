"""The inbox over HTTP: cursor paging, unread counts, marking read, and
nothing of anyone else's."""

from __future__ import annotations

from uuid import UUID, uuid4

import httpx
import psycopg
import pytest
from psycopg.rows import DictRow

from dongne.config import Settings
from tests.support.sessions import login_as

BASE = "/api/v1/notifications"


def _notify(db: psycopg.Connection[DictRow], user: UUID, count: int) -> list[UUID]:
    """``count`` notifications for ``user``, oldest first."""
    ids = []
    for n in range(count):
        row = db.execute(
            "INSERT INTO notifications (user_id, type, title, message, data)"
            " VALUES (%s, 'system', %s, '동네물어봐 공지입니다.', %s) RETURNING id",
            (user, f"공지 {n}", f'{{"n": {n}}}'),
        ).fetchone()
        assert row is not None
        ids.append(row["id"])
    return ids


def _pages(api: httpx.Client, headers: dict[str, str], **params: str | int) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        query: dict[str, str | int] = {**params, **({"cursor": cursor} if cursor else {})}
        response = api.get(BASE, params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def test_listing_pages_newest_first_with_an_opaque_cursor(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    user, headers = login_as(db, settings)
    other, _ = login_as(db, settings)
    ids = [str(i) for i in _notify(db, user, 25)]
    _notify(db, other, 3)

    pages = _pages(api, headers, limit=10)
    assert [len(page) for page in pages] == [10, 10, 5]
    assert [i for page in pages for i in page] == list(reversed(ids))

    first = api.get(BASE, headers=headers).json()  # default limit 20
    assert len(first["items"]) == 20
    item = first["items"][0]
    assert item["type"] == "system"
    assert item["title"] == "공지 24"
    assert item["data"] == {"n": 24}
    assert item["is_read"] is False and item["read_at"] is None


def test_unread_only_and_unread_count(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    user, headers = login_as(db, settings)
    ids = _notify(db, user, 7)
    db.execute(
        "UPDATE notifications SET is_read = true, read_at = now() WHERE id = ANY(%s)",
        ([ids[0], ids[3], ids[6]],),
    )
    assert api.get(f"{BASE}/unread-count", headers=headers).json() == {"count": 4}
    unread = _pages(api, headers, unread_only="true", limit=3)
    assert [len(p) for p in unread] == [3, 1]
    assert [i for p in unread for i in p] == [str(ids[n]) for n in (5, 4, 2, 1)]


def test_mark_one_read(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    user, headers = login_as(db, settings)
    ids = _notify(db, user, 2)
    response = api.post(f"{BASE}/{ids[0]}/read", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(ids[0])
    assert body["is_read"] is True and body["read_at"] is not None
    assert api.get(f"{BASE}/unread-count", headers=headers).json() == {"count": 1}

    again = api.post(f"{BASE}/{ids[0]}/read", headers=headers).json()
    assert again["read_at"] == body["read_at"]  # the first reading is kept
    assert api.get(f"{BASE}/unread-count", headers=headers).json() == {"count": 1}


def test_mark_all_read_touches_only_the_caller(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    user, headers = login_as(db, settings)
    other, other_headers = login_as(db, settings)
    _notify(db, user, 4)
    _notify(db, other, 2)
    assert api.post(f"{BASE}/read-all", headers=headers).json() == {"updated": 4}
    assert api.post(f"{BASE}/read-all", headers=headers).json() == {"updated": 0}
    assert api.get(f"{BASE}/unread-count", headers=headers).json() == {"count": 0}
    assert api.get(f"{BASE}/unread-count", headers=other_headers).json() == {"count": 2}
    assert all(i["is_read"] for i in api.get(BASE, headers=headers).json()["items"])


def test_another_users_notification_is_not_found(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    owner, _ = login_as(db, settings)
    _, intruder = login_as(db, settings)
    (theirs,) = _notify(db, owner, 1)

    for target in (theirs, uuid4()):
        response = api.post(f"{BASE}/{target}/read", headers=intruder)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["title"] == "알림을 찾을 수 없습니다"
    assert api.get(BASE, headers=intruder).json() == {"items": [], "next_cursor": None}
    row = db.execute("SELECT is_read FROM notifications WHERE id = %s", (theirs,)).fetchone()
    assert row == {"is_read": False}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", BASE),
        ("GET", f"{BASE}/unread-count"),
        ("POST", f"{BASE}/read-all"),
        ("POST", f"{BASE}/{uuid4()}/read"),
    ],
)
def test_every_route_needs_a_session(api: httpx.Client, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-session"}):
        response = api.request(method, path, headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == 401


def test_bad_parameters_are_problems(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    _, headers = login_as(db, settings)
    for params in ({"limit": 0}, {"limit": 101}, {"cursor": "not-a-cursor"}):
        response = api.get(BASE, params=params, headers=headers)
        assert response.status_code == 422, params
        assert response.headers["content-type"].startswith("application/problem+json")
    assert api.post(f"{BASE}/not-a-uuid/read", headers=headers).status_code == 422
