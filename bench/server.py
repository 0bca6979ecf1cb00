"""The API under test, in its own process: dongne's app plus a bare hello-world
route (the baseline H) served by the same server, with the two-tier cache on
(``BENCH_CACHE=off`` turns it off: the stacks comparison's cache-less row;
``BENCH_WARM_UP=off`` skips the cache warm-up, whose region statistics read
every question of a 1 M database for seconds while a search bench measures).

    python -m bench.server DATABASE_URL REDIS_URL PORT [STACK] [PREPARE_THRESHOLD]

STACK is one of ``STACKS`` (default ``uvicorn-uvloop-httptools``, what
``dongne up`` serves with: ``dongne.api.server``); PREPARE_THRESHOLD is psycopg's (an integer, or
``none`` for never; default: the setting's default). Granian imports the app
by name in its worker, so the configuration travels in ``BENCH_*`` variables.
"""

from __future__ import annotations

import os
import sys

from fastapi import FastAPI
from starlette.responses import PlainTextResponse

STACKS = ("uvicorn-uvloop-httptools", "uvicorn-asyncio-h11", "granian")
DEFAULT_STACK = STACKS[0]


def app_factory() -> FastAPI:
    """The app from ``BENCH_*`` variables (also granian's factory target)."""
    from dongne.api.app import create_app
    from dongne.config import Settings
    from dongne.embedded.stack import ServerUrls
    from dongne.runtime import Runtime

    database_url, redis_url = os.environ["BENCH_DATABASE_URL"], os.environ["BENCH_REDIS_URL"]
    extra: dict[str, object] = {}
    threshold = os.environ.get("BENCH_PREPARE_THRESHOLD", "")
    if threshold:
        extra["db_prepare_threshold"] = None if threshold == "none" else int(threshold)
    settings = Settings(
        environment="test",
        database_url=database_url,
        redis_url=redis_url,
        redis_key_prefix="bench",
        cache_enabled=os.environ.get("BENCH_CACHE", "on") != "off",
        cache_warm_up=os.environ.get("BENCH_WARM_UP", "on") != "off",
        # The bench signs its users up from one loopback address, run after run.
        signup_limit_per_hour=100_000,
        **extra,  # type: ignore[arg-type]
    )
    app = create_app(Runtime.build(settings, ServerUrls(database_url, redis_url)))

    @app.get("/bench/hello", include_in_schema=False)
    async def hello() -> PlainTextResponse:
        return PlainTextResponse("hello")

    return app


def serve(stack: str, port: int) -> None:
    if stack == "granian":
        from granian import Granian
        from granian.constants import Interfaces, Loops

        Granian(
            "bench.server:app_factory",
            address="127.0.0.1",
            port=port,
            interface=Interfaces.ASGI,
            workers=1,
            loop=Loops.uvloop,
            factory=True,
            log_enabled=False,
        ).serve()
        return
    import uvicorn

    from dongne.api.server import uvicorn_config

    config = uvicorn_config(
        app_factory(), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    if stack == "uvicorn-asyncio-h11":
        config.loop, config.http = "asyncio", "h11"
    else:
        config.loop = "uvloop"
    uvicorn.Server(config).run()


def main() -> None:
    os.environ["BENCH_DATABASE_URL"], os.environ["BENCH_REDIS_URL"] = sys.argv[1], sys.argv[2]
    port = int(sys.argv[3])
    stack = sys.argv[4] if len(sys.argv) > 4 else DEFAULT_STACK
    if stack not in STACKS:
        raise SystemExit(f"unknown stack {stack!r}: one of {', '.join(STACKS)}")
    if len(sys.argv) > 5:
        os.environ["BENCH_PREPARE_THRESHOLD"] = sys.argv[5]
    serve(stack, port)


if __name__ == "__main__":
    main()
