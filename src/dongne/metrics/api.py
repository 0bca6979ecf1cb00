"""Wire metrics into an app: the middleware and ``GET /metrics``."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from dongne.metrics.middleware import ObservabilityMiddleware
from dongne.metrics.scrape import render_metrics
from dongne.runtime import Runtime


def install_metrics(app: FastAPI, runtime: Runtime) -> None:
    app.add_middleware(ObservabilityMiddleware)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(await render_metrics(runtime), media_type=CONTENT_TYPE_LATEST)
