"""/metrics parsed with prometheus_client's own parser; request ids and JSON logs."""

from __future__ import annotations

import io
import json
import logging

import httpx
from prometheus_client.parser import text_string_to_metric_families

from dongne.metrics.logs import JsonFormatter

EXPECTED_FAMILIES = {
    # request latency per route
    "dongne_http_request_duration_seconds",
    # pools: size, in use, wait
    "dongne_db_pool_size",
    "dongne_db_pool_in_use",
    "dongne_db_pool_max_size",
    "dongne_db_pool_requests_waiting",
    "dongne_db_pool_wait_seconds",
    # cache hit ratio per tier
    "dongne_cache_hit_ratio",
    "dongne_redis_keyspace_hit_ratio",
    # outbox lag and age
    "dongne_outbox_lag_seconds",
    "dongne_outbox_oldest_pending_age_seconds",
    "dongne_outbox_pending_events",
    # search latency, worker job results
    "dongne_search_duration_seconds",
    "dongne_job_runs",
    "dongne_job_duration_seconds",
    "dongne_db_pool_resizes",
}


def _families(api: httpx.Client) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        family.name: [(s.name, s.labels, s.value) for s in family.samples]
        for family in text_string_to_metric_families(response.text)
    }


def test_metrics_expose_every_series(api: httpx.Client) -> None:
    assert api.get("/api/v1/regions").status_code == 200
    assert api.get("/readyz").status_code == 200
    families = _families(api)
    assert set(families) >= EXPECTED_FAMILIES, EXPECTED_FAMILIES - set(families)

    latency = families["dongne_http_request_duration_seconds"]
    counts = [
        s
        for s in latency
        if s[0].endswith("_count")
        and s[1]["route"] == "/api/v1/regions"
        and s[1]["method"] == "GET"
    ]
    assert counts, sorted({s[1]["route"] for s in latency})
    assert counts[0][2] >= 1 and counts[0][1]["status"] == "2xx"

    pools = {labels["pool"] for _, labels, _ in families["dongne_db_pool_size"]}
    assert {"jeju/read-0", "jeju/write", "jeju/background"} <= pools
    tiers = {labels["tier"] for _, labels, _ in families["dongne_cache_hit_ratio"]}
    assert "postgres_buffers" in tiers
    for _, _, value in families["dongne_outbox_lag_seconds"]:
        assert value >= 0
    errors = {labels["source"]: value for _, labels, value in families["dongne_scrape_error"]}
    assert errors == {"database": 0, "redis": 0}


def test_unknown_paths_share_one_label(api: httpx.Client) -> None:
    api.get("/no/such/path/123")
    api.get("/no/such/path/456")
    routes = {labels["route"] for _, labels, _ in
              _families(api)["dongne_http_request_duration_seconds"]}  # fmt: skip
    assert "<unmatched>" in routes
    assert not any("/no/such" in route for route in routes)


def test_request_id_is_returned_and_logged_as_json(api: httpx.Client) -> None:
    generated = api.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("dongne.access")
    old_level = access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        response = api.get("/api/v1/regions", headers={"X-Request-ID": "trace-abc.123"})
        injected = api.get("/healthz", headers={"X-Request-ID": "bad id <forged>"})
    finally:
        access.removeHandler(handler)
        access.setLevel(old_level)
    assert response.headers["x-request-id"] == "trace-abc.123"
    assert injected.headers["x-request-id"] != "bad id <forged>"

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    mine = [line for line in lines if line.get("request_id") == "trace-abc.123"]
    assert mine, lines
    assert mine[0]["route"] == "/api/v1/regions"
    assert mine[0]["status"] == 200
    assert mine[0]["level"] == "info"
    assert mine[0]["duration_ms"] >= 0
