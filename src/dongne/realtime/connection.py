"""One authenticated WebSocket: a reader (client messages), a writer (a queue
of server messages) and whichever of them, or the hub, ends the connection
first decides the close code."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from starlette.websockets import WebSocket

from dongne.realtime import protocol
from dongne.realtime.protocol import Close, Hello, Ping, PresenceWatch, QuestionWatch, Typing

if TYPE_CHECKING:
    from dongne.realtime.service import Realtime

logger = logging.getLogger(__name__)

# A client that lets this many messages pile up is too slow: it reconnects and resumes.
MAX_PENDING = 256
MAX_WATCHED_QUESTIONS = 50
# Activity refreshes presence at most this often (the window is 30 minutes).
TOUCH_EVERY_S = 30.0
# Notification ids already sent, so a replay and a live push never double up.
_SEEN_MEMORY = 512
# Below every UUIDv7: "after _NIL" is the whole inbox.
_NIL = UUID(int=0)


@dataclass(frozen=True)
class RealtimeUser:
    id: UUID
    region_code: str | None


class Connection:
    def __init__(self, websocket: WebSocket, user: RealtimeUser, realtime: Realtime) -> None:
        self.id = uuid.uuid4().hex
        self.user_id = user.id
        self.region_code = user.region_code
        self.watched_questions: set[UUID] = set()
        self.presence_scope: str | None = None
        self._ws = websocket
        self._rt = realtime
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._done: asyncio.Future[Close | None] = asyncio.get_running_loop().create_future()
        self._seen: OrderedDict[UUID, None] = OrderedDict()
        # The newest notification delivered: where a resync continues from.
        self._cursor: UUID | None = None
        # While replaying, live messages wait here so that replayed rows go first.
        self._held: list[dict[str, Any]] | None = None
        self._replay_lock = asyncio.Lock()
        self._last_touch = 0.0
        self._background: set[asyncio.Task[None]] = set()

    # -- outgoing ----------------------------------------------------------------

    def push(self, message: dict[str, Any]) -> None:
        """Queue a server message (called by the hub); never blocks."""
        if self._done.done():
            return
        if self._held is not None:
            self._held.append(message)
            return
        if message.get("type") == "notification" and not self._first_sight(message):
            return
        self._queue.put_nowait(message)
        if self._queue.qsize() > MAX_PENDING:
            self.finish(Close(protocol.TRY_AGAIN_LATER, "client too slow; reconnect and resume"))

    def _first_sight(self, message: dict[str, Any]) -> bool:
        notification_id = UUID(str(message["notification"]["id"]))
        if notification_id in self._seen:
            return False
        self._seen[notification_id] = None
        if len(self._seen) > _SEEN_MEMORY:
            self._seen.popitem(last=False)
        if self._cursor is None or notification_id > self._cursor:
            self._cursor = notification_id
        return True

    def finish(self, outcome: Close | None) -> None:
        if not self._done.done():
            self._done.set_result(outcome)

    # -- resume --------------------------------------------------------------------

    async def replay(self, after: UUID | None) -> tuple[int, bool]:
        """Push the user's notifications newer than ``after`` (oldest first; none
        when ``after`` is None), then whatever arrived live meanwhile.
        Returns (rows replayed, whether more were left for GET /notifications)."""
        async with self._replay_lock:
            self._held = []
            try:
                if after is None:
                    rows: list[dict[str, Any]] = []
                    more = False
                    after = await self._rt.newest_notification(self.user_id) or _NIL
                else:
                    rows, more = await self._rt.notifications_after(self.user_id, after)
                if self._cursor is None or after > self._cursor:
                    self._cursor = after
            finally:
                held, self._held = self._held, None
            for row in rows:
                self.push({"type": "notification", "replay": True, "notification": row})
            for message in held:
                self.push(message)
            return len(rows), more

    def resync(self) -> None:
        """After a pub/sub outage: pushes may be lost, re-read the inbox from the cursor."""
        self._spawn(self._resync())

    async def _resync(self) -> None:
        try:
            await self.replay(self._cursor or _NIL)
        except Exception:
            logger.exception("realtime resync failed; the client can reconnect to resume")

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- the connection's life ------------------------------------------------------

    async def run(self) -> Close | None:
        """Read and write until one side ends; the Close to send, or None if the client left."""
        tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._write())]
        for task in tasks:
            task.add_done_callback(self._task_ended)
        try:
            return await self._done
        finally:
            for task in (*tasks, *self._background):
                task.cancel()
            await asyncio.gather(*tasks, *self._background, return_exceptions=True)

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            logger.error("realtime connection %s failed", self.id, exc_info=error)
            self.finish(Close(protocol.INTERNAL_ERROR, "internal error"))

    async def _write(self) -> None:
        while True:
            message = await self._queue.get()
            try:
                await self._ws.send_text(protocol.encode(message))
            except Exception:
                # The client went away; the reader sees the disconnect too.
                self.finish(None)
                return

    async def _read(self) -> None:
        while True:
            event = await self._ws.receive()
            if event["type"] == "websocket.disconnect":
                self.finish(None)
                return
            message = frame_message(event, self._rt.max_frame_bytes)
            if isinstance(message, Close):
                self.finish(message)
                return
            if isinstance(message, Hello):
                self.finish(Close(protocol.BAD_MESSAGE, "already authenticated"))
                return
            await self._handle(message)

    async def _handle(self, message: Ping | PresenceWatch | QuestionWatch | Typing) -> None:
        await self._touch()
        if isinstance(message, Ping):
            self.push({"type": "pong"})
        elif isinstance(message, PresenceWatch):
            await self._watch_presence(message.region_code)
        elif isinstance(message, QuestionWatch):
            await self._watch_question(message)
        else:
            await self._typing(message)

    async def _touch(self) -> None:
        now = time.monotonic()
        if now - self._last_touch >= TOUCH_EVERY_S:
            self._last_touch = now
            await self._rt.presence.touch(self.user_id, self.region_code, self.id)

    async def _watch_presence(self, region_code: str | None) -> None:
        self.presence_scope = region_code or ""
        users = await self._rt.presence.online(region_code)
        self.push({
            "type": "presence.online",
            "region_code": region_code,
            "available": users is not None,
            "user_ids": [str(u) for u in users or []],
        })  # fmt: skip

    async def _watch_question(self, message: QuestionWatch) -> None:
        if message.type == "question.unwatch":
            self.watched_questions.discard(message.question_id)
            return
        if len(self.watched_questions) >= MAX_WATCHED_QUESTIONS:
            self.push({"type": "error", "code": "too_many_watches",
                       "detail": f"at most {MAX_WATCHED_QUESTIONS} questions at once"})  # fmt: skip
            return
        self.watched_questions.add(message.question_id)
        users = await self._rt.presence.typing_users(message.question_id)
        self.push({
            "type": "typing.users",
            "question_id": str(message.question_id),
            "available": users is not None,
            "user_ids": [str(u) for u in users or []],
        })  # fmt: skip

    async def _typing(self, message: Typing) -> None:
        active = message.type == "typing.start"
        await self._rt.presence.typing(message.question_id, self.user_id, active)
        event = {"type": "typing", "question_id": str(message.question_id),
                 "user_id": str(self.user_id), "typing": active}  # fmt: skip
        await self._rt.hub.publish("question", str(message.question_id), event, origin=self.id)


def frame_message(
    event: Mapping[str, Any], max_bytes: int
) -> Hello | Ping | PresenceWatch | QuestionWatch | Typing | Close:
    """The client message in one received frame, or the Close it earns."""
    text = event.get("text")
    data = event.get("bytes")
    size = len(data) if data is not None else len(text.encode()) if text is not None else 0
    if size > max_bytes:
        return Close(protocol.TOO_BIG, f"frame larger than {max_bytes} bytes")
    if text is None:
        return Close(protocol.UNSUPPORTED_DATA, "binary frames are not supported; send JSON text")
    return protocol.parse(text)


async def close_quietly(websocket: WebSocket, close: Close) -> None:
    with contextlib.suppress(Exception):
        await websocket.close(close.code, close.reason)
