"""The default backend: Kiwi tokens in a weighted tsvector, pg_trgm for typos.

Matching follows the seed's Elasticsearch query (``operator: and``): a
question matches when it contains every word of the query (each word as
itself, its region short form, its synonyms, or — for a compound — all of
its parts; the last word also as a prefix), or when its title is
trigram-similar to the query (the seed's ``title.ngram`` + ``fuzziness``).
When fewer than ``RELAX_BELOW`` questions match that way, questions matching
*some* of the words are admitted and ranked below (``relaxed``).

Ranking never scores every match. Each matching tier contributes at most
``CANDIDATE_LIMIT`` candidates (the newest matches for words; the most
similar titles for trigrams), and only those are ranked: word coverage first,
then ``ts_rank`` with the seed's field weights (title 3, hashtags 2, content
1, nickname 1), then title similarity. A term in half the corpus costs what a
rare one does, at the price that a frequent term ranks among its newest
thousand matches only — the right trade-off for a Q&A where recent answers
matter.

Visibility and counters always come from ``questions`` itself (joined by
primary key), so a hidden or deleted question never appears even while its
search row waits for the outbox.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from psycopg.rows import DictRow

from dongne.api.cursors import decode_cursor, encode_cursor
from dongne.db.router import ShardRouter, Workload
from dongne.search.analysis import (
    fragments,
    mark,
    normalize_query,
    query_units,
    unit_terms,
    unit_tsquery,
)
from dongne.search.contract import (
    CANDIDATE_LIMIT,
    FACET_SIZES,
    TOTAL_LIMIT,
    FacetBucket,
    SearchHit,
    SearchQuery,
    SearchResult,
    validate,
)

RELAX_BELOW = 10
# Title similarity (pg_trgm word_similarity) needed to match without the words.
TRIGRAM_THRESHOLD = 0.5
LOOSE_TRIGRAM_THRESHOLD = 0.3
# ts_rank weights {D, C, B, A}: the seed's nickname 1, content 1, hashtags 2, title 3.
_WEIGHTS = "{0.333,0.333,0.667,1.0}"

_SORT_KEYS: dict[str, tuple[str, str, Any] | None] = {
    # sort → (key expression, its SQL type, cursor value parser); None = id only
    "newest": None,
    "oldest": None,
    "relevance": ("score", "double precision", float),
    "popularity": (
        "question_popularity_key(q.view_count, q.answer_count, q.like_count, q.urgency,"
        " q.created_at)",
        "double precision",
        float,
    ),
    "most_answers": ("q.answer_count", "integer", int),
    "most_views": ("q.view_count", "integer", int),
    "urgent": ("q.urgency", "question_urgency", str),
}

_COLUMNS = """
    q.id, q.title, q.content, q.hashtags, q.region_code, q.category, q.urgency::text AS urgency,
    q.status::text AS status, q.answer_count, q.view_count, q.like_count, q.created_at,
    u.nickname AS author_nickname, u.is_local_verified AS author_verified
"""

_FILTERS = """
    q.deleted_at IS NULL AND q.status <> 'hidden'
    AND q.status::text = ANY(%(statuses)s)
    AND (%(regions)s::varchar[] IS NULL OR q.region_code = ANY(%(regions)s))
    AND (%(category)s::varchar IS NULL OR q.category = %(category)s)
    AND (cardinality(%(hashtags)s::text[]) = 0 OR q.hashtags && %(hashtags)s::text[])
    AND (%(urgency)s::text IS NULL OR q.urgency::text = %(urgency)s)
    AND (%(has_answers)s::boolean IS NULL OR (q.answer_count > 0) = %(has_answers)s)
    AND (NOT %(local_only)s OR u.is_local_verified)
    AND (%(created_from)s::timestamptz IS NULL OR q.created_at >= %(created_from)s)
    AND (%(created_to)s::timestamptz IS NULL OR q.created_at <= %(created_to)s)
    AND (%(within)s::uuid[] IS NULL OR q.id = ANY(%(within)s))
    AND (%(lat)s::float8 IS NULL OR (
        q.location IS NOT NULL
        AND earth_box(ll_to_earth(%(lat)s, %(lng)s), %(radius_m)s)
            @> ll_to_earth(q.location[1], q.location[0])
        AND earth_distance(ll_to_earth(%(lat)s, %(lng)s),
                           ll_to_earth(q.location[1], q.location[0])) <= %(radius_m)s))
"""

# Words: every unit ("all") or, relaxed, any unit. Title: trigram similarity.
_WORDS_MATCH = "(%({q})s::tsquery IS NOT NULL AND s.document @@ %({q})s::tsquery)"
_TITLE_MATCH = "%(raw)s <%% s.title"

_JOINS = """
    FROM question_search s
    JOIN questions q ON q.id = s.question_id
    JOIN users u ON u.id = q.user_id
