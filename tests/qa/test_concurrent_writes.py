"""Concurrent askers and answerers never deadlock (the bench's write load found this)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
from psycopg.rows import DictRow

from dongne.config import Settings
from tests.support.sessions import login_as

TAGS = ["맛집", "애월", "흑돼지", "오름", "카페"]


def _tags(n: int) -> list[str]:
    """Shared tags in rotating orders: their rows must still be locked in one order."""
    rotated = TAGS[n % 5 :] + TAGS[: n % 5]
    return rotated[:4] if n % 2 else list(reversed(rotated[:4]))


def test_concurrent_asks_and_answers_all_succeed(
    api: httpx.Client, db: psycopg.Connection[DictRow], settings: Settings
) -> None:
    users = [login_as(db, settings)[1] for _ in range(4)]
    seed = api.post(
        "/api/v1/questions",
        json={
            "title": "동시 답변을 받을 질문입니다",
            "content": "여러 이웃이 한꺼번에 답하는 상황을 만듭니다.",
            "region_code": "KR-49-01-02",
            "category": "other",
        },
        headers=users[0],
    ).json()  # fmt: skip

    def write(n: int) -> int:
        headers = users[n % len(users)]
        body: dict[str, Any]
        with httpx.Client(base_url=str(api.base_url), timeout=60) as client:
            if n % 3 == 0:
                path, body = (
                    f"/api/v1/questions/{seed['id']}/answers",
                    {"content": f"동시에 쓰는 답변 {n}번입니다. 잘 들어가야 해요."},
                )
            else:
                # Shared tags in rotating orders: rows must still lock in one order.
                tags = TAGS[n % 5 :] + TAGS[: n % 5]
                path, body = (
                    "/api/v1/questions",
                    {
                        "title": f"동시에 올리는 질문 {n}번 입니다",
                        "content": "같은 해시태그를 다른 순서로 단 질문을 동시에 올립니다.",
                        "hashtags": tags[:4] if n % 2 else list(reversed(tags[:4])),
                        "region_code": "KR-49-01-02",
                        "category": "food",
                    },
                )
            return client.post(path, json=body, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(write, range(96)))
    assert statuses == [201] * 96
    usage = db.execute("SELECT usage_count FROM hashtags WHERE normalized_name = '맛집'").fetchone()
    assert usage is not None
    assert usage["usage_count"] == sum(1 for n in range(96) if n % 3 and "맛집" in _tags(n))
