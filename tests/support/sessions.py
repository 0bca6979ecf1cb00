"""Logged-in users for tests that are not about signing up: a user row plus a real session."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import psycopg
import redis.asyncio as aioredis
from psycopg.rows import DictRow

from dongne.accounts.sessions import SessionStore
from dongne.cache.keys import Keys
from dongne.config import Settings
from tests.support.factories import make_user


def login_as(
    db: psycopg.Connection[DictRow], settings: Settings, **fields: Any
) -> tuple[UUID, dict[str, str]]:
    """Create a user and a session; returns the id and the Authorization header."""
    user_id = make_user(db, **fields)

    async def create() -> str:
        client = aioredis.Redis.from_url(str(settings.redis_url))
        try:
            store = SessionStore(client, Keys(settings.redis_key_prefix), settings.session_ttl_s)
            return await store.create(user_id)
        finally:
            await client.aclose()

    token = asyncio.run(create())
    return user_id, {"Authorization": f"Bearer {token}"}
