"""HTTP routes of the accounts area: auth, the own profile, public profiles, verification."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from dongne.accounts import services, verification
from dongne.accounts.deps import AdminUser, CurrentUser, session_store
from dongne.accounts.passwords import MAX_LENGTH, MIN_LENGTH
from dongne.accounts.ratelimit import LoginLimiter, RateLimitedError, SignupLimiter
from dongne.accounts.sessions import SessionStore
from dongne.api.deps import RouterDep, get_runtime
from dongne.api.problems import Problem, problem_response
from dongne.cache.deps import CacheDep, cached, invalidate
from dongne.cache.domains import USER_PROFILE, Tags

router = APIRouter(tags=["accounts"])

Nickname = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=50)]
DistrictCode = Annotated[str, Field(pattern=r"^[A-Z]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}$")]
CategoryCode = Annotated[str, Field(pattern=r"^[a-z][a-z_]{1,49}$")]
JsonObject = Annotated[dict[str, Any], Field(max_length=50)]
Password = Annotated[str, Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)]
Sessions = Annotated[SessionStore, Depends(session_store)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignupIn(_Body):
    email: str = Field(max_length=320)
    password: Password
    nickname: Nickname
    region_code: DistrictCode

    @field_validator("email")
    @classmethod
    def _email(cls, raw: str) -> str:
        return services.normalize_email(raw)


class LoginIn(_Body):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=MAX_LENGTH)


class HistoryEntry(BaseModel):
    from_level: int
    to_level: int
    reason: str
    created_at: datetime


class PublicHistoryEntry(BaseModel):
    from_level: int
    to_level: int
    created_at: datetime


class PrivateProfile(BaseModel):
    id: UUID
    email: str
    nickname: str
    region_code: str | None
    role: str
    verification_level: int
    is_local_verified: bool
    verification_history: list[HistoryEntry]
    point_balance: int
    total_earned_points: int
    question_count: int
    answer_count: int
    accepted_answer_count: int
    bio: str | None
    profile_image_url: str | None
    interested_categories: list[str]
    notification_settings: dict[str, Any]
    privacy_settings: dict[str, Any]
    created_at: datetime


class Badge(BaseModel):
    badge_type: str
    badge_level: int
    earned_at: datetime


class PublicProfile(BaseModel):
    id: UUID
    nickname: str
    region_code: str | None
    verification_level: int
    is_local_verified: bool
    verification_history: list[PublicHistoryEntry]
    bio: str | None
    profile_image_url: str | None
    question_count: int
    answer_count: int
    accepted_answer_count: int
    badges: list[Badge]
    created_at: datetime


class SessionOut(BaseModel):
    user: PrivateProfile
    token: str
    expires_in: int = Field(description="세션 유효 시간(초). 요청할 때마다 다시 늘어납니다")


class ProfilePatch(_Body):
    nickname: Nickname | None = None
    bio: str | None = Field(default=None, max_length=500)
    profile_image_url: AnyHttpUrl | None = Field(default=None)
    region_code: DistrictCode | None = None
    interested_categories: list[CategoryCode] | None = Field(default=None, max_length=12)
    notification_settings: JsonObject | None = None
    privacy_settings: JsonObject | None = None

    @field_validator("interested_categories")
    @classmethod
    def _unique(cls, raw: list[str] | None) -> list[str] | None:
        return None if raw is None else list(dict.fromkeys(raw))

    @field_validator("profile_image_url")
    @classmethod
    def _url_length(cls, url: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if url is not None and len(str(url)) > 2048:
            raise ValueError("URL은 2048자 이하여야 합니다")
        return url

    def changes(self) -> dict[str, Any]:
        """Only the fields the client sent; an explicit null clears bio or image."""
        sent = self.model_dump(exclude_unset=True)
        if sent.get("profile_image_url") is not None:
            sent["profile_image_url"] = str(self.profile_image_url)
        return sent


class CheckinIn(_Body):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lng: float = Field(ge=-180, le=180, allow_inf_nan=False)


class CheckinOut(BaseModel):
    id: UUID
    region_code: str
    region_name: str
    lat: float
    lng: float
    day: date
    counted: bool
    created_at: datetime


class CheckinResult(BaseModel):
    level: int
    counted_days_last_30: int
    checkin: CheckinOut


class VerificationStatus(BaseModel):
    user_id: UUID
    level: int
    is_local_verified: bool
    counted_days_last_30: int
    history: list[HistoryEntry]


class LevelIn(_Body):
    level: int = Field(ge=0, le=3)
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


def _client_address(request: Request) -> str:
    """The socket peer only: X-Forwarded-For is client-controlled and never trusted here."""
    return request.client.host if request.client else "unknown"


def _too_many(request: Request, error: RateLimitedError, title: str, slug: str) -> JSONResponse:
    return problem_response(
        request,
        429,
        title,
        f"{error.retry_after_s}초 후에 다시 시도해 주세요",
        slug=slug,
        headers={"Retry-After": str(error.retry_after_s)},
    )


def _session_out(request: Request, profile: dict[str, Any], token: str) -> SessionOut:
    return SessionOut(
        user=PrivateProfile(**profile),
        token=token,
        expires_in=get_runtime(request).settings.session_ttl_s,
    )


@router.post(
    "/auth/signup",
    status_code=201,
    response_model=SessionOut,
    summary="회원 가입",
    responses={429: {"description": "가입 시도 제한"}},
)
async def signup(
    request: Request, body: SignupIn, db: RouterDep, sessions: Sessions
) -> SessionOut | JSONResponse:
    runtime = get_runtime(request)
    account = services.NewAccount(
        email=body.email, password=body.password, nickname=body.nickname,
        region_code=body.region_code,
    )  # fmt: skip
    limiter = SignupLimiter(runtime.redis, runtime.keys, runtime.settings.signup_limit_per_hour)
    try:
        profile, token = await services.signup(
            db, sessions, account, limiter, address=_client_address(request)
        )
    except RateLimitedError as error:
        return _too_many(request, error, "가입 시도가 너무 많습니다", "too-many-signups")
    return _session_out(request, profile, token)


@router.post(
    "/auth/login",
    response_model=SessionOut,
    summary="로그인",
    responses={
        401: {"description": "이메일 또는 비밀번호 오류"},
        429: {"description": "시도 제한"},
    },
)
async def login(
    request: Request, body: LoginIn, db: RouterDep, sessions: Sessions
) -> SessionOut | JSONResponse:
    runtime = get_runtime(request)
    try:
        profile, token = await services.login(
            db, sessions, LoginLimiter(runtime.redis, runtime.keys),
            address=_client_address(request), email=body.email, password=body.password,
        )  # fmt: skip
    except RateLimitedError as error:
        return _too_many(request, error, "로그인 시도가 너무 많습니다", "too-many-login-attempts")
    return _session_out(request, profile, token)


@router.post("/auth/logout", status_code=204, summary="이 기기에서 로그아웃")
async def logout(user: CurrentUser, sessions: Sessions) -> Response:
    await services.logout(sessions, user.session)
    return Response(status_code=204)


@router.post("/auth/logout-all", status_code=204, summary="모든 기기에서 로그아웃")
async def logout_all(user: CurrentUser, sessions: Sessions) -> Response:
    await services.logout_everywhere(sessions, user.id)
    return Response(status_code=204)


@router.get("/me", response_model=PrivateProfile, summary="내 프로필")
async def get_me(user: CurrentUser, db: RouterDep) -> PrivateProfile:
    return PrivateProfile(**await services.my_profile(db, user.id))


@router.patch("/me", response_model=PrivateProfile, summary="내 프로필 수정")
async def patch_me(
    user: CurrentUser, db: RouterDep, cache: CacheDep, body: ProfilePatch
) -> PrivateProfile:
    out = PrivateProfile(**await services.update_profile(db, user.id, body.changes()))
    await invalidate(cache, Tags.user(user.id), Tags.FEED, Tags.STATS)
    return out


@router.delete("/me", status_code=204, summary="회원 탈퇴")
async def delete_me(
    user: CurrentUser, db: RouterDep, cache: CacheDep, sessions: Sessions
) -> Response:
    await services.delete_account(db, sessions, user.id)
    await invalidate(cache, Tags.user(user.id), Tags.FEED, Tags.STATS)
    return Response(status_code=204)


@router.get("/users/{user_id}", response_model=PublicProfile, summary="공개 프로필")
async def get_user(user_id: UUID, db: RouterDep, cache: CacheDep) -> PublicProfile:
    async def load() -> dict[str, Any] | None:
        try:
            profile = await services.public_profile(db, user_id)
        except Problem as error:
            if error.status == 404:
                return None  # absent users are cached briefly too
            raise
        return PublicProfile(**profile).model_dump(mode="json")

    result = await cached(cache, USER_PROFILE, [str(user_id)], [Tags.user(user_id)], load,
                          PublicProfile.model_validate)  # fmt: skip
    if result is None:
        raise Problem(404, "사용자를 찾을 수 없습니다", slug="user-not-found")
    return result


@router.post(
    "/me/verification/checkins",
    status_code=201,
    response_model=CheckinResult,
    summary="현지인 인증 GPS 체크인",
)
async def check_in(
    user: CurrentUser, db: RouterDep, cache: CacheDep, body: CheckinIn
) -> CheckinResult:
    out = CheckinResult(**await verification.check_in(db, user.id, body.lat, body.lng))
    await invalidate(cache, Tags.user(user.id), Tags.STATS)
    return out


@router.get("/me/verification", response_model=VerificationStatus, summary="내 현지인 인증 상태")
async def my_verification(user: CurrentUser, db: RouterDep) -> VerificationStatus:
    return VerificationStatus(**await verification.status(db, user.id))


@router.post(
    "/admin/users/{user_id}/verification",
    response_model=VerificationStatus,
    summary="현지인 인증 등급 지정 (관리자)",
)
async def set_verification(
    user_id: UUID, admin: AdminUser, db: RouterDep, cache: CacheDep, body: LevelIn
) -> VerificationStatus:
    out = VerificationStatus(
        **await verification.set_level(db, admin.id, user_id, body.level, body.reason)
    )
    await invalidate(cache, Tags.user(user_id), Tags.STATS)
    return out
