# Korean prose is test data here.
"""The PostgreSQL backend's bounded cost: newest candidates across month
partitions and time windows, filters on the search row, widening only for
rare words, and the search partitions that follow the question partitions."""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import DictRow, dict_row

from dongne.config import PoolSettings, Settings
from dongne.db.router import ShardRouter, Workload
from dongne.geo.services import region_scope
from dongne.ops.pools import resize_bounds
from dongne.search import postgres, services
from dongne.search.contract import GeoFilter, SearchQuery, SearchResult
from dongne.search.frequency import FrequentLexemes
from dongne.search.postgres import PostgresSearchBackend, SearchPartition, SearchPartitions
from tests.support.factories import make_aged_questions, make_answer, make_question, make_user

# Days ago: one question in each of the four windows, two in the newest.
AGES = [1, 2, 45, 200, 300, 420, 500]
LIMIT = 4


async def _recorded_search(
    router: ShardRouter, query: SearchQuery, backend: PostgresSearchBackend | None = None
) -> tuple[SearchResult, list[str]]:
    """A search, and the text of every statement it sent."""
    sent: list[str] = []
    ranking = postgres._execute_ranking

    async def recording_ranking(conn: Any, statement: str, params: dict[str, Any]) -> Any:
        sent.append(statement)
        return await ranking(conn, statement, params)

    async with router.connection() as conn:
        real = conn.execute

        async def recording(statement: Any, params: Any = None, **options: Any) -> Any:
            sent.append(statement.decode() if isinstance(statement, bytes) else str(statement))
            return await real(statement, params, **options)

        conn.execute = recording  # type: ignore[method-assign,assignment]
        postgres._execute_ranking = recording_ranking
        try:
            async with conn.transaction():
                result = await (backend or PostgresSearchBackend(router)).search_on(conn, query)
        finally:
            postgres._execute_ranking = ranking
    return result, sent


def test_ranking_statements_are_numbered_once_per_text() -> None:
    """A name keeps its number wherever it recurs, ``%%`` is the operator's
    ``%``, and the same text is converted once."""
    postgres.positional.cache_clear()
    statement = "SELECT %(raw)s <%% s.title, %(cap)s, %(raw)s, '%%'"
    assert postgres.positional(statement) == (
        b"SELECT $1 <% s.title, $2, $1, '%'",
        ("raw", "cap"),
    )
    postgres.positional(statement)
    assert postgres.positional.cache_info().hits == 1


def _ranking(sent: list[str]) -> list[str]:
    return [text for text in sent if "WITH c AS MATERIALIZED" in text]


