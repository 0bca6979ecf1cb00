"""Hashtag normalisation, mirroring the SQL function ``normalize_hashtag``.

The database normalises on every write; the API runs the same rule first so it
can reject a sixth or an over-long hashtag with a field error instead of the
database silently merging or truncating it. A test keeps the two in step.
"""

from __future__ import annotations

import re
import unicodedata

MAX_HASHTAGS = 5
MAX_HASHTAG_LENGTH = 30
_NOISE = re.compile(r"^#+|[\s#]+")


def normalize_hashtag(raw: str) -> str | None:
    cleaned = _NOISE.sub("", unicodedata.normalize("NFC", raw.strip()).lower())
    return cleaned or None


def normalize_hashtags(raw: list[str]) -> list[str]:
    """Normalised, without empties or duplicates, in first-seen order."""
    seen: dict[str, None] = {}
    for tag in raw:
        normalized = normalize_hashtag(tag)
        if normalized is not None:
            seen.setdefault(normalized, None)
    return list(seen)
