"""RFC 9457 problem details: the one error shape of the API."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://dongne.kr/problems/"

logger = logging.getLogger(__name__)


class Problem(Exception):
    """An error a client can act on, rendered as ``application/problem+json``."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        slug: str = "error",
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.slug = slug
        self.errors = errors or []
        self.headers = headers or {}


def problem_response(
    request: Request,
    status: int,
    title: str,
    detail: str | None = None,
    *,
    slug: str = "error",
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The problem document, with the headers its status needs: a 401 names
    the scheme that would succeed (RFC 9110 §11.6.1), as do a 405's allowed
    methods and a 429's wait when the raiser gives them."""
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    body: dict[str, Any] = {
        "type": _TYPE_BASE + slug,
        "title": title,
        "status": status,
        "instance": request.url.path,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            request, exc.status, exc.title, exc.detail, slug=exc.slug, errors=exc.errors,
            headers=exc.headers,
        )  # fmt: skip

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(part) for part in error["loc"]),
                "message": error["msg"],
                "code": error["type"],
            }
            for error in exc.errors()
        ]
        return problem_response(
            request, 422, "요청 값이 올바르지 않습니다", slug="validation", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = str(exc.detail) if exc.detail else "요청을 처리할 수 없습니다"
        return problem_response(
            request,
            exc.status_code,
            title,
            slug=f"http-{exc.status_code}",
            headers=dict(exc.headers or {}),
        )

    # A safety net under validation: a value the database itself refuses (a NUL
    # byte in text, a rule only the schema knows) is the client's error, never
    # a 500. Use cases map the errors they expect to precise problems first.
    @app.exception_handler(psycopg.errors.DataError)
    async def _bad_data(request: Request, exc: psycopg.errors.DataError) -> JSONResponse:
        return problem_response(
            request, 422, "요청 값이 올바르지 않습니다", "저장할 수 없는 값이 있습니다",
            slug="validation",
        )  # fmt: skip

    @app.exception_handler(psycopg.errors.IntegrityError)
    async def _conflict(request: Request, exc: psycopg.errors.IntegrityError) -> JSONResponse:
        if isinstance(exc, psycopg.errors.UniqueViolation):
            return problem_response(request, 409, "이미 있는 값입니다", slug="conflict")
        rule = exc.diag.constraint_name or "constraint"
        return problem_response(
            request, 422, "요청 값이 규칙에 맞지 않습니다", f"위반한 규칙: {rule}",
            slug="validation",
        )  # fmt: skip

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s", request.url.path)
        return problem_response(request, 500, "서버 오류가 발생했습니다", slug="internal")
