"""Request and response bodies of the Q&A API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from dongne.qa.hashtags import MAX_HASHTAG_LENGTH, MAX_HASHTAGS, normalize_hashtags

Category = Literal[
    "food", "transport", "lodging", "travel", "living", "weather", "medical", "education",
    "housing", "jobs", "lost_found", "other",
]  # fmt: skip
Urgency = Literal["normal", "urgent", "emergency"]
Status = Literal["open", "answered", "closed"]
FeedSort = Literal["newest", "popular", "urgent", "most_answers", "most_views"]
DistrictCode = Annotated[str, Field(pattern=r"^[A-Z]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}$")]
RegionCode = Annotated[str, Field(pattern=r"^[A-Z]{2}(-[0-9]{2}){0,3}$", max_length=20)]
ImageList = Annotated[list[AnyHttpUrl], Field(max_length=10)]


class Location(BaseModel):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lng: float = Field(ge=-180, le=180, allow_inf_nan=False)


def _check_hashtags(raw: list[str]) -> list[str]:
    tags = normalize_hashtags(raw)
    if len(tags) > MAX_HASHTAGS:
        raise ValueError(f"해시태그는 최대 {MAX_HASHTAGS}개까지 쓸 수 있습니다")
    too_long = [t for t in tags if len(t) > MAX_HASHTAG_LENGTH]
    if too_long:
        raise ValueError(f"해시태그는 {MAX_HASHTAG_LENGTH}자 이하여야 합니다: {too_long[0]}")
    return tags


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class QuestionCreate(_Strict):
    title: str = Field(min_length=10, max_length=200)
    content: str = Field(min_length=20, max_length=2000)
    hashtags: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=20
    )
    category: Category | None = None
    urgency: Urgency = "normal"
    region_code: DistrictCode | None = None
    location: Location | None = None
    location_description: str | None = Field(default=None, max_length=200)
    images: ImageList = Field(default_factory=list)

    _hashtags = field_validator("hashtags")(_check_hashtags)


class QuestionUpdate(_Strict):
    title: str | None = Field(default=None, min_length=10, max_length=200)
    content: str | None = Field(default=None, min_length=20, max_length=2000)
    hashtags: list[Annotated[str, Field(max_length=64)]] | None = Field(default=None, max_length=20)
    category: Category | None = None
    urgency: Urgency | None = None
    location_description: str | None = Field(default=None, max_length=200)
    images: ImageList | None = None

    @field_validator("hashtags")
    @classmethod
    def _hashtags(cls, raw: list[str] | None) -> list[str] | None:
        return None if raw is None else _check_hashtags(raw)


class Author(BaseModel):
    id: UUID
    nickname: str
    verification_level: int


class QuestionOut(BaseModel):
    id: UUID
    title: str
    content: str
    hashtags: list[str]
    category: str
    urgency: str
    status: str
    region_code: str
    location: Location | None
    location_description: str | None
    images: list[str]
    view_count: int
    like_count: int
    answer_count: int
    accepted_answer_id: UUID | None
    highlighted: bool
    author: Author
    created_at: datetime
    updated_at: datetime


class QuestionPage(BaseModel):
    items: list[QuestionOut]
    next_cursor: str | None


class AnswerCreate(_Strict):
    content: str = Field(min_length=10, max_length=1000)
    images: ImageList = Field(default_factory=list)


class AnswerUpdate(_Strict):
    content: str | None = Field(default=None, min_length=10, max_length=1000)
    images: ImageList | None = None


class AnswerOut(BaseModel):
    id: UUID
    question_id: UUID
    content: str
    images: list[str]
    like_count: int
    is_accepted: bool
    accepted_at: datetime | None
    author: Author
    created_at: datetime
    updated_at: datetime


class AnswerPage(BaseModel):
    items: list[AnswerOut]
    next_cursor: str | None


class LikeOut(BaseModel):
    liked: bool
    like_count: int


class AcceptOut(BaseModel):
    question_id: UUID
    answer_id: UUID
    points_awarded: int


class TrendingTag(BaseModel):
    name: str
    count: int


class TrendingOut(BaseModel):
    region_code: str
    window: str
    items: list[TrendingTag]


class RegionStats(BaseModel):
    region_code: str
    questions: int
    answered_questions: int
    accepted_questions: int
    answer_rate: float
    median_minutes_to_first_answer: float | None
    active_verified_locals: int
