"""FastAPI dependencies shared by every area's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from dongne.db.router import ShardRouter
from dongne.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


# Dependencies are async even when they do no I/O: FastAPI runs a plain
# ``def`` dependency in its thread pool, and that hand-off cost every request
# more CPU than the work (measured: a sixth of a search's API time).
async def get_router(request: Request) -> ShardRouter:
    return get_runtime(request).router


RouterDep = Annotated[ShardRouter, Depends(get_router)]
