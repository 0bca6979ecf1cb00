"""Local verification (현지인 인증): levels earned by GPS check-ins, set by admins.

Levels: 0 none, 1 provisional (one check-in in the home district), 2 verified
(check-ins on 3 distinct days within 30 days), 3 official (admins only). The
rules only ever raise a level; lowering is an admin decision, or a move to
another district, which voids what was earned in the old one.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from dongne.accounts import repository
from dongne.api.problems import Problem
from dongne.db.router import ShardRouter
from dongne.geo.services import (
    InvalidCoordinatesError,
    OutsideServiceAreaError,
    Resolution,
    resolve,
)

WINDOW_DAYS = 30
DAYS_FOR_VERIFIED = 3
PROVISIONAL, VERIFIED = 1, 2


def level_after_checkins(current: int, counted_days: int) -> int:
    """The level a user holds after a check-in: what the days earn, never less than before."""
    if counted_days >= DAYS_FOR_VERIFIED:
        earned = VERIFIED
    elif counted_days >= 1:
        earned = PROVISIONAL
    else:
        earned = 0
    return max(current, earned)


def _checkin_reason(level: int, days: int) -> str:
    if level == PROVISIONAL:
        return "거주 지역 GPS 체크인"
    return f"최근 {WINDOW_DAYS}일 중 {days}일 거주 지역 GPS 체크인"


async def apply_level(
    conn: AsyncConnection[DictRow],
    user_id: UUID,
    *,
    current: int,
    target: int,
    reason: str,
    granted_by: UUID | None = None,
) -> int:
    """Move a locked user to ``target``, with a history row and a ``user.verified`` event."""
    if target == current:
        return current
    await repository.change_level(
        conn, user_id, from_level=current, to_level=target, reason=reason, granted_by=granted_by
    )
    await repository.enqueue(
        conn, "user.verified", "user", user_id, {"user_id": str(user_id), "level": target}
    )
    return target


async def reset_after_move(
    conn: AsyncConnection[DictRow], user: dict[str, Any], new_region: str
) -> None:
    """Levels 1–2 were earned in the old district, so moving voids them; level 3 stays."""
    level = user["verification_level"]
    if new_region == user["region_code"] or level not in (PROVISIONAL, VERIFIED):
        return
    await apply_level(
        conn, user["id"], current=level, target=0, reason="거주 지역 변경으로 인증 초기화"
    )


def _invalid_point(title: str, detail: str, slug: str) -> Problem:
    return Problem(
        422, title, detail, slug=slug,
        errors=[{"field": "body", "message": detail, "code": slug.replace("-", "_")}],
    )  # fmt: skip


async def _resolve(router: ShardRouter, lat: float, lng: float) -> Resolution:
    try:
        return await resolve(router, lat, lng)
    except InvalidCoordinatesError as error:
        raise _invalid_point(
            "좌표가 올바르지 않습니다", str(error), "invalid-coordinates"
        ) from error
    except OutsideServiceAreaError as error:
        raise _invalid_point("서비스 지역 밖입니다", str(error), "outside-service-area") from error


def _require_home(user: dict[str, Any], hit: Resolution) -> str:
    home: str | None = user["region_code"]
    if home is None:
        raise _invalid_point(
            "거주 지역이 없습니다",
            "프로필에서 거주 읍·면·동을 먼저 설정해 주세요",
            "no-home-district",
        )
    if hit.code != home or hit.snapped:
        where = f"{hit.name}({hit.code})"
        if hit.snapped:
            where += f" 경계에서 {hit.distance_km} km 떨어진 바다"
        raise _invalid_point(
            "거주 지역 밖입니다",
            f"이 위치는 {where}입니다. 거주 지역 {user['region_name']} 안에서 인증해 주세요",
            "outside-home-district",
        )
    return home


def _gone() -> Problem:
    return Problem(401, "로그인이 필요합니다", "계정을 사용할 수 없습니다", slug="unauthenticated")


async def check_in(router: ShardRouter, user_id: UUID, lat: float, lng: float) -> dict[str, Any]:
    """Record a check-in inside the home district and raise the level it earns.

    The user row is locked first, so concurrent check-ins are applied one
    after another: the second sees the first's check-in and level and cannot
    grant the same level twice.
    """
    hit = await _resolve(router, lat, lng)
    async with router.transaction() as conn:
        user = await repository.find_user(conn, user_id, lock=True)
        if user is None:
            raise _gone()
        home = _require_home(user, hit)
        checkin = await repository.insert_checkin(conn, user_id, home, lat, lng)
        days = await repository.counted_days(conn, user_id, home, WINDOW_DAYS)
        target = level_after_checkins(user["verification_level"], days)
        level = await apply_level(
            conn, user_id, current=user["verification_level"], target=target,
            reason=_checkin_reason(target, days),
        )  # fmt: skip
    return {
        "level": level,
        "counted_days_last_30": days,
        "checkin": {**checkin, "region_name": hit.name},
    }


async def _status(conn: AsyncConnection[DictRow], user: dict[str, Any]) -> dict[str, Any]:
    home = user["region_code"]
    days = await repository.counted_days(conn, user["id"], home, WINDOW_DAYS) if home else 0
    level = user["verification_level"]
    return {
        "user_id": user["id"],
        "level": level,
        "is_local_verified": level >= PROVISIONAL,
        "counted_days_last_30": days,
        "history": await repository.verification_history(conn, user["id"]),
    }


async def status(router: ShardRouter, user_id: UUID) -> dict[str, Any]:
    async with router.connection() as conn:
        user = await repository.find_user(conn, user_id)
        if user is None:
            raise _gone()
        return await _status(conn, user)


async def set_level(
    router: ShardRouter, admin_id: UUID, user_id: UUID, level: int, reason: str
) -> dict[str, Any]:
    """An admin sets any level, including 3 and lowering; setting the same level is a no-op."""
    async with router.transaction() as conn:
        user = await repository.find_user(conn, user_id, lock=True)
        if user is None:
            raise Problem(404, "사용자를 찾을 수 없습니다", slug="user-not-found")
        user["verification_level"] = await apply_level(
            conn, user_id, current=user["verification_level"], target=level,
            reason=reason, granted_by=admin_id,
        )  # fmt: skip
        return await _status(conn, user)