@pytest.fixture(scope="module")
def spread(database_url: str) -> Iterator[dict[int, UUID]]:
    """Questions about 귤따기 spread over 500 days (one partition per month)."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as db:
        author = make_user(db, nickname="귤농부")
        yield make_aged_questions(
            db, author, AGES, "귤따기 체험 농장 추천 ({age}일 전)",
            content="아이들과 귤따기 체험을 하려고 해요. 농장 추천 부탁드립니다.",
            category="travel",
        )  # fmt: skip


@pytest.fixture(scope="module")
async def indexed(router: ShardRouter, spread: dict[int, UUID]) -> dict[int, UUID]:
    await services.reindex(router)
    return spread


def test_search_partitions_follow_question_partitions(db: psycopg.Connection[DictRow]) -> None:
    db.execute("SELECT ensure_question_partitions('2031-01-01', '2031-02-01')")
    rows = db.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass"
        " ORDER BY 1",
        ("question_search",),
    ).fetchall()
    questions = db.execute(
        "SELECT replace(c.relname, 'questions_', 'question_search_') AS relname,"
        " pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'questions'::regclass"
        " ORDER BY 1"
    ).fetchall()
    assert rows == questions
    assert any(r["relname"] == "question_search_y2031m02" for r in rows)
    # Old and new partitions keep the short statistics of the lexemes and the
    # titles (migrations 0016 and 0018).
    targets = db.execute(
        "SELECT DISTINCT a.attname, a.attstattarget FROM pg_inherits i"
        " JOIN pg_attribute a ON a.attrelid = i.inhrelid"
        " AND a.attname IN ('document', 'title')"
        " WHERE i.inhparent = 'question_search'::regclass ORDER BY 1"
    ).fetchall()
    assert [(t["attname"], t["attstattarget"]) for t in targets] == [
        ("document", 10),
        ("title", 10),
    ]


async def test_a_search_reads_the_newest_matches_up_to_the_limit(
    router: ShardRouter, indexed: dict[int, UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "CANDIDATE_LIMIT", LIMIT)
    backend = PostgresSearchBackend(router)
    result = await backend.search(SearchQuery(text="귤따기", sort="newest", limit=10))
    # The newest four, across three windows; the older ones are beyond the limit.
    assert [hit.id for hit in result.hits] == [indexed[age] for age in AGES[:LIMIT]]
    assert result.total == LIMIT and not result.total_exact
    ranked = await backend.search(SearchQuery(text="귤따기", limit=10))
    assert {hit.id for hit in ranked.hits} == {indexed[age] for age in AGES[:LIMIT]}
    oldest = await backend.search(SearchQuery(text="귤따기", sort="oldest", limit=10))
    assert [hit.id for hit in oldest.hits] == [indexed[age] for age in AGES[::-1][:LIMIT]]


async def test_without_the_limit_every_window_is_read(
    router: ShardRouter, indexed: dict[int, UUID]
) -> None:
    result = await PostgresSearchBackend(router).search(
        SearchQuery(text="귤따기", sort="newest", limit=10)
    )
    assert [hit.id for hit in result.hits] == [indexed[age] for age in AGES]
    assert result.total == len(AGES) and result.total_exact
    # A time filter is an id range: it reaches back exactly as far as asked.
    older = await PostgresSearchBackend(router).search(
        SearchQuery(text="귤따기", sort="newest", created_to=result.hits[4].created_at)
    )
    assert [hit.id for hit in older.hits] == [indexed[age] for age in AGES[4:]]


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 11, 26, 11, 36, tzinfo=UTC),
        datetime(2027, 2, 1, 0, 0, 1, tzinfo=UTC),
        datetime(2027, 1, 31, 23, 59, tzinfo=UTC),
        datetime(2028, 3, 1, 8, 0, tzinfo=UTC),
        datetime(2026, 11, 26, 23, 30, tzinfo=timezone(timedelta(hours=9))),
    ],
)
def test_windows_begin_at_month_starts_and_cover_every_id(now: datetime) -> None:
    edges = postgres.window_edges(now)
    assert edges == sorted(set(edges), reverse=True)
    for edge in edges:
        start = datetime.fromtimestamp((edge.int >> 80) / 1000, UTC)
        assert (start.day, start.hour, start.minute, start.second) == (1, 0, 0, 0)
    # Each window reaches at least as far back as its span.
    for span in postgres.WINDOWS:
        assert edges[-1] <= postgres.id_floor(now - span)
    assert postgres.id_floor(now - postgres.WINDOWS[0]) >= edges[0]
    assert edges[0] > postgres.id_floor(now - timedelta(days=39))
    # Newest first, each window ending where the newer one begins, the newest
    # ending a day after now, the oldest open-ended.
    bounds = postgres._window_bounds(now, ascending=False)
    assert bounds[0][1] == postgres.id_floor(now + postgres.CLOCK_SLACK)
    assert all(newer[0] == older[1] for newer, older in pairwise(bounds))
    assert bounds[-1][0] is None
    assert postgres._window_bounds(now, ascending=True) == bounds[::-1]


async def test_filters_read_the_search_row_which_the_outbox_keeps_fresh(
    router: ShardRouter, indexed: dict[int, UUID], database_url: str
) -> None:
    backend = PostgresSearchBackend(router)
    query = SearchQuery(text="귤따기", has_answers=True)
    assert (await backend.search(query)).hits == []
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as db:
        make_answer(db, indexed[45], make_user(db))
    # Until the row is re-synced the filter reads the indexed state …
    assert (await backend.search(query)).hits == []
    async with router.connection() as conn, conn.transaction():
        from dongne.search.repository import sync_question

        assert await sync_question(conn, indexed[45]) == "indexed"
    # … and then the new one.
    assert [hit.id for hit in (await backend.search(query)).hits] == [indexed[45]]


async def test_common_words_under_narrow_filters_are_not_widened(
    router: ShardRouter, indexed: dict[int, UUID], database_url: str
) -> None:
    backend = PostgresSearchBackend(router)
    # 귤따기 matches 7 questions, fewer than RELAX_BELOW: a rare word, so a
    # typo-like query is widened to similar titles …
    typo = await backend.search(SearchQuery(text="귤따귀 체험"))
    assert typo.relaxed and typo.hits
    # … while a word with many matches under a filter that excludes them all
    # is an honest empty result.
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as db:
        author = make_user(db)
        for n in range(postgres.RELAX_BELOW):
            make_question(db, author, title=f"귤 택배 보내는 방법 {n}", category="living")
    await services.reindex(router)
    narrow, sent = await _recorded_search(router, SearchQuery(text="택배", category="food"))
    assert narrow.hits == [] and not narrow.relaxed
    # The ranking statement itself asked whether the words are common.
    assert len(_ranking(sent)) == 1
    assert not [text for text in sent if text.startswith("SELECT search_words_common")]


def test_filter_lexemes_follow_the_row(
    db: psycopg.Connection[DictRow], indexed: dict[int, UUID]
) -> None:
    def lexemes() -> list[str]:
        row = db.execute(
            "SELECT array(SELECT l FROM unnest(tsvector_to_array(document)) l"
            " WHERE l LIKE '@%%' ORDER BY l) AS l FROM question_search WHERE question_id = %s",
            (indexed[1],),
        ).fetchone()
        assert row is not None
        return list(row["l"])

    assert lexemes() == [
        "@a:0", "@c:travel", "@r:KR-49", "@r:KR-49-01", "@r:KR-49-01-02",
        "@s:open", "@u:normal", "@v:0",
    ]  # fmt: skip
    # Whatever writes the row, the lexemes come from its columns, never twice.
    db.execute(
        "UPDATE question_search SET category = 'food', hashtags = '{귤}' WHERE question_id = %s",
        (indexed[1],),
    )
    assert "@c:food" in lexemes() and "@c:travel" not in lexemes() and "@h:귤" in lexemes()


async def test_no_user_text_spells_a_region_lexeme(
    router: ShardRouter, db: psycopg.Connection[DictRow], indexed: dict[int, UUID]
) -> None:
    """The region filter trusts the index alone: a question elsewhere that
    writes a region's lexeme in its title, hashtags and nickname stays out."""
    spoofer = make_user(db, nickname="@r:KR-49-02")
    elsewhere = make_question(
        db, spoofer, title="@r:KR-49-02 귤따기 @r:KR-49-02-11",
        content="@r:KR-49-02 귤따기 체험 농장을 찾고 있어요. @r:KR-49-02-11",
        hashtags=["@r:KR-49-02", "@r:KR-49-02-11"], region_code="KR-49-01-02",
    )  # fmt: skip
    await services.reindex(router)
    try:
        seogwipo = await region_scope(router, "KR-49-02")
        found = await PostgresSearchBackend(router).search(
            SearchQuery(text="귤따기", regions=tuple(seogwipo))
        )
        assert elsewhere not in {hit.id for hit in found.hits} and found.total == 0
        jeju = await PostgresSearchBackend(router).search(
            SearchQuery(text="귤따기", regions=tuple(await region_scope(router, "KR-49-01")))
        )
        assert elsewhere in {hit.id for hit in jeju.hits}
    finally:
        db.execute("DELETE FROM questions WHERE id = %s", (elsewhere,))
        await services.reindex(router)


