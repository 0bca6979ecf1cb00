"""FastAPI dependencies shared by every area's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from dongne.db.router import ShardRouter
from dongne.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_router(request: Request) -> ShardRouter:
    return get_runtime(request).router


RouterDep = Annotated[ShardRouter, Depends(get_router)]
