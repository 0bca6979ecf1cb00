"""The external index follows PostgreSQL through the outbox and its queue, losing nothing.

The real outbox worker runs against the real embedded PostgreSQL; the index is
``MemoryCluster`` (tests/search/memory_index.py), which keeps Elasticsearch's
alias and external-version rules. "Zero drift" means the index holds exactly
what ``document()`` builds from PostgreSQL for every visible question.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from dongne.config import Settings
from dongne.db.router import ShardRouter, Workload
from dongne.outbox.handlers import default_registry
from dongne.outbox.worker import OutboxWorker
from dongne.search import external, services
from dongne.search.elasticsearch import SOURCE_SQL, document
from dongne.search.external import (
    ExternalIndexSyncer,
    ExternalSearchIndex,
    IndexChange,
    SyncReport,
)
from tests.search.changes import ask, change_each
from tests.search.memory_index import FlakyIndex, MemoryCluster
from tests.support.routers import with_router
from tests.support.servers import free_port
from tests.support.sessions import login_as

T = TypeVar("T")


@dataclass(frozen=True)
class People:
    asker: UUID
    asker_headers: dict[str, str]
    neighbour: dict[str, str]
    admin: dict[str, str]


@dataclass(frozen=True)
class Db:
    """Runs async work against the module's database with a router of its own
    (the HTTP calls of these tests are blocking, so the tests are not async)."""

    settings: Settings
    url: str

    def run(self, work: Callable[[ShardRouter], Awaitable[T]]) -> T:
        return with_router(self.settings, self.url, work)

    def truth(self) -> dict[str, dict[str, Any]]:
        return self.run(_truth)

    def pending(self) -> int:
        return self.run(_pending)

    def sync(self, index: ExternalSearchIndex) -> None:
        """The outbox worker, then the syncer until nothing is pending."""
        self.run(lambda router: _deliver_and_drain(router, index))


@pytest.fixture(scope="module")
def postgres(settings: Settings, database_url: str) -> Db:
    return Db(settings, database_url)


@pytest.fixture(scope="module")
def people(database_url: str, settings: Settings) -> People:
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as db:
        asker, asker_headers = login_as(db, settings, nickname="애월토박이")
        _, neighbour = login_as(db, settings, verification_level=1)
        _, admin = login_as(db, settings, role="admin")
    return People(asker, asker_headers, neighbour, admin)


@pytest.fixture(scope="module")
def cluster(postgres: Db) -> MemoryCluster:
    """The index behind its alias, built (empty) by the real reindex."""
    cluster = MemoryCluster()
    postgres.run(lambda r: services.reindex_elasticsearch(r, cluster, shards=1, replicas=0))
    return cluster


async def _truth(router: ShardRouter) -> dict[str, dict[str, Any]]:
    """What the index must hold: ``document()`` of every visible question."""
    async with router.connection(Workload.BACKGROUND) as conn:
        rows = await (await conn.execute(SOURCE_SQL.encode())).fetchall()
    return {str(row["id"]): document(row) for row in rows}


async def _pending(router: ShardRouter) -> int:
    async with router.connection(Workload.BACKGROUND) as conn:
        cursor = await conn.execute(
            "SELECT count(*) AS n FROM search_external_sync WHERE seq > synced_seq"
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row["n"])


async def _deliver(router: ShardRouter) -> int:
    """The outbox worker as `dongne worker` runs it with Elasticsearch configured."""
    return await OutboxWorker(router, default_registry(external_search=True)).run_once()


def _syncer(router: ShardRouter, index: ExternalSearchIndex) -> ExternalIndexSyncer:
    return ExternalIndexSyncer(router, index, backoff_base_s=0.02, backoff_cap_s=0.1)


async def _drain(router: ShardRouter, index: ExternalSearchIndex) -> None:
    """Sync passes until nothing is pending (failed rows wait out their backoff)."""
    syncer = _syncer(router, index)
    for _ in range(200):
        await syncer.run_once()
        if await _pending(router) == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the external sync queue did not drain")


async def _deliver_and_drain(router: ShardRouter, index: ExternalSearchIndex) -> None:
    await _deliver(router)
    await _drain(router, index)


def test_changes_made_while_the_worker_is_stopped_converge_with_zero_drift(
    api: httpx.Client, postgres: Db, cluster: MemoryCluster, people: People
) -> None:
    ids = [ask(api, people.asker_headers, n) for n in range(7)]
    edited, hidden, deleted, liked, answered, unanswered, plain = ids
    asker, neighbour, admin = people.asker_headers, people.neighbour, people.admin
    withdrawn = api.post(f"/api/v1/questions/{unanswered}/answers", headers=neighbour,
                         json={"content": "잘 모르겠지만 한림 쪽도 알아보세요."})  # fmt: skip
    assert withdrawn.status_code == 201, withdrawn.text
    assert cluster.documents == {}
    postgres.sync(cluster)
    assert set(cluster.documents) == set(ids)
    assert cluster.documents == postgres.truth()
    assert cluster.documents[unanswered]["stats"]["answer_count"] == 1

    # The worker is stopped: every kind of change, all at once.
    change_each(api, (edited, hidden, deleted, liked, answered), asker, neighbour, admin)
    # The author's new nickname reaches every question.
    me = api.patch("/api/v1/me", headers=asker, json={"nickname": "협재지킴이"})
    assert me.status_code == 200, me.text

    truth = postgres.truth()
    assert cluster.documents != truth  # nothing reached the index yet

    postgres.sync(cluster)
    assert cluster.documents == truth
    assert set(truth) == {edited, liked, answered, unanswered, plain}
    assert truth[plain]["user"]["nickname"] == "협재지킴이"
    assert truth[answered]["status"] == "answered"
    assert truth[liked]["stats"]["like_count"] == 1

    # Replaying every event changes nothing: the sync is state-based.
    with psycopg.connect(postgres.url, autocommit=True) as db:
        db.execute("UPDATE outbox SET processed_at = NULL, attempts = 0")
    postgres.sync(cluster)
    assert cluster.documents == postgres.truth()

    # Unhiding brings the question back through the same path.
    unhide = api.post(f"/api/v1/admin/questions/{hidden}/unhide", headers=admin,
                      json={"reason": "확인"})  # fmt: skip
    assert unhide.status_code == 200, unhide.text
    postgres.sync(cluster)
    assert hidden in cluster.documents
    assert cluster.documents == postgres.truth()

    # So does local verification (the local_only filter reads it).
    verify = api.post(f"/api/v1/admin/users/{people.asker}/verification", headers=admin,
                      json={"level": 1, "reason": "현장 확인"})  # fmt: skip
    assert verify.status_code == 200, verify.text
    postgres.sync(cluster)
    assert all(doc["user"]["is_local_verified"] for doc in cluster.documents.values())
    assert cluster.documents == postgres.truth()

    # Deleting an answer lowers the question's count: its own event
    # (answer.deleted, migration 0015) carries that to the index.
    gone = api.delete(f"/api/v1/answers/{withdrawn.json()['id']}", headers=neighbour)
    assert gone.status_code == 204, gone.text
    postgres.sync(cluster)
    assert cluster.documents[unanswered]["stats"]["answer_count"] == 0
    assert cluster.documents == postgres.truth()


_QUEUE_ROWS = """
SELECT attempts, last_error, available_at > now() AS backing_off
FROM search_external_sync WHERE question_id = ANY(%s)
"""


def test_a_failing_index_loses_nothing(
    api: httpx.Client, postgres: Db, cluster: MemoryCluster, people: People
) -> None:
    fresh = [ask(api, people.asker_headers, n) for n in range(10, 13)]
    postgres.run(_deliver)
    assert postgres.pending() == 3
    flaky = FlakyIndex(cluster, failing_requests=2, failing_items=1)

    # Batches of two, and a long first backoff so the rows are still waiting
    # when looked at.
    first = postgres.run(
        lambda r: ExternalIndexSyncer(r, flaky, batch_size=2, backoff_base_s=1.0).run_once()
    )
    # The first request failed as a whole: its rows stay queued with the error
    # and a backoff, and the pass ended there instead of failing the third row
    # against an unreachable index too.
    assert (first.written, first.failed) == (0, 2)
    with psycopg.connect(postgres.url, autocommit=True, row_factory=dict_row) as db:
        rows = db.execute(_QUEUE_ROWS, ([UUID(i) for i in fresh],)).fetchall()
    assert sorted(r["attempts"] for r in rows) == [0, 1, 1]
    failed = [r for r in rows if r["attempts"]]
    assert all("ConnectionError" in r["last_error"] and r["backing_off"] for r in failed)

    postgres.run(lambda router: _drain(router, flaky))
    assert flaky.calls >= 4  # two whole failures, one item failure, then success
    assert cluster.documents == postgres.truth()
    assert set(fresh) <= set(cluster.documents)


class _ChangingIndex:
    """Runs ``change`` (once) while the syncer's first write is in flight."""

    def __init__(self, inner: MemoryCluster, change: Callable[[], Awaitable[None]]) -> None:
        self._inner = inner
        self._change: Callable[[], Awaitable[None]] | None = change

    async def apply(self, changes: Sequence[IndexChange]) -> dict[str, str]:
        if self._change is not None:
            change, self._change = self._change, None
            await change()
        return await self._inner.apply(changes)

    async def ids(self) -> set[str]:
        return await self._inner.ids()


