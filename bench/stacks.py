"""``dongne bench stacks``: choose the server stack from measurements.

One run, one machine, one data set (the bench database of ``--scale``, made
by ``dongne bench run`` or here): the same HTTP scenarios against each server
variant in turn — uvicorn with uvloop + httptools, uvicorn with asyncio + h11,
granian (if installed: the ``bench`` extra), and uvicorn with psycopg's
prepared statements never / at once instead of after 5 runs — and a SQL
micro-benchmark of the region-feed query through psycopg (prepared after 5,
never) and asyncpg (always prepared; the ``bench`` extra).
Results go to ``bench/results/<time>-stacks-<scale>.{json,md}``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench import micro
from bench.run import (
    CACHED_FEED,
    RESULTS,
    UNCACHED_FEED,
    bench_database,
    bench_servers,
    feed_scenarios,
    prepare,
    run_load,
    save_results,
    start_server,
)
from dongne.qa.repository import _QUESTION_COLUMNS

# (label, stack, psycopg prepare_threshold or None for the setting's default, cache on)
VARIANTS: list[tuple[str, str, str | None, bool]] = [
    ("uvicorn + uvloop + httptools, prepare after 5", "uvicorn-uvloop-httptools", None, True),
    ("uvicorn + asyncio + h11, prepare after 5", "uvicorn-asyncio-h11", None, True),
    ("granian (ASGI, uvloop), prepare after 5", "granian", None, True),
    ("uvicorn + uvloop + httptools, never prepare", "uvicorn-uvloop-httptools", "none", True),
    ("uvicorn + uvloop + httptools, prepare at once", "uvicorn-uvloop-httptools", "0", True),
    # The same feed requests with the two-tier cache off: every one hits PostgreSQL.
    ("uvicorn + uvloop + httptools, cache off", "uvicorn-uvloop-httptools", None, False),
]

FEED_SQL = (
    f"SELECT {_QUESTION_COLUMNS} FROM questions q JOIN users u ON u.id = q.user_id "  # noqa: S608
    "WHERE q.deleted_at IS NULL AND q.status <> 'hidden' AND q.region_code = ANY({regions}) "
    "AND q.id < {after} ORDER BY q.id DESC LIMIT 21"
)


def _invalidate_feeds(client: httpx.Client, question_id: str, region: str) -> None:
    """Bump the feed tag through the API (a like), so no earlier variant's
    entries in Redis turn this variant's misses into hits."""
    r = client.post(
        "/api/v1/auth/signup",
        json={
            "email": f"stacks-{os.getpid()}-{time.time_ns()}@bench.dongne.kr",
            "password": "jeju-dongne-1234",
            "nickname": f"스택{time.time_ns() % 100000}",
            "region_code": region,
        },
    )
    r.raise_for_status()
    token = r.json()["token"]
    client.put(
        f"/api/v1/questions/{question_id}/like", headers={"authorization": f"Bearer {token}"}
    ).raise_for_status()


