"""Build ``question_search`` for generated data, fast, and count term frequencies.

The live path indexes one question per outbox event (``search/sync.py``);
``dongne search reindex`` rebuilds in upsert batches. For a million generated
questions both would take most of an hour, so the bench loads the same rows
with COPY into the table with its secondary indexes dropped, then builds the
indexes once. The rows are exactly what the live path writes
(``repository.search_row``); the tokenizer is memoised because generated
texts recur (a million questions share ~125 k titles and ~5 k contents).

While it indexes, it counts each token's document frequency into
``bench_search_terms``: the search bench picks its frequent and rare terms
from there.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from psycopg.rows import dict_row

from dongne.search.analysis import document_tokens, index_tokens
from dongne.search.repository import ROW_COLUMNS, SOURCE_SQL, search_row

_SOURCE = (
    SOURCE_SQL + " WHERE q.deleted_at IS NULL AND q.status <> 'hidden'"
    " AND (%(after)s::uuid IS NULL OR q.id > %(after)s) ORDER BY q.id LIMIT 5000"
)
_COPY = f"COPY question_search ({', '.join(ROW_COLUMNS)}) FROM STDIN"


def index_is_complete(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM question_search),"
        " (SELECT count(*) FROM questions WHERE deleted_at IS NULL AND status <> 'hidden'),"
        " to_regclass('bench_search_terms') IS NOT NULL"
    ).fetchone()
    assert row is not None
    return bool(row[0] == row[1] and row[2])


def _secondary_indexes(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x"
        " JOIN pg_class i ON i.oid = x.indexrelid"
        " WHERE x.indrelid = 'question_search'::regclass AND NOT x.indisprimary"
    ).fetchall()
    # A partitioned table's index definition reads "ON ONLY": replayed as is,
    # it would create an invalid parent index and none on the partitions.
    return [(str(name), str(definition).replace(" ON ONLY ", " ON ")) for name, definition in rows]


def build(url: str, progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Rebuild the index of every visible question; return counts and timings."""
    started = time.perf_counter()
    memo = functools.lru_cache(maxsize=None)(lambda text: tuple(index_tokens(text)))

    def cached(text: str) -> list[str]:
        return list(memo(text))

    frequencies: Counter[str] = Counter()
    # One transaction for the writer: if the load fails, the truncation and
    # the dropped indexes roll back with it.
    with (
        psycopg.connect(url) as writer,
        psycopg.connect(url, autocommit=True, row_factory=dict_row) as reader,
        writer.transaction(),
    ):
        indexes = _secondary_indexes(writer)
        writer.execute("TRUNCATE question_search")
        for name, _ in indexes:
            writer.execute(psycopg.sql.SQL("DROP INDEX {}").format(psycopg.sql.Identifier(name)))
        n = 0
        with writer.cursor() as cur, cur.copy(_COPY) as copy:
            for row in _source_rows(reader):
                built = search_row(row, cached)
                fields = document_tokens(
                    row["title"], row["content"], row["hashtags"], row["nickname"], cached
                )
                frequencies.update({token for _, tokens in fields for token in tokens})
                copy.write_row([built[name] for name in ROW_COLUMNS])
                n += 1
                if n % 100_000 == 0:
                    progress(f"  search index: {n:,} questions")
        loaded = time.perf_counter() - started
        writer.execute("SET LOCAL maintenance_work_mem = '1GB'")
        for _, definition in indexes:
            writer.execute(definition.encode())
        _store_terms(writer, frequencies)
    # Fresh rows have no visibility map or hint bits yet: without this the
    # first searches (and autovacuum, in the middle of a measurement) pay.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) question_search")
    return {
        "questions": n,
        "load_seconds": round(loaded, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
    }


def _source_rows(conn: psycopg.Connection[Any]) -> Iterator[dict[str, Any]]:
    # Keyset batches, each its own statement: no transaction stays open for
    # the whole load (the server ends idle transactions).
    after = None
    while rows := conn.execute(_SOURCE.encode(), {"after": after}).fetchall():
        yield from rows
        after = rows[-1]["id"]


def _store_terms(conn: psycopg.Connection[Any], frequencies: Counter[str]) -> None:
    conn.execute("DROP TABLE IF EXISTS bench_search_terms")
    conn.execute("CREATE TABLE bench_search_terms (term text PRIMARY KEY, df integer NOT NULL)")
    with conn.cursor() as cur, cur.copy("COPY bench_search_terms (term, df) FROM STDIN") as copy:
        for term, df in frequencies.items():
            copy.write_row((term, df))