def test_a_change_during_a_write_is_sent_too(
    api: httpx.Client, postgres: Db, cluster: MemoryCluster, people: People
) -> None:
    question = ask(api, people.asker_headers, 20)
    title = "금능 해변 패들보드 대여 문의"
    postgres.run(_deliver)

    def edit() -> None:
        patch = api.patch(f"/api/v1/questions/{question}", headers=people.asker_headers,
                          json={"title": title})  # fmt: skip
        assert patch.status_code == 200, patch.text

    async def write_while_editing(router: ShardRouter) -> SyncReport:
        async def edit_meanwhile() -> None:
            await asyncio.to_thread(edit)
            await _deliver(router)

        return await _syncer(router, _ChangingIndex(cluster, edit_meanwhile)).run_once()

    report = postgres.run(write_while_editing)
    # The first write carried the old title; its row was not settled because a
    # newer request arrived, so the same pass sent the new title as well.
    assert report.written == 2
    assert cluster.documents[question]["title"] == title
    assert postgres.pending() == 0
    assert cluster.documents == postgres.truth()


def test_updates_during_a_reindex_reach_the_new_index(
    api: httpx.Client, postgres: Db, cluster: MemoryCluster, people: People
) -> None:
    first = min(postgres.truth())  # in the build's first batch (keyset order by id)
    title = "용머리해안 물때 확인하는 법"

    async def reindex_while_editing(router: ShardRouter) -> str:
        loop = asyncio.get_running_loop()

        def during_build() -> None:
            # Runs in the reindex's writer thread, after the first batch was read.
            cluster.on_build_write = None
            patch = api.patch(f"/api/v1/questions/{first}", headers=people.asker_headers,
                              json={"title": title})  # fmt: skip
            assert patch.status_code == 200, patch.text
            # Delivered and synced at once: through the alias, into the old index.
            done = asyncio.run_coroutine_threadsafe(_deliver_and_drain(router, cluster), loop)
            done.result(timeout=60)

        cluster.on_build_write = during_build
        return await services.reindex_elasticsearch(
            router, cluster, batch_size=2, shards=1, replicas=0
        )

    old_index = cluster.alias
    new_index = postgres.run(reindex_while_editing)
    assert cluster.alias == new_index and old_index not in cluster.indices
    # The build read the question before the edit; the edit is queued again.
    assert cluster.documents[first]["title"] != title
    assert postgres.pending() >= 1

    postgres.run(lambda router: _drain(router, cluster))
    assert cluster.documents[first]["title"] == title
    assert cluster.documents == postgres.truth()


