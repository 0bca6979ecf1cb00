"""Account use cases: sign-up, login, logout, the own profile and public profiles.

Each use case owns its transaction. Sessions are created inside the database
transaction that creates or logs in the user: if Redis fails, nothing is
committed and the client gets a 503 it can simply retry.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from email_validator import EmailNotValidError, validate_email
from psycopg import AsyncConnection, errors
from psycopg.rows import DictRow
from redis.exceptions import RedisError

from dongne.accounts import passwords, repository, verification
from dongne.accounts.ratelimit import LoginLimiter, SignupLimiter
from dongne.accounts.sessions import Session, SessionStore
from dongne.api.problems import Problem
from dongne.db.router import ShardRouter

MAX_EMAIL_LENGTH = 255
MAX_CATEGORIES = 12
# Fields of PATCH /me that can be changed but not cleared.
_REQUIRED_FIELDS = (
    "nickname",
    "region_code",
    "interested_categories",
    "notification_settings",
    "privacy_settings",
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewAccount:
    email: str
    password: str
    nickname: str
    region_code: str


def normalize_email(raw: str) -> str:
    """The canonical form of an address (lower case); ValueError with a Korean message."""
    try:
        email = validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise ValueError("올바른 이메일 주소가 아닙니다") from error
    if len(email) > MAX_EMAIL_LENGTH:
        raise ValueError(f"이메일 주소는 {MAX_EMAIL_LENGTH}자 이하여야 합니다")
    return email


def _login_email(raw: str) -> str:
    try:
        return normalize_email(raw)
    except ValueError:
        return raw.strip().lower()


def field_problem(field: str, message: str, code: str) -> Problem:
    return Problem(
        422, "요청 값이 올바르지 않습니다", message, slug="validation",
        errors=[{"field": field, "message": message, "code": code}],
    )  # fmt: skip


@asynccontextmanager
async def redis_required() -> AsyncIterator[None]:
    """Turn an unreachable Redis into a 503 the client can retry, never a 500."""
    try:
        yield
    except RedisError as error:
        logger.warning("redis unavailable: %s", error)
        raise Problem(
            503, "잠시 후 다시 시도해 주세요", "일시적으로 요청을 처리할 수 없습니다",
            slug="service-unavailable",
        ) from error  # fmt: skip


async def _require_district(conn: AsyncConnection[DictRow], code: str) -> None:
    if not await repository.is_active_district(conn, code):
        raise field_problem(
            "body.region_code", f"{code}는 서비스 중인 읍·면·동이 아닙니다", "unknown_region"
        )


async def _private_profile(conn: AsyncConnection[DictRow], user_id: UUID) -> dict[str, Any]:
    profile = await repository.private_profile(conn, user_id)
    if profile is None:
        raise Problem(
            401, "로그인이 필요합니다", "계정을 사용할 수 없습니다", slug="unauthenticated"
        )
    profile["verification_history"] = await repository.verification_history(conn, user_id)
    return profile


async def signup(
    router: ShardRouter,
    sessions: SessionStore,
    account: NewAccount,
    limiter: SignupLimiter,
    *,
    address: str,
) -> tuple[dict[str, Any], str]:
    """Create the account and its first session; a live account with the address is a 409.

    The partial unique index decides duplicates: a pre-check alone would let
    two concurrent sign-ups with one address both pass. Raises
    RateLimitedError when the client address is over its sign-ups.
    """
    async with redis_required():
        await limiter.attempt(address)
    password_hash = await passwords.hash_password_async(account.password)
    try:
        async with router.transaction() as conn, redis_required():
            await _require_district(conn, account.region_code)
            user_id = await repository.insert_user(
                conn, email=account.email, password_hash=password_hash,
                nickname=account.nickname, region_code=account.region_code,
            )  # fmt: skip
            profile = await _private_profile(conn, user_id)
            token = await sessions.create(user_id)
    except errors.UniqueViolation as error:
        if error.diag.constraint_name != "users_email_active_key":
            raise
        raise Problem(
            409, "이미 가입된 이메일입니다", "다른 이메일 주소를 쓰거나 로그인해 주세요",
            slug="email-taken",
            errors=[{"field": "body.email", "message": "이미 가입된 이메일입니다",
                     "code": "duplicate_email"}],
        ) from error  # fmt: skip
    return profile, token


def _bad_credentials() -> Problem:
    return Problem(
        401, "이메일 또는 비밀번호가 올바르지 않습니다", "입력한 정보를 다시 확인해 주세요",
        slug="invalid-credentials",
    )  # fmt: skip


async def _authenticate(router: ShardRouter, email: str, password: str) -> tuple[UUID, str | None]:
    """The account's id and, when argon2's parameters changed, a fresh hash to store."""
    async with router.connection() as conn:
        account = await repository.find_credentials(conn, email)
    stored = account["password_hash"] if account else None
    verdict = await passwords.verify_password_async(stored, password)
    if account is None or not verdict.ok:
        raise _bad_credentials()
    new_hash = await passwords.hash_password_async(password) if verdict.needs_rehash else None
    return account["id"], new_hash


async def _reward_daily_login(conn: AsyncConnection[DictRow], user_id: UUID) -> None:
    day = await repository.award_daily_login(conn, user_id)
    if day is not None:
        await repository.enqueue(
            conn, "user.login", "user", user_id, {"user_id": str(user_id), "day": day}
        )


async def login(
    router: ShardRouter,
    sessions: SessionStore,
    limiter: LoginLimiter,
    *,
    address: str,
    email: str,
    password: str,
) -> tuple[dict[str, Any], str]:
    """Check the password under the rate limits, reward the day's first login, open a session.

    Raises RateLimitedError when the address or the account is over its budget.
    """
    email = _login_email(email)
    async with redis_required():
        await limiter.attempt(address, email)
    user_id, new_hash = await _authenticate(router, email, password)
    async with router.transaction() as conn, redis_required():
        if not await repository.record_login(conn, user_id, new_hash):
            raise _bad_credentials()
        await _reward_daily_login(conn, user_id)
        profile = await _private_profile(conn, user_id)
        token = await sessions.create(user_id)
        await limiter.succeeded(email)
    return profile, token


async def logout(sessions: SessionStore, session: Session) -> None:
    async with redis_required():
        await sessions.revoke(session)


async def logout_everywhere(sessions: SessionStore, user_id: UUID) -> None:
    async with redis_required():
        await sessions.revoke_all(user_id)


async def my_profile(router: ShardRouter, user_id: UUID) -> dict[str, Any]:
    async with router.connection() as conn:
        return await _private_profile(conn, user_id)


async def _check_changes(conn: AsyncConnection[DictRow], changes: dict[str, Any]) -> None:
    for field in _REQUIRED_FIELDS:
        if field in changes and changes[field] is None:
            raise field_problem(f"body.{field}", "비울 수 없는 항목입니다", "null_not_allowed")
    if "region_code" in changes:
        await _require_district(conn, changes["region_code"])
    categories = changes.get("interested_categories")
    if categories is not None:
        unknown = await repository.unknown_categories(conn, categories)
        if unknown:
            raise field_problem(
                "body.interested_categories",
                f"알 수 없는 카테고리입니다: {', '.join(unknown)}",
                "unknown_category",
            )


async def update_profile(
    router: ShardRouter, user_id: UUID, changes: dict[str, Any]
) -> dict[str, Any]:
    """Apply a partial update; moving to another district resets levels 1–2 to 0,
    and a new nickname emits ``user.updated``."""
    async with router.transaction() as conn:
        user = await repository.find_user(conn, user_id, lock=True)
        if user is None:
            raise Problem(401, "로그인이 필요합니다", slug="unauthenticated")
        await _check_changes(conn, changes)
        if "region_code" in changes:
            await verification.reset_after_move(conn, user, changes["region_code"])
        await repository.update_profile(conn, user_id, changes)
        await _announce_nickname(conn, user, changes)
        return await _private_profile(conn, user_id)


async def _announce_nickname(
    conn: AsyncConnection[DictRow], user: dict[str, Any], changes: dict[str, Any]
) -> None:
    """The nickname is in the search documents of all the user's questions: a
    ``user.updated`` event, in this transaction, lets the search sync follow."""
    nickname = changes.get("nickname")
    if nickname is None or nickname == user["nickname"]:
        return
    await repository.enqueue(
        conn, "user.updated", "user", user["id"],
        {"user_id": str(user["id"]), "fields": ["nickname"]},
    )  # fmt: skip


async def delete_account(router: ShardRouter, sessions: SessionStore, user_id: UUID) -> None:
    """Soft-delete the account, then drop its sessions.

    Sessions of a deleted account are refused anyway (the session lookup
    requires a live user), so a Redis failure after the commit leaves nothing usable.
    """
    async with router.transaction() as conn:
        await repository.soft_delete(conn, user_id)
    async with redis_required():
        await sessions.revoke_all(user_id)


async def public_profile(router: ShardRouter, user_id: UUID) -> dict[str, Any]:
    async with router.connection() as conn:
        profile = await repository.public_profile(conn, user_id)
        if profile is None:
            raise Problem(404, "사용자를 찾을 수 없습니다", slug="user-not-found")
        profile["verification_history"] = await repository.verification_history(conn, user_id)
        profile["badges"] = await repository.badges(conn, user_id)
    return profile
