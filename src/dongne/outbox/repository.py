"""SQL of the outbox: enqueue, claim due events, settle them (processed, retry, dead).

Every function takes a connection and never commits: the worker owns the
transaction, so claiming an event, its handlers' effects and marking it
processed commit together or not at all.

"Pending" means neither processed nor dead. An event is *due* when it is
pending and its ``available_at`` has come, and *claimable* when it is due and
no earlier event of the same aggregate is still pending: events of one
aggregate are handled strictly one after another, in id order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

CHANNEL = "dongne_outbox"
_MAX_ERROR_LENGTH = 2000

AfterCommit = Callable[[], Awaitable[None]]

# FOR UPDATE SKIP LOCKED: concurrent workers never wait for each other and never
# claim the same event. The NOT EXISTS keeps per-aggregate order: an event whose
# aggregate has an earlier pending event (locked by another worker, or waiting
# for its retry) is not claimable yet. A row another worker settled between our
# snapshot and our lock is re-checked by PostgreSQL and dropped.
_CLAIM = """
SELECT o.id, o.topic, o.aggregate_type, o.aggregate_id, o.payload, o.attempts, o.created_at
FROM outbox o
WHERE o.processed_at IS NULL AND o.dead_at IS NULL
  AND o.available_at <= now()
  AND NOT (o.id = ANY(%(exclude)s::bigint[]))
  AND (%(only)s::bigint IS NULL OR o.id = %(only)s::bigint)
  AND NOT EXISTS (
      SELECT 1 FROM outbox e
      WHERE e.aggregate_type = o.aggregate_type AND e.aggregate_id = o.aggregate_id
        AND e.id < o.id AND e.processed_at IS NULL AND e.dead_at IS NULL)
ORDER BY o.id
LIMIT %(limit)s
FOR UPDATE OF o SKIP LOCKED
"""


@dataclass(frozen=True)
class OutboxEvent:
    """One claimed outbox row, as handlers see it."""

    id: int
    topic: str
    aggregate_type: str
    aggregate_id: UUID
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    # Filled by handlers through after_commit(); run by the worker once the
    # transaction that handled this event has committed, dropped if it did not.
    _after_commit: list[AfterCommit] = field(
        default_factory=list, repr=False, compare=False, hash=False
    )

    def after_commit(self, callback: AfterCommit) -> None:
        """Run ``callback`` after the handling transaction commits (at most once)."""
        self._after_commit.append(callback)

    @property
    def deferred(self) -> list[AfterCommit]:
        return list(self._after_commit)

    def discard_deferred(self) -> None:
        self._after_commit.clear()


@dataclass(frozen=True)
class Failure:
    """What recording a failed attempt decided."""

    attempts: int
    dead: bool
    available_at: datetime


def _event(row: DictRow) -> OutboxEvent:
    return OutboxEvent(
        id=row["id"],
        topic=row["topic"],
        aggregate_type=row["aggregate_type"],
        aggregate_id=row["aggregate_id"],
        payload=dict(row["payload"] or {}),
        attempts=row["attempts"],
        created_at=row["created_at"],
    )


async def enqueue(
    conn: AsyncConnection[DictRow],
    topic: str,
    aggregate_type: str,
    aggregate_id: UUID,
    payload: dict[str, Any],
) -> int:
    """Add an event in the caller's transaction; it is delivered only if that commits."""
    cursor = await conn.execute(
        "SELECT enqueue_outbox(%s, %s, %s, %s) AS id",
        (topic, aggregate_type, aggregate_id, Jsonb(payload)),
    )
    row = await cursor.fetchone()
    assert row is not None
    event_id: int = row["id"]
    return event_id


async def claim_batch(
    conn: AsyncConnection[DictRow], limit: int, *, exclude: Sequence[int] = ()
) -> list[OutboxEvent]:
    """Lock up to ``limit`` claimable events, oldest first, skipping locked ones."""
    cursor = await conn.execute(_CLAIM, {"limit": limit, "exclude": list(exclude), "only": None})
    return [_event(row) for row in await cursor.fetchall()]


async def claim_one(conn: AsyncConnection[DictRow], event_id: int) -> OutboxEvent | None:
    """Lock one event if it is still claimable (None if settled, locked or not due)."""
    cursor = await conn.execute(_CLAIM, {"limit": 1, "exclude": [], "only": event_id})
    row = await cursor.fetchone()
    return _event(row) if row else None


