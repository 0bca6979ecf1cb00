"""The whole neighbourhood loop over HTTP against the real servers, with the
outbox worker running inside the API process as under `dongne up`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from dongne.config import Settings
from dongne.embedded.stack import ServerUrls
from dongne.runtime import Runtime
from tests.support.accounts import auth, signup
from tests.support.servers import serve_api

SEONGSAN_INLAND = {"lat": 33.4350, "lng": 126.8900}
AEWOL_CENTRE = {"lat": 33.464722, "lng": 126.331944}


@pytest.fixture(scope="module")
def app_with_worker(settings: Settings, database_url: str) -> Iterator[httpx.Client]:
    worker_settings = settings.model_copy(update={"embedded_worker": True})
    runtime = Runtime.build(worker_settings, ServerUrls(database_url, str(settings.redis_url)))
    with serve_api(runtime) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


def _eventually(check: Callable[[], Any], seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_ask_answer_accept_earn(app_with_worker: httpx.Client) -> None:
    api = app_with_worker
    asker_id, asker_token = signup(api, region_code="KR-49-02-05", nickname="성산새내기")
    local_id, local_token = signup(api, region_code="KR-49-01-02", nickname="애월토박이")
    asker, local = auth(asker_token), auth(local_token)

    checkin = api.post("/api/v1/me/verification/checkins", json=AEWOL_CENTRE, headers=local)
    assert checkin.status_code in (200, 201), checkin.text
    assert api.get("/api/v1/me", headers=local).json()["verification_level"] == 1

    before = api.get("/api/v1/regions/KR-49-02-05/stats").json()
    question = api.post(
        "/api/v1/questions",
        json={
            "title": "성산 근처 비 오는 날 갈 만한 곳 있을까요?",
            "content": "내일 비 소식이 있는데 성산 쪽에서 아이랑 갈 실내 장소 추천 부탁드려요.",
            "hashtags": ["#성산", "비오는날"],
            "location": SEONGSAN_INLAND,
        },
        headers=asker,
    )
    assert question.status_code == 201, question.text
    question_id = question.json()["id"]
    assert question.json()["region_code"] == "KR-49-02-05"

    answer = api.post(
        f"/api/v1/questions/{question_id}/answers",
        json={"content": "성산 쪽 아쿠아리움이 실내라 비 와도 괜찮아요. 오전에 가면 한산해요."},
        headers=local,
    )
    assert answer.status_code == 201, answer.text
    accepted = api.post(f"/api/v1/answers/{answer.json()['id']}/accept", headers=asker)
    assert accepted.status_code == 200, accepted.text

    ledger = api.get("/api/v1/me/points", headers=local).json()
    assert any(
        item["transaction_type"] == "earn_accepted_answer" and item["amount"] == 150
        for item in ledger["items"]
    )
    assert ledger["balance"] == sum(item["amount"] for item in ledger["items"])

    def notified(headers: dict[str, str], kind: str) -> bool:
        items = api.get("/api/v1/notifications", headers=headers).json()["items"]
        return any(item["type"] == kind for item in items)

    assert _eventually(lambda: notified(local, "answer_accepted"))
    assert _eventually(lambda: notified(asker, "answer_received"))

    def badges() -> set[str]:
        profile = api.get(f"/api/v1/users/{local_id}").json()
        return {badge["badge_type"] for badge in profile["badges"]}

    assert _eventually(lambda: {"first_answer", "verified_local"} <= badges())
    assert _eventually(lambda: notified(local, "badge_earned"))

    after = api.get("/api/v1/regions/KR-49-02-05/stats").json()
    assert after["questions"] == before["questions"] + 1
    assert after["accepted_questions"] == before["accepted_questions"] + 1
    assert after["median_minutes_to_first_answer"] is not None
    assert api.get(f"/api/v1/users/{asker_id}").json()["question_count"] == 1
