"""The realtime layer of one process: presence, the hub, its pub/sub
subscription, the inbox queries behind resume, and the outbox after-commit
callback that turns committed events into pushes."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from psycopg.rows import DictRow

from dongne.cache.client import RedisClient, make_client
from dongne.cache.pubsub import Subscriber
from dongne.config import Settings
from dongne.db.router import ShardRouter, Workload
from dongne.notifications.api import NotificationOut
from dongne.outbox.repository import OutboxEvent
from dongne.realtime.hub import Hub
from dongne.realtime.presence import Presence

logger = logging.getLogger(__name__)

# Rows a reconnecting client gets replayed; beyond that it pages GET /notifications.
REPLAY_LIMIT = 100


def notification_json(row: DictRow) -> dict[str, Any]:
    """A notification exactly as GET /notifications shows it."""
    return NotificationOut(**row).model_dump(mode="json")


class Realtime:
    def __init__(self, runtime: Any, subscriber: Subscriber | None) -> None:
        settings: Settings = runtime.settings
        self.runtime = runtime
        self.router: ShardRouter = runtime.router
        self.max_frame_bytes = settings.ws_max_frame_bytes
        self.redis: RedisClient = make_client(
            settings, runtime.urls.redis_url, timeout_s=settings.cache_redis_timeout_s
        )
        self.presence = Presence(self.redis, runtime.keys)
        self.hub = Hub(self.redis, runtime.keys)
        # Share the cache layer's SUBSCRIBE connection when there is one.
        self._own_subscriber = subscriber is None
        self.subscriber = subscriber or Subscriber(settings, runtime.urls.redis_url)
        self.subscriber.add(self.hub.channel, self.hub.on_message)
        self.subscriber.on_up.append(self.hub.on_up)
        self.subscriber.on_down.append(self.hub.on_down)

    async def start(self) -> None:
        if self._own_subscriber:
            self.subscriber.start()

    async def stop(self) -> None:
        if self._own_subscriber:
            await self.subscriber.stop()
        await self.redis.aclose()

    # -- inbox reads for resume (primary: a replica may lag behind the push) ------

    async def notifications_after(
        self, user_id: UUID, after: UUID
    ) -> tuple[list[dict[str, Any]], bool]:
        async with self.router.connection(Workload.WRITE) as conn:
            cursor = await conn.execute(
                """
                SELECT id, type::text AS type, title, message, data, is_read, read_at, created_at
                FROM notifications WHERE user_id = %s AND id > %s
                ORDER BY id LIMIT %s
                """,
                (user_id, after, REPLAY_LIMIT + 1),
            )
            rows = await cursor.fetchall()
        return [notification_json(r) for r in rows[:REPLAY_LIMIT]], len(rows) > REPLAY_LIMIT

    async def newest_notification(self, user_id: UUID) -> UUID | None:
        async with self.router.connection(Workload.WRITE) as conn:
            cursor = await conn.execute(
                "SELECT id FROM notifications WHERE user_id = %s ORDER BY id DESC LIMIT 1",
                (user_id,),
            )
            row = await cursor.fetchone()
        return row["id"] if row else None

    # -- pushes, after the outbox committed an event ----------------------------

    async def on_outbox_event(self, event: OutboxEvent) -> None:
        """Worker after-commit callback: notifications to their recipients, new
        answers to the asker, acceptances to the answerer."""
        async with self.router.connection(Workload.BACKGROUND) as conn:
            cursor = await conn.execute(
                "SELECT id, user_id, type::text AS type, title, message, data, is_read, read_at,"
                " created_at FROM notifications WHERE source_event_id = %s ORDER BY id",
                (event.id,),
            )
            notifications = await cursor.fetchall()
            asker = None
            if event.topic == "answer.created":
                cursor = await conn.execute(
                    "SELECT user_id FROM questions WHERE id = %s", (event.aggregate_id,)
                )
                row = await cursor.fetchone()
                asker = row["user_id"] if row else None
        for target, message in event_pushes(event, asker):
            await self.hub.publish("user", str(target), message)
        for row in notifications:
            message = {"type": "notification", "notification": notification_json(row)}
            await self.hub.publish("user", str(row["user_id"]), message)


def event_pushes(event: OutboxEvent, asker: UUID | None) -> list[tuple[UUID, dict[str, Any]]]:
    """(recipient, message) for the events clients hear about besides notifications."""
    payload = event.payload
    if event.topic == "answer.created" and asker is not None:
        answerer = str(payload.get("user_id"))
        if answerer == str(asker):
            return []
        return [(asker, {
            "type": "answer.created", "question_id": str(event.aggregate_id),
            "answer_id": str(payload.get("answer_id")), "answerer_id": answerer,
        })]  # fmt: skip
    if event.topic == "answer.accepted" and payload.get("user_id"):
        return [(UUID(str(payload["user_id"])), {
            "type": "answer.accepted", "question_id": str(event.aggregate_id),
            "answer_id": str(payload.get("answer_id")), "points": payload.get("points"),
        })]  # fmt: skip
    return []
