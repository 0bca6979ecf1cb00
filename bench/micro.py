"""SQL micro-benchmarks, each compared with its baseline in the same run.

* keyset pagination: page 1 vs page 500 (and OFFSET's page 1 vs page 500);
* inserts with all triggers vs the same inserts with user triggers disabled;
* the single-district feed on the partitioned ``questions`` vs an unpartitioned copy.

Timings are wall-clock per statement on one connection, repeated; we report
p50/p95 in milliseconds.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any
from uuid import UUID

import psycopg

FEED = (
    "SELECT q.id, q.title, q.answer_count, u.nickname FROM {table} q "
    "JOIN users u ON u.id = q.user_id WHERE q.region_code = %s AND q.deleted_at IS NULL "
    "AND q.status <> 'hidden' {after} ORDER BY q.id DESC LIMIT 20 {offset}"
)


def _quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    return {
        "p50_ms": round(q(0.5), 3),
        "p95_ms": round(q(0.95), 3),
        "mean_ms": round(statistics.fmean(ordered), 3),
        "n": len(ordered),
    }


def _time(conn: psycopg.Connection[Any], query: str, params: Any, repeat: int) -> list[float]:
    conn.execute(query, params).fetchall()  # warm
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        conn.execute(query, params).fetchall()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def busiest_region(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(
        "SELECT region_code FROM questions GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    assert row is not None
    return str(row[0])


def pagination(conn: psycopg.Connection[Any], region: str, repeat: int = 60) -> dict[str, Any]:
    page = 500
    row = conn.execute(
        FEED.format(table="questions", after="", offset=f"OFFSET {20 * (page - 1) - 1}").replace(
            "LIMIT 20", "LIMIT 1"
        ),
        (region,),
    ).fetchone()
    available = row is not None
    if not available:  # a small scale: use the deepest page the region has
        count = conn.execute(
            "SELECT count(*) FROM questions WHERE region_code = %s", (region,)
        ).fetchone()
        page = max(2, int(count[0]) // 20 - 1) if count else 2
        row = conn.execute(
            FEED.format(
                table="questions", after="", offset=f"OFFSET {20 * (page - 1) - 1}"
            ).replace("LIMIT 20", "LIMIT 1"),
            (region,),
        ).fetchone()
    assert row is not None
    last_id = row[0]
    keyset_1 = _time(conn, FEED.format(table="questions", after="", offset=""), (region,), repeat)
    keyset_n = _time(
        conn,
        FEED.format(table="questions", after="AND q.id < %s", offset=""),
        (region, last_id),
        repeat,
    )
    offset_n = _time(
        conn,
        FEED.format(table="questions", after="", offset=f"OFFSET {20 * (page - 1)}"),
        (region,),
        repeat,
    )
    k1, kn, on = _quantiles(keyset_1), _quantiles(keyset_n), _quantiles(offset_n)
    return {
        "page": page,
        "keyset_page_1": k1,
        "keyset_page_n": kn,
        "offset_page_n": on,
        "keyset_ratio_p95": round(kn["p95_ms"] / k1["p95_ms"], 3),
        "offset_ratio_p95": round(on["p95_ms"] / k1["p95_ms"], 3),
    }


def triggers(conn: psycopg.Connection[Any], rows: int = 300, rounds: int = 3) -> dict[str, Any]:
    """Insert ``rows`` questions one statement each, with and without user triggers.

    Both variants insert the same, complete rows (region, category, created_at
    given, hashtags normalised) and roll back; only the triggers differ.
    Category is given, so Kiwi is not involved (the classifier runs in the
    application, timed separately by the ask scenario).
    """
    users = [r[0] for r in conn.execute("SELECT id FROM users LIMIT 200").fetchall()]
    regions = [
        r[0]
        for r in conn.execute(
            "SELECT code FROM regions WHERE region_type = 'district' LIMIT 20"
        ).fetchall()
    ]
    rng = random.Random(1)
    insert = (
        "INSERT INTO questions (user_id, title, content, hashtags, region_code, category, "
        "location, created_at) VALUES (%s, %s, %s, %s, %s, 'food', point(126.5, 33.45), now())"
    )
    params = [
        (
            rng.choice(users),
            f"벤치마크 트리거 비교 질문 {i}번입니다",
            "트리거가 있을 때와 없을 때의 삽입 비용을 비교하기 위한 본문입니다.",
            ["맛집", f"벤치{i % 50}"],
            rng.choice(regions),
        )
        for i in range(rows)
    ]

    def run(disabled: bool) -> float:
        with conn.transaction(force_rollback=True):
            if disabled:
                conn.execute("ALTER TABLE questions DISABLE TRIGGER USER")
            t0 = time.perf_counter()
            for p in params:
                conn.execute(insert, p)
            return (time.perf_counter() - t0) * 1000 / rows

    on: list[float] = []
    off: list[float] = []
    for _ in range(rounds):  # interleaved so drift hits both alike
        off.append(run(True))
        on.append(run(False))
    on_ms, off_ms = statistics.median(on), statistics.median(off)
    return {
        "rows_per_round": rows,
        "rounds": rounds,
        "with_triggers_ms_per_row": round(on_ms, 4),
        "without_triggers_ms_per_row": round(off_ms, 4),
        "ratio": round(on_ms / off_ms, 3),
    }


def partitioning(conn: psycopg.Connection[Any], region: str, repeat: int = 80) -> dict[str, Any]:
    conn.execute("DROP TABLE IF EXISTS bench_questions_flat")
    conn.execute("CREATE TABLE bench_questions_flat AS SELECT * FROM questions")
    conn.execute("ALTER TABLE bench_questions_flat ADD PRIMARY KEY (id)")
    conn.execute(
        "CREATE INDEX ON bench_questions_flat (region_code, status, id DESC) "
        "WHERE deleted_at IS NULL"
    )
    conn.execute("VACUUM ANALYZE bench_questions_flat")
    results = {}
    for table in ("questions", "bench_questions_flat"):
        results[table] = _quantiles(
            _time(conn, FEED.format(table=table, after="", offset=""), (region,), repeat)
        )
    # A month-window variant: the same page with the id (the partition key,
    # UUIDv7) bounded below by the start of the previous month of the newest
    # row, so partition pruning leaves at most two partitions. A feed using it
    # would widen the window only when a page comes back short.
    newest = conn.execute(
        "SELECT date_trunc('month', max(created_at)) - interval '1 month' FROM questions "
        "WHERE region_code = %s",
        (region,),
    ).fetchone()
    assert newest is not None and newest[0] is not None
    bound = UUID(int=int(newest[0].timestamp() * 1000) << 80)
    window = _time(
        conn, FEED.format(table="questions", after="AND q.id >= %s", offset=""),
        (region, bound), repeat,
    )  # fmt: skip
    windowed = _quantiles(window)
    rows = conn.execute(
        FEED.format(table="questions", after="AND q.id >= %s", offset=""), (region, bound)
    ).fetchall()
    conn.execute("DROP TABLE bench_questions_flat")
    flat = results["bench_questions_flat"]["p50_ms"]
    return {
        "partitioned": results["questions"],
        "unpartitioned": results["bench_questions_flat"],
        "ratio_p50": round(results["questions"]["p50_ms"] / flat, 3),
        "partitioned_month_window": windowed,
        "window_rows": len(rows),
        "window_ratio_p50": round(windowed["p50_ms"] / flat, 3),
    }
