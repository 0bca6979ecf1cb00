"""Test-only topics and a table that records every handler run, without any
unique key: a duplicated effect would show up as a second row."""

from __future__ import annotations

from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from dongne.outbox.handlers import HandlerRegistry
from dongne.outbox.repository import OutboxEvent

EFFECT = "test.effect"


def reset(db: psycopg.Connection[DictRow]) -> None:
    db.execute("DELETE FROM outbox")
    db.execute(
        "CREATE TABLE IF NOT EXISTS test_effects ("
        " seq bigint GENERATED ALWAYS AS IDENTITY, event_id bigint NOT NULL,"
        " aggregate_id uuid NOT NULL, worker text NOT NULL)"
    )
    db.execute("TRUNCATE test_effects")


def enqueue(
    db: psycopg.Connection[DictRow],
    aggregate: UUID,
    topic: str = EFFECT,
    payload: dict[str, object] | None = None,
    aggregate_type: str = "test",
) -> int:
    row = db.execute(
        "SELECT enqueue_outbox(%s, %s, %s, %s) AS id",
        (topic, aggregate_type, aggregate, Jsonb(payload or {})),
    ).fetchone()
    assert row is not None
    event_id: int = row["id"]
    return event_id


def effect_registry(worker: str) -> HandlerRegistry:
    registry = HandlerRegistry()

    @registry.on(EFFECT)
    async def record(conn: AsyncConnection[DictRow], event: OutboxEvent) -> None:
        await conn.execute(
            "INSERT INTO test_effects (event_id, aggregate_id, worker) VALUES (%s, %s, %s)",
            (event.id, event.aggregate_id, worker),
        )

    return registry


def effects(db: psycopg.Connection[DictRow]) -> list[DictRow]:
    return db.execute(
        "SELECT event_id, aggregate_id, worker FROM test_effects ORDER BY seq"
    ).fetchall()


def outbox_row(db: psycopg.Connection[DictRow], event_id: int) -> DictRow:
    row = db.execute(
        "SELECT *, extract(epoch FROM available_at - now())::float8 AS due_in"
        " FROM outbox WHERE id = %s",
        (event_id,),
    ).fetchone()
    assert row is not None
    return row
