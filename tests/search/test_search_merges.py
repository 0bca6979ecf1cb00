# Korean prose is test data here.
"""Old search months merged into quarters, and past years into one partition
each (migrations 0020, 0022): the same rows, indexes, statistics and trigger,
the same search results, fewer partitions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import DictRow, dict_row

from dongne.db.router import ShardRouter
from dongne.search import postgres, services
from dongne.search.contract import SearchQuery
from dongne.search.postgres import PostgresSearchBackend
from tests.support.factories import make_aged_questions, make_user

AGES = [1, 20, 45, 100, 130, 200, 260, 300, 380, 420, 500]


@pytest.fixture(scope="module")
def spread(database_url: str) -> Iterator[dict[int, UUID]]:
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as db:
        author = make_user(db, nickname="오름지기")
        yield make_aged_questions(
            db, author, AGES, "새별오름 억새 언제 예뻐요 ({age}일 전)",
            content="가을에 새별오름 억새 보러 가려는데 언제가 제일 예쁜가요?",
            category="travel",
        )  # fmt: skip


def _partitions(db: psycopg.Connection[DictRow]) -> list[str]:
    rows = db.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'question_search'::regclass ORDER BY 1"
    ).fetchall()
    return [r["relname"] for r in rows]


async def _results(router: ShardRouter) -> list[list[UUID]]:
    backend = PostgresSearchBackend(router)
    found = []
    for query in (
        SearchQuery(text="새별오름", sort="newest", limit=50),
        SearchQuery(text="억새", sort="oldest", limit=50),
        SearchQuery(text="새별오름 억새", limit=50),
        SearchQuery(text="억새", created_to=datetime.now(UTC) - timedelta(days=250), limit=50),
    ):
        found.append([hit.id for hit in (await backend.search(query)).hits])
    return found


def _start(name: str) -> datetime:
    """Where a search partition begins, from its name."""
    suffix = name.removeprefix("question_search_y")
    year = int(suffix[:4])
    if "m" in suffix:
        return datetime(year, int(suffix[5:]), 1, tzinfo=UTC)
    if "q" in suffix:
        return datetime(year, int(suffix[5:]) * 3 - 2, 1, tzinfo=UTC)
    return datetime(year, 1, 1, tzinfo=UTC)


async def test_merged_quarters_and_years_keep_every_row_and_every_result(
    router: ShardRouter, db: psycopg.Connection[DictRow], spread: dict[int, UUID]
) -> None:
    await services.reindex(router)
    before = _partitions(db)
    results = await _results(router)
    assert set(spread.values()) <= set(results[0])
    rows = db.execute("SELECT count(*) AS n FROM question_search").fetchone()

    merged = await services.merge_partitions(router)

    now = datetime.now(UTC)
    upto = postgres.merged_before(now)
    # 500 days back reaches a year that ended before the recent months.
    years = [name for name in merged if len(name) == len("question_search_y2025")]
    assert years
    after = _partitions(db)
    assert len(after) < len(before) and set(merged) <= set(after)
    # Each partition left is the one a search expects there: no month of a
    # merged quarter, no quarter of a merged year; the recent months stay.
    for name in after:
        assert postgres.partition_start(_start(name), now) == _start(name)
        if name in years:
            assert _start(name).replace(year=_start(name).year + 1) <= upto
    assert db.execute("SELECT count(*) AS n FROM question_search").fetchone() == rows
    assert await _results(router) == results
    assert await services.merge_partitions(router) == []


def test_a_merged_partition_has_the_months_indexes_statistics_and_trigger(
    db: psycopg.Connection[DictRow], spread: dict[int, UUID]
) -> None:
    merged = [name for name in _partitions(db) if "m" not in name.removeprefix("question_search_y")]
    assert merged, "the previous test merged the old quarters and years"
    for name in merged:
        indexes = db.execute(
            "SELECT count(*) AS n FROM pg_index x JOIN pg_inherits i ON i.inhrelid = x.indexrelid"
            " WHERE x.indrelid = %s::regclass",
            (name,),
        ).fetchone()
        assert indexes == {"n": 3}  # primary key, words, title trigrams: the parent's
        targets = db.execute(
            "SELECT attname, attstattarget FROM pg_attribute WHERE attrelid = %s::regclass"
            " AND attname IN ('document', 'title') ORDER BY 1",
            (name,),
        ).fetchall()
        assert [(t["attname"], t["attstattarget"]) for t in targets] == [
            ("document", 10),
            ("title", 10),
        ]
    oldest = spread[max(AGES)]
    db.execute("UPDATE question_search SET category = 'food' WHERE question_id = %s", (oldest,))
    lexemes = db.execute(
        "SELECT tsvector_to_array(document) AS l FROM question_search WHERE question_id = %s",
        (oldest,),
    ).fetchone()
    assert lexemes is not None and "@c:food" in lexemes["l"] and "@c:travel" not in lexemes["l"]


def test_ensuring_partitions_over_merged_quarters_and_years_adds_no_search_month(
    db: psycopg.Connection[DictRow], spread: dict[int, UUID]
) -> None:
    before = _partitions(db)
    db.execute(
        "SELECT ensure_question_partitions((now() - interval '18 months')::date, now()::date)"
    )
    assert _partitions(db) == before


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 11, 26, 11, 36, tzinfo=UTC),
        datetime(2027, 1, 5, tzinfo=UTC),
        datetime(2027, 4, 1, tzinfo=UTC),
        datetime(2027, 7, 31, 23, 59, tzinfo=UTC),
    ],
)
def test_every_window_begins_where_a_partition_begins(now: datetime) -> None:
    upto = postgres.merged_before(now)
    for edge in postgres.window_edges(now):
        start = datetime.fromtimestamp((edge.int >> 80) / 1000, UTC)
        year = start.replace(month=1)
        quarter = start.replace(month=(start.month - 1) // 3 * 3 + 1)
        # A merged year or quarter is entered at its start; a month otherwise.
        if postgres._months_before(year, -12) <= upto:
            assert start == year
        elif postgres._months_before(quarter, -3) <= upto:
            assert start == quarter
        else:
            assert start == start.replace(day=1)
        assert postgres.partition_start(start, now) == start
    # No window but the last (everything older) reaches into an earlier year.
    starts = [
        datetime.fromtimestamp((edge.int >> 80) / 1000, UTC) for edge in postgres.window_edges(now)
    ]
    for newer, older in pairwise(starts):
        assert older.year == (newer - timedelta(days=1)).year