def _http(
    url: str, redis_url: str, region: str, ids: list[str], requests: int, seconds: float,
    concurrency: int,
) -> list[dict[str, Any]]:  # fmt: skip
    rows: list[dict[str, Any]] = []
    for label, stack, threshold, cache in VARIANTS:
        if stack == "granian" and importlib.util.find_spec("granian") is None:
            rows.append({"variant": label, "skipped": "granian is not installed"})
            continue
        server, port = start_server(url, redis_url, stack, threshold, cache=cache)
        try:
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
            if cache:
                _invalidate_feeds(client, ids[0], region)
            scenarios = [
                {"name": "H hello-world", "requests": [{"method": "GET", "path": "/bench/hello"}]},
                *feed_scenarios(url, client, region, requests),
                {
                    "name": "question detail",
                    "requests": [{"method": "GET", "path": f"/api/v1/questions/{i}"} for i in ids],
                },
            ]
            client.close()
            load = run_load(
                port, scenarios, concurrency=concurrency, requests=requests, seconds=seconds
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
        rows.append({"variant": label, "stack": stack, "prepare_threshold": threshold,
                     "cache": cache, "load": load})  # fmt: skip
    return rows


async def _sql(url: str, region: str, ids: list[str], repeat: int) -> dict[str, Any]:
    """The feed query (page after a random id of the district), one connection, sequential."""
    rng = random.Random(7)
    cursors = [rng.choice(ids) for _ in range(repeat)]
    out: dict[str, Any] = {}

    async def with_psycopg(threshold: int | None) -> list[float]:
        query = FEED_SQL.format(regions="%s", after="%s::uuid")
        conn = await psycopg.AsyncConnection.connect(
            url, autocommit=True, prepare_threshold=threshold
        )
        try:
            samples = []
            for i, after in enumerate([cursors[0]] * 10 + cursors):
                t0 = time.perf_counter()
                cur = await conn.execute(query, ([region], after))
                await cur.fetchall()
                if i >= 10:
                    samples.append((time.perf_counter() - t0) * 1000)
            return samples
        finally:
            await conn.close()

    out["psycopg 3, prepared after 5 (default)"] = micro._quantiles(await with_psycopg(5))
    out["psycopg 3, never prepared"] = micro._quantiles(await with_psycopg(None))
    if importlib.util.find_spec("asyncpg") is None:
        out["asyncpg"] = {"skipped": "asyncpg is not installed"}
        return out
    import asyncpg

    query = FEED_SQL.format(regions="$1::varchar[]", after="$2::uuid")
    conn = await asyncpg.connect(url)
    try:
        samples = []
        for i, after in enumerate([cursors[0]] * 10 + cursors):
            t0 = time.perf_counter()
            await conn.fetch(query, [region], after)
            if i >= 10:
                samples.append((time.perf_counter() - t0) * 1000)
        out["asyncpg (always prepared)"] = micro._quantiles(samples)
    finally:
        await conn.close()
    return out


def _markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# dongne bench stacks — scale `{result['scale']}` — {result['started']}",
        "",
        f"Machine: {result['machine']}",
        "",
        f"## HTTP (load runner in its own process, loopback, {result['concurrency']} "
        f"connections, ≤ {result['requests']} requests or ≤ {result['seconds']} s each)",
        "",
        "| variant | H req/s | H p95 | cached feed req/s | cached p95 | uncached feed req/s "
        "| uncached p95 | detail req/s | detail p95 | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in result["http"]:
        if "skipped" in row:
            lines.append(f"| {row['variant']} | skipped: {row['skipped']} |||||||||")
            continue
        by = {r["name"]: r for r in row["load"]}
        cells = []
        errors = 0
        for name in ("H hello-world", CACHED_FEED, UNCACHED_FEED, "question detail"):
            r = by[name]
            cells += [str(r["rps"]), str(r["p95_ms"])]
            errors += sum(n for code, n in r["statuses"].items() if not str(code).startswith("2"))
        lines.append(f"| {row['variant']} | " + " | ".join(cells) + f" | {errors} |")
    lines += [
        "",
        "## Region-feed query, one connection, sequential (ms)",
        "",
        "| driver | p50 | p95 | mean | n |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, q in result["sql"].items():
        if "skipped" in q:
            lines.append(f"| {name} | skipped: {q['skipped']} ||||")
        else:
            lines.append(f"| {name} | {q['p50_ms']} | {q['p95_ms']} | {q['mean_ms']} | {q['n']} |")
    return "\n".join(lines) + "\n"


def main(
    *,
    scale: str = "small",
    home: Path | None = None,
    seconds: float = 10.0,
    requests: int = 2000,
    concurrency: int = 16,
    sql_repeat: int = 500,
    results_dir: Path = RESULTS,
) -> Path:
    started = datetime.now(UTC)
    with bench_servers(home) as urls:
        url = bench_database(urls.database_url, scale)
        prepare(url, urls.redis_url, scale, fresh=False)
        with psycopg.connect(url, autocommit=True) as conn:
            region = micro.busiest_region(conn)
            ids = [
                str(r[0])
                for r in conn.execute(
                    "SELECT id FROM questions WHERE region_code = %s ORDER BY id DESC LIMIT 200",
                    (region,),
                ).fetchall()
            ]
            version = conn.execute("SHOW server_version").fetchone()
        sql_ids = ids[20:] or ids
        sql_results = asyncio.run(_sql(url, region, sql_ids, sql_repeat))
        http = _http(url, urls.redis_url, region, ids, requests, seconds, concurrency)
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as pkg_version

    def v(pkg: str) -> str:
        try:
            return pkg_version(pkg)
        except PackageNotFoundError:
            return "—"

    machine = (
        f"{os.cpu_count()} cores; PostgreSQL {version[0] if version else '?'}; "
        f"uvicorn {v('uvicorn')}, uvloop {v('uvloop')}, httptools {v('httptools')}, "
        f"h11 {v('h11')}, granian {v('granian')}, psycopg {v('psycopg')}, "
        f"asyncpg {v('asyncpg')}; region {region}"
    )
    result = {
        "scale": scale,
        "started": started.isoformat(timespec="seconds"),
        "machine": machine,
        "concurrency": concurrency,
        "requests": requests,
        "seconds": seconds,
        "http": http,
        "sql": sql_results,
    }
    return save_results(
        results_dir, f"{started:%Y%m%dT%H%M%SZ}-stacks-{scale}", result, _markdown(result)
    )