@pytest.mark.parametrize("radius_km", [0.3, 2.0, 5.0, 30.0, 100.0])
def test_grid_cells_cover_every_point_of_the_radius(
    db: psycopg.Connection[DictRow], radius_km: float
) -> None:
    centre = GeoFilter(lat=33.45, lng=126.56, radius_km=radius_km)
    cells = set(postgres.grid_cells(centre))
    coarsest = f"@g{len(postgres.GRID_SIZES)}:"
    assert len(cells) <= postgres.MAX_REFINED_CELLS or all(c.startswith(coarsest) for c in cells)
    # Points on rings inside the radius, placed by PostgreSQL's own earth model.
    rows = db.execute(
        "SELECT array(SELECT l FROM unnest(tsvector_to_array(question_search_filter_lexemes("
        " 'KR-49', 'food', '{}', 'open', 'normal', false, false, point(x, y)))) l"
        " WHERE l LIKE '@g%%') AS cells, earth_distance(ll_to_earth(%(lat)s, %(lng)s),"
        " ll_to_earth(y, x)) AS metres"
        " FROM (SELECT %(lng)s + r * cos(a) / cos(radians(%(lat)s)) AS x,"
        "              %(lat)s + r * sin(a) AS y"
        "       FROM unnest(ARRAY[0.2, 0.6, 0.95]) AS f(share),"
        "            LATERAL (SELECT share * %(km)s / 111.32 AS r) d,"
        "            generate_series(0, 350, 10) AS deg, LATERAL (SELECT radians(deg) AS a) b) p",
        {"lat": centre.lat, "lng": centre.lng, "km": radius_km},
    ).fetchall()
    inside = [row for row in rows if row["metres"] <= radius_km * 1000]
    assert len(inside) > 50
    for row in inside:
        assert cells & set(row["cells"]), row


