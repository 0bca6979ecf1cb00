"""Who is calling: the session token in ``Authorization: Bearer …`` resolved to a live user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.exceptions import RedisError

from dongne.accounts.sessions import Session, SessionStore
from dongne.api.deps import get_runtime
from dongne.api.problems import Problem

_bearer = HTTPBearer(auto_error=False, description="`dongne` session token from /auth/login")


@dataclass(frozen=True)
class AuthenticatedUser:
    id: UUID
    role: str
    nickname: str
    region_code: str | None
    verification_level: int
    session: Session

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _session_store(request: Request) -> SessionStore:
    runtime = get_runtime(request)
    return SessionStore(runtime.redis, runtime.keys, runtime.settings.session_ttl_s)


async def session_store(request: Request) -> SessionStore:
    # Async: a plain ``def`` dependency would run in FastAPI's thread pool.
    return _session_store(request)


async def optional_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AuthenticatedUser | None:
    if credentials is None:
        return None
    # An unreachable Redis is an outage, not a bad token: 503 tells clients to retry.
    try:
        session = await _session_store(request).lookup(credentials.credentials)
    except RedisError as error:
        raise Problem(
            503,
            "잠시 후 다시 시도해 주세요",
            "세션을 확인할 수 없습니다",
            slug="service-unavailable",
        ) from error
    if session is None:
        raise Problem(
            401,
            "로그인이 필요합니다",
            "세션이 만료되었거나 유효하지 않습니다",
            slug="unauthenticated",
        )
    async with get_runtime(request).router.connection() as conn:
        cursor = await conn.execute(
            "SELECT id, role::text AS role, nickname, region_code, verification_level "
            "FROM users WHERE id = %s AND deleted_at IS NULL",
            (session.user_id,),
        )
        row = await cursor.fetchone()
    if row is None:
        raise Problem(
            401, "로그인이 필요합니다", "계정을 사용할 수 없습니다", slug="unauthenticated"
        )
    return AuthenticatedUser(
        id=row["id"],
        role=row["role"],
        nickname=row["nickname"],
        region_code=row["region_code"],
        verification_level=row["verification_level"],
        session=session,
    )


async def current_user(
    user: Annotated[AuthenticatedUser | None, Depends(optional_user)],
) -> AuthenticatedUser:
    if user is None:
        raise Problem(401, "로그인이 필요합니다", slug="unauthenticated")
    return user


async def admin_user(
    user: Annotated[AuthenticatedUser, Depends(current_user)],
) -> AuthenticatedUser:
    if not user.is_admin:
        raise Problem(403, "관리자만 할 수 있습니다", slug="forbidden")
    return user


OptionalUser = Annotated[AuthenticatedUser | None, Depends(optional_user)]
CurrentUser = Annotated[AuthenticatedUser, Depends(current_user)]
AdminUser = Annotated[AuthenticatedUser, Depends(admin_user)]
