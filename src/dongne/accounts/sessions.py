"""Opaque session tokens kept in Redis, hashed, with a sliding 24 h lifetime.

The token itself is never stored: Redis holds SHA-256(token), so a leaked
Redis dump does not leak usable sessions. Each user also has a set of their
session hashes so that "log out everywhere" can drop them all.

A token is ``<user id hex>.<random>``: the user id is only a routing hint that
puts the session key in the same Redis Cluster slot as the user's session set
(one hash tag), so creating and revoking a session is one MULTI on one slot.
A token whose prefix was altered names a key that does not exist.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from uuid import UUID

from dongne.cache.client import RedisClient
from dongne.cache.keys import Keys


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_user(token: str) -> UUID | None:
    """The user id a token claims (unverified: only the key lookup proves it)."""
    prefix, dot, _ = token.partition(".")
    if not dot or len(prefix) != 32:
        return None
    try:
        return UUID(hex=prefix)
    except ValueError:
        return None


@dataclass(frozen=True)
class Session:
    user_id: UUID
    token_hash: str


class SessionStore:
    def __init__(self, redis: RedisClient, keys: Keys, ttl_s: int) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl_s = ttl_s

    async def create(self, user_id: UUID) -> str:
        token = f"{user_id.hex}.{secrets.token_urlsafe(32)}"
        token_hash = hash_token(token)
        sessions = self._keys.user_sessions(user_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._keys.session(user_id, token_hash), str(user_id), ex=self._ttl_s)
            pipe.sadd(sessions, token_hash)
            pipe.expire(sessions, self._ttl_s)
            await pipe.execute()
        return token

    async def lookup(self, token: str) -> Session | None:
        """The live session for a token, sliding its expiry; None if unknown or expired."""
        user_id = token_user(token)
        if user_id is None:
            return None
        token_hash = hash_token(token)
        raw = await self._redis.getex(self._keys.session(user_id, token_hash), ex=self._ttl_s)
        if raw is None:
            return None
        await self._redis.expire(self._keys.user_sessions(user_id), self._ttl_s)
        return Session(user_id=user_id, token_hash=token_hash)

    async def revoke(self, session: Session) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._keys.session(session.user_id, session.token_hash))
            pipe.srem(self._keys.user_sessions(session.user_id), session.token_hash)
            await pipe.execute()

    async def revoke_all(self, user_id: UUID) -> int:
        """Revoke every session the user has now; returns how many there were.

        Only the members read are removed from the set, so a login racing with
        this keeps its (newer) session and its place in the set.
        """
        sessions = self._keys.user_sessions(user_id)
        members = await self._redis.smembers(sessions)
        hashes = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
        if hashes:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(*(self._keys.session(user_id, h) for h in hashes))
                pipe.srem(sessions, *hashes)
                await pipe.execute()
        return len(hashes)
