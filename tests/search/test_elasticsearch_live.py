"""The shared contract against a live Elasticsearch (with analysis-nori).

Runs only when ``DONGNE_ELASTICSEARCH_URL`` is set; no cluster runs on our
machines, so it is skipped otherwise, with that reason shown in the summary.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

from dongne.db.router import ShardRouter
from dongne.outbox.handlers import default_registry
from dongne.outbox.worker import OutboxWorker
from dongne.search import external, services
from dongne.search.contract import SearchQuery
from dongne.search.elasticsearch import ElasticsearchSearchBackend
from dongne.search.external import ExternalIndexSyncer
from tests.search.test_postgres_backend import CORPUS, HALLIM
from tests.support.factories import make_question, make_user

URL = os.environ.get("DONGNE_ELASTICSEARCH_URL")
pytestmark = pytest.mark.skipif(
    not URL, reason="DONGNE_ELASTICSEARCH_URL is not set: no Elasticsearch cluster to test against"
)


@pytest.fixture(scope="module")
def es_corpus(database_url: str) -> dict[str, UUID]:
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as db:
        author = make_user(db, nickname="애월토박이", verification_level=1)
        ids = {key: make_question(db, author, **fields) for key, fields in CORPUS.items()}
        db.execute("UPDATE questions SET deleted_at = now() WHERE id = %s", (ids["deleted"],))
        return ids


@pytest.fixture(scope="module")
async def es(router: ShardRouter, es_corpus: dict[str, UUID]) -> AsyncIterator[Any]:
    assert URL is not None
    alias = f"dongne-test-{uuid.uuid4().hex[:8]}"
    backend = ElasticsearchSearchBackend.connect(URL, alias)
    await services.reindex_elasticsearch(router, backend, shards=1, replicas=0)
    yield backend
    # Whatever the alias points at by now (the swap test replaces the first build).
    backend.delete_indices(backend._client.indices.get_alias(name=alias))


async def _keys(es: Any, ids: dict[str, UUID], text: str, **fields: Any) -> list[str]:
    names = {v: k for k, v in ids.items()}
    result = await es.search(SearchQuery(text=text, **fields))
    return [names[hit.id] for hit in result.hits]


async def test_contract_on_elasticsearch(es: Any, es_corpus: dict[str, UUID]) -> None:
    found = await _keys(es, es_corpus, "애월읍에서 흑돼지 맛집")
    assert found and found[0] == "pork"
    assert "hidden" not in found and "deleted" not in found
    assert {"pork", "pork_compound"} <= set(await _keys(es, es_corpus, "흑돼지맛집"))
    assert "cafe" in await _keys(es, es_corpus, "카페")
    assert await _keys(es, es_corpus, "흑돼지", regions=(HALLIM,)) == ["pork_compound"]
    assert await _keys(es, es_corpus, "😀😀") == []


async def test_alias_swap_keeps_serving(
    router: ShardRouter, es: Any, es_corpus: dict[str, UUID]
) -> None:
    first = set(es._client.indices.get_alias(name=es.alias))
    index = await services.reindex_elasticsearch(router, es, shards=1, replicas=0)
    assert set(es._client.indices.get_alias(name=es.alias)) == {index}
    assert not first & {index}
    assert "pork" in await _keys(es, es_corpus, "흑돼지")


async def test_outbox_sync_reaches_elasticsearch(
    router: ShardRouter, es: Any, es_corpus: dict[str, UUID]
) -> None:
    """An edit and a hide, committed with their events, reach the cluster through
    the real worker, the queue and the real client; the drift report is clean."""
    question = es_corpus["cafe"]
    async with router.transaction() as conn:
        await conn.execute(
            "UPDATE questions SET title = '한림 스노클링 장비 대여점' WHERE id = %s", (question,)
        )
        await conn.execute(
            "SELECT enqueue_outbox('question.updated', 'question', %s, '{}')", (question,)
        )
        await conn.execute(
            "UPDATE questions SET status = 'hidden' WHERE id = %s", (es_corpus["pork"],)
        )
        await conn.execute(
            "SELECT enqueue_outbox('question.hidden', 'question', %s, '{}')", (es_corpus["pork"],)
        )
    await OutboxWorker(router, default_registry(external_search=True)).run_once()
    report = await ExternalIndexSyncer(router, es).run_once()
    assert (report.written, report.failed) == (2, 0)
    es._client.indices.refresh(index=es.alias)

    assert await _keys(es, es_corpus, "스노클링") == ["cafe"]
    assert "pork" not in await _keys(es, es_corpus, "흑돼지")
    assert str(es_corpus["pork"]) not in await es.ids()
    drift = await external.drift(router, es)
    assert drift.total == 0 and drift.pending == 0
