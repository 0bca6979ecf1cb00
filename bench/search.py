"""``dongne bench search``: search latency over HTTP at 10 concurrent clients.

Issue 5's target, measured on generated data (``100k`` or ``1m`` questions):

* p95 ≤ 50 ms for ranked (relevance) queries of one or two terms, each with
  filters, at 10 concurrent clients;
* p95(the most frequent term) ≤ 5 × p95(rare terms), same filters.

Requests cycle through hundreds of distinct URLs per scenario (the API does
not cache search; a repeated query would still find warm pages): the mixed
queries, every rare term under every filter set, the frequent term under every
filter set and page size from 11 to 50. The load runner is its own process on
loopback, as in ``dongne bench run``; the hello-world route H is measured in
the same run as the machine's baseline.

Queries come from the indexed data itself (``bench_search_terms``, written
by ``bench.search_index``): 1-term queries are tokens of real titles, 2-term
queries two tokens of the same real title (what a neighbour would type), the
frequent term is the token in most documents, rare terms are tokens in 10–100.
"""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psutil
import psycopg

from bench.run import (
    HOME,
    RESULTS,
    _machine,
    bench_database,
    bench_servers,
    prepare,
    run_load,
    save_results,
    start_server,
)
from dongne.search.analysis import query_units
from dongne.search.frequency import FREQUENT_AT
from dongne.search.postgres import merged_before, window_edges

CONCURRENCY = 10
TARGET_P95_MS = 50.0
TARGET_RATIO = 5.0
RARE_DF = (10, 100)

MIXED = "ranked 1–2-term queries with filters"
FREQUENT = "most frequent term, with filters"
RARE = "rare terms (in 10–100 questions), with filters"


def _is_query_term(term: str, *, compound: bool = False) -> bool:
    """A term a user would type, which the query analysis keeps as one unit (the
    index also holds verb stems such as 있다, which a query alone drops)."""
    if len(term) < 2 or not any("가" <= ch <= "힣" for ch in term):
        return False
    units = query_units(term)
    return len(units) == 1 and units[0].text == term and (compound or len(units[0].parts) == 1)


def _sample_percent(conn: psycopg.Connection[Any], table: str, rows: int) -> float:
    """The sample percentage that yields about ``rows`` rows of a table of any size
    (a fixed 1 % of a 1 000-row table may sample no row at all)."""
    count = conn.execute(
        psycopg.sql.SQL("SELECT count(*) FROM {}").format(psycopg.sql.Identifier(table))
    ).fetchone()
    return min(100.0, 100.0 * rows / max(int(count[0]) if count else 1, 1))


def pick_terms(conn: psycopg.Connection[Any], rng: random.Random) -> dict[str, Any]:
    rows = conn.execute("SELECT term, df FROM bench_search_terms ORDER BY df DESC").fetchall()
    frequent = next((t, df) for t, df in rows if _is_query_term(t))
    rare = [(t, df) for t, df in rows if RARE_DF[0] <= df <= RARE_DF[1] and _is_query_term(t)]
    rng.shuffle(rare)
    titles = [
        r[0]
        for r in conn.execute(
            "SELECT title FROM question_search TABLESAMPLE BERNOULLI (%s) REPEATABLE (5)"
            " LIMIT 4000",
            (_sample_percent(conn, "question_search", 8000),),
        ).fetchall()
    ]
    return {"frequent": frequent, "rare": rare[:200], "titles": titles}


def _filters(conn: psycopg.Connection[Any], rng: random.Random) -> list[dict[str, Any]]:
    """The filter mix: each query carries one or two of these."""
    districts = [
        r[0]
        for r in conn.execute(
            "SELECT region_code FROM questions GROUP BY region_code ORDER BY count(*) DESC LIMIT 12"
        ).fetchall()
    ]
    points = conn.execute(
        "SELECT location[0], location[1] FROM questions TABLESAMPLE BERNOULLI (%s)"
        " REPEATABLE (5) WHERE location IS NOT NULL LIMIT 50",
        (_sample_percent(conn, "questions", 500),),
    ).fetchall()
    month_ago = (datetime.now(UTC) - timedelta(days=30)).isoformat(timespec="seconds")
    year_ago = (datetime.now(UTC) - timedelta(days=365)).isoformat(timespec="seconds")
    categories = ["food", "transport", "lodging", "travel", "living", "weather"]
    options: list[dict[str, Any]] = []
    for i in range(60):
        kind = i % 6
        if kind == 0:
            options.append({"region": rng.choice(districts)})
        elif kind == 1:
            options.append({"region": "KR-49-01"})  # 제주시 and its districts
        elif kind == 2:
            options.append({"category": rng.choice(categories)})
        elif kind == 3:
            options.append({"has_answers": "true", "created_from": year_ago})
        elif kind == 4:
            x, y = rng.choice(points)
            options.append({"lat": round(y, 5), "lng": round(x, 5), "radius_km": 5})
        else:
            options.append(
                {"region": rng.choice(districts), "local_only": "true", "created_from": month_ago}
            )
    return options


