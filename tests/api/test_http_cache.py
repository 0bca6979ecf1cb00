"""HTTP caching headers (the CDN tier): public GETs get an ETag and a public
max-age and revalidate to 304; authenticated and non-GET responses are private."""

from __future__ import annotations

import httpx
import pytest

from dongne.api.http_cache import etag_for
from tests.support.accounts import auth, signup

QUESTION = {
    "title": "한림 근처 조용한 산책길 있을까요?",
    "content": "저녁에 가볍게 걸을 수 있는 한림 쪽 산책 코스를 찾고 있어요.",
    "region_code": "KR-49-01-02",
    "category": "travel",
}


@pytest.fixture(scope="module")
def question(api: httpx.Client) -> tuple[str, str, dict[str, str]]:
    """(question id, asker id, the asker's Authorization header)."""
    user_id, token = signup(api)
    headers = auth(token)
    response = api.post("/api/v1/questions", json=QUESTION, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"]), str(user_id), headers


def _public_paths(question: tuple[str, str, dict[str, str]]) -> list[str]:
    qid, user_id, _ = question
    return [
        "/api/v1/regions",
        "/api/v1/regions/KR-49-01",
        "/api/v1/regions/KR-49/stats",
        "/api/v1/hashtags/trending",
        "/api/v1/questions?region=KR-49-01-02",
        f"/api/v1/questions/{qid}",
        f"/api/v1/questions/{qid}/answers",
        f"/api/v1/users/{user_id}",
    ]


def test_public_responses_carry_a_strong_etag_of_the_body_and_a_public_max_age(
    api: httpx.Client, question: tuple[str, str, dict[str, str]]
) -> None:
    for path in _public_paths(question):
        response = api.get(path)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["cache-control"].startswith("public, max-age="), path
        assert response.headers["etag"] == etag_for(response.content), path
        assert not response.headers["etag"].startswith("W/")
        assert "Authorization" in response.headers["vary"]


def test_a_matching_if_none_match_gets_304_without_a_body(
    api: httpx.Client, question: tuple[str, str, dict[str, str]]
) -> None:
    path = "/api/v1/regions/KR-49-01"
    etag = api.get(path).headers["etag"]
    for header in (etag, f'"other", {etag}', f"W/{etag}", "*"):
        revalidated = api.get(path, headers={"If-None-Match": header})
        assert revalidated.status_code == 304, header
        assert revalidated.content == b""
        assert revalidated.headers["etag"] == etag
        assert revalidated.headers["cache-control"].startswith("public, max-age=")
    stale = api.get(path, headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200
    assert stale.headers["etag"] == etag


def test_the_etag_changes_when_the_representation_does(
    api: httpx.Client, question: tuple[str, str, dict[str, str]]
) -> None:
    qid, _, _ = question
    path = f"/api/v1/questions/{qid}/answers"
    before = api.get(path).headers["etag"]
    helper = auth(signup(api)[1])
    answered = api.post(path, json={"content": "한림항 옆 해안 산책로가 저녁에 조용하고 예뻐요."},
                        headers=helper)  # fmt: skip
    assert answered.status_code == 201, answered.text
    after = api.get(path, headers={"If-None-Match": before})
    assert after.status_code == 200
    assert after.headers["etag"] != before


def test_authenticated_requests_are_private_and_never_304(
    api: httpx.Client, question: tuple[str, str, dict[str, str]]
) -> None:
    qid, _, headers = question
    public = api.get(f"/api/v1/questions/{qid}")
    for path in [*_public_paths(question), "/api/v1/me", "/api/v1/notifications"]:
        response = api.get(path, headers={**headers, "If-None-Match": public.headers["etag"]})
        assert response.status_code == 200, (path, response.text)
        assert response.headers["cache-control"] == "private, no-store", path
        assert "etag" not in response.headers


def test_non_get_responses_and_failed_public_gets_are_not_stored(
    api: httpx.Client, question: tuple[str, str, dict[str, str]]
) -> None:
    _, _, headers = question
    created = api.post("/api/v1/questions", json=QUESTION, headers=headers)
    assert created.status_code == 201
    assert created.headers["cache-control"] == "private, no-store"
    refused = api.post("/api/v1/auth/login", json={"email": "x@example.kr", "password": "nope"})
    assert refused.headers["cache-control"] == "private, no-store"
    missing = api.get("/api/v1/regions/KR-99")
    assert missing.status_code == 404
    assert missing.headers["cache-control"] == "no-store"
    assert "etag" not in missing.headers
