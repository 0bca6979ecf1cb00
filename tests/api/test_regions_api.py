"""The regions API over a real socket: listing, detail, resolution and problem details."""

from __future__ import annotations

import httpx
import pytest

PROBLEM = "application/problem+json"


def test_lists_all_47_regions(api: httpx.Client) -> None:
    response = api.get("/api/v1/regions")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 47 == len(body["items"])
    assert body["items"][0]["code"] == "KR"
    aewol = next(r for r in body["items"] if r["code"] == "KR-49-01-02")
    assert aewol["name"] == "애월읍"
    assert aewol["center"] == {"lat": 33.464722, "lng": 126.331944}


def test_filters_by_parent_and_type(api: httpx.Client) -> None:
    seogwipo = api.get("/api/v1/regions", params={"parent": "KR-49-02"}).json()
    assert seogwipo["total"] == 17
    cities = api.get("/api/v1/regions", params={"type": "city"}).json()
    assert [r["name"] for r in cities["items"]] == ["제주시", "서귀포시"]


def test_region_detail_has_children_boundary_and_attribution(api: httpx.Client) -> None:
    body = api.get("/api/v1/regions/KR-49-01").json()
    assert body["name"] == "제주시"
    assert len(body["children"]) == 26
    assert body["boundary"]["type"] == "MultiPolygon"
    assert "통계청" in body["attribution"]


def test_resolve(api: httpx.Client) -> None:
    body = api.get("/api/v1/regions/resolve", params={"lat": 33.464722, "lng": 126.331944}).json()
    assert body == {
        "code": "KR-49-01-02",
        "name": "애월읍",
        "parent_code": "KR-49-01",
        "distance_km": 0.0,
        "snapped": False,
    }


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/api/v1/regions/KR-49-01-99", {}, 404, None),
        ("/api/v1/regions/not-a-code", {}, 422, "path.code"),
        ("/api/v1/regions/resolve", {"lat": 37.5665, "lng": 126.978}, 404, None),
        ("/api/v1/regions/resolve", {"lat": 95, "lng": 126.5}, 422, "query.lat"),
        ("/api/v1/regions/resolve", {"lat": "north", "lng": 126.5}, 422, "query.lat"),
        ("/api/v1/regions/resolve", {"lng": 126.5}, 422, "query.lat"),
        ("/api/v1/regions", {"type": "galaxy"}, 422, "query.type"),
    ],
)
def test_bad_input_gets_problem_details(
    api: httpx.Client, path: str, params: dict[str, object], status: int, field: str | None
) -> None:
    response = api.get(path, params=params)  # type: ignore[arg-type]
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"]
    if field:
        assert field in [e["field"] for e in body["errors"]]


def test_unknown_route_is_a_problem_too(api: httpx.Client) -> None:
    response = api.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


def test_health_and_readiness(api: httpx.Client) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json() == {"database": "ok", "redis": "ok"}


def test_openapi_docs_are_served(api: httpx.Client) -> None:
    assert api.get("/docs").status_code == 200
    assert "/api/v1/regions/resolve" in api.get("/openapi.json").json()["paths"]
