"""Presence and typing are best effort: with Redis killed under a connected
socket, the socket keeps working and says what it could not do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dongne.config import Settings
from dongne.embedded.stack import ServerUrls
from dongne.runtime import Runtime
from tests.cache.servers import RedisProcess, cluster_ports
from tests.realtime.conftest import Api, session
from tests.support.accounts import signup
from tests.support.servers import serve_api

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """A Redis for this module alone: the test kills it."""
    server = RedisProcess(Path(tmp_path_factory.mktemp("rt-outage")), cluster_ports(1)[0])
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api_on_own_redis(
    settings: Settings, own_redis: RedisProcess, database_url: str
) -> Iterator[Api]:
    live = settings.model_copy(update={"redis_url": own_redis.url, "cache_enabled": False})
    runtime = Runtime.build(live, ServerUrls(database_url, own_redis.url))
    with serve_api(runtime) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield Api(url, http)


async def test_presence_and_typing_survive_a_redis_crash(
    api_on_own_redis: Api, own_redis: RedisProcess
) -> None:
    api = api_on_own_redis
    _, token = signup(api.http)
    async with session(api, token) as client:
        await client.send(type="presence.watch", region_code=None)
        assert (await client.expect("presence.online"))["available"] is True
        own_redis.kill()

        await client.send(type="presence.watch", region_code="KR-49")
        down = await client.expect("presence.online", region_code="KR-49")
        assert down["available"] is False
        question = "0199f3a0-0000-7000-8000-000000000001"
        await client.send(type="question.watch", question_id=question)
        assert (await client.expect("typing.users"))["available"] is False
        await client.send(type="typing.start", question_id=question)
        await client.send(type="ping")
        await client.expect("pong")
    own_redis.start()