@pytest.mark.parametrize(
    ("lat", "lng"), [(33.43182, 126.66115), (33.49888, 126.52149), (33.26043, 126.56997)]
)
def test_a_radius_cover_is_refined_where_its_cells_stray_outside(
    lat: float, lng: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cells mostly outside the circle give way to those of their halves that
    touch it, and those halves to theirs: the cover mixes sizes, stays within
    its budget, keeps inside each cell it refined only finer cells of it, and
    holds less area outside the circle."""
    near = GeoFilter(lat, lng, 5.0)
    refined = set(postgres.grid_cells(near))
    monkeypatch.setattr(postgres, "MAX_REFINED_CELLS", 0)
    postgres._cover.cache_clear()
    one_size = set(postgres.grid_cells(near))
    monkeypatch.undo()
    postgres._cover.cache_clear()

    def parts(cell: str) -> tuple[int, int, int]:
        level, x, y = (int(part) for part in cell[2:].split(":"))
        return level, x, y

    def within(finer: str, cell: str) -> bool:
        (level, x, y), (fine, fx, fy) = parts(cell), parts(finer)
        return fine < level and (fx >> (level - fine), fy >> (level - fine)) == (x, y)

    assert len({parts(cell)[0] for cell in one_size}) == 1
    assert len({parts(cell)[0] for cell in refined}) >= 2
    assert len(refined) <= postgres.MAX_REFINED_CELLS
    assert one_size - refined
    for cell in one_size - refined:
        assert any(within(finer, cell) for finer in refined)
    for finer in refined - one_size:
        assert any(within(finer, cell) for cell in one_size - refined)
    assert postgres.circle_share(near, list(refined)) > postgres.circle_share(near, list(one_size))


@pytest.mark.parametrize("radius_km", [0.3, 5.0, 100.0])
def test_the_radius_check_agrees_with_earth_distance(
    db: psycopg.Connection[DictRow], radius_km: float
) -> None:
    """The haversine re-check keeps exactly the points earth_distance() keeps,
    on rings just inside and just outside the radius."""
    centre = GeoFilter(lat=33.45, lng=126.56, radius_km=radius_km)
    where, params = postgres._filters(SearchQuery(text="귤", near=centre))
    check = where[-1]
    rows = db.execute(
        f"SELECT {check} AS kept, earth_distance(ll_to_earth(%(lat)s, %(lng)s),"  # noqa: S608
        " ll_to_earth(s.location[1], s.location[0])) <= %(radius_m)s AS within"
        " FROM (SELECT point(%(lng)s + r * cos(a) / cos(radians(%(lat)s)),"
        "                    %(lat)s + r * sin(a)) AS location"
        "       FROM unnest(ARRAY[0.5, 0.99, 0.999, 1.001, 1.01, 1.5]) AS f(share),"
        "            LATERAL (SELECT share * %(km)s / 111.2 AS r) d,"
        "            generate_series(0, 355, 5) AS deg, LATERAL (SELECT radians(deg) AS a) b) s",
        {**params, "km": radius_km, "radius_m": radius_km * 1000},
    ).fetchall()
    assert {row["within"] for row in rows} == {True, False}
    assert all(row["kept"] == row["within"] for row in rows)


async def test_a_search_takes_its_partition_locks_on_the_fast_path(
    router: ShardRouter, spread: dict[int, UUID]
) -> None:
    """A search locks every month partition it plans, with its indexes (~400
    at 28 months, ~90 at the 18 here); the embedded server's
    max_locks_per_transaction gives each backend enough fast-path slots that
    they stay off the shared lock table, which concurrent searches would
    contend on (the default 64 holds fewer than these)."""
    backend = PostgresSearchBackend(router)
    async with router.connection() as conn, conn.transaction():
        await backend.search_on(conn, SearchQuery(text="귤따기", category="food"))
        cursor = await conn.execute(
            "SELECT count(*) FILTER (WHERE fastpath) AS fast,"
            " count(*) FILTER (WHERE NOT fastpath AND locktype = 'relation') AS shared"
            " FROM pg_locks WHERE pid = pg_backend_pid()"
        )
        row = await cursor.fetchone()
    assert row is not None
    assert row["fast"] > 64
    assert row["shared"] < 32


def _single_search_connection(settings: Settings) -> Settings:
    return settings.model_copy(update={"search_pool": PoolSettings(
        min_size=1, max_size=1, statement_timeout_ms=30_000, acquire_timeout_s=5,
        resize_floor=1, resize_ceiling=1,
    )})  # fmt: skip


async def test_a_failed_search_reports_its_error_and_leaves_the_connection_idle(
    settings: Settings, database_url: str, indexed: dict[int, UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One pooled connection: the search after a failed one runs on it (the
    failure: a ranking statement dividing by zero)."""
    router = ShardRouter.from_settings(_single_search_connection(settings), database_url)
    await router.open()
    try:
        backend = PostgresSearchBackend(router)
        monkeypatch.setattr(postgres, "_FACETS", "SELECT to_json(1 / (%(cap)s - %(cap)s))")
        with pytest.raises(psycopg.errors.DivisionByZero):
            await backend.search(SearchQuery(text="귤따기"))
        monkeypatch.undo()
        found = await backend.search(SearchQuery(text="귤따기", sort="newest", limit=50))
        assert set(indexed.values()) <= {hit.id for hit in found.hits}
        async with router.connection(Workload.SEARCH) as conn:
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    finally:
        await router.close()


async def test_searches_beyond_the_search_pool_wait_their_turn(
    settings: Settings, database_url: str, indexed: dict[int, UUID]
) -> None:
    """The search pool is the admission queue: with one connection, six
    searches at once queue for it, each holds it for its statements alone,
    and every one answers as it would alone."""
    router = ShardRouter.from_settings(_single_search_connection(settings), database_url)
    await router.open()
    try:
        backend = PostgresSearchBackend(router)
        queries = [
            SearchQuery(text="귤따기", sort="newest", limit=50),
            SearchQuery(text="귤따기", category="food"),
            SearchQuery(text="체험"),
        ] * 2
        alone = [await backend.search(query) for query in queries]
        together = await asyncio.gather(*(backend.search(query) for query in queries))
        assert [[hit.id for hit in r.hits] for r in together] == [
            [hit.id for hit in r.hits] for r in alone
        ]
        assert [r.total for r in together] == [r.total for r in alone]
        (pool,) = [p for _, workload, _, p in router.pools() if workload is Workload.SEARCH]
        stats = pool.get_stats()
        assert pool.max_size == 1
        assert stats["requests_queued"] >= 1
    finally:
        await router.close()


async def test_a_rare_query_runs_on_one_plan_per_connection_with_the_same_answers(
    settings: Settings,
    database_url: str,
    router: ShardRouter,
    db: psycopg.Connection[DictRow],
    indexed: dict[int, UUID],
) -> None:
    """With the frequent list expecting few matches in the newest window, the
    all-windows statement names each partition and, once psycopg has
    prepared it, runs on a generic plan; the answers are those of the
    windows planned for their values."""
    _list_exactly(db, {"": 1000})
    query = SearchQuery(text="귤따기 체험", sort="newest", limit=50)
    async with router.connection() as conn, conn.transaction():
        custom = await PostgresSearchBackend(router, FrequentLexemes()).search_on(conn, query)
    single = ShardRouter.from_settings(_single_search_connection(settings), database_url)
    await single.open()
    try:
        backend = PostgresSearchBackend(single, FrequentLexemes(), SearchPartitions())
        results = [await backend.search(query) for _ in range(7)]
        async with single.connection(Workload.SEARCH) as conn:
            cursor = await conn.execute(
                "SELECT statement LIKE '%%uuid_send%%' AS once, sum(generic_plans) AS generic,"
                " sum(custom_plans) AS custom FROM pg_prepared_statements"
                " WHERE statement LIKE '%%WITH c AS MATERIALIZED%%' GROUP BY 1"
            )
            rows = await cursor.fetchall()
    finally:
        await single.close()
    plans = {row["once"]: (row["generic"], row["custom"]) for row in rows}
    assert plans[True][0] >= 1 and plans[True][1] == 0
    assert plans.get(False, (0, 0))[0] == 0
    assert set(indexed.values()) <= {hit.id for hit in custom.hits}
    for result in results:
        assert [hit.id for hit in result.hits] == [hit.id for hit in custom.hits]
        assert (result.total, result.facets) == (custom.total, custom.facets)


@pytest.mark.parametrize("case", ["empty list", "time range", "transaction"])
async def test_a_search_is_planned_for_its_values_when_a_generic_plan_could_mislead(
    settings: Settings,
    database_url: str,
    db: psycopg.Connection[DictRow],
    indexed: dict[int, UUID],
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    """No plan made once while the frequent list is empty (a frequent word
    would read whole partitions), with a time range (its id condition would
    read the primary key), or inside a transaction (nothing to switch)."""
    _list_exactly(db, {} if case == "empty list" else {"": 1000})
    sent: list[str] = []
    ranking = postgres._execute_ranking

    async def recording_ranking(conn: Any, statement: str, params: dict[str, Any]) -> Any:
        sent.append(statement)
        return await ranking(conn, statement, params)

    monkeypatch.setattr(postgres, "_execute_ranking", recording_ranking)
    since = datetime.now(UTC) - timedelta(days=3000)
    query = SearchQuery(text="귤따기", created_from=since if case == "time range" else None)
    single = ShardRouter.from_settings(_single_search_connection(settings), database_url)
    await single.open()
    try:
        backend = PostgresSearchBackend(single, FrequentLexemes(), SearchPartitions())
        if case == "transaction":
            async with single.connection(Workload.SEARCH) as conn, conn.transaction():
                result = await backend.search_on(conn, query)
        else:
            result = await backend.search(query)
    finally:
        await single.close()
    assert set(indexed.values()) <= {hit.id for hit in result.hits}
    assert sent and not [text for text in sent if "uuid_send" in text]


async def test_a_partition_merged_away_since_the_list_was_read_costs_one_custom_plan(
    router: ShardRouter, db: psycopg.Connection[DictRow], indexed: dict[int, UUID]
) -> None:
    """A statement naming a partition that no longer exists fails in
    PostgreSQL; the search is then planned for its values and answers in
    full, and the list is read again."""

    class Stale(SearchPartitions):
        forgotten = 0

        async def of(self, conn: Any) -> list[SearchPartition] | None:
            found = await super().of(conn)
            gone = SearchPartition("question_search_y1999m01", UUID(int=1 << 80))
            return found if self.forgotten else [*(found or []), gone]

        def forget(self, conn: Any) -> None:
            self.forgotten += 1
            super().forget(conn)

    _list_exactly(db, {"": 1000})
    stale = Stale()
    backend = PostgresSearchBackend(router, FrequentLexemes(), stale)
    result = await backend.search(SearchQuery(text="귤따기", sort="newest", limit=50))
    assert stale.forgotten == 1
    assert set(indexed.values()) <= {hit.id for hit in result.hits}
    again = await backend.search(SearchQuery(text="귤따기", sort="newest", limit=50))
    assert [hit.id for hit in again.hits] == [hit.id for hit in result.hits]
    assert stale.forgotten == 1


def test_the_search_pool_is_sized_to_the_cores_and_never_resized() -> None:
    """About twice the cores: more searches at once only share the cores.
    Waiting for it is the queue, so the resizer never grows it; and it never
    shrinks, so a burst after a quiet spell finds every connection warm."""
    pool = Settings().search_pool
    size = 2 * (os.cpu_count() or 1)
    assert (pool.min_size, pool.max_size) == (size, size)
    assert resize_bounds(pool) == (size, size)


def test_the_frequent_list_counts_the_lexemes_and_rows_of_the_newest_window(
    db: psycopg.Connection[DictRow], indexed: dict[int, UUID]
) -> None:
    """Words and filter lexemes in at least ``threshold`` rows since an id, and
    under the empty lexeme the rows themselves."""
    since = postgres.id_floor(datetime.now(UTC) - timedelta(days=30))
    listed = db.execute("SELECT refresh_search_frequent_lexemes(%s, 2) AS n", (since,)).fetchone()
    rows = _frequent_list(db)
    assert listed is not None and listed["n"] == len(rows)
    total = db.execute(
        "SELECT count(*) AS n FROM question_search WHERE question_id >= %s", (since,)
    ).fetchone()
    assert total is not None and rows[""] == total["n"]
    # The questions of 1 and 2 days ago: both within 30 days, so listed with 2.
    assert rows["체험"] >= 2 and rows["@c:travel"] >= 2
    assert all(documents >= 2 for documents in rows.values())
    older = postgres.id_floor(datetime.now(UTC) - timedelta(days=600))
    db.execute("SELECT refresh_search_frequent_lexemes(%s, 1000000)", (older,))
    everything = db.execute("SELECT count(*) AS n FROM question_search").fetchone()
    assert everything is not None and _frequent_list(db) == {"": everything["n"]}


def _frequent_list(db: psycopg.Connection[DictRow]) -> dict[str, int]:
    rows = db.execute("SELECT lexeme, documents FROM search_frequent_lexemes").fetchall()
    return {r["lexeme"]: r["documents"] for r in rows}


def _list_exactly(db: psycopg.Connection[DictRow], documents: dict[str, int]) -> None:
    db.execute("DELETE FROM search_frequent_lexemes")
    for lexeme, count in documents.items():
        db.execute("INSERT INTO search_frequent_lexemes VALUES (%s, %s)", (lexeme, count))


@pytest.mark.parametrize(
    ("words", "filters", "fills"),
    [
        (["'a'"], [], True),  # 500 of 1 000 rows
        (["'a'"], [["@c:food"]], False),  # 500 × 10 %
        (["'a'"], [["@r:KR-49-01", "@r:KR-49-02"]], True),  # 500 × 60 %
        (["'a' | 'b'"], [["@r:KR-49-02"]], False),  # 500 × 20 %
        (["'a' | 'b'"], [], True),  # alternatives: at least the more frequent
        (["('a') & ('b')"], [], False),  # a compound: at most its rarer part
        (["'b'"], [], False),  # off the list: under 50
        (["'a'", "'b'"], [], False),  # the rarer word bounds
        (["('a' | 'zz':*)"], [["@nowhere"]], False),  # a filter off the list: under 5 %
    ],
)
async def test_the_newest_window_is_read_alone_when_words_and_filters_may_fill_it(
    router: ShardRouter,
    db: psycopg.Connection[DictRow],
    words: list[str],
    filters: list[list[str]],
    fills: bool,
) -> None:
    _list_exactly(db, {"": 1000, "a": 500, "@c:food": 100, "@r:KR-49-01": 400, "@r:KR-49-02": 200})
    async with router.connection() as conn:
        assert (
            (await FrequentLexemes().shares(conn, words, filters)).expected_rows >= 200
        ) is fills
        db.execute("DELETE FROM search_frequent_lexemes")
        assert (await FrequentLexemes().shares(conn, words, filters)).expected_rows == 0


async def test_a_word_off_the_frequent_list_skips_the_newest_window_alone(
    router: ShardRouter, db: psycopg.Connection[DictRow], indexed: dict[int, UUID]
) -> None:
    """Same results either way; one ranking statement instead of two."""

    async def searched(documents: dict[str, int]) -> tuple[list[UUID], list[str]]:
        _list_exactly(db, documents)
        query = SearchQuery(text="귤따기", sort="newest")
        result, sent = await _recorded_search(
            router, query, PostgresSearchBackend(router, FrequentLexemes())
        )
        # The last ranking statement brings the page's rows itself.
        assert not [text for text in sent if text.startswith("SELECT * FROM search_page_rows")]
        return [hit.id for hit in result.hits], _ranking(sent)

    listed, ranking = await searched({"": 1000, "귤": 500, "따다": 500, "귤따기": 500})
    assert "NULL::uuid[] AS ids" not in ranking[0]  # the newest window alone
    unlisted, all_windows = await searched({"": 1000})
    assert len(all_windows) == len(ranking) - 1
    assert "NULL::uuid[] AS ids" in all_windows[0]  # every window at once
    assert listed == unlisted and set(indexed.values()) <= set(listed)


def test_a_frequent_query_reads_a_narrower_newest_window_alone() -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    month = postgres.window_edges(now)[0]
    assert postgres.narrow_edge(now, 0) is None
    assert postgres.narrow_edge(now, 300) is None  # the whole window: under 2 × 200
    # 4 000 expected over 25.5 days: a tenth of them holds 400.
    edge = postgres.narrow_edge(now, 4000)
    assert edge == postgres.id_floor(now - (now - datetime(2026, 11, 1, tzinfo=UTC)) / 10)
    assert postgres.narrow_edge(now, 10**9) == postgres.id_floor(now - timedelta(days=1))
    bounds = postgres._window_bounds(now, ascending=False, first_edge=edge)
    assert bounds[0] == (edge, postgres.id_floor(now + postgres.CLOCK_SLACK))
    assert bounds[1] == (month, edge)
    assert all(newer[0] == older[1] for newer, older in pairwise(bounds))
    assert bounds[-1][0] is None


async def test_a_narrowed_newest_window_finds_what_the_whole_one_finds(
    router: ShardRouter,
    db: psycopg.Connection[DictRow],
    indexed: dict[int, UUID],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The newest day alone holds too few, so the rest follows: same results."""
    monkeypatch.setattr(postgres, "CANDIDATE_LIMIT", 3)
    narrowed, whole = await _newest_with_and_without_list(router, db, "귤따기", "귤", 10)
    assert narrowed == whole == [indexed[age] for age in AGES[:3]]


async def _newest_with_and_without_list(
    router: ShardRouter, db: psycopg.Connection[DictRow], text: str, frequent: str, limit: int
) -> tuple[list[UUID], list[UUID]]:
    """The newest hits for ``text`` with ``frequent`` on the frequent list (so
    the newest window is narrowed and read alone first), then with none."""
    found = []
    for counts in ({"": 1000, frequent: 10**6}, {}):
        _list_exactly(db, counts)
        backend = PostgresSearchBackend(router, FrequentLexemes())
        result = await backend.search(SearchQuery(text=text, sort="newest", limit=limit))
        assert not result.relaxed
        found.append([hit.id for hit in result.hits])
    return found[0], found[1]


async def test_a_common_word_is_checked_on_the_rows_the_index_finds(
    router: ShardRouter, db: psycopg.Connection[DictRow], indexed: dict[int, UUID]
) -> None:
    """With 수확 in most rows, the index reads 한라봉 alone and 수확 is checked
    on its rows: the same questions as when the index reads both."""
    author = make_user(db, nickname="한라봉농부")
    # Enough matches that the search does not widen to either word alone.
    harvest = {
        make_question(db, author, title=f"한라봉 수확 체험 가능한 곳 {i}", category="travel")
        for i in range(postgres.RELAX_BELOW)
    }
    make_question(db, author, title="한라봉 택배 가격 문의드려요", category="travel")
    await services.reindex(router)

    async def searched(documents: dict[str, int]) -> tuple[list[UUID], list[str]]:
        _list_exactly(db, documents)
        query = SearchQuery(text="한라봉 수확", category="travel")
        result, sent = await _recorded_search(
            router, query, PostgresSearchBackend(router, FrequentLexemes())
        )
        assert not result.relaxed
        return [hit.id for hit in result.hits], _ranking(sent)

    split, ranking = await searched({"": 1000, "수확": 900, "@c:travel": 100})
    assert "ts_match_vq" in ranking[0]
    whole, ranking = await searched({"": 1000})
    assert "ts_match_vq" not in ranking[0]
    assert split == whole and set(split) == harvest


async def test_a_narrowed_search_that_falls_back_reaches_the_oldest_window(
    router: ShardRouter,
    db: psycopg.Connection[DictRow],
    indexed: dict[int, UUID],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Questions from the newest day to over two years back: with room for all
    of them, the narrowed search and the whole one find every one."""
    author = make_user(db, nickname="동백지기")
    # More than RELAX_BELOW, so a shortfall is not covered up by widening.
    ages = [1, 2, 3, 5, 8, 13, 40, 60, 400, 450, 800, 900]
    spread = make_aged_questions(db, author, ages, "동백꽃 명소 추천해 주세요 ({age}일 전)")
    await services.reindex(router)
    monkeypatch.setattr(postgres, "CANDIDATE_LIMIT", 20)
    narrowed, whole = await _newest_with_and_without_list(router, db, "동백꽃", "동백꽃", 20)
    assert narrowed == whole == [spread[age] for age in ages]


def test_a_map_filter_counts_only_the_circles_share_of_its_cells() -> None:
    near = GeoFilter(33.43182, 126.66115, 5)
    cells = postgres.grid_cells(near)
    sizes = [postgres.GRID_SIZES[int(cell.split(":")[0][2:]) - 1] for cell in cells]
    km2 = sum((size * 111.32) ** 2 * math.cos(math.radians(near.lat)) for size in sizes)
    assert postgres.circle_share(near, cells) == pytest.approx(math.pi * 25 / km2)
    assert 0.1 < postgres.circle_share(near, cells) < 0.8
    # The coarsest cells can lie inside a vast circle: never more than all.
    wide = GeoFilter(33.4, 126.5, 500)
    assert postgres.circle_share(wide, postgres.grid_cells(wide)) <= 1.0
    assert postgres.circle_share(near, []) == 1.0


@pytest.mark.parametrize("sort", ["newest", "oldest", "popularity", "most_answers", "urgent"])
async def test_other_sorts_show_each_hit_with_its_relevance_score(
    router: ShardRouter, indexed: dict[int, UUID], sort: str
) -> None:
    """Sorted otherwise, a search scores only the page's rows: the same
    score each would have under relevance."""
    backend = PostgresSearchBackend(router)
    relevance = await backend.search(SearchQuery(text="귤따기 체험", limit=50))
    scores = {hit.id: hit.score for hit in relevance.hits}
    sorted_otherwise = await backend.search(SearchQuery(text="귤따기 체험", sort=sort, limit=5))
    assert sorted_otherwise.hits and len(scores) > len(sorted_otherwise.hits)
    assert all(hit.score == scores[hit.id] for hit in sorted_otherwise.hits)


async def test_the_ranking_statement_is_prepared_but_planned_for_each_search(
    router: ShardRouter,
    database_url: str,
    db: psycopg.Connection[DictRow],
    indexed: dict[int, UUID],
) -> None:
    """Once a connection has run the ranking statement's shape often enough,
    it is prepared (its text is parsed once), and still every search gets a
    plan for its own words: never the generic plan, which for a rare word
    would be the frequent word's. (A connection of its own, whose count of
    executions no earlier test has filled, and a frequent list listing no
    word, which gives every search the same strict shape. Whether a search
    widens too depends on what earlier tests added, so each word runs
    twice: the strict statement runs well past psycopg's five.)"""
    _list_exactly(db, {"": 1000})
    backend = PostgresSearchBackend(router, FrequentLexemes())
    words = ["귤따기", "농장", "체험", "추천", "아이들", "귤", "부탁"]
    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, row_factory=dict_row
    ) as conn:
        for word in words * 2:
            async with conn.transaction():
                await backend.search_on(conn, SearchQuery(text=word, category="travel"))
        cursor = await conn.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE %s",
            ("%WITH c AS MATERIALIZED%",),
        )
        plans = await cursor.fetchall()
    assert plans
    assert sum(row["generic_plans"] for row in plans) == 0
    assert sum(row["custom_plans"] for row in plans) >= 3


async def test_each_word_and_filter_group_is_its_own_index_condition(
    router: ShardRouter, indexed: dict[int, UUID]
) -> None:
    """GIN leaps separate conditions over each other's items; one tsquery
    would walk every item of its rarest entries (a map filter's cells)."""
    query = SearchQuery(text="귤따기 체험", category="travel")
    result, sent = await _recorded_search(router, query)
    [ranking, *_] = _ranking(sent)
    first_branch = ranking.split("UNION ALL")[0]
    assert first_branch.count("s.document @@ %(every") >= 3  # each word, and the category
    assert set(indexed.values()) <= {hit.id for hit in result.hits}


@pytest.mark.parametrize("threshold", [5, None])
async def test_a_search_sets_its_settings_in_a_transaction_only_behind_a_pooler(
    settings: Settings,
    database_url: str,
    indexed: dict[int, UUID],
    monkeypatch: pytest.MonkeyPatch,
    threshold: int | None,
) -> None:
    """With prepared statements off (a transaction-mode pooler, which hands
    each transaction any server connection) the search pool's session
    settings cannot be trusted: the search sets them for its transaction."""
    sent: list[str] = []
    real = psycopg.AsyncConnection.execute
    ranking = postgres._execute_ranking

    async def recording(self: Any, statement: Any, params: Any = None, **options: Any) -> Any:
        sent.append(statement.decode() if isinstance(statement, bytes) else str(statement))
        return await real(self, statement, params, **options)

    async def recording_ranking(conn: Any, statement: str, params: dict[str, Any]) -> Any:
        sent.append(statement)
        return await ranking(conn, statement, params)

    router = ShardRouter.from_settings(
        settings.model_copy(update={"db_prepare_threshold": threshold}), database_url
    )
    await router.open()
    try:
        monkeypatch.setattr(psycopg.AsyncConnection, "execute", recording)
        monkeypatch.setattr(postgres, "_execute_ranking", recording_ranking)
        found = await PostgresSearchBackend(router).search(SearchQuery(text="귤따기"))
        monkeypatch.undo()
        assert set(indexed.values()) <= {hit.id for hit in found.hits}
        assert any("SET LOCAL enable_seqscan = off" in text for text in sent) is (threshold is None)
        assert _ranking(sent)
    finally:
        await router.close()
