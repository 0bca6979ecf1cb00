"""HTTP caching (the seed's CDN tier, L3) as one pure ASGI middleware.

* Public GETs (regions, stats, trending, feeds, question detail, answers,
  public profiles) without an ``Authorization`` header: a 200 gets
  ``Cache-Control: public, max-age=N``, ``Vary: Authorization`` (a shared
  cache must never hand the anonymous copy to a logged-in caller) and a strong
  ``ETag`` — a hash of the exact body bytes. A matching ``If-None-Match`` is
  answered ``304`` without a body. Other statuses get ``no-store``.
* Any response to a request with ``Authorization``, and to any non-GET:
  ``Cache-Control: private, no-store``, so no CDN stores it.
* Anything else passes through untouched.

Max-ages are short: a CDN copy may be that stale, but revalidation with the
ETag costs only the handler, not the transfer. The body is hashed after the
handler ran, so a 304 saves bandwidth, not work.
"""

from __future__ import annotations

import hashlib
import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PRIVATE = "private, no-store"
NO_STORE = "no-store"

_CODE = r"[A-Za-z0-9-]+"
_ID = r"[0-9A-Fa-f-]+"
# (path pattern, max-age in seconds). Reference data changes rarely; feeds often.
PUBLIC_ROUTES: tuple[tuple[re.Pattern[str], int], ...] = tuple(
    (re.compile(pattern), max_age)
    for pattern, max_age in (
        (r"/api/v1/regions", 3600),
        (rf"/api/v1/regions/{_CODE}", 3600),
        (rf"/api/v1/regions/{_CODE}/stats", 300),
        (r"/api/v1/hashtags/trending", 60),
        (r"/api/v1/search/trending", 60),
        (r"/api/v1/questions", 30),
        (rf"/api/v1/questions/{_ID}", 30),
        (rf"/api/v1/questions/{_ID}/answers", 30),
        (rf"/api/v1/users/{_ID}", 60),
    )
)


def public_max_age(path: str) -> int | None:
    for pattern, max_age in PUBLIC_ROUTES:
        if pattern.fullmatch(path):
            return max_age
    return None


def etag_for(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 13.1.2: weak comparison, any listed tag or ``*``."""
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


class HttpCacheMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if scope["method"] != "GET" or "authorization" in headers:
            await self.app(scope, receive, _with_cache_control(send, PRIVATE))
            return
        max_age = public_max_age(scope["path"])
        if max_age is None:
            await self.app(scope, receive, send)
            return
        await _PublicResponse(send, max_age, headers.get("if-none-match")).run(
            self.app, scope, receive
        )


def _with_cache_control(send: Send, value: str) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message)["Cache-Control"] = value
        await send(message)

    return wrapped


class _PublicResponse:
    """Buffers a public 200 to hash it; other statuses stream through as no-store."""

    def __init__(self, send: Send, max_age: int, if_none_match: str | None) -> None:
        self._send = send
        self._max_age = max_age
        self._if_none_match = if_none_match
        self._start: Message | None = None
        self._chunks: list[bytes] = []

    async def run(self, app: ASGIApp, scope: Scope, receive: Receive) -> None:
        await app(scope, receive, self._on_message)

    async def _on_message(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            if message["status"] != 200:
                MutableHeaders(scope=message)["Cache-Control"] = NO_STORE
                await self._send(message)
                return
            self._start = message
            return
        if self._start is None or message["type"] != "http.response.body":
            await self._send(message)
            return
        self._chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            await self._finish(b"".join(self._chunks))

    async def _finish(self, body: bytes) -> None:
        assert self._start is not None
        etag = etag_for(body)
        headers = MutableHeaders(scope=self._start)
        headers["Cache-Control"] = f"public, max-age={self._max_age}"
        headers["ETag"] = etag
        headers.append("Vary", "Authorization")
        if self._if_none_match is not None and etag_matches(self._if_none_match, etag):
            # 304: the validators and caching headers, no representation.
            for name in ("content-length", "content-type"):
                del headers[name]
            await self._send({**self._start, "status": 304})
            await self._send({"type": "http.response.body", "body": b""})
            return
        await self._send(self._start)
        await self._send({"type": "http.response.body", "body": body})
