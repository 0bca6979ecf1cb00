"""The caches behind the real API: two API processes on one database and Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from psycopg.rows import DictRow

from dongne.cache.service import CacheLayer, layer_for
from dongne.config import Settings
from dongne.embedded.stack import ServerUrls
from dongne.runtime import Runtime
from tests.support.accounts import auth, signup
from tests.support.servers import serve_api

CONTENT = "바다가 보이는 조용한 카페를 찾고 있어요. 주차도 되면 좋겠어요."


class Api:
    def __init__(self, url: str, runtime_layer: CacheLayer) -> None:
        self.url = url
        self.client = httpx.Client(base_url=url, timeout=30)
        self.layer = runtime_layer


@pytest.fixture(scope="module")
def cache_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"cache_enabled": True, "cache_warm_up": True})


@pytest.fixture(scope="module")
def two_apis(cache_settings: Settings, database_url: str) -> Iterator[tuple[Api, Api]]:
    """Two API processes (each its own uvicorn, pools, L1 and pub/sub)."""
    urls = ServerUrls(database_url, str(cache_settings.redis_url))
    first = Runtime.build(cache_settings, urls)
    second = Runtime.build(cache_settings, urls)
    with serve_api(first) as url_a, serve_api(second) as url_b:
        yield _api(url_a, first), _api(url_b, second)


def _api(url: str, runtime: Runtime) -> Api:
    layer = layer_for(runtime)
    assert layer is not None
    return Api(url, layer)


def test_warm_up_loaded_the_seed_list(two_apis: tuple[Api, Api]) -> None:
    a, _ = two_apis
    while not a.layer.warmed:  # waits for an event of the server, not a duration
        time.sleep(0.01)
    hits_before = a.layer.metrics.lookups[("l1", "region_stats", "hit")]
    for code in ("KR-49", "KR-49-01", "KR-49-02"):
        assert a.client.get(f"/api/v1/regions/{code}/stats").status_code == 200
    assert a.layer.metrics.lookups[("l1", "region_stats", "hit")] == hits_before + 3


def test_an_edit_through_one_process_is_visible_through_the_other_at_once(
    two_apis: tuple[Api, Api],
) -> None:
    a, b = two_apis
    _, token = signup(a.client)
    created = a.client.post(
        "/api/v1/questions", headers=auth(token),
        json={"title": "애월 카페 추천해 주세요", "content": CONTENT,
              "region_code": "KR-49-01-02", "category": "food"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    qid = created.json()["id"]
    params: dict[str, str | int] = {"region": "KR-49-01-02", "limit": 5}
    for api in (a, b, b):  # both processes now hold the feed (the second read from L1)
        items = api.client.get("/api/v1/questions", params=params).json()["items"]
        assert {q["id"]: q["title"] for q in items}[qid] == "애월 카페 추천해 주세요"
    assert b.layer.metrics.lookups[("l1", "question_feed", "hit")] >= 1
    edited = a.client.patch(f"/api/v1/questions/{qid}", headers=auth(token),
                            json={"title": "애월 한적한 카페 추천해 주세요"})  # fmt: skip
    assert edited.status_code == 200, edited.text
    items = b.client.get("/api/v1/questions", params=params).json()["items"]
    assert {q["id"]: q["title"] for q in items}[qid] == "애월 한적한 카페 추천해 주세요"


def test_200_concurrent_requests_for_a_cold_key_compute_once(two_apis: tuple[Api, Api]) -> None:
    a, b = two_apis
    code = "KR-49-02-03"  # 표선면: not in the warm-up list, so cold
    before = a.layer.metrics.loads["region_stats"] + b.layer.metrics.loads["region_stats"]

    async def burst() -> list[int]:
        limits = httpx.Limits(max_connections=200)
        async with (
            httpx.AsyncClient(base_url=a.url, timeout=60, limits=limits) as ca,
            httpx.AsyncClient(base_url=b.url, timeout=60, limits=limits) as cb,
        ):
            responses = await asyncio.gather(
                *((ca if n % 2 else cb).get(f"/api/v1/regions/{code}/stats") for n in range(200))
            )
        return [r.status_code for r in responses]

    assert asyncio.run(burst()) == [200] * 200
    after = a.layer.metrics.loads["region_stats"] + b.layer.metrics.loads["region_stats"]
    assert after - before == 1


def test_unknown_user_profile_is_negatively_cached(
    two_apis: tuple[Api, Api], db: psycopg.Connection[DictRow]
) -> None:
    a, _ = two_apis
    missing = "01234567-89ab-7def-8123-456789abcdef"
    before = a.layer.metrics.loads["user_profile"]
    assert a.client.get(f"/api/v1/users/{missing}").status_code == 404
    assert a.client.get(f"/api/v1/users/{missing}").status_code == 404
    assert a.layer.metrics.loads["user_profile"] == before + 1
