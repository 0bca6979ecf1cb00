"""The index follows PostgreSQL through the outbox and converges with zero drift."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

import httpx
import psycopg
from psycopg.rows import DictRow
from typer.testing import CliRunner

from dongne.config import Settings
from dongne.db.router import ShardRouter
from dongne.outbox.worker import OutboxWorker
from dongne.search import services
from dongne.search.contract import SearchQuery
from dongne.search.postgres import PostgresSearchBackend
from dongne.search.repository import Drift
from tests.search.changes import ask, change_each
from tests.support.sessions import login_as

T = TypeVar("T")


def _with_router(settings: Settings, url: str, work: Callable[[ShardRouter], Awaitable[T]]) -> T:
    async def run() -> T:
        router = ShardRouter.from_settings(settings, url)
        await router.open()
        try:
            return await work(router)
        finally:
            await router.close()

    return asyncio.run(run())


def _run_worker(settings: Settings, url: str) -> int:
    return _with_router(settings, url, lambda r: OutboxWorker(r).run_once())


def _drift(settings: Settings, url: str) -> Drift:
    return _with_router(settings, url, services.check)


def _found(settings: Settings, url: str, text: str) -> set[UUID]:
    async def search(router: ShardRouter) -> set[UUID]:
        result = await PostgresSearchBackend(router).search(SearchQuery(text=text, limit=50))
        return {hit.id for hit in result.hits}

    return _with_router(settings, url, search)


def test_edits_hides_and_deletes_while_the_worker_is_stopped_converge(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings, database_url: str
) -> None:
    _, asker = login_as(db, settings)
    _, neighbour = login_as(db, settings, verification_level=1)
    _, admin = login_as(db, settings, role="admin")
    ids = [ask(api, asker, n) for n in range(5)]
    assert _run_worker(settings, database_url) >= 5
    assert _drift(settings, database_url).total == 0
    assert {str(i) for i in _found(settings, database_url, "스노클링")} == set(ids)

    # The worker is stopped: edit, hide, delete, like, answer and accept.
    edited, hidden, deleted, liked, answered = ids
    change_each(api, (edited, hidden, deleted, liked, answered), asker, neighbour, admin)

    before = _drift(settings, database_url)
    # The edit changed the text; the accepted answer the status and has_answers.
    assert set(before.stale) == {UUID(edited), UUID(answered)}
    # Hiding and deleting drop the search row in their own transaction.
    assert before.orphaned == []
    # Even before the worker runs, hidden and deleted questions never appear.
    visible = {str(i) for i in _found(settings, database_url, "스노클링")}
    assert hidden not in visible and deleted not in visible

    _run_worker(settings, database_url)
    after = _drift(settings, database_url)
    assert after.total == 0, after
    assert {str(i) for i in _found(settings, database_url, "카약")} == {edited}
    assert {str(i) for i in _found(settings, database_url, "스노클링")} == {edited, liked, answered}
    # Replaying every event changes nothing (idempotent handlers).
    db.execute("UPDATE outbox SET processed_at = NULL, attempts = 0")
    _run_worker(settings, database_url)
    assert _drift(settings, database_url).total == 0

    # Unhiding brings the question back through the same path.
    api.post(f"/api/v1/admin/questions/{hidden}/unhide", headers=admin, json={"reason": "확인"})
    _run_worker(settings, database_url)
    assert hidden in {str(i) for i in _found(settings, database_url, "스노클링")}


def test_reindex_and_check_commands(
    db: psycopg.Connection[DictRow], settings: Settings, database_url: str, monkeypatch: Any
) -> None:
    from dongne.cli import app

    db.execute("DELETE FROM question_search")
    for key, value in {
        "DONGNE_DATABASE_URL": database_url, "DONGNE_REDIS_URL": str(settings.redis_url),
        "DONGNE_HOME": str(settings.home), "DONGNE_ENVIRONMENT": "test",
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    drifted = runner.invoke(app, ["search", "check"])
    assert drifted.exit_code == 1, drifted.output
    assert "missing" in drifted.output
    rebuilt = runner.invoke(app, ["search", "reindex", "--batch-size", "10"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "indexed" in rebuilt.output and "reindexed" in rebuilt.output
    clean = runner.invoke(app, ["search", "check"])
    assert clean.exit_code == 0, clean.output
    assert "drift: 0" in clean.output
