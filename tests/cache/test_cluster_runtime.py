"""Every Redis-backed feature of the real API on a real 3-master Redis Cluster:
sessions, logout-all, login rate limits, view counts, /readyz and realtime
presence/typing across two API processes.

The single-node Redis URL handed to the runtimes is unreachable, so anything
that still bypassed the cluster would fail here instead of passing quietly.
"""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

import httpx
import psycopg
import pytest
from psycopg.rows import DictRow
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from redis.crc import key_slot

from dongne.accounts.ratelimit import ACCOUNT_FAILURES
from dongne.accounts.sessions import hash_token
from dongne.cache.client import parse_node
from dongne.cache.keys import Keys
from dongne.config import Settings
from dongne.embedded.stack import ServerUrls
from dongne.qa.views import ViewCounter
from dongne.runtime import Runtime
from tests.realtime.conftest import Api, _wait_subscribed, presence_and_typing_walk
from tests.support.accounts import PASSWORD, auth, signup
from tests.support.servers import serve_api

# Nothing listens on port 1: a client built from the URL instead of the nodes fails.
UNREACHABLE = "redis://127.0.0.1:1/0"

QUESTION = {
    "title": "애월 바다 보이는 카페 추천해 주세요",
    "content": "주말에 부모님 모시고 갈 바다 전망 카페를 찾고 있어요. 주차되면 좋아요.",
    "region_code": "KR-49-01-02",
    "category": "food",
}


@pytest.fixture(scope="module")
def cluster_settings(settings: Settings, cluster_nodes: list[str]) -> Settings:
    return settings.model_copy(
        update={
            "redis_cluster_nodes": cluster_nodes,
            "redis_url": UNREACHABLE,
            "cache_enabled": True,
            "cache_warm_up": False,
        }
    )


@pytest.fixture(scope="module")
def cluster(cluster_settings: Settings) -> Iterator[RedisCluster]:
    """A plain client of the cluster, to look at the keys the API wrote."""
    host, port = parse_node(cluster_settings.redis_cluster_nodes[0])
    client = RedisCluster(host=host, port=port)
    yield client
    client.close()


def _runtime(cluster_settings: Settings, database_url: str) -> Runtime:
    return Runtime.build(cluster_settings, ServerUrls(database_url, UNREACHABLE))


@pytest.fixture(scope="module")
def apis(cluster_settings: Settings, database_url: str) -> Iterator[tuple[Api, Api]]:
    """Two API processes (own pools, clients, pub/sub) on the cluster."""
    first, second = (_runtime(cluster_settings, database_url) for _ in range(2))
    with serve_api(first) as url_a, serve_api(second) as url_b:
        _wait_subscribed(first)
        _wait_subscribed(second)
        with (
            httpx.Client(base_url=url_a, timeout=30) as http_a,
            httpx.Client(base_url=url_b, timeout=30) as http_b,
        ):
            yield Api(url_a, http_a), Api(url_b, http_b)


def _email_of(db: psycopg.Connection[DictRow], user_id: UUID) -> str:
    row = db.execute("SELECT email FROM users WHERE id = %s", (user_id,)).fetchone()
    assert row is not None
    return str(row["email"])


def test_ready_on_the_cluster(apis: tuple[Api, Api]) -> None:
    response = apis[0].http.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"database": "ok", "redis": "ok"}


def test_sessions_login_and_logout_everywhere(
    apis: tuple[Api, Api],
    db: psycopg.Connection[DictRow],
    cluster: RedisCluster,
    cluster_settings: Settings,
) -> None:
    a, b = apis
    user_id, first = signup(a.http)
    assert b.http.get("/api/v1/me", headers=auth(first)).json()["id"] == str(user_id)
    login = b.http.post(
        "/api/v1/auth/login", json={"email": _email_of(db, user_id), "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    second = str(login.json()["token"])
    # The session and the user's session set live in one slot, on the cluster.
    keys = Keys(cluster_settings.redis_key_prefix)
    session_key = keys.session(user_id, hash_token(second))
    assert cluster.exists(session_key) == 1
    assert key_slot(session_key.encode()) == key_slot(keys.user_sessions(user_id).encode())
    other_id, other = signup(b.http)

    assert a.http.post("/api/v1/auth/logout-all", headers=auth(second)).status_code == 204
    for api in (a, b):
        assert api.http.get("/api/v1/me", headers=auth(first)).status_code == 401
        assert api.http.get("/api/v1/me", headers=auth(second)).status_code == 401
        assert api.http.get("/api/v1/me", headers=auth(other)).json()["id"] == str(other_id)
    assert cluster.exists(session_key, keys.user_sessions(user_id)) == 0


def test_login_rate_limit(apis: tuple[Api, Api], db: psycopg.Connection[DictRow]) -> None:
    a, b = apis
    email = _email_of(db, signup(a.http)[0])
    for attempt in range(ACCOUNT_FAILURES):
        api = (a, b)[attempt % 2]  # one budget whichever process counts
        wrong = api.http.post("/api/v1/auth/login", json={"email": email, "password": "nope-1234"})
        assert wrong.status_code == 401, wrong.text
    locked = a.http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert locked.status_code == 429, locked.text
    assert int(locked.headers["Retry-After"]) > 0


async def test_views_are_counted_once_per_viewer_and_flushed_to_postgres(
    apis: tuple[Api, Api],
    db: psycopg.Connection[DictRow],
    cluster_settings: Settings,
    database_url: str,
) -> None:
    a, b = apis
    _, asker = signup(a.http)
    asked = a.http.post("/api/v1/questions", json=QUESTION, headers=auth(asker))
    assert asked.status_code == 201, asked.text
    question = asked.json()["id"]
    viewers = [auth(signup(a.http)[1]) for _ in range(2)] + [{}]  # two users, one anonymous
    for api in (a, b):  # every viewer twice, through both processes
        for headers in viewers:
            read = api.http.get(f"/api/v1/questions/{question}", headers=headers)
            assert read.status_code == 200, read.text
    assert read.json()["view_count"] == len(viewers)  # pending in Redis, shown already

    runtime = _runtime(cluster_settings, database_url)
    await runtime.open()
    try:
        assert isinstance(runtime.redis, AsyncRedisCluster)
        # The API processes flush on a timer too; whoever flushes, nothing twice.
        await ViewCounter(runtime.redis, runtime.keys).flush(runtime.router)
        assert await ViewCounter(runtime.redis, runtime.keys).flush(runtime.router) == 0
    finally:
        await runtime.close()
    row = db.execute("SELECT view_count FROM questions WHERE id = %s", (question,)).fetchone()
    assert row is not None
    assert row["view_count"] == len(viewers)


async def test_presence_and_typing_across_two_processes(apis: tuple[Api, Api]) -> None:
    a_api, b_api = apis
    a_id, a_token = signup(a_api.http, region_code="KR-49-01-02")
    b_id, b_token = signup(b_api.http, region_code="KR-49-01-02")
    asked = a_api.http.post("/api/v1/questions", json=QUESTION, headers=auth(a_token))
    assert asked.status_code == 201, asked.text
    question = asked.json()["id"]
    await presence_and_typing_walk(a_api, (a_id, a_token), b_api, (b_id, b_token), question)
