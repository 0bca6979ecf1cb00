"""Opaque session tokens kept in Redis, hashed, with a sliding 24 h lifetime.

The token itself is never stored: Redis holds SHA-256(token), so a leaked
Redis dump does not leak usable sessions. Each user also has a set of their
session hashes so that "log out everywhere" can drop them all.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from uuid import UUID

import redis.asyncio as aioredis

from dongne.cache.keys import Keys


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    user_id: UUID
    token_hash: str


class SessionStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys, ttl_s: int) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl_s = ttl_s

    async def create(self, user_id: UUID) -> str:
        token = secrets.token_urlsafe(32)
        token_hash = hash_token(token)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self._keys.session(token_hash), str(user_id), ex=self._ttl_s)
            pipe.sadd(self._keys.user_sessions(user_id), token_hash)
            pipe.expire(self._keys.user_sessions(user_id), self._ttl_s)
            await pipe.execute()
        return token

    async def lookup(self, token: str) -> Session | None:
        """The live session for a token, sliding its expiry; None if unknown or expired."""
        token_hash = hash_token(token)
        key = self._keys.session(token_hash)
        raw = await self._redis.getex(key, ex=self._ttl_s)
        if raw is None:
            return None
        user_id = UUID(raw.decode() if isinstance(raw, bytes) else str(raw))
        await self._redis.expire(self._keys.user_sessions(user_id), self._ttl_s)
        return Session(user_id=user_id, token_hash=token_hash)

    async def revoke(self, session: Session) -> None:
        await self._redis.delete(self._keys.session(session.token_hash))
        await self._redis.srem(self._keys.user_sessions(session.user_id), session.token_hash)

    async def revoke_all(self, user_id: UUID) -> int:
        members = await self._redis.smembers(self._keys.user_sessions(user_id))
        hashes = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
        if hashes:
            await self._redis.delete(*(self._keys.session(h) for h in hashes))
        await self._redis.delete(self._keys.user_sessions(user_id))
        return len(hashes)
