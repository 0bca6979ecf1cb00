"""Problem details keep the headers their status needs."""

from __future__ import annotations

import httpx


def test_a_wrong_method_names_the_allowed_ones(api: httpx.Client) -> None:
    response = api.delete("/api/v1/search", params={"q": "맛집"})
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert "GET" in response.headers["allow"]


def test_unauthenticated_names_the_bearer_scheme(api: httpx.Client) -> None:
    response = api.get("/api/v1/me")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