def test_drift_report_counts_ids_and_leaves_queued_ones_out(
    postgres: Db, cluster: MemoryCluster
) -> None:
    clean = postgres.run(lambda router: external.drift(router, cluster))
    assert clean.total == 0 and clean.visible == clean.indexed > 0
    assert clean.pending == clean.failing == 0

    lost = sorted(cluster.documents)[0]
    index = cluster.indices[str(cluster.alias)]
    del index.documents[lost]
    bogus = "01900000-0000-7000-8000-000000000000"
    index.write([IndexChange(bogus, 1, {"id": bogus})])
    report = postgres.run(lambda router: external.drift(router, cluster))
    assert (report.missing, report.orphaned) == ([lost], [bogus])

    # Once queued, the lost question is on its way, not drift; the sync repairs it.
    async def queue_lost(router: ShardRouter) -> None:
        async with router.connection(Workload.BACKGROUND) as conn, conn.transaction():
            await external.enqueue(conn, [UUID(lost)])

    postgres.run(queue_lost)
    queued = postgres.run(lambda router: external.drift(router, cluster))
    assert (queued.missing, queued.pending) == ([], 1)
    postgres.run(lambda router: _drain(router, cluster))
    del index.documents[bogus]
    assert postgres.run(lambda router: external.drift(router, cluster)).total == 0


