"""The WebSocket message protocol: client messages (validated), server messages
(built here), and the close codes. docs/realtime.md is the reader's version."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

# Region codes are hierarchical (KR-49, KR-49-01, KR-49-01-02).
REGION_PATTERN = r"^[A-Z]{2}(-[0-9]{2}){0,3}$"

# Close codes. 1003/1009 are RFC 6455's; 44xx mirror HTTP statuses.
UNSUPPORTED_DATA = 1003
TOO_BIG = 1009
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013
BAD_MESSAGE = 4400
UNAUTHENTICATED = 4401


@dataclass(frozen=True)
class Close:
    """Why the server ends a connection."""

    code: int
    reason: str


class _Message(BaseModel):
    # Unknown fields are ignored so that newer clients still talk to older servers.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Hello(_Message):
    type: Literal["hello"]
    token: Annotated[str, Field(min_length=1, max_length=256)]
    # The newest notification the client has seen: newer ones are replayed first.
    last_notification_id: UUID | None = None


class Ping(_Message):
    type: Literal["ping"]


class PresenceWatch(_Message):
    type: Literal["presence.watch"]
    # None: everyone online; a code: users of that region and its sub-regions.
    region_code: Annotated[str, Field(pattern=REGION_PATTERN)] | None = None


class QuestionWatch(_Message):
    type: Literal["question.watch", "question.unwatch"]
    question_id: UUID


class Typing(_Message):
    type: Literal["typing.start", "typing.stop"]
    question_id: UUID


ClientMessage = Annotated[
    Hello | Ping | PresenceWatch | QuestionWatch | Typing, Field(discriminator="type")
]
_CLIENT = TypeAdapter(ClientMessage)


def parse(text: str) -> Hello | Ping | PresenceWatch | QuestionWatch | Typing | Close:
    """The message in a text frame, or the Close that a malformed one earns."""
    try:
        return _CLIENT.validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "message"
        return Close(BAD_MESSAGE, reason(f"invalid message: {where}: {first['msg']}"))


def reason(text: str) -> str:
    """A close reason within RFC 6455's 123-byte limit (the text may quote the client)."""
    return text.encode()[:120].decode(errors="ignore")


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=str)
