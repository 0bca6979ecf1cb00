"""A standalone `dongne worker` invalidates the API's caches after its commits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.rows import DictRow

from dongne.config import Settings
from dongne.embedded.stack import ServerUrls
from dongne.runtime import Runtime
from tests.support.factories import make_answer, make_question
from tests.support.servers import serve_api
from tests.support.sessions import login_as


@pytest.fixture(scope="module")
def cached_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"cache_enabled": True, "cache_warm_up": False})


@pytest.fixture(scope="module")
def cached_api(cached_settings: Settings, database_url: str) -> Iterator[httpx.Client]:
    urls = ServerUrls(database_url, str(cached_settings.redis_url))
    runtime = Runtime.build(cached_settings, urls)
    with serve_api(runtime) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


def _unread(api: httpx.Client, headers: dict[str, str]) -> int:
    response = api.get("/api/v1/notifications/unread-count", headers=headers)
    assert response.status_code == 200, response.text
    return int(response.json()["count"])


def test_unread_count_is_fresh_after_a_standalone_worker_delivers(
    cached_api: httpx.Client,
    cached_settings: Settings,
    database_url: str,
    db: psycopg.Connection[DictRow],
    tmp_path: Path,
) -> None:
    asker, headers = login_as(db, cached_settings)
    helper, _ = login_as(db, cached_settings)
    assert _unread(cached_api, headers) == 0  # now cached for five minutes
    question = make_question(db, asker)
    make_answer(db, question, helper)  # the trigger queues answer.created

    env = {k: v for k, v in os.environ.items() if not k.startswith("DONGNE_")}
    env.update(
        DONGNE_HOME=str(tmp_path),
        DONGNE_DATABASE_URL=database_url,
        DONGNE_REDIS_URL=str(cached_settings.redis_url),
        DONGNE_REDIS_KEY_PREFIX=cached_settings.redis_key_prefix,
    )
    result = subprocess.run(
        [sys.executable, "-m", "dongne", "worker", "--once"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    stored = db.execute(
        "SELECT count(*) AS n FROM notifications WHERE user_id = %s AND NOT is_read", (asker,)
    ).fetchone()
    assert stored == {"n": 1}
    # The API process drops its L1 entry when the invalidation message arrives.
    deadline = time.monotonic() + 10
    while _unread(cached_api, headers) != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _unread(cached_api, headers) == 1
