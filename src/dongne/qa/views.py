"""View counts without a database write per view.

A view increments a Redis hash; a flush moves the hash aside atomically and
applies it to PostgreSQL in one statement. Each flush has an id recorded in
the same transaction that applies it, so a flush interrupted after the commit
is retried without counting twice. A viewer is counted once per 30 minutes.
"""

from __future__ import annotations

import logging
import uuid
from uuid import UUID

from redis.exceptions import RedisError

from dongne.cache.client import RedisClient
from dongne.cache.keys import Keys
from dongne.db.router import ShardRouter, Workload

logger = logging.getLogger(__name__)

VIEWER_WINDOW_S = 30 * 60

# Move the pending hash aside under a flush id and record the id, atomically.
# A script rather than MULTI: redis-py refuses RENAME in a cluster pipeline.
# All three keys share the {views} hash tag, so this runs on one cluster slot.
_MOVE_PENDING = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
"""


class ViewCounter:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def record(self, question_id: UUID, viewer: str) -> bool:
        """Count a view unless this viewer was counted recently; False when Redis is down."""
        try:
            first = await self._redis.set(
                self._keys.viewed(question_id, viewer), 1, nx=True, ex=VIEWER_WINDOW_S
            )
            if first:
                await self._redis.hincrby(self._keys.pending_views(), str(question_id), 1)
            return bool(first)
        except RedisError:
            logger.warning("view of %s not counted: Redis unavailable", question_id)
            return False

    async def pending(self, question_id: UUID) -> int:
        try:
            raw = await self._redis.hget(self._keys.pending_views(), str(question_id))
        except RedisError:
            return 0
        return int(raw) if raw else 0

    async def flush(self, router: ShardRouter) -> int:
        """Apply pending views (and any earlier interrupted flush); returns views applied."""
        flush_id = uuid.uuid4().hex
        keys = (self._keys.pending_views(), self._keys.view_flush(flush_id))
        await self._redis.eval(_MOVE_PENDING, 3, *keys, self._keys.view_flushes(), flush_id)
        applied = 0
        for member in await self._redis.smembers(self._keys.view_flushes()):
            applied += await self._apply(
                router, member.decode() if isinstance(member, bytes) else str(member)
            )
        return applied

    async def _apply(self, router: ShardRouter, flush_id: str) -> int:
        key = self._keys.view_flush(flush_id)
        counts = {
            UUID(k.decode() if isinstance(k, bytes) else str(k)): int(v)
            for k, v in (await self._redis.hgetall(key)).items()
        }
        applied = 0
        if counts:
            applied = await _apply_counts(router, flush_id, counts)
        await self._redis.delete(key)
        await self._redis.srem(self._keys.view_flushes(), flush_id)
        return applied


async def _apply_counts(router: ShardRouter, flush_id: str, counts: dict[UUID, int]) -> int:
    async with (
        router.connection(Workload.BACKGROUND) as conn,
        conn.transaction(),
    ):
        cursor = await conn.execute(
            "INSERT INTO view_count_flushes (flush_id, questions, views) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (flush_id, len(counts), sum(counts.values())),
        )
        if cursor.rowcount == 0:
            return 0
        await conn.execute(
            """
            UPDATE questions q SET view_count = q.view_count + v.n
            FROM unnest(%s::uuid[], %s::integer[]) AS v(id, n)
            WHERE q.id = v.id
            """,
            (list(counts), list(counts.values())),
        )
    return sum(counts.values())