async def mark_processed(
    conn: AsyncConnection[DictRow], event_id: int, *, note: str | None = None
) -> None:
    """Settle an event as handled. ``note`` (e.g. "no handler") is kept in last_error."""
    await conn.execute(
        "UPDATE outbox SET processed_at = clock_timestamp(), last_error = coalesce(%s, last_error)"
        " WHERE id = %s",
        (note, event_id),
    )


async def record_failure(
    conn: AsyncConnection[DictRow],
    event_id: int,
    error: str,
    *,
    max_attempts: int,
    backoff_base_s: float,
    backoff_cap_s: float,
    give_up: bool = False,
) -> Failure | None:
    """Count a failed attempt: retry after base·2^(attempts−1) seconds (capped), or,
    on the last allowed attempt (or with ``give_up``), move the event to the dead state.

    Returns None when the event was settled meanwhile (nothing to record).
    """
    cursor = await conn.execute(
        """
        UPDATE outbox
        SET attempts = attempts + 1,
            last_error = left(%(error)s, %(max_error)s),
            -- In SET, attempts is still the old value: the n-th failure waits
            -- base·2^(n−1) seconds.
            available_at = CASE
                WHEN %(give_up)s OR attempts + 1 >= %(max_attempts)s THEN available_at
                ELSE clock_timestamp()
                     + make_interval(secs => least(%(cap)s, %(base)s * power(2.0, attempts)))
            END,
            dead_at = CASE
                WHEN %(give_up)s OR attempts + 1 >= %(max_attempts)s THEN clock_timestamp()
            END
        WHERE id = %(id)s AND processed_at IS NULL AND dead_at IS NULL
        RETURNING attempts, dead_at IS NOT NULL AS dead, available_at
        """,
        {
            "id": event_id,
            "error": error,
            "max_error": _MAX_ERROR_LENGTH,
            "cap": backoff_cap_s,
            "base": backoff_base_s,
            "give_up": give_up,
            "max_attempts": max_attempts,
        },
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    return Failure(attempts=row["attempts"], dead=row["dead"], available_at=row["available_at"])


async def seconds_until_due(conn: AsyncConnection[DictRow]) -> float | None:
    """Seconds until the earliest head event (the oldest pending one of its
    aggregate) becomes due; zero or less if one is due now; None if none is pending.

    Only heads count: a later event of an aggregate whose head waits for a
    retry is due on paper but cannot be claimed before that head.
    """
    cursor = await conn.execute(
        """
        SELECT extract(epoch FROM min(o.available_at) - clock_timestamp())::float8 AS seconds
        FROM outbox o
        WHERE o.processed_at IS NULL AND o.dead_at IS NULL
          AND NOT EXISTS (
              SELECT 1 FROM outbox e
              WHERE e.aggregate_type = o.aggregate_type AND e.aggregate_id = o.aggregate_id
                AND e.id < o.id AND e.processed_at IS NULL AND e.dead_at IS NULL)
        """
    )
    row = await cursor.fetchone()
    return row["seconds"] if row else None


async def dead_events(conn: AsyncConnection[DictRow], limit: int = 100) -> list[DictRow]:
    """The dead letters, most recent first, with the error that killed them."""
    cursor = await conn.execute(
        "SELECT id, topic, aggregate_type, aggregate_id, payload, attempts, created_at,"
        " last_error, dead_at FROM outbox WHERE dead_at IS NOT NULL"
        " ORDER BY dead_at DESC LIMIT %s",
        (limit,),
    )
    return await cursor.fetchall()


async def requeue_dead(conn: AsyncConnection[DictRow], event_id: int) -> bool:
    """Give a dead event a fresh set of attempts, due now; False if it is not dead."""
    cursor = await conn.execute(
        "UPDATE outbox SET dead_at = NULL, attempts = 0, available_at = now()"
        " WHERE id = %s AND dead_at IS NOT NULL RETURNING id",
        (event_id,),
    )
    requeued = await cursor.fetchone() is not None
    if requeued:
        # An UPDATE does not fire the insert trigger; wake the workers ourselves.
        await conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
    return requeued


async def purge_processed(
    conn: AsyncConnection[DictRow], older_than: timedelta, *, limit: int = 10_000
) -> int:
    """Delete up to ``limit`` events processed before ``older_than`` ago.

    Only processed events go: pending ones are work and dead ones are evidence.
    Nothing refers to an outbox row by key (notifications keep the bare id), and
    ordering only looks at pending events, so deleting settled rows is safe.
    """
    cursor = await conn.execute(
        """
        DELETE FROM outbox WHERE id IN (
            SELECT id FROM outbox
            WHERE processed_at < now() - %s
            ORDER BY id LIMIT %s)
        """,
        (older_than, limit),
    )
    return cursor.rowcount
