"""Two API processes (own uvicorn, pools, pub/sub) on one database and Redis,
each delivering the outbox in-process, and a small WebSocket test client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from dongne.cache.service import layer_for
from dongne.config import Settings
from dongne.embedded.stack import ServerUrls
from dongne.runtime import Runtime
from tests.support.servers import serve_api

# Only a guard against a hung test: every wait below is for a message, not a duration.
GUARD_S = 30.0


@dataclass
class Api:
    url: str
    http: httpx.Client

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/api/v1/ws"


def _wait_subscribed(runtime: Runtime) -> None:
    layer = layer_for(runtime)
    assert layer is not None
    deadline = time.monotonic() + GUARD_S
    while not layer.subscriber.live:  # an event of the server, not a duration
        assert time.monotonic() < deadline, "pub/sub never came up"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def two_apis(settings: Settings, database_url: str) -> Iterator[tuple[Api, Api]]:
    live = settings.model_copy(
        update={"cache_enabled": True, "cache_warm_up": False, "embedded_worker": True}
    )
    urls = ServerUrls(database_url, str(live.redis_url))
    first, second = Runtime.build(live, urls), Runtime.build(live, urls)
    with serve_api(first) as url_a, serve_api(second) as url_b:
        _wait_subscribed(first)
        _wait_subscribed(second)
        with (
            httpx.Client(base_url=url_a, timeout=30) as http_a,
            httpx.Client(base_url=url_b, timeout=30) as http_b,
        ):
            yield Api(url_a, http_a), Api(url_b, http_b)


class Client:
    """A WebSocket client that waits for messages by type."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ready: dict[str, Any] = {}
        self.seen: list[dict[str, Any]] = []

    async def send(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message, default=str))

    async def expect(self, type: str, **fields: Any) -> dict[str, Any]:
        """The next message of ``type`` whose fields match (others are kept in ``seen``)."""
        async with asyncio.timeout(GUARD_S):
            while True:
                message = json.loads(await self.ws.recv())
                self.seen.append(message)
                if message["type"] == type and all(message.get(k) == v for k, v in fields.items()):
                    return dict(message)


@asynccontextmanager
async def session(api: Api, token: str, **hello: Any) -> AsyncIterator[Client]:
    """A connected, authenticated client (its ``ready`` message in ``.ready``)."""
    async with connect(api.ws_url) as ws:
        client = Client(ws)
        await client.send(type="hello", token=token, **hello)
        client.ready = await client.expect("ready")
        yield client


async def presence_and_typing_walk(
    a_api: Api, a_user: tuple[UUID, str], b_api: Api, b_user: tuple[UUID, str], question: str
) -> None:
    """Two clients on two processes see each other come online, type and leave."""
    (a_id, a_token), (b_id, b_token) = a_user, b_user
    async with session(a_api, a_token) as a:
        await a.send(type="presence.watch", region_code="KR-49-01")
        snapshot = await a.expect("presence.online", region_code="KR-49-01")
        assert snapshot["available"] is True
        assert str(a_id) in snapshot["user_ids"]
        async with session(b_api, b_token) as b:
            await a.expect("presence", user_id=str(b_id), status="online")
            await b.send(type="presence.watch", region_code=None)
            both = await b.expect("presence.online")
            assert {str(a_id), str(b_id)} <= set(both["user_ids"])

            await a.send(type="question.watch", question_id=question)
            await a.expect("typing.users", question_id=question)
            await b.send(type="question.watch", question_id=question)
            await b.expect("typing.users", question_id=question)
            await b.send(type="typing.start", question_id=question)
            await a.expect("typing", question_id=question, user_id=str(b_id), typing=True)
            await a.send(type="typing.start", question_id=question)
            await b.expect("typing", question_id=question, user_id=str(a_id), typing=True)
            await b.send(type="typing.stop", question_id=question)
            await a.expect("typing", question_id=question, user_id=str(b_id), typing=False)
        await a.expect("presence", user_id=str(b_id), status="offline")
