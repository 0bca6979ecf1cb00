"""The seed's domain caches: what is cached, for how long, and which writes
invalidate it (``tags_for_event``, used by the outbox callbacks and the API's
own write paths).

Tags are coarse on purpose: a question write invalidates every feed, not only
its region's, because a question can move region or change sort keys, and at
Jeju's scale one recompute per feed after a write costs nothing. View counts
are the exception: a flush does not invalidate feeds, so view counts in a
cached feed lag by at most the feed TTL (10 min); they are counters, not content.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from dongne.cache.store import Policy

USER_PROFILE = Policy("user_profile", ttl_s=3600)
QUESTION_FEED = Policy("question_feed", ttl_s=600)
TRENDING = Policy("trending_hashtags", ttl_s=900)
REGION_STATS = Policy("region_stats", ttl_s=1800)
UNREAD_COUNT = Policy("unread_count", ttl_s=300)

DOMAINS = (USER_PROFILE, QUESTION_FEED, TRENDING, REGION_STATS, UNREAD_COUNT)

# The seed's warm-up list.
WARM_REGIONS = ("KR-49", "KR-49-01", "KR-49-02")


class Tags:
    FEED = "feed"
    STATS = "stats"
    TRENDING = "trending"

    @staticmethod
    def user(user_id: UUID | str) -> str:
        return f"user:{user_id}"

    @staticmethod
    def notifications(user_id: UUID | str) -> str:
        return f"notifications:{user_id}"


_QUESTION = (Tags.FEED, Tags.STATS, Tags.TRENDING)


def tags_for_event(topic: str, aggregate_id: UUID, payload: dict[str, Any]) -> list[str]:
    """Tags a committed outbox event invalidates (besides its notifications')."""
    tags: list[str] = []
    user = payload.get("user_id")
    if topic in {"question.created", "question.deleted", "question.hidden", "question.unhidden"}:
        tags += _QUESTION
    elif topic == "question.updated":
        tags += [Tags.FEED, Tags.TRENDING]
    elif topic == "question.liked":
        tags += [Tags.FEED]
    elif topic in {"answer.created", "answer.accepted"}:
        tags += [Tags.FEED, Tags.STATS]
    elif topic.startswith("user."):
        # Nicknames appear in feeds; verification counts in region stats.
        tags += [Tags.user(aggregate_id), Tags.FEED, Tags.STATS]
    elif topic.startswith(("points.", "badge.")):
        pass
    if isinstance(user, str):
        tags.append(Tags.user(user))
    return tags