def _path(text: str, filters: dict[str, Any]) -> str:
    return "/api/v1/search?" + urlencode({"q": text, **filters})


def _title_queries(titles: list[str], rng: random.Random, n: int) -> list[str]:
    queries: list[str] = []
    while len(queries) < n:
        words = [
            u.text for u in query_units(rng.choice(titles)) if _is_query_term(u.text, compound=True)
        ]
        if not words:
            continue
        if rng.random() < 0.5 or len(words) == 1:
            queries.append(rng.choice(words))
        else:
            first, second = rng.sample(words, 2)
            queries.append(f"{first} {second}")
    return queries


def scenarios(
    conn: psycopg.Connection[Any], n: int, seed: int = 5
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rng = random.Random(seed)
    terms = pick_terms(conn, rng)
    filters = _filters(conn, rng)
    mixed = _title_queries(terms["titles"], rng, n)

    def requests(texts: list[str]) -> list[dict[str, Any]]:
        # Each text with a different filter set, so no two URLs repeat.
        return [
            {"method": "GET", "path": _path(text, filters[i % len(filters)])}
            for i, text in enumerate(texts)
        ]

    frequent_term, frequent_df = terms["frequent"]
    rare_terms = [t for t, _ in terms["rare"]]
    # The frequent term with every filter set and page sizes from 11 to 50:
    # one term cannot make n distinct URLs otherwise (2,400 of them).
    frequent = [
        {"method": "GET", "path": _path(frequent_term, {**f, "limit": limit})}
        for limit in range(11, 51)
        for f in filters
    ]
    rare = requests([rare_terms[i % len(rare_terms)] for i in range(n)])
    meta = {
        "frequent_term": frequent_term,
        "frequent_df": frequent_df,
        "rare_terms": len(rare_terms),
        "rare_examples": terms["rare"][:5],
        "mixed_examples": mixed[:8],
        "filter_examples": filters[:6],
    }
    return [
        {"name": "H hello-world", "requests": [{"method": "GET", "path": "/bench/hello"}]},
        {"name": MIXED, "requests": requests(mixed)},
        {"name": FREQUENT, "requests": frequent},
        {"name": RARE, "requests": rare},
    ], meta


def targets(load: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {r["name"]: r for r in load}
    mixed, frequent, rare = by[MIXED], by[FREQUENT], by[RARE]
    ratio = frequent["p95_ms"] / rare["p95_ms"]
    out = [
        {
            "target": f"p95 ≤ {TARGET_P95_MS:g} ms, {MIXED}",
            "measured": f"{mixed['p95_ms']} ms",
            "met": mixed["p95_ms"] <= TARGET_P95_MS,
        },
        {
            "target": f"p95 ≤ {TARGET_P95_MS:g} ms, frequent and rare terms",
            "measured": f"{frequent['p95_ms']} / {rare['p95_ms']} ms",
            "met": max(frequent["p95_ms"], rare["p95_ms"]) <= TARGET_P95_MS,
        },
        {
            "target": f"p95(most frequent term) ≤ {TARGET_RATIO:g} × p95(rare terms)",
            "measured": f"{ratio:.2f}×",
            "met": ratio <= TARGET_RATIO,
        },
    ]
    for scenario in (mixed, frequent, rare):
        if set(scenario["statuses"]) != {"200"}:
            out.append(
                {
                    "target": f"{scenario['name']}: every request 200",
                    "measured": str(scenario["statuses"]),
                    "met": False,
                }
            )
    return out


def _markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# dongne bench search — scale `{result['scale']}` — {result['started']}",
        "",
        f"Load runner in its own process, loopback, {CONCURRENCY} connections, "
        f"≤ {result['requests']} requests or ≤ {result['seconds']} s per scenario; "
        "requests cycle through hundreds of distinct URLs per scenario; relevance sort; "
        f"backend `{result['backend']}`.",
        "",
        "## Machine",
        "",
        "| fact | value |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in result["machine"].items()],
        "",
        "## Data and queries",
        "",
        f"```\n{json.dumps(result['data'], ensure_ascii=False)}\n"
        f"{json.dumps(result['queries'], ensure_ascii=False)}\n```",
        "",
        "## Results",
        "",
        "| scenario | requests | req/s | p50 ms | p95 ms | p99 ms | API CPU ms/req |"
        " PostgreSQL CPU ms/req | statuses |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        *[
            f"| {r['name']} | {r['requests']} | {r['rps']} | {r['p50_ms']} | {r['p95_ms']} | "
            f"{r['p99_ms']} | {r['api_cpu_ms']} | {r['pg_cpu_ms']} | {r['statuses']} |"
            for r in result["load"]
        ],
        "",
        "CPU per request: the API process's and the bench PostgreSQL's (postmaster and "
        "its children) over each scenario, divided by its requests. Ten clients on two "
        "cores queue, so p95 follows the CPU a search costs; the CPU is also steadier "
        "from run to run than the latency.",
        "",
        "## Targets",
        "",
        "| target | measured | status |",
        "| --- | --- | --- |",
        *[
            f"| {t['target']} | {t['measured']} | **{'met' if t['met'] else 'missed'}** |"
            for t in result["targets"]
        ],
    ]
    return "\n".join(lines) + "\n"


