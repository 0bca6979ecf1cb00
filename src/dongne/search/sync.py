"""Outbox handlers that keep the search index in step with PostgreSQL.

Every topic that can change what a question's search row holds, or whether it
may exist, re-syncs that question from its current state inside the worker's
transaction (see ``repository.sync_question``): the row commits together with
the event's "processed" mark, replays are no-ops, and the worker's
per-aggregate ordering means a question's events are applied one at a time.
Counters (answers, likes, views) are read from ``questions`` at query time by
the PostgreSQL backend, so those events only matter for external indexes;
they re-sync anyway, which costs one fingerprint comparison.
"""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from dongne.outbox.handlers import HandlerRegistry
from dongne.outbox.repository import OutboxEvent
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
)


def register(registry: HandlerRegistry) -> None:
    for topic in TOPICS:
        registry.register(topic, sync_search_index)


async def sync_search_index(conn: AsyncConnection[DictRow], event: OutboxEvent) -> None:
    """Any question event → the question's search row matches its current state."""
    if event.aggregate_type != "question":
        return
    await repository.sync_question(conn, event.aggregate_id)
