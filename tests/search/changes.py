# Korean prose is test data here; wrapping it would hurt more than long lines.
"""Questions asked and changed through the HTTP API, for the sync suites of both
search backends (the same walk with the worker stopped, two indexes checked)."""

from __future__ import annotations

import httpx

from dongne.config import Settings
from dongne.db.router import ShardRouter
from dongne.search import services
from dongne.search.contract import SearchQuery
from dongne.search.postgres import PostgresSearchBackend
from dongne.search.repository import Drift
from tests.support.routers import with_router


def ask(api: httpx.Client, headers: dict[str, str], n: int) -> str:
    response = api.post(
        "/api/v1/questions",
        headers=headers,
        json={"title": f"협재 해변 근처 스노클링 장비 대여 {n}",
              "content": "협재에서 스노클링 장비를 빌릴 수 있는 가게가 있을까요? 가격도 궁금해요.",
              "hashtags": ["스노클링"], "region_code": "KR-49-01-01", "category": "travel"},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    question_id: str = response.json()["id"]
    return question_id


def change_each(
    api: httpx.Client,
    ids: tuple[str, str, str, str, str],
    asker: dict[str, str],
    neighbour: dict[str, str],
    admin: dict[str, str],
) -> None:
    """Edit, hide, delete, like, and answer + accept — one question each."""
    edited, hidden, deleted, liked, answered = ids
    patch = api.patch(f"/api/v1/questions/{edited}", headers=asker,
                      json={"title": "협재 카약 체험 예약은 어디서 하나요"})  # fmt: skip
    assert patch.status_code == 200, patch.text
    hide = api.post(f"/api/v1/admin/questions/{hidden}/hide", headers=admin,
                    json={"reason": "중복 질문"})  # fmt: skip
    assert hide.status_code == 200, hide.text
    assert api.delete(f"/api/v1/questions/{deleted}", headers=asker).status_code == 204
    assert api.put(f"/api/v1/questions/{liked}/like", headers=neighbour).status_code == 200
    answer = api.post(f"/api/v1/questions/{answered}/answers", headers=neighbour,
                      json={"content": "협재 해변 앞 가게에서 만 원에 빌려줘요."})  # fmt: skip
    assert answer.status_code == 201, answer.text
    accept = api.post(f"/api/v1/answers/{answer.json()['id']}/accept", headers=asker)
    assert accept.status_code == 200, accept.text


def found(settings: Settings, url: str, text: str) -> set[str]:
    """Ids of the questions a PostgreSQL search for ``text`` finds (up to 50)."""

    async def search(router: ShardRouter) -> set[str]:
        result = await PostgresSearchBackend(router).search(SearchQuery(text=text, limit=50))
        return {str(hit.id) for hit in result.hits}

    return with_router(settings, url, search)


def drift(settings: Settings, url: str) -> Drift:
    return with_router(settings, url, services.check)
