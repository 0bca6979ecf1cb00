"""``GET /api/v1/ws``: authenticate with a ``hello`` message, resume, then stream."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, WebSocket
from redis.exceptions import RedisError

from dongne.accounts.sessions import SessionStore
from dongne.realtime import protocol
from dongne.realtime.connection import Connection, RealtimeUser, close_quietly, frame_message
from dongne.realtime.protocol import Close, Hello
from dongne.realtime.service import Realtime

logger = logging.getLogger(__name__)

router = APIRouter(tags=["realtime"])

# A socket that has not said hello by then is dropped (it holds a server slot).
HELLO_TIMEOUT_S = 10.0


@router.websocket("/ws")
async def realtime_socket(websocket: WebSocket) -> None:
    realtime: Realtime = websocket.app.state.realtime
    await websocket.accept()
    hello = await _receive_hello(websocket, realtime.max_frame_bytes)
    if isinstance(hello, Close):
        await close_quietly(websocket, hello)
        return
    user = await _authenticate(realtime, hello.token)
    if isinstance(user, Close):
        await close_quietly(websocket, user)
        return
    await _serve(websocket, realtime, user, hello)


async def _receive_hello(websocket: WebSocket, max_bytes: int) -> Hello | Close:
    unauthenticated = Close(protocol.UNAUTHENTICATED, "send {type: hello, token} first")
    try:
        event = await asyncio.wait_for(websocket.receive(), HELLO_TIMEOUT_S)
    except TimeoutError:
        return unauthenticated
    if event["type"] == "websocket.disconnect":
        return Close(1000, "")
    message = frame_message(event, max_bytes)
    if isinstance(message, Close | Hello):
        return message
    return unauthenticated


async def _authenticate(realtime: Realtime, token: str) -> RealtimeUser | Close:
    runtime = realtime.runtime
    store = SessionStore(runtime.redis, runtime.keys, runtime.settings.session_ttl_s)
    try:
        session = await store.lookup(token)
    except RedisError:
        # An outage, not a bad token: the client should retry, not log in again.
        return Close(protocol.TRY_AGAIN_LATER, "sessions unavailable; retry shortly")
    if session is None:
        return Close(protocol.UNAUTHENTICATED, "invalid or expired session")
    async with realtime.router.connection() as conn:
        cursor = await conn.execute(
            "SELECT id, region_code FROM users WHERE id = %s AND deleted_at IS NULL",
            (session.user_id,),
        )
        row = await cursor.fetchone()
    if row is None:
        return Close(protocol.UNAUTHENTICATED, "account unavailable")
    return RealtimeUser(id=row["id"], region_code=row["region_code"])


async def _serve(
    websocket: WebSocket, realtime: Realtime, user: RealtimeUser, hello: Hello
) -> None:
    connection = Connection(websocket, user, realtime)
    # Registered before the replay: pushes arriving meanwhile are held, not lost.
    realtime.hub.register(connection)
    try:
        await realtime.presence.touch(user.id, user.region_code, connection.id, connected=True)
        replayed, more = await connection.replay(hello.last_notification_id)
        connection.push({"type": "ready", "user_id": str(user.id),
                         "region_code": user.region_code, "replayed": replayed,
                         "more": more})  # fmt: skip
        await _announce(realtime, user, "online")
        outcome = await connection.run()
    finally:
        realtime.hub.unregister(connection)
        if await realtime.presence.disconnect(user.id, user.region_code, connection.id):
            await _announce(realtime, user, "offline")
    if outcome is not None:
        await close_quietly(websocket, outcome)


async def _announce(realtime: Realtime, user: RealtimeUser, status: str) -> None:
    message = {"type": "presence", "user_id": str(user.id),
               "region_code": user.region_code, "status": status}  # fmt: skip
    await realtime.hub.publish("presence", user.region_code or "", message)
