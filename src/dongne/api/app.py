"""The FastAPI application: routes from every area, lifecycle of the runtime."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from dongne import __version__, realtime
from dongne.accounts.api import router as accounts_router
from dongne.admin.api import router as admin_router
from dongne.api.http_cache import HttpCacheMiddleware
from dongne.api.problems import install_problem_handlers, problem_response
from dongne.cache import service as cache_service
from dongne.cache.client import ping
from dongne.geo.api import router as regions_router
from dongne.metrics.api import install_metrics
from dongne.notifications.api import router as notifications_router
from dongne.ops.api import router as ops_router
from dongne.ops.pools import PoolResizer
from dongne.outbox.handlers import default_registry
from dongne.outbox.worker import OutboxWorker
from dongne.points.api import router as points_router
from dongne.qa.api import router as qa_router
from dongne.qa.views import ViewCounter
from dongne.runtime import Runtime
from dongne.search.api import router as search_router
from dongne.search.external import syncers_for
from dongne.text.analysis import get_analyzer

logger = logging.getLogger(__name__)


async def _flush_views_once(runtime: Runtime) -> None:
    try:
        await ViewCounter(runtime.redis, runtime.keys).flush(runtime.router)
    except Exception:
        # Pending views stay in Redis and the next flush applies them.
        logger.exception("view-count flush failed")


async def _flush_views_forever(runtime: Runtime) -> None:
    while True:
        await asyncio.sleep(runtime.settings.view_flush_interval_s)
        await _flush_views_once(runtime)


def create_app(runtime: Runtime) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.open()
        # Kiwi loads its model (~1.5 s) on first use; loaded inside a request it
        # would stall the event loop, and every request with it.
        await asyncio.to_thread(get_analyzer)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(_flush_views_forever(runtime))]
        tasks += await cache_service.start(app)
        tasks += await realtime.start(app)
        # Pools resize from measured wait time, within bounds (dongne.ops.pools).
        tasks.append(asyncio.create_task(PoolResizer(runtime.router).run(stop)))
        if runtime.settings.embedded_worker:
            # With Elasticsearch configured, a syncer per shard sends what the
            # search handlers queue for it (dongne.search.external).
            syncers = syncers_for(runtime.settings, runtime.router)
            registry = default_registry(external_search=bool(syncers))
            tasks += [
                asyncio.create_task(
                    OutboxWorker(
                        runtime.router,
                        registry,
                        shard=shard,
                        after_commit=[
                            *cache_service.outbox_callbacks(app),
                            *realtime.outbox_callbacks(app),
                            *([syncers[shard].on_outbox_event] if syncers else []),
                        ],
                    ).run(stop)
                )
                for shard in runtime.router.shard_names
            ]
            tasks += [asyncio.create_task(s.run(stop)) for s in syncers.values()]
            from dongne.jobs.builtin import default_jobs
            from dongne.jobs.scheduler import Scheduler

            jobs = [job for job in default_jobs(runtime) if job.exclusive]
            tasks.append(asyncio.create_task(Scheduler(runtime.router, jobs).run(stop)))
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await _flush_views_once(runtime)
            await realtime.stop(app)
            await cache_service.stop(app)
            await runtime.close()

    app = FastAPI(
        title="dongne API (동네물어봐)",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.runtime = runtime
    cache_service.install(app, runtime)
    # After the cache layer: realtime shares its pub/sub connection.
    realtime.install(app, runtime)
    app.add_middleware(HttpCacheMiddleware)
    install_problem_handlers(app)
    install_metrics(app, runtime)
    # Routes match in the order they are included, each path tried against
    # every route before it: the busiest area first (a search walked ~60
    # routes, ~5 % of the API's CPU under the search bench).
    for area_router in (
        search_router,
        qa_router,
        regions_router,
        accounts_router,
        points_router,
        notifications_router,
        admin_router,
        ops_router,
    ):
        app.include_router(area_router, prefix="/api/v1")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False, response_model=None)
    async def readyz(request: Request) -> JSONResponse | dict[str, str]:
        checks: dict[str, str] = {}
        try:
            async with runtime.router.connection() as conn:
                await conn.execute("SELECT 1")
            checks["database"] = "ok"
        except Exception as error:
            checks["database"] = f"unavailable: {type(error).__name__}"
        try:
            checks["redis"] = "ok" if await ping(runtime.redis) else "unavailable: no PONG"
        except Exception as error:
            checks["redis"] = f"unavailable: {type(error).__name__}"
        if all(value == "ok" for value in checks.values()):
            return checks
        return problem_response(
            request,
            503,
            "서비스 준비 중입니다",
            ", ".join(f"{k}: {v}" for k, v in checks.items()),
            slug="not-ready",
        )

    return app
