"""Outbox handlers that keep the search indexes in step with PostgreSQL.

Every topic that can change what a question's search row holds, or whether it
may exist, re-syncs that question from its current state inside the worker's
transaction (see ``repository.sync_question``): the row commits together with
the event's "processed" mark, replays are no-ops, and the worker's
per-aggregate ordering means a question's events are applied one at a time.
Counters (answers, likes, views) are read from ``questions`` at query time by
the PostgreSQL backend, so those events only matter for external indexes;
they re-sync anyway, which costs one fingerprint comparison.

With an external index configured (``register(..., external=True)``), the
same handlers also queue the question for it (``search.external``), in the
same transaction, so the queue never misses a change the event stood for.

The author's nickname and verification are part of every question's
document (the external index filters ``local_only`` by the latter), so
``user.updated`` (nickname) and ``user.verified`` re-sync the author's visible
questions: ``USER_BATCH`` of them per event, in id order, the rest in a
follow-up ``search.user_questions`` event. A prolific author never makes one
long transaction, and the worker's per-aggregate order runs the batches one
after another. Where the pg row does not depend on the change, the re-sync
costs one fingerprint comparison per question.
"""

from __future__ import annotations

import functools

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from dongne.outbox import repository as outbox
from dongne.outbox.handlers import HandlerRegistry, payload_uuid
from dongne.outbox.repository import OutboxEvent
from dongne.search import external as external_queue
from dongne.search import repository

TOPICS = (
    "question.created",
    "question.updated",
    "question.deleted",
    "question.hidden",
    "question.unhidden",
    "question.liked",
    "answer.created",
    "answer.accepted",
    "answer.deleted",
    "answer.restored",
)
USER_TOPICS = ("user.updated", "user.verified")
CONTINUE_TOPIC = "search.user_questions"
USER_BATCH = 100


def register(registry: HandlerRegistry, *, external: bool = False) -> None:
    question_handler = functools.partial(sync_search_index, external=external)
    user_handler = functools.partial(sync_user_questions, external=external)
    for topic in TOPICS:
        registry.register(topic, question_handler)
    for topic in (*USER_TOPICS, CONTINUE_TOPIC):
        registry.register(topic, user_handler)


async def sync_search_index(
    conn: AsyncConnection[DictRow], event: OutboxEvent, *, external: bool = False
) -> None:
    """Any question event → the question's search row matches its current state."""
    if event.aggregate_type != "question":
        return
    await repository.sync_question(conn, event.aggregate_id)
    if external:
        await external_queue.enqueue(conn, [event.aggregate_id])


_USER_QUESTIONS = """
SELECT id FROM questions
WHERE user_id = %(user)s AND deleted_at IS NULL AND status <> 'hidden'
  AND (%(after)s::uuid IS NULL OR id > %(after)s)
ORDER BY id
LIMIT %(limit)s
"""


async def sync_user_questions(
    conn: AsyncConnection[DictRow], event: OutboxEvent, *, external: bool = False
) -> None:
    """A user's change → one batch of their visible questions re-synced, and a
    follow-up event for the next batch when there may be more."""
    if event.aggregate_type != "user":
        return
    after = payload_uuid(event, "after") if event.topic == CONTINUE_TOPIC else None
    cursor = await conn.execute(
        _USER_QUESTIONS, {"user": event.aggregate_id, "after": after, "limit": USER_BATCH}
    )
    ids = [row["id"] for row in await cursor.fetchall()]
    for question_id in ids:
        await repository.sync_question(conn, question_id)
    if external:
        await external_queue.enqueue(conn, ids)
    if len(ids) == USER_BATCH:
        await outbox.enqueue(
            conn, CONTINUE_TOPIC, "user", event.aggregate_id,
            {"user_id": str(event.aggregate_id), "after": str(ids[-1])},
        )  # fmt: skip
