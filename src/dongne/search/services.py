"""Search use cases beyond ranking: autocomplete, trending keywords, rebuild and drift check."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dongne.config import Settings
from dongne.db.router import ShardRouter, Workload
from dongne.search import frequency, repository
from dongne.search.analysis import is_choseong, normalize_query
from dongne.search.contract import SearchBackend
from dongne.search.postgres import PostgresSearchBackend, merged_before, window_edges

if TYPE_CHECKING:
    from dongne.search.external import IndexBuilder

SUGGEST_MAX = 10
TRENDING_TOP = 15
WINDOWS = {"24h": "24 hours", "7d": "7 days"}


_ES_BACKENDS: dict[tuple[str, str], SearchBackend] = {}


def backend_for(settings: Settings, router: ShardRouter) -> SearchBackend:
    """The configured backend; PostgreSQL unless Elasticsearch is configured."""
    if settings.search_backend == "elasticsearch":
        if not settings.elasticsearch_url:
            raise ValueError("DONGNE_SEARCH_BACKEND=elasticsearch needs DONGNE_ELASTICSEARCH_URL")
        key = (settings.elasticsearch_url, settings.elasticsearch_index)
        if key not in _ES_BACKENDS:
            # One client per process: it pools its HTTP connections.
            from dongne.search.elasticsearch import ElasticsearchSearchBackend

            _ES_BACKENDS[key] = ElasticsearchSearchBackend.connect(*key)
        return _ES_BACKENDS[key]
    return PostgresSearchBackend(router)


def _like_prefix(text: str) -> str:
    """A LIKE pattern matching ``text`` literally at the start."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@dataclass(frozen=True)
class Suggestion:
    text: str
    type: str  # region | hashtag | question
    region_code: str | None
    question_id: str | None = None


_SUGGEST = """
(SELECT r.name AS text, 'region' AS type, r.code AS region_code, NULL::text AS question_id,
        (r.code = ANY(%(scope)s))::int AS boost, 3 AS kind_rank, 0::float8 AS weight
 FROM regions r
 WHERE r.is_active AND r.region_type IN ('city', 'district')
   AND CASE WHEN %(choseong)s THEN hangul_initials(r.name) LIKE %(pattern)s
            ELSE r.name LIKE %(pattern)s END
 ORDER BY r.code LIMIT %(limit)s)
UNION ALL
(SELECT h.normalized_name, 'hashtag', NULL, NULL,
        (EXISTS (SELECT 1 FROM question_hashtags qh WHERE qh.hashtag_id = h.id
                 AND qh.region_code = ANY(%(scope)s)))::int,
        2, h.usage_count::float8
 FROM hashtags h
 WHERE h.usage_count > 0
   AND CASE WHEN %(choseong)s THEN hangul_initials(h.normalized_name) LIKE %(pattern)s
            ELSE h.normalized_name LIKE lower(%(pattern)s) END
 ORDER BY h.usage_count DESC, h.normalized_name LIMIT %(limit)s)
UNION ALL
(SELECT s.title, 'question', s.region_code, s.question_id::text,
        (s.region_code = ANY(%(scope)s))::int, 1, q.answer_count::float8
 FROM question_search s JOIN questions q ON q.id = s.question_id
 WHERE NOT %(choseong)s AND q.deleted_at IS NULL AND q.status <> 'hidden'
   AND (s.title LIKE %(pattern)s OR s.title LIKE %(word_pattern)s)
 ORDER BY (s.region_code = ANY(%(scope)s)) DESC, q.answer_count DESC, s.question_id DESC
 LIMIT %(limit)s)
ORDER BY boost DESC, kind_rank DESC, weight DESC, text
LIMIT %(limit)s
"""


