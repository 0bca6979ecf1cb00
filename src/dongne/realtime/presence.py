"""Presence and typing indicators in Redis, after the seed's RealtimeSessionCache.

Keys (dongne.cache.keys): a per-user session hash kept 24 h; "online" sorted
sets overall and per region, scored by last activity, so "online" means
"active within the last 30 minutes" (the seed's set-wide EXPIRE would keep
stale members forever while anyone stays active); a per-question typing hash
of user → last keystroke, expiring 10 s after the last write, read with a 5 s
activity window.

Everything here is best effort: Redis errors are logged and reported as "no
data" (None / False), never raised into a socket handler.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

from redis.exceptions import RedisError

from dongne.cache.client import RedisClient
from dongne.cache.keys import Keys

logger = logging.getLogger(__name__)

SESSION_TTL_S = 24 * 3600
ACTIVITY_WINDOW_S = 30 * 60
TYPING_TTL_S = 10
TYPING_WINDOW_MS = 5000

T = TypeVar("T")

# Drop one connection from the session hash and, if no connection of the user
# was active within the window, the whole hash. Atomic on the one key, so a
# socket connecting meanwhile is either seen (user stays online) or comes later.
_DISCONNECT = """
redis.call('HDEL', KEYS[1], ARGV[1])
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 5) == 'conn:' and tonumber(fields[i + 1]) >= tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('DEL', KEYS[1])
return 1
"""


def region_ancestors(region_code: str | None) -> list[str]:
    """KR-49-01-02 → [KR-49, KR-49-01, KR-49-01-02]: a user counts in every enclosing region."""
    if not region_code:
        return []
    parts = region_code.split("-")
    return ["-".join(parts[:end]) for end in range(2, len(parts) + 1)]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Presence:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def _try(self, what: str, call: Callable[[], Awaitable[T]]) -> T | None:
        try:
            return await call()
        except (RedisError, OSError, TimeoutError) as error:
            logger.warning("realtime %s skipped, Redis unavailable: %s", what, error)
            return None

    def _online_keys(self, region_code: str | None) -> list[str]:
        return [self._keys.presence_online()] + [
            self._keys.presence_online_region(code) for code in region_ancestors(region_code)
        ]

    # -- presence --------------------------------------------------------------

    async def touch(
        self, user_id: UUID, region_code: str | None, conn_id: str, *, connected: bool = False
    ) -> bool:
        """Record a connection (``connected``) or activity on it; False if Redis is down."""

        async def run() -> bool:
            now = _now_ms()
            session = self._keys.presence_session(user_id)
            if connected:
                await self._redis.hsetnx(session, "connected_at", now)
            fields: dict[Any, Any] = {"status": "online", "last_activity": now}
            fields[f"conn:{conn_id}"] = now
            if region_code:
                fields["region_code"] = region_code
            await self._redis.hset(session, mapping=fields)
            await self._redis.expire(session, SESSION_TTL_S)
            cutoff = (now - ACTIVITY_WINDOW_S * 1000) / 1000
            for key in self._online_keys(region_code):
                await self._redis.zadd(key, {str(user_id): now / 1000})
                # Keep the sets small: members past the window are offline anyway.
                await self._redis.zremrangebyscore(key, "-inf", f"({cutoff}")
                await self._redis.expire(key, SESSION_TTL_S)
            return True

        return bool(await self._try("presence update", run))

    async def disconnect(self, user_id: UUID, region_code: str | None, conn_id: str) -> bool:
        """Forget one connection; True if that was the user's last one (now offline)."""

        async def run() -> bool:
            cutoff = _now_ms() - ACTIVITY_WINDOW_S * 1000
            session = self._keys.presence_session(user_id)
            gone = await self._redis.eval(_DISCONNECT, 1, session, f"conn:{conn_id}", cutoff)
            if not gone:
                return False
            for key in self._online_keys(region_code):
                await self._redis.zrem(key, str(user_id))
            return True

        return bool(await self._try("presence disconnect", run))

    async def online(self, region_code: str | None) -> list[UUID] | None:
        """Users active within the window, overall or in a region; None if Redis is down."""
        key = (
            self._keys.presence_online_region(region_code)
            if region_code
            else self._keys.presence_online()
        )
        cutoff = time.time() - ACTIVITY_WINDOW_S

        async def run() -> list[UUID]:
            members = await self._redis.zrangebyscore(key, cutoff, "+inf")
            return sorted(UUID(_text(m)) for m in members)

        return await self._try("presence query", run)

    # -- typing ------------------------------------------------------------------

    async def typing(self, question_id: UUID, user_id: UUID, active: bool) -> bool:
        key = self._keys.typing(question_id)

        async def run() -> bool:
            if active:
                await self._redis.hset(key, str(user_id), _now_ms())
                await self._redis.expire(key, TYPING_TTL_S)
            else:
                await self._redis.hdel(key, str(user_id))
            return True

        return bool(await self._try("typing update", run))

    async def typing_users(self, question_id: UUID) -> list[UUID] | None:
        """Users with a keystroke in the last 5 s; None if Redis is down."""
        key = self._keys.typing(question_id)

        async def run() -> list[UUID]:
            entries = await self._redis.hgetall(key)
            since = _now_ms() - TYPING_WINDOW_MS
            return sorted(UUID(_text(u)) for u, ts in entries.items() if int(_text(ts)) >= since)

        return await self._try("typing query", run)
