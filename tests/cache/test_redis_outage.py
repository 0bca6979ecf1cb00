"""Redis is not a single point of failure: kill it under a read/write workload."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg.rows import DictRow

from dongne.cache.breaker import CLOSED
from dongne.cache.service import CacheLayer, layer_for
from dongne.config import Settings
from dongne.embedded.stack import ServerUrls
from dongne.runtime import Runtime
from tests.cache.servers import RedisProcess, cluster_ports
from tests.support.factories import make_question, make_user
from tests.support.servers import serve_api
from tests.support.sessions import login_as

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """A Redis for this test alone (never the session's): it gets killed."""
    server = RedisProcess(Path(tmp_path_factory.mktemp("outage")), cluster_ports(1)[0])
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def outage_settings(settings: Settings, own_redis: RedisProcess) -> Settings:
    return settings.model_copy(update={
        "redis_url": own_redis.url, "cache_enabled": True, "cache_warm_up": False,
        "view_flush_interval_s": 0.2, "cache_breaker_reset_s": 0.2,
    })  # fmt: skip


def _views(db: psycopg.Connection[DictRow], qid: UUID) -> int:
    row = db.execute("SELECT view_count FROM questions WHERE id = %s", (qid,)).fetchone()
    assert row is not None
    return int(row["view_count"])


def _wait_views(db: psycopg.Connection[DictRow], qid: UUID, at_least: int) -> int:
    while (n := _views(db, qid)) < at_least:  # the flush loop runs every 0.2 s
        time.sleep(0.05)
    return n


def _reads(api: httpx.Client, qid: UUID, author: UUID) -> list[int]:
    paths = [
        "/api/v1/questions?region=KR-49-01&sort=popular", "/api/v1/regions/KR-49/stats",
        "/api/v1/hashtags/trending", f"/api/v1/questions/{qid}", f"/api/v1/users/{author}",
        "/api/v1/questions?sort=newest&limit=5",
    ]  # fmt: skip
    return [api.get(path).status_code for path in paths for _ in range(3)]


def test_reads_survive_a_redis_crash_and_views_are_never_doubled(
    outage_settings: Settings, own_redis: RedisProcess, database_url: str,
    db: psycopg.Connection[DictRow],
) -> None:  # fmt: skip
    author = make_user(db)
    qid = make_question(db, author, region_code="KR-49-01-02")
    runtime = Runtime.build(outage_settings, ServerUrls(database_url, own_redis.url))
    with serve_api(runtime) as url, httpx.Client(base_url=url, timeout=30) as api:
        layer = layer_for(runtime)
        assert isinstance(layer, CacheLayer)
        viewers = [login_as(db, outage_settings)[1] for _ in range(3)]
        for headers in viewers:
            assert api.get(f"/api/v1/questions/{qid}", headers=headers).status_code == 200
        assert all(s == 200 for s in _reads(api, qid, author))
        # Three users plus the anonymous reader (one viewer per address).
        assert _wait_views(db, qid, 4) == 4

        own_redis.kill()
        during = _reads(api, qid, author)
        assert all(status < 500 for status in during), during
        assert set(during) == {200}
        # Sessions live in Redis: an authenticated call is a clear 503, not a 500.
        assert api.get(f"/api/v1/questions/{qid}", headers=viewers[0]).status_code == 503
        # A write by an anonymous client is refused as usual (401), never a 5xx.
        assert api.post("/api/v1/questions", json={}).status_code in {401, 422}

        own_redis.start()  # same port and data directory: the AOF comes back
        while layer.breaker.state != CLOSED or not layer.subscriber.live:
            assert all(status == 200 for status in _reads(api, qid, author))
            time.sleep(0.05)
        assert all(status == 200 for status in _reads(api, qid, author))

        # The earlier viewers are still inside their 30-minute window: not again.
        for headers in viewers:
            assert api.get(f"/api/v1/questions/{qid}", headers=headers).status_code == 200
        newcomer = login_as(db, outage_settings)[1]
        assert api.get(f"/api/v1/questions/{qid}", headers=newcomer).status_code == 200
        # Views during the outage were not counted (documented); nothing was counted
        # twice on recovery: only the newcomer is added.
        assert _wait_views(db, qid, 5) == 5
        assert layer.metrics.breaker_opened >= 1
