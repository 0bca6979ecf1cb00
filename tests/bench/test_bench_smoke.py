"""A toy-scale smoke of the bench harness: the generator fills a database with
COPY and derives counters set-based; the load runner talks to loopback only;
the bench refuses a database it did not create. No timings are asserted."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.generate import generate, uuidv7_at
from bench.run import ForeignDatabaseError, _forget_users, main

from bench import load
from tests.support.factories import make_answer, make_question, make_user


def test_generator_at_toy_scale(database_url: str) -> None:
    report = generate(database_url, "toy")
    assert report.counts["questions"] == 1000 and report.counts["users"] == 200
    with psycopg.connect(database_url, autocommit=True) as conn:
        # Counters the triggers would keep were derived set-based and agree.
        wrong = conn.execute(
            "SELECT count(*) FROM questions q WHERE answer_count <> "
            "(SELECT count(*) FROM answers a WHERE a.question_id = q.id)"
        ).fetchone()
        assert wrong == (0,)
        # Every point lies in its own district, as the insert trigger would infer it.
        outside = conn.execute(
            "SELECT count(*) FROM questions q "
            "WHERE (SELECT r.code FROM region_at(q.location) r) <> q.region_code"
        ).fetchone()
        assert outside == (0,)
        # created_at agrees with the UUIDv7 time, so rows sit in their month partitions.
        skew = conn.execute(
            "SELECT count(*) FROM questions WHERE uuid_extract_timestamp(id) <> "
            "date_trunc('milliseconds', created_at)"
        ).fetchone()
        assert skew == (0,)
        unnormalised = conn.execute(
            "SELECT count(*) FROM questions WHERE hashtags <> normalize_hashtags(hashtags)"
        ).fetchone()
        assert unnormalised == (0,)
        linked = conn.execute("SELECT count(*) FROM question_hashtags").fetchone()
        assert linked is not None and linked[0] > 1000
        districts = conn.execute("SELECT count(DISTINCT region_code) FROM questions").fetchone()
        assert districts is not None and districts[0] > 20


def test_uuidv7_layout() -> None:
    import random
    from datetime import UTC, datetime

    value = uuidv7_at(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), random.Random(1))
    assert value.version == 7
    assert value.int >> 80 == int(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp() * 1000)


class _Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def hello_port() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_load_runner_is_bounded_and_reports_quantiles(hello_port: int) -> None:
    spec = {
        "port": hello_port,
        "concurrency": 2,
        "max_requests": 40,
        "max_seconds": 30,
        "scenarios": [{"name": "hello", "requests": [{"method": "GET", "path": "/"}]}],
    }
    [result] = asyncio.run(load.run(spec))
    assert result["requests"] == 40 and result["statuses"] == {200: 40}
    assert result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
    assert load.HOST == "127.0.0.1"
    json.dumps(result)


def test_bench_refuses_a_database_it_did_not_create(
    database_url: str, tmp_path: Path, test_home: Path
) -> None:
    with pytest.raises(ForeignDatabaseError, match="not created by dongne bench"):
        main(scale="toy", home=test_home, database_url=database_url, results_dir=tmp_path)


def test_targets_evaluate_the_cached_feed() -> None:
    from bench.run import CACHED_FEED, UNCACHED_FEED, _targets

    def scenario(name: str, rps: float, p95: float) -> dict[str, object]:
        return {"name": name, "rps": rps, "p95_ms": p95, "statuses": {"200": 10}}

    sqlb = {
        "pagination": {"page": 500, "keyset_ratio_p95": 1.0, "offset_ratio_p95": 9.0},
        "triggers": {"ratio": 1.05, "with_triggers_ms_per_row": 1.05,
                     "without_triggers_ms_per_row": 1.0},
        "partitioning": {"ratio_p50": 1.0, "window_ratio_p50": 1.0},
    }  # fmt: skip
    load = [
        scenario("H hello-world", 1000, 10),
        scenario(CACHED_FEED, 600, 15),
        scenario(UNCACHED_FEED, 250, 40),
    ]
    status = {t["target"]: t["status"] for t in _targets(load, sqlb)}
    assert status["cached region feed ≥ 0.5×H req/s, p95 ≤ 2×H p95"] == "met"
    assert status["uncached region feed ≥ 0.25×H req/s"] == "met"
    assert status["cached ≥ 2× uncached"] == "met"
    load[1] = scenario(CACHED_FEED, 400, 25)
    status = {t["target"]: t["status"] for t in _targets(load, sqlb)}
    assert status["cached region feed ≥ 0.5×H req/s, p95 ≤ 2×H p95"] == "missed"
    assert status["cached ≥ 2× uncached"] == "missed"


def test_a_run_forgets_what_its_users_wrote(database_url: str) -> None:
    """The write scenarios' users go with their questions and answers; a
    neighbour's question they answered stays, its counter restored."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as db:
        neighbour = make_user(db)
        kept = make_question(db, neighbour)
        bench_user = make_user(db)
        posted = make_question(db, bench_user)
        make_answer(db, posted, neighbour)
        make_answer(db, kept, bench_user)
        assert _forget_users(database_url, [str(bench_user)]) == 1
        assert _forget_users(database_url, []) == 0
        left = db.execute(
            "SELECT (SELECT count(*) FROM questions WHERE id = %(posted)s) AS posted,"
            " (SELECT count(*) FROM answers WHERE question_id = %(posted)s) AS answers,"
            " (SELECT answer_count FROM questions WHERE id = %(kept)s) AS kept_answers",
            {"posted": posted, "kept": kept},
        ).fetchone()
        assert left == {"posted": 0, "answers": 0, "kept_answers": 0}
