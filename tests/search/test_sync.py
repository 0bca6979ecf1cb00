"""The index follows PostgreSQL through the outbox and converges with zero drift."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import psycopg
from psycopg.rows import DictRow
from typer.testing import CliRunner

from dongne.config import Settings
from tests.search.changes import ask, change_each, drift, found
from tests.support.routers import run_worker
from tests.support.sessions import login_as


def test_edits_hides_and_deletes_while_the_worker_is_stopped_converge(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings, database_url: str
) -> None:
    _, asker = login_as(db, settings)
    _, neighbour = login_as(db, settings, verification_level=1)
    _, admin = login_as(db, settings, role="admin")
    ids = [ask(api, asker, n) for n in range(5)]
    assert run_worker(settings, database_url) >= 5
    assert drift(settings, database_url).total == 0
    assert found(settings, database_url, "스노클링") == set(ids)

    # The worker is stopped: edit, hide, delete, like, answer and accept.
    edited, hidden, deleted, liked, answered = ids
    change_each(api, (edited, hidden, deleted, liked, answered), asker, neighbour, admin)

    before = drift(settings, database_url)
    # The edit changed the text; the accepted answer the status and has_answers.
    assert set(before.stale) == {UUID(edited), UUID(answered)}
    # Both wait in the outbox: lag, which the report tells from loss.
    assert before.waiting == 2
    # Hiding and deleting drop the search row in their own transaction.
    assert before.orphaned == []
    # Even before the worker runs, hidden and deleted questions never appear.
    visible = found(settings, database_url, "스노클링")
    assert hidden not in visible and deleted not in visible

    run_worker(settings, database_url)
    after = drift(settings, database_url)
    assert after.total == 0 and after.waiting == 0, after
    assert found(settings, database_url, "카약") == {edited}
    assert found(settings, database_url, "스노클링") == {edited, liked, answered}
    # Replaying every event changes nothing (idempotent handlers).
    db.execute("UPDATE outbox SET processed_at = NULL, attempts = 0")
    run_worker(settings, database_url)
    assert drift(settings, database_url).total == 0

    # Unhiding brings the question back through the same path.
    api.post(f"/api/v1/admin/questions/{hidden}/unhide", headers=admin, json={"reason": "확인"})
    run_worker(settings, database_url)
    assert hidden in found(settings, database_url, "스노클링")


def test_reindex_and_check_commands(
    db: psycopg.Connection[DictRow], settings: Settings, database_url: str, monkeypatch: Any
) -> None:
    from dongne.cli import app

    db.execute("DELETE FROM question_search")
    # One of the missing has an event the worker has not taken yet.
    db.execute(
        "SELECT enqueue_outbox('question.updated', 'question', id, '{}'::jsonb)"
        " FROM questions WHERE deleted_at IS NULL AND status <> 'hidden' LIMIT 1"
    )
    for key, value in {
        "DONGNE_DATABASE_URL": database_url, "DONGNE_REDIS_URL": str(settings.redis_url),
        "DONGNE_HOME": str(settings.home), "DONGNE_ENVIRONMENT": "test",
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    drifted = runner.invoke(app, ["search", "check"])
    assert drifted.exit_code == 1, drifted.output
    assert "missing" in drifted.output
    assert "1 of them have outbox events not yet processed" in drifted.output
    rebuilt = runner.invoke(app, ["search", "reindex", "--batch-size", "10"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "indexed" in rebuilt.output and "reindexed" in rebuilt.output
    clean = runner.invoke(app, ["search", "check"])
    assert clean.exit_code == 0, clean.output
    assert "drift: 0" in clean.output and "not yet processed" not in clean.output