def test_a_running_syncer_is_woken_by_the_worker(
    api: httpx.Client, postgres: Db, cluster: MemoryCluster, people: People
) -> None:
    async def scenario(router: ShardRouter) -> str:
        # A long poll interval: only the worker's after-commit wake-up can
        # explain a prompt delivery.
        syncer = ExternalIndexSyncer(router, cluster, poll_interval_s=60)
        worker = OutboxWorker(
            router, default_registry(external_search=True), after_commit=[syncer.on_outbox_event]
        )
        stop = asyncio.Event()
        running = asyncio.create_task(syncer.run(stop))
        try:
            question = await asyncio.to_thread(ask, api, people.asker_headers, 50)
            await worker.run_once()
            for _ in range(500):  # up to ten seconds
                if question in cluster.documents:
                    break
                await asyncio.sleep(0.02)
        finally:
            stop.set()
            await running
        return question

    question = postgres.run(scenario)
    assert cluster.documents[question] == postgres.truth()[question]
    assert postgres.pending() == 0


def test_dongne_worker_queues_and_sends_when_elasticsearch_is_configured(
    api: httpx.Client,
    postgres: Db,
    cluster: MemoryCluster,
    people: People,
    settings: Settings,
    tmp_path: Path,
) -> None:
    """The real command's wiring: handlers queue, a syncer tries, a refused
    connection leaves the change queued with its error."""
    question = ask(api, people.asker_headers, 40)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DONGNE_")}
    env.update(
        DONGNE_HOME=str(tmp_path),
        DONGNE_DATABASE_URL=postgres.url,
        DONGNE_REDIS_URL=str(settings.redis_url),
        DONGNE_REDIS_KEY_PREFIX=settings.redis_key_prefix,
        DONGNE_CACHE_ENABLED="false",
        DONGNE_SEARCH_BACKEND="elasticsearch",
        # Nothing listens there: every request is refused at once.
        DONGNE_ELASTICSEARCH_URL=f"http://127.0.0.1:{free_port()}",
    )
    result = subprocess.run(
        [sys.executable, "-m", "dongne", "worker", "--once"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with psycopg.connect(postgres.url, autocommit=True, row_factory=dict_row) as db:
        rows = db.execute(_QUEUE_ROWS, ([UUID(question)],)).fetchall()
    assert len(rows) == 1 and rows[0]["attempts"] == 1
    assert "Connection" in rows[0]["last_error"]

    # Nothing was lost: the next syncer that can reach an index sends it.
    postgres.run(lambda router: _drain(router, cluster))
    assert cluster.documents == postgres.truth()