"""


def _params(query: SearchQuery) -> dict[str, Any]:
    near = query.near
    return {
        "statuses": list(query.statuses),
        "within": list(query.within) if query.within is not None else None,
        "regions": list(query.regions) if query.regions is not None else None,
        "category": query.category,
        # PostgreSQL text cannot hold NUL; no real hashtag contains one.
        "hashtags": [tag.replace("\x00", "") for tag in query.hashtags],
        "urgency": query.urgency,
        "has_answers": query.has_answers,
        "local_only": query.local_only,
        "created_from": query.created_from,
        "created_to": query.created_to,
        "lat": near.lat if near else None,
        "lng": near.lng if near else None,
        "radius_m": near.radius_km * 1000 if near else None,
    }


class PostgresSearchBackend:
    name = "postgres"

    def __init__(self, router: ShardRouter) -> None:
        self._router = router

    async def search(self, query: SearchQuery) -> SearchResult:
        async with self._router.connection(Workload.READ) as conn, conn.transaction():
            return await self.search_on(conn, query)

    async def search_on(self, conn: Any, query: SearchQuery) -> SearchResult:
        """Search on a connection already inside a transaction (tests, evaluation)."""
        started = time.perf_counter()
        validate(query)
        text = normalize_query(query.text)
        units = query_units(text)
        raw = text.lower()
        params = _params(query)
        n = len(units)
        params.update(
            all=" & ".join(f"({unit_tsquery(u, prefix=i == n - 1)})" for i, u in enumerate(units))
            or None,
            any=" | ".join(f"({unit_tsquery(u, prefix=i == n - 1)})" for i, u in enumerate(units))
            or None,
            units=[unit_tsquery(u, prefix=i == n - 1) for i, u in enumerate(units)],
            n_units=max(n, 1),
            raw=raw,
            cap=CANDIDATE_LIMIT,
            total_cap=TOTAL_LIMIT + 1,
        )
        terms = [t for u in units for t in unit_terms(u)]
        terms += [w for w in raw.split() if len(w) >= 2]
        # Scoped to this transaction: the pooled connection keeps its defaults.
        await conn.execute(
            "SELECT set_config('pg_trgm.word_similarity_threshold', %s, true)",
            (str(TRIGRAM_THRESHOLD),),
        )
        words = _WORDS_MATCH.format(q="all")
        total = await self._count(conn, f"({words} OR {_TITLE_MATCH})", params)
        relaxed = False
        if total < RELAX_BELOW and n > 1:
            relaxed_words = _WORDS_MATCH.format(q="any")
            relaxed_total = await self._count(conn, f"({relaxed_words} OR {_TITLE_MATCH})", params)
            if relaxed_total > total:
                words, total, relaxed = relaxed_words, relaxed_total, True
        if total == 0:
            # Nothing matched at all: a misspelling is the likely cause, so
            # accept titles that are only loosely similar (스노쿨링 → 스노클링).
            await conn.execute(
                "SELECT set_config('pg_trgm.word_similarity_threshold', %s, true)",
                (str(LOOSE_TRIGRAM_THRESHOLD),),
            )
            total = await self._count(conn, f"({words} OR {_TITLE_MATCH})", params)
            relaxed = total > 0
        match = f"({words} OR {_TITLE_MATCH})"
        tier = words
        # Fixed fragments only (allow-listed); every value is a parameter.
        candidates = f"""
            SELECT question_id FROM (
                (SELECT s.question_id {_JOINS}
                 WHERE {tier} AND {_FILTERS}
                 ORDER BY s.question_id DESC LIMIT %(cap)s)
                UNION
                (SELECT s.question_id {_JOINS}
                 WHERE {_TITLE_MATCH} AND {_FILTERS}
                 ORDER BY word_similarity(%(raw)s, s.title) DESC, s.question_id DESC
                 LIMIT %(cap)s)
            ) c
        """  # noqa: S608
        rows = await self._page(conn, query, candidates, match, params)
        facets = await self._facets(conn, candidates, params) if query.facets else {}
        next_cursor = None
        if len(rows) > query.limit:
            rows = rows[: query.limit]
            next_cursor = _cursor_for(query.sort, rows[-1])
        hits = [_hit(row, terms if query.highlight else None) for row in rows]
        return SearchResult(
            hits=hits,
            total=min(total, TOTAL_LIMIT),
            total_exact=total <= TOTAL_LIMIT,
            took_ms=round((time.perf_counter() - started) * 1000, 2),
            next_cursor=next_cursor,
            facets=facets,
            relaxed=relaxed,
        )

    async def _count(self, conn: Any, match: str, params: dict[str, Any]) -> int:
        statement = f"""
            SELECT count(*) AS n FROM (SELECT 1 {_JOINS} WHERE {match} AND {_FILTERS}
                                       LIMIT %(total_cap)s) m
        """  # noqa: S608 - fixed fragments; values are parameters
        row = await (await conn.execute(statement.encode(), params)).fetchone()
        return int(row["n"])

    async def _page(
        self, conn: Any, query: SearchQuery, candidates: str, match: str, params: dict[str, Any]
    ) -> list[DictRow]:
        spec = _SORT_KEYS[query.sort]
        params["limit"] = query.limit + 1
        score = f"""
            ((SELECT count(*) FROM unnest(%(units)s::tsquery[]) AS t(u) WHERE s.document @@ t.u)
               ::float8 / %(n_units)s
             + CASE WHEN %(any)s::tsquery IS NULL THEN 0
                    ELSE ts_rank('{_WEIGHTS}', s.document, %(any)s::tsquery, 1) END
             + 0.5 * word_similarity(%(raw)s, s.title))
        """  # noqa: S608 - fixed fragments; values are parameters
        if query.sort == "relevance":
            source = (
                f"FROM ({candidates}) c JOIN question_search s USING (question_id)"
                " JOIN questions q ON q.id = s.question_id JOIN users u ON u.id = q.user_id"
            )
            where = _FILTERS
        else:
            source = _JOINS
            where = f"{match} AND {_FILTERS}"
        inner = f"SELECT {_COLUMNS}, {score} AS score {source} WHERE {where}"
        order_dir = "ASC" if query.sort == "oldest" else "DESC"
        cmp = ">" if query.sort == "oldest" else "<"
        cursor_clause = ""
        if spec is None:
            order = f"id {order_dir}"
            if query.cursor:
                (last_id,) = decode_cursor(query.cursor, f"search:{query.sort}", (UUID,))
                params["after_id"] = last_id
                cursor_clause = f"WHERE id {cmp} %(after_id)s::uuid"
        else:
            key_expr, key_type, parser = spec
            key_col = "score" if query.sort == "relevance" else "sort_key"
            if query.sort != "relevance":
                inner = inner.replace(" AS score ", f" AS score, {key_expr} AS sort_key ", 1)
            order = f"{key_col} DESC, id DESC"
            if query.cursor:
                last_key, last_id = decode_cursor(
                    query.cursor, f"search:{query.sort}", (parser, UUID)
                )
                params["after_key"], params["after_id"] = last_key, last_id
                cursor_clause = (
                    f"WHERE ({key_col}, id) < (%(after_key)s::{key_type}, %(after_id)s::uuid)"
                )
        statement = f"""
            SELECT * FROM ({inner}) r {cursor_clause} ORDER BY {order} LIMIT %(limit)s
        """  # noqa: S608 - allow-listed fragments only
        rows: list[DictRow] = await (await conn.execute(statement.encode(), params)).fetchall()
        return rows

    async def _facets(
        self, conn: Any, candidates: str, params: dict[str, Any]
    ) -> dict[str, list[FacetBucket]]:
        statement = f"""
            WITH m AS ({candidates})
            SELECT facet, key, n FROM (
                SELECT facet, key, count(*) AS n,
                       row_number() OVER (PARTITION BY facet ORDER BY count(*) DESC, key) AS rn
                FROM (
                    SELECT 'categories' AS facet, q.category::text AS key
                    FROM m JOIN questions q ON q.id = m.question_id
                    UNION ALL
                    SELECT 'regions', q.region_code::text
                    FROM m JOIN questions q ON q.id = m.question_id
                    UNION ALL
                    SELECT 'hashtags', tag
                    FROM m JOIN questions q ON q.id = m.question_id, unnest(q.hashtags) AS tag
                ) x GROUP BY facet, key
            ) y
            WHERE rn <= CASE facet WHEN 'categories' THEN %(f_categories)s
                                   WHEN 'regions' THEN %(f_regions)s ELSE %(f_hashtags)s END
            ORDER BY facet, n DESC, key
        """  # noqa: S608 - fixed fragments only
        params.update({f"f_{name}": size for name, size in FACET_SIZES.items()})
        rows = await (await conn.execute(statement.encode(), params)).fetchall()
        facets: dict[str, list[FacetBucket]] = {name: [] for name in FACET_SIZES}
        for row in rows:
            facets[row["facet"]].append(FacetBucket(row["key"], int(row["n"])))
        return facets


def _cursor_for(sort: str, row: dict[str, Any]) -> str:
    if _SORT_KEYS[sort] is None:
        return encode_cursor(f"search:{sort}", [str(row["id"])])
    key = row["score"] if sort == "relevance" else row["sort_key"]
    return encode_cursor(f"search:{sort}", [key, str(row["id"])])


def _hit(row: dict[str, Any], terms: list[str] | None) -> SearchHit:
    highlight: dict[str, Any] = {}
    if terms is not None:
        highlight = {
            "title": mark(row["title"], terms),
            "content": fragments(row["content"], terms),
        }
    return SearchHit(
        id=row["id"], title=row["title"], content=row["content"], hashtags=list(row["hashtags"]),
        region_code=row["region_code"], category=row["category"], urgency=row["urgency"],
        status=row["status"], answer_count=row["answer_count"], view_count=row["view_count"],
        like_count=row["like_count"], created_at=row["created_at"],
        author_nickname=row["author_nickname"], author_verified=row["author_verified"],
        score=float(row["score"]) if row.get("score") is not None else None,
        highlight=highlight,
    )  # fmt: skip
