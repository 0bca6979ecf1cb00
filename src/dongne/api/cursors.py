"""Opaque keyset cursors: the last row's sort key, base64url-encoded JSON.

Clients treat them as opaque strings; the server checks that a cursor was made
for the same listing and sort, so a tampered or mismatched one is a 422, never
a wrong page.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from dongne.api.problems import Problem


def encode_cursor(kind: str, values: list[Any]) -> str:
    raw = json.dumps({"k": kind, "v": values}, separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, types: tuple[Callable[[Any], Any], ...]) -> list[Any]:
    """The cursor's values, each converted by the matching callable in ``types``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(data, dict) or data.get("k") != kind:
            raise ValueError("cursor for another listing")
        values = data["v"]
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError("cursor has the wrong shape")
        converted = [convert(value) for convert, value in zip(types, values, strict=True)]
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError) as error:
        raise Problem(
            422,
            "요청 값이 올바르지 않습니다",
            "cursor가 올바르지 않습니다",
            slug="validation",
            errors=[{"field": "query.cursor", "message": str(error), "code": "invalid_cursor"}],
        ) from error
    return converted
