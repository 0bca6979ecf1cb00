"""The process-wide metrics. One registry per process (not per app) so that an
app built twice in one process (tests) never registers a series twice.

Series whose value lives elsewhere (pool statistics, outbox lag, cache hit
ratios) are read at scrape time by ``dongne.metrics.scrape``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

# Latency buckets from 0.5 ms to 10 s: a cached read sits in the first few.
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1,
    0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

REQUEST_LATENCY = Histogram(
    "dongne_http_request_duration_seconds",
    "HTTP request latency by route template, method and status class.",
    ["route", "method", "status"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
REQUESTS_IN_FLIGHT = Gauge(
    "dongne_http_requests_in_flight", "HTTP requests being served.", registry=REGISTRY
)
SEARCH_LATENCY = Histogram(
    "dongne_search_duration_seconds",
    "Latency of search requests (routes under /search).",
    ["route"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
JOB_RUNS = Counter(
    "dongne_job_runs",
    "Scheduled job runs by job and result (succeeded, failed, retried, skipped).",
    ["job", "result"],
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    "dongne_job_duration_seconds",
    "Duration of scheduled job attempts.",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800),
    registry=REGISTRY,
)
JOB_LAST_SUCCESS = Gauge(
    "dongne_job_last_success_timestamp_seconds",
    "Unix time of the job's last successful run in this process.",
    ["job"],
    registry=REGISTRY,
)
POOL_RESIZES = Counter(
    "dongne_db_pool_resizes",
    "Pool resizes made from measured wait time, by pool and direction.",
    ["pool", "direction"],
    registry=REGISTRY,
)
