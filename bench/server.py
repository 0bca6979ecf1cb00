"""The API under test, in its own process: dongne's app plus a bare hello-world
route (the baseline H) served by the same uvicorn (uvloop + httptools).

    python -m bench.server DATABASE_URL REDIS_URL PORT
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.responses import PlainTextResponse

from dongne.api.app import create_app
from dongne.config import Settings
from dongne.embedded.stack import ServerUrls
from dongne.runtime import Runtime


def main() -> None:
    database_url, redis_url, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    settings = Settings(
        environment="test", database_url=database_url, redis_url=redis_url, redis_key_prefix="bench"
    )
    app = create_app(Runtime.build(settings, ServerUrls(database_url, redis_url)))

    @app.get("/bench/hello", include_in_schema=False)
    async def hello() -> PlainTextResponse:
        return PlainTextResponse("hello")

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
