"""A new nickname reaches the search index of every question its author asked."""

from __future__ import annotations

from uuid import UUID

import httpx
import psycopg
from psycopg.rows import DictRow

from dongne.config import Settings
from dongne.search import services
from dongne.search.contract import SearchQuery
from dongne.search.postgres import PostgresSearchBackend
from dongne.search.sync import CONTINUE_TOPIC, USER_BATCH
from tests.search.changes import ask, drift, found
from tests.support.accounts import auth, signup
from tests.support.factories import make_question
from tests.support.routers import run_worker, with_router
from tests.support.sessions import login_as


def _stale(settings: Settings, url: str) -> list[UUID]:
    return drift(settings, url).stale


def test_a_new_nickname_is_searchable_once_the_worker_ran(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings, database_url: str
) -> None:
    user_id, token = signup(api, nickname="돌하르방")
    question = ask(api, auth(token), 1)
    run_worker(settings, database_url)
    assert drift(settings, database_url).total == 0
    assert question in found(settings, database_url, "돌하르방")

    patched = api.patch("/api/v1/me", headers=auth(token), json={"nickname": "한라산지기"})
    assert patched.status_code == 200, patched.text
    # The event is written with the change (same transaction), not later.
    events = db.execute(
        "SELECT payload FROM outbox WHERE topic = 'user.updated' AND aggregate_id = %s",
        (user_id,),
    ).fetchall()
    assert [e["payload"] for e in events] == [{"user_id": str(user_id), "fields": ["nickname"]}]
    assert _stale(settings, database_url) == [UUID(question)]

    run_worker(settings, database_url)
    report = drift(settings, database_url)
    assert report.total == 0 and report.stale == []
    assert question in found(settings, database_url, "한라산지기")
    assert question not in found(settings, database_url, "돌하르방")

    # Saving the same nickname again is not a change: no event.
    same = api.patch("/api/v1/me", headers=auth(token), json={"nickname": "한라산지기"})
    assert same.status_code == 200, same.text
    count = db.execute(
        "SELECT count(*) AS n FROM outbox WHERE topic = 'user.updated' AND aggregate_id = %s",
        (user_id,),
    ).fetchone()
    assert count is not None and count["n"] == 1


def test_a_prolific_author_is_resynced_in_bounded_batches(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings, database_url: str
) -> None:
    user_id, token = signup(api, nickname="귤밭농부")
    total = 2 * USER_BATCH + 5
    for _ in range(total):
        make_question(db, user_id)
    hidden = make_question(db, user_id, status="hidden")
    with_router(settings, database_url, services.reindex)
    assert drift(settings, database_url).total == 0

    patched = api.patch("/api/v1/me", headers=auth(token), json={"nickname": "감귤명인"})
    assert patched.status_code == 200, patched.text
    assert len(_stale(settings, database_url)) == total
    run_worker(settings, database_url)

    # One event per batch of USER_BATCH: user.updated, then two follow-ups.
    follow_ups = db.execute(
        "SELECT payload FROM outbox WHERE topic = %s AND aggregate_id = %s ORDER BY id",
        (CONTINUE_TOPIC, user_id),
    ).fetchall()
    assert len(follow_ups) == 2
    assert all(e["payload"]["user_id"] == str(user_id) for e in follow_ups)
    report = drift(settings, database_url)
    assert report.total == 0 and report.stale == []
    assert str(hidden) not in found(settings, database_url, "감귤명인")
    assert len(found(settings, database_url, "감귤명인")) == 50  # the page limit


def test_a_verification_change_leaves_no_stale_rows(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings, database_url: str
) -> None:
    user_id, token = signup(api, nickname="성산일출")
    question = ask(api, auth(token), 2)
    _, admin = login_as(db, settings, role="admin")
    verify = api.post(f"/api/v1/admin/users/{user_id}/verification", headers=admin,
                      json={"level": 2, "reason": "현장 확인"})  # fmt: skip
    assert verify.status_code == 200, verify.text
    run_worker(settings, database_url)
    report = drift(settings, database_url)
    assert report.total == 0 and report.stale == []
    local = with_router(
        settings, database_url,
        lambda r: PostgresSearchBackend(r).search(SearchQuery(text="성산일출", local_only=True)),
    )  # fmt: skip
    assert question in {str(hit.id) for hit in local.hits}
