"""One Redis SUBSCRIBE connection per process, shared by the cache and realtime.

It reconnects by itself (rotating cluster nodes) and tells its listeners when
the subscription is up or down: messages published while it was down are lost,
so listeners must assume they missed some (the cache clears L1, realtime
clients resume from PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from redis.exceptions import RedisError

from dongne.cache.client import pubsub_client
from dongne.config import Settings

logger = logging.getLogger(__name__)

Handler = Callable[[bytes], None]
_BACKOFF_S = (0.05, 0.1, 0.25, 0.5, 1.0)


class Subscriber:
    def __init__(self, settings: Settings, redis_url: str) -> None:
        self._settings = settings
        self._url = redis_url
        self._handlers: dict[str, Handler] = {}
        self.on_up: list[Callable[[], None]] = []
        self.on_down: list[Callable[[], None]] = []
        self.live = False
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    def add(self, channel: str, handler: Handler) -> None:
        self._handlers[channel] = handler

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        attempt = 0
        while True:
            client = pubsub_client(self._settings, self._url, attempt)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(*self._handlers)
                # Live only once Redis confirmed every channel: from then on no
                # message published can be missed without the connection failing.
                confirmed = 0
                while confirmed < len(self._handlers):
                    reply = await pubsub.get_message(timeout=1.0)
                    if reply is None:
                        raise OSError("no subscribe confirmation")
                    if reply["type"] == "subscribe":
                        confirmed += 1
                self._set_live(True)
                attempt = 0
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message["type"] != "message":
                        continue
                    channel = message["channel"]
                    name = channel.decode() if isinstance(channel, bytes) else str(channel)
                    handler = self._handlers.get(name)
                    if handler is None:
                        continue
                    try:
                        handler(message["data"])
                    except Exception:
                        logger.exception("pub/sub handler for %s failed", name)
            except (RedisError, OSError) as error:
                logger.info("pub/sub connection lost (%s); reconnecting", error)
            finally:
                self._set_live(False)
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(_BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)])
            attempt += 1

    def _set_live(self, live: bool) -> None:
        if live == self.live:
            return
        self.live = live
        for callback in self.on_up if live else self.on_down:
            try:
                callback()
            except Exception:
                logger.exception("pub/sub state callback failed")
        if live:
            self.subscribed.set()
        else:
            self.subscribed.clear()
