"""Which code handles which outbox topic.

A handler is ``async def handler(conn, event) -> None``. It runs inside the
transaction that marks the event processed, so its database effects commit
exactly once together with that mark, or roll back with a failed attempt.
Delivery itself is at-least-once (a crash between commit and acknowledgement,
an operator requeueing a dead event), so handlers are idempotent as well:
unique keys, ``ON CONFLICT DO NOTHING``, upgrade-only updates, idempotency keys
on the points ledger.

A handler that cannot ever succeed on an event (a malformed payload) raises
:class:`InvalidEventError`: the event goes to the dead state at once instead of
being retried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from dongne.outbox.repository import OutboxEvent

Handler = Callable[[AsyncConnection[DictRow], OutboxEvent], Awaitable[None]]
H = TypeVar("H", bound=Handler)


class InvalidEventError(ValueError):
    """The event can never be handled (bad payload); retrying would not help."""


class HandlerRegistry:
    """Topic → handlers, run in registration order within one event's transaction."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}

    def register(self, topic: str, handler: Handler) -> None:
        self._handlers.setdefault(topic, []).append(handler)

    def on(self, topic: str) -> Callable[[H], H]:
        """Decorator form of :meth:`register`."""

        def decorate(handler: H) -> H:
            self.register(topic, handler)
            return handler

        return decorate

    def handlers_for(self, topic: str) -> list[Handler]:
        """The topic's handlers; empty when no code subscribes to it."""
        return list(self._handlers.get(topic, ()))

    @property
    def topics(self) -> list[str]:
        return sorted(self._handlers)

    def copy(self) -> HandlerRegistry:
        clone = HandlerRegistry()
        for topic, handlers in self._handlers.items():
            clone._handlers[topic] = list(handlers)
        return clone


def default_registry(*, external_search: bool = False) -> HandlerRegistry:
    """Every production handler: notifications, badges, search (and what follows them).

    ``external_search``: also queue search changes for the external index
    (Elasticsearch); set when that backend is configured.
    """
    # Imported here: those modules import this one for the registry types.
    import dongne.notifications.handlers as notification_handlers
    import dongne.points.badges as badges
    import dongne.search.sync as search_sync

    registry = HandlerRegistry()
    badges.register(registry)
    notification_handlers.register(registry)
    search_sync.register(registry, external=external_search)
    return registry


# Payload accessors: a missing or malformed field is a permanent error.


def payload_uuid(event: OutboxEvent, key: str) -> UUID:
    try:
        return UUID(str(event.payload[key]))
    except (KeyError, ValueError, TypeError) as error:
        message = f"{event.topic} #{event.id}: payload.{key} is not a UUID"
        raise InvalidEventError(message) from error


def payload_int(event: OutboxEvent, key: str) -> int:
    value: Any = event.payload.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEventError(f"{event.topic} #{event.id}: payload.{key} is not an integer")
    return value


def payload_str(event: OutboxEvent, key: str) -> str:
    value: Any = event.payload.get(key)
    if not isinstance(value, str):
        raise InvalidEventError(f"{event.topic} #{event.id}: payload.{key} is not a string")
    return value