async def suggest(
    router: ShardRouter, prefix: str, scope: list[str] | None, limit: int = SUGGEST_MAX
) -> list[Suggestion]:
    """Completions for a prefix: region names, hashtags, question titles.

    초성 input (ㅇㅇㅇ) matches region names and hashtags by their initial
    consonants. Suggestions inside ``scope`` (the user's region) come first.
    """
    text = normalize_query(prefix)
    if not text:
        return []
    params = {
        "choseong": is_choseong(text.replace(" ", "")),
        "pattern": _like_prefix(text),
        "word_pattern": "% " + _like_prefix(text),
        "scope": scope or [],
        "limit": limit,
    }
    if params["choseong"]:
        params["pattern"] = _like_prefix(text.replace(" ", ""))
    async with router.connection(Workload.READ) as conn:
        rows = await (await conn.execute(_SUGGEST.encode(), params)).fetchall()
    seen: set[tuple[str, str]] = set()
    out = []
    for row in rows:
        if (row["type"], row["text"]) in seen:
            continue
        seen.add((row["type"], row["text"]))
        out.append(Suggestion(row["text"], row["type"], row["region_code"], row["question_id"]))
    return out


_TRENDING = """
SELECT keyword, type, label, n FROM (
    SELECT h.normalized_name AS keyword, 'hashtag' AS type, h.name AS label, count(*) AS n
    FROM question_hashtags qh
    JOIN hashtags h ON h.id = qh.hashtag_id
    JOIN questions q ON q.id = qh.question_id
    WHERE qh.created_at >= now() - %(window)s::interval
      AND q.id >= uuidv7_floor(now() - %(window)s::interval)
      AND q.deleted_at IS NULL AND q.status <> 'hidden'
      AND (%(scope)s::varchar[] IS NULL OR qh.region_code = ANY(%(scope)s))
    GROUP BY h.normalized_name, h.name
    UNION ALL
    SELECT q.category, 'category', c.name, count(*)
    FROM questions q JOIN categories c ON c.code = q.category
    WHERE q.id >= uuidv7_floor(now() - %(window)s::interval)
      AND q.created_at >= now() - %(window)s::interval
      AND q.deleted_at IS NULL AND q.status <> 'hidden'
      AND (%(scope)s::varchar[] IS NULL OR q.region_code = ANY(%(scope)s))
    GROUP BY q.category, c.name
) t
ORDER BY n DESC, type DESC, keyword
LIMIT %(top)s
"""


async def trending(
    router: ShardRouter, window: str, scope: list[str] | None, top: int = TRENDING_TOP
) -> list[dict[str, Any]]:
    """Hashtags and categories of recent visible questions, most used first (the seed's
    combined top 15). Read from PostgreSQL, the truth, for both backends."""
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window}")
    params = {"window": WINDOWS[window], "scope": scope, "top": top}
    async with router.connection(Workload.READ) as conn:
        rows = await (await conn.execute(_TRENDING.encode(), params)).fetchall()
    return [
        {"keyword": r["keyword"], "type": r["type"], "label": r["label"], "count": int(r["n"])}
        for r in rows
    ]


# -- operations ---------------------------------------------------------------


async def reindex(
    router: ShardRouter,
    *,
    batch_size: int = 500,
    progress: Callable[[int, int], None] | None = None,
    shard: str | None = None,
) -> int:
    """Rebuild every visible question's row from PostgreSQL, batch by batch.

    Each batch is its own short transaction, so the index stays queryable and
    the outbox worker keeps running meanwhile; a row it writes concurrently is
    built from the same state, so either writer wins with the same result.
    Rows of questions hidden or deleted since are removed at the end.
    """
    async with router.connection(Workload.BACKGROUND, shard=shard) as conn:
        row = await (
            await conn.execute(
                "SELECT count(*) AS n FROM questions"
                " WHERE deleted_at IS NULL AND status <> 'hidden'"
            )
        ).fetchone()
        total = int(row["n"]) if row else 0
        done = 0
        after = None
        while True:
            sources = await repository.source_batch(conn, after, batch_size)
            if not sources:
                break
            # Kiwi is CPU work; keep the event loop free for other tasks.
            rows = await asyncio.to_thread(_search_rows, sources)
            async with conn.transaction():
                await repository.write_rows(conn, rows)
            after = sources[-1]["id"]
            done += len(sources)
            if progress is not None:
                progress(done, total)
        async with conn.transaction():
            await repository.delete_invisible(conn)
    await refresh_frequency(router, shard=shard)
    return done


