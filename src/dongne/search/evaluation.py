"""Ranking quality on a fixed, labelled Korean corpus: our pg backend vs. the peers'.

The corpus (``data/eval_corpus.json``, 104 Jeju questions) and the graded
queries (``data/eval_queries.json``, 2 = answers the need, 1 = related) ship
with the package, so numbers are comparable across versions. Everything runs
in one transaction that is rolled back: the evaluated database is left as it
was, and ``SearchQuery.within`` keeps its real questions out of the ranking.

Baselines, reproduced as their projects ship them, on the same rows:

- ``like``: Apache Answer — SQL ``LIKE '%word%'``, ranked by how many query
  words occur as substrings of title + content;
- ``simple``: Discourse — ``to_tsvector('simple', …)`` against
  ``plainto_tsquery('simple', …)``, ranked by ``ts_rank``;
- ``trigram``: pg_trgm alone — ``word_similarity`` of the query to title +
  content (≥ 0.3), most similar first.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from dongne.db.router import ShardRouter, Workload
from dongne.search import repository
from dongne.search.contract import SearchQuery
from dongne.search.postgres import PostgresSearchBackend

K = 10
SYSTEMS = ("pg", "like", "simple", "trigram")


def load_dataset() -> tuple[list[list[Any]], list[tuple[str, dict[str, int]]]]:
    data = resources.files("dongne.search") / "data"
    corpus = json.loads((data / "eval_corpus.json").read_text(encoding="utf-8"))["questions"]
    queries = json.loads((data / "eval_queries.json").read_text(encoding="utf-8"))["queries"]
    return corpus, [(text, dict(grades)) for text, grades in queries]


def ndcg(ranked: list[str], grades: dict[str, int], k: int = K) -> float:
    def dcg(gains: list[int]) -> float:
        return sum((2.0**g - 1) / math.log2(i + 2) for i, g in enumerate(gains[:k]))

    ideal = dcg(sorted(grades.values(), reverse=True))
    return dcg([grades.get(key, 0) for key in ranked]) / ideal if ideal else 0.0


def recall(ranked: list[str], grades: dict[str, int], k: int = K) -> float:
    relevant = {key for key, grade in grades.items() if grade > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


@dataclass(frozen=True)
class SystemScore:
    system: str
    ndcg: float
    recall: float


@dataclass(frozen=True)
class Evaluation:
    queries: int
    documents: int
    scores: dict[str, SystemScore]
    per_query: dict[str, dict[str, float]]  # system → query → nDCG@10


_BASELINES = {
    "like": """
        SELECT q.id, (SELECT count(*) FROM unnest(%(words)s::text[]) AS w
                      WHERE q.title || ' ' || q.content ILIKE '%%' || w || '%%') AS score
        FROM questions q WHERE q.id = ANY(%(ids)s)
    """,
    "simple": """
        SELECT q.id, ts_rank(to_tsvector('simple', q.title || ' ' || q.content),
                             plainto_tsquery('simple', %(q)s)) AS score
        FROM questions q WHERE q.id = ANY(%(ids)s)
          AND to_tsvector('simple', q.title || ' ' || q.content) @@ plainto_tsquery('simple', %(q)s)
    """,
    "trigram": """
        SELECT q.id, word_similarity(%(q)s, q.title || ' ' || q.content) AS score
        FROM questions q WHERE q.id = ANY(%(ids)s)
          AND word_similarity(%(q)s, q.title || ' ' || q.content) >= 0.3
    """,
}


async def _load(conn: AsyncConnection[DictRow], corpus: list[list[Any]]) -> dict[UUID, str]:
    cursor = await conn.execute("SELECT name, code FROM regions")
    codes = {row["name"]: row["code"] for row in await cursor.fetchall()}
    if not codes:
        raise ValueError("regions are not loaded: run `dongne regions load` first")
    row = await (
        await conn.execute(
            "INSERT INTO users (email, nickname) VALUES ('search-eval@dongne.invalid', '평가이웃')"
            " RETURNING id"
        )
    ).fetchone()
    assert row is not None
    keys: dict[UUID, str] = {}
    for key, district, category, title, content, hashtags in corpus:
        inserted = await (
            await conn.execute(
                "INSERT INTO questions (user_id, title, content, hashtags, region_code, category)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (row["id"], title, content, hashtags, codes[district], category),
            )
        ).fetchone()
        assert inserted is not None
        keys[inserted["id"]] = key
    for question_id in keys:
        await repository.sync_question(conn, question_id)
    return keys


async def run_evaluation(router: ShardRouter) -> Evaluation:
    corpus, queries = load_dataset()
    backend = PostgresSearchBackend(router)
    per_query: dict[str, dict[str, float]] = {s: {} for s in SYSTEMS}
    recalls: dict[str, list[float]] = {s: [] for s in SYSTEMS}
    async with router.connection(Workload.BACKGROUND) as conn:
        transaction = conn.transaction(force_rollback=True)
        async with transaction:
            keys = await _load(conn, corpus)
            ids = list(keys)
            for text, grades in queries:
                query = SearchQuery(
                    text=text, within=tuple(ids), limit=K, facets=False, highlight=False
                )
                result = await backend.search_on(conn, query)
                ranked = {"pg": [keys[hit.id] for hit in result.hits]}
                for system, statement in _BASELINES.items():
                    params = {"q": text, "words": text.split(), "ids": ids}
                    rows = await (await conn.execute(statement.encode(), params)).fetchall()
                    rows = [r for r in rows if r["score"] and r["score"] > 0]
                    rows.sort(key=lambda r: (-float(r["score"]), str(r["id"])))
                    ranked[system] = [keys[r["id"]] for r in rows[:K]]
                for system in SYSTEMS:
                    per_query[system][text] = ndcg(ranked[system], grades)
                    recalls[system].append(recall(ranked[system], grades))
    scores = {
        s: SystemScore(
            s,
            sum(per_query[s].values()) / len(queries),
            sum(recalls[s]) / len(queries),
        )
        for s in SYSTEMS
    }
    return Evaluation(len(queries), len(corpus), scores, per_query)


def format_report(evaluation: Evaluation) -> str:
    names = {
        "pg": "dongne pg (Kiwi tsvector + trigram)",
        "like": "LIKE substring (Apache Answer)",
        "simple": "to_tsvector('simple') (Discourse)",
        "trigram": "pg_trgm only",
    }
    lines = [
        f"{evaluation.queries} queries over {evaluation.documents} questions, cut-off {K}",
        f"{'system':<38} {'nDCG@10':>8} {'recall@10':>10}",
    ]
    for system in SYSTEMS:
        score = evaluation.scores[system]
        lines.append(f"{names[system]:<38} {score.ndcg:>8.3f} {score.recall:>10.3f}")
    return "\n".join(lines)
