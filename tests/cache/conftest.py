"""The cache suite runs against the session's single Redis and against a real
3-master Redis Cluster that these fixtures start and stop."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from dongne.cache.keys import Keys
from dongne.cache.service import CacheLayer
from dongne.config import Settings
from dongne.db.router import ShardRouter
from tests.cache.servers import redis_cluster


@pytest.fixture(scope="session")
def cluster_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    with redis_cluster(Path(tmp_path_factory.mktemp("cluster"))) as nodes:
        yield nodes


@pytest.fixture(scope="module", params=["single", "cluster"])
def backend_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    nodes: list[str] = []
    if request.param == "cluster":
        nodes = request.getfixturevalue("cluster_nodes")
    return settings.model_copy(
        update={"cache_enabled": True, "cache_warm_up": False, "redis_cluster_nodes": nodes}
    )


class Layers:
    """Cache layers standing in for separate API processes (own L1, own pub/sub)."""

    def __init__(self, settings: Settings, router: ShardRouter) -> None:
        self.settings = settings
        self.router = router
        # A fresh namespace per test: no entry or generation leaks between tests.
        self.keys = Keys(f"{settings.redis_key_prefix}-{uuid.uuid4().hex[:8]}")
        self.started: list[CacheLayer] = []

    async def new(self) -> CacheLayer:
        layer = CacheLayer(self.settings, str(self.settings.redis_url), self.keys, self.router)
        await layer.start()
        await layer.subscriber.subscribed.wait()
        self.started.append(layer)
        return layer


@pytest.fixture
async def layers(backend_settings: Settings, router: ShardRouter) -> AsyncIterator[Layers]:
    made = Layers(backend_settings, router)
    yield made
    for layer in made.started:
        await layer.stop()