async def merge_partitions(router: ShardRouter, shard: str | None = None) -> list[str]:
    """Merge every due year's and quarter's search partitions into one each
    (migrations 0020, 0022), one per transaction; the partitions made."""
    upto = merged_before(datetime.now(UTC)).date()
    merged: list[str] = []
    for name in [shard] if shard else router.shard_names:
        async with router.connection(Workload.BACKGROUND, shard=name) as conn:
            while True:
                cursor = await conn.execute("SELECT merge_search_partitions(%s) AS q", (upto,))
                row = await cursor.fetchone()
                if row is None or row["q"] is None:
                    break
                merged.append(row["q"])
    return merged


async def refresh_frequency(router: ShardRouter, shard: str | None = None) -> int:
    """The words frequent in the newest search window (``search.frequency``)."""
    return await frequency.refresh(router, window_edges(datetime.now(UTC))[0], shard)


def _search_rows(sources: list[Any]) -> list[dict[str, Any]]:
    return [repository.search_row(source) for source in sources]


async def check(router: ShardRouter, shard: str | None = None) -> repository.Drift:
    async with router.connection(Workload.BACKGROUND, shard=shard) as conn:
        return await repository.drift(conn)


async def reindex_elasticsearch(
    router: ShardRouter,
    backend: IndexBuilder,
    *,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
    shards: int = 3,
    replicas: int = 1,
) -> str:
    """Build a new Elasticsearch index version from PostgreSQL, swap the alias to it,
    then re-send whatever was requested while it was being built.

    The outbox syncer keeps writing to the alias (the old index) meanwhile.
    Each shard's build takes a number from the sync sequence before it reads
    anything and writes its documents with that version; after the swap every
    question requested since (a higher number) is queued again, so the syncer
    brings it to the new index, and a syncer write that raced the swap into
    the old index is not lost. Questions requested before carry a lower
    version than the build's documents, which are at least as new.
    """
    from dongne.search import external

    index = await asyncio.to_thread(backend.create_index, shards=shards, replicas=replicas)
    try:
        builds = await _build_index(router, backend, index, batch_size, progress)
    except Exception:
        # Nothing points at a half-built index; do not leave it behind.
        await asyncio.to_thread(backend.delete_indices, [index])
        raise
    old = await asyncio.to_thread(backend.publish, index)
    for shard, version in builds.items():
        await external.requeue_after_build(router, shard, version)
    await asyncio.to_thread(backend.delete_indices, old)
    return index


async def _build_index(
    router: ShardRouter,
    backend: IndexBuilder,
    index: str,
    batch_size: int,
    progress: Callable[[int], None] | None,
) -> dict[str, int]:
    """Every shard's visible questions into ``index``; the build version per shard."""
    from dongne.search import external
    from dongne.search.elasticsearch import document

    builds: dict[str, int] = {}
    done = 0
    for shard in router.shard_names:
        async with router.connection(Workload.BACKGROUND, shard=shard) as conn:
            builds[shard] = version = await external.start_build(conn)
            after = None
            while rows := await external.source_batch(conn, after, batch_size):
                changes = [external.IndexChange(str(r["id"]), version, document(r)) for r in rows]
                failures = await asyncio.to_thread(backend.write, index, changes)
                if failures:
                    question_id, error = next(iter(failures.items()))
                    raise RuntimeError(
                        f"indexing failed for {len(failures)} question(s), e.g. {question_id}: "
                        f"{error}"
                    )
                after = rows[-1]["id"]
                done += len(rows)
                if progress is not None:
                    progress(done)
    return builds
