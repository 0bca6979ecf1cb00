"""A pure ASGI middleware: request id, latency histogram per route, access log.

Pure ASGI (not ``BaseHTTPMiddleware``) so that it costs microseconds: the
benchmark's baseline endpoint goes through it too.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dongne.metrics.logs import request_id_var
from dongne.metrics.registry import REQUEST_LATENCY, REQUESTS_IN_FLIGHT, SEARCH_LATENCY

access_log = logging.getLogger("dongne.access")

REQUEST_ID_HEADER = b"x-request-id"
# A caller's id is kept only when it is short and plain (no log injection).
_VALID_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
UNMATCHED = "<unmatched>"


def _route_template(scope: Scope) -> str:
    """The matched route's template with its mount prefix, e.g. ``/api/v1/questions/{id}``.

    Routers included with a prefix may report only their own part of the path
    (FastAPI ≥ 0.16x includes routers lazily), so the prefix is recovered from
    the request path: whatever precedes the concrete form of the template.
    """
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(template, str):
        return UNMATCHED
    path: str = scope.get("path", "")
    params = scope.get("path_params") or {}
    try:
        concrete = template.format(**{k: str(v) for k, v in params.items()})
    except (KeyError, IndexError, ValueError):
        return template
    if path.endswith(concrete) and len(path) > len(concrete):
        return path[: len(path) - len(concrete)] + template
    return template


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER and _VALID_ID.match(value):
                request_id = value.decode()
                break
        if request_id is None:
            request_id = uuid.uuid4().hex
        token = request_id_var.set(request_id)
        status = 500
        header = (REQUEST_ID_HEADER, request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        started = time.perf_counter()
        REQUESTS_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            REQUESTS_IN_FLIGHT.dec()
            route = _route_template(scope)
            method = scope["method"]
            REQUEST_LATENCY.labels(route, method, f"{status // 100}xx").observe(elapsed)
            if "/search" in route:
                SEARCH_LATENCY.labels(route).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %d",
                    method,
                    scope["path"],
                    status,
                    extra={
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1e3, 3),
                    },
                )
            request_id_var.reset(token)