def main(
    *,
    scale: str = "100k",
    home: Path | None = None,
    seconds: float = 20.0,
    requests: int = 3000,
    results_dir: Path = RESULTS,
) -> Path:
    started = datetime.now(UTC)
    home = (home or HOME).resolve()
    with bench_servers(home) as urls:
        url = bench_database(urls.database_url, scale)
        data = prepare(url, urls.redis_url, scale, fresh=False)
        with psycopg.connect(url, autocommit=True) as conn:
            data["merged_partitions"] = _merge_partitions(conn)
            data["frequent_lexemes"] = _refresh_frequency(conn)
            data["prewarmed_mb"] = _prewarm(conn)
            data["questions_indexed"] = conn.execute(
                "SELECT count(*) FROM question_search"
            ).fetchone()[0]  # type: ignore[index]
            plan, queries = scenarios(conn, requests)
        # Search reads no cache; the cache warm-up's region statistics would
        # only compete with the searches for the two cores.
        server, port = start_server(url, urls.redis_url, warm_up=False)
        try:
            _warm_up(port, plan)
            load = _load_with_cpu(port, server.pid, home, plan, requests, seconds)
        finally:
            server.terminate()
            server.wait(timeout=30)
        machine = _machine(url, urls.redis_url)
    result = {
        "scale": scale,
        "started": started.isoformat(timespec="seconds"),
        "backend": "postgres",
        "requests": requests,
        "seconds": seconds,
        "machine": machine,
        "data": data,
        "queries": queries,
        "load": load,
        "targets": targets(load),
    }
    return save_results(
        results_dir, f"{started:%Y%m%dT%H%M%SZ}-search-{scale}", result, _markdown(result)
    )


def _load_with_cpu(
    port: int, api_pid: int, home: Path, plan: list[dict[str, Any]], requests: int, seconds: float
) -> list[dict[str, Any]]:
    """The load, one scenario at a time, each with the CPU the API process and
    PostgreSQL spent per request while it ran."""
    api = psutil.Process(api_pid)
    postmaster = psutil.Process(int((home / "postgres" / "postmaster.pid").read_text().split()[0]))
    load = []
    for scenario in plan:
        api_before, pg_before = _cpu_s([api]), _cpu_s([postmaster, *postmaster.children()])
        [result] = run_load(
            port, [scenario], concurrency=CONCURRENCY, requests=requests, seconds=seconds
        )
        served = max(result["requests"], 1)
        pg_after = _cpu_s([postmaster, *postmaster.children()])
        result["api_cpu_ms"] = round((_cpu_s([api]) - api_before) / served * 1000, 2)
        result["pg_cpu_ms"] = round((pg_after - pg_before) / served * 1000, 2)
        load.append(result)
    return load


def _cpu_s(processes: list[psutil.Process]) -> float:
    """User + system seconds of these processes (one that has gone counts 0)."""
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _merge_partitions(conn: psycopg.Connection[Any]) -> int:
    """What the daily ``merge_search_partitions`` job does in service (each
    quarter or year once; seconds each at 1 M questions)."""
    merged = 0
    upto = merged_before(datetime.now(UTC)).date()
    while conn.execute("SELECT merge_search_partitions(%s)", (upto,)).fetchone() != (None,):
        merged += 1
    return merged


def _refresh_frequency(conn: psycopg.Connection[Any]) -> int:
    """What the hourly ``refresh_search_frequency`` job keeps current in service."""
    row = conn.execute(
        "SELECT refresh_search_frequent_lexemes(%s, %s)",
        (window_edges(datetime.now(UTC))[0], FREQUENT_AT),
    ).fetchone()
    return int(row[0]) if row else 0


def _prewarm(conn: psycopg.Connection[Any]) -> int:
    """Load the search index into shared buffers and the questions and users,
    with their indexes, into the OS page cache: a server in service holds its
    working set in memory, and a bench that starts on a cold disk measures the
    disk. Returns the megabytes read."""
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
    row = conn.execute(
        "SELECT coalesce(sum(pg_prewarm(c.oid::regclass,"
        "  CASE WHEN c.relname LIKE 'question_search%%' THEN 'buffer' ELSE 'read' END)), 0)"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'"
        " WHERE c.relkind IN ('r', 'i', 't')"
        " AND (c.relname LIKE 'question_search%%' OR c.relname LIKE 'questions%%'"
        "      OR c.relname LIKE 'users%%')"
    ).fetchone()
    return int(row[0]) * 8 // 1024 if row else 0


def _warm_up(port: int, plan: list[dict[str, Any]]) -> None:
    """Unmeasured searches first, as a server in service has had them: ten at a
    time, so every pooled connection has loaded the partitions' catalog
    entries (a few hundred ms, once per connection)."""
    paths = [r["path"] for scenario in plan[1:] for r in scenario["requests"][-40:]]
    with (
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client,
        ThreadPoolExecutor(CONCURRENCY) as pool,
    ):
        for response in pool.map(client.get, paths):
            response.raise_for_status()
