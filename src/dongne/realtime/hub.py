"""Fan-out across API processes: every message for clients is PUBLISHed on one
Redis channel; every process subscribes and hands it to its own sockets.

Envelope on the channel: ``{"to": "user"|"question"|"presence", "key": …,
"origin": connection id or null, "message": {…}}``. If PUBLISH fails (Redis
down) the envelope is still delivered to this process's sockets, so one
process keeps working; other processes miss it, and their clients catch up on
notifications from PostgreSQL when the subscription comes back (``on_up``).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal, Protocol
from uuid import UUID

from redis.exceptions import RedisError

from dongne.cache.client import RedisClient
from dongne.cache.keys import Keys
from dongne.realtime.presence import region_ancestors

logger = logging.getLogger(__name__)

Audience = Literal["user", "question", "presence"]


class Socket(Protocol):
    """What the hub needs of a connection (dongne.realtime.connection.Connection)."""

    id: str
    user_id: UUID
    watched_questions: set[UUID]
    # None: not watching presence; "": everyone; else a region code.
    presence_scope: str | None

    def push(self, message: dict[str, Any]) -> None: ...

    def resync(self) -> None: ...


class Hub:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self._redis = redis
        self._channel = keys.realtime_channel()
        self._sockets: set[Socket] = set()
        # Subscription state: a socket registered while it is down may miss pushes.
        self.subscribed = False

    @property
    def channel(self) -> str:
        return self._channel

    def register(self, socket: Socket) -> None:
        self._sockets.add(socket)

    def unregister(self, socket: Socket) -> None:
        self._sockets.discard(socket)

    async def publish(
        self, to: Audience, key: str, message: dict[str, Any], *, origin: str | None = None
    ) -> None:
        envelope = {"to": to, "key": key, "origin": origin, "message": message}
        data = json.dumps(envelope, ensure_ascii=False, default=str)
        try:
            await self._redis.publish(self._channel, data)
        except (RedisError, OSError, TimeoutError) as error:
            logger.warning("realtime publish failed, delivering locally only: %s", error)
            self.deliver(envelope)

    # -- Subscriber callbacks (synchronous, on the subscriber's task) ----------

    def on_message(self, data: bytes) -> None:
        envelope = json.loads(data)
        if isinstance(envelope, dict):
            self.deliver(envelope)

    def on_up(self) -> None:
        # Pushes published while unsubscribed are lost: clients re-read their inbox.
        self.subscribed = True
        for socket in list(self._sockets):
            socket.resync()

    def on_down(self) -> None:
        self.subscribed = False

    def deliver(self, envelope: dict[str, Any]) -> None:
        message = envelope.get("message")
        if not isinstance(message, dict):
            return
        for socket in self._targets(envelope):
            if socket.id != envelope.get("origin"):
                socket.push(message)

    def _targets(self, envelope: dict[str, Any]) -> list[Socket]:
        key = str(envelope.get("key") or "")
        to = envelope.get("to")
        if to == "user":
            return [s for s in self._sockets if str(s.user_id) == key]
        if to == "question":
            return [s for s in self._sockets if any(str(q) == key for q in s.watched_questions)]
        if to == "presence":
            scopes = {"", *region_ancestors(key)}
            return [s for s in self._sockets if s.presence_scope in scopes]
        return []
