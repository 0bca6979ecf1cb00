"""Question feeds with keyset pagination: never OFFSET, so page 500 costs what page 1 does.

Each sort is a key expression from this allow-list plus the id as tie-breaker;
the cursor carries the last row's (key, id) and the next page starts strictly
after it. Filters are parameters; no client text becomes SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection, sql
from psycopg.rows import DictRow

from dongne.api.cursors import decode_cursor, encode_cursor
from dongne.qa.repository import _QUESTION_COLUMNS

_SORT_KEYS: dict[str, sql.Composable | None] = {
    "newest": None,
    "most_answers": sql.SQL("q.answer_count"),
    "most_views": sql.SQL("q.view_count"),
    "urgent": sql.SQL("q.urgency"),
    "popular": sql.SQL(
        "question_popularity_key(q.view_count, q.answer_count, q.like_count, q.urgency, "
        "q.created_at)"
    ),
}
_KEY_CASTS = {"urgent": "question_urgency", "most_answers": "integer", "most_views": "integer",
              "popular": "double precision"}  # fmt: skip


def _urgency(value: Any) -> str:
    if value not in {"normal", "urgent", "emergency"}:
        raise ValueError("unknown urgency")
    return str(value)


def _strict_int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("expected an integer")
    return value


_KEY_TYPES: dict[str, Any] = {
    "urgent": _urgency, "most_answers": _strict_int, "most_views": _strict_int, "popular": float,
}  # fmt: skip


@dataclass(frozen=True)
class FeedQuery:
    sort: str = "newest"
    regions: list[str] | None = None
    category: str | None = None
    status: str | None = None
    author_id: Any = None
    cursor: str | None = None
    limit: int = 20


@dataclass(frozen=True)
class FeedPage:
    rows: list[dict[str, Any]]
    next_cursor: str | None


async def question_feed(conn: AsyncConnection[DictRow], query: FeedQuery) -> FeedPage:
    if query.sort not in _SORT_KEYS:
        raise ValueError(f"unknown sort {query.sort}")
    key = _SORT_KEYS[query.sort]
    params: dict[str, Any] = {
        "regions": query.regions,
        "category": query.category,
        "status": query.status,
        "author": query.author_id,
        "limit": query.limit + 1,
    }
    where: list[sql.Composable] = [
        sql.SQL("q.deleted_at IS NULL"),
        sql.SQL("q.status <> 'hidden'"),
        sql.SQL("(%(regions)s::varchar[] IS NULL OR q.region_code = ANY(%(regions)s))"),
        sql.SQL("(%(category)s::varchar IS NULL OR q.category = %(category)s)"),
        sql.SQL("(%(status)s::text IS NULL OR q.status::text = %(status)s)"),
        sql.SQL("(%(author)s::uuid IS NULL OR q.user_id = %(author)s)"),
    ]
    if query.cursor:
        where.append(_after_cursor(query, key, params))
    order = sql.SQL("q.id DESC") if key is None else sql.SQL("{} DESC, q.id DESC").format(key)
    select_key = sql.SQL("") if key is None else sql.SQL(", {} AS sort_key").format(key)
    statement = sql.SQL(
        "SELECT {columns}{select_key} FROM questions q JOIN users u ON u.id = q.user_id "
        "WHERE {where} ORDER BY {order} LIMIT %(limit)s"
    ).format(
        columns=sql.SQL(_QUESTION_COLUMNS),
        select_key=select_key,
        where=sql.SQL(" AND ").join(where),
        order=order,
    )
    cursor = await conn.execute(statement, params)
    rows = await cursor.fetchall()
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        next_cursor = _cursor_for(query.sort, rows[-1])
    return FeedPage(rows=rows, next_cursor=next_cursor)


def _after_cursor(
    query: FeedQuery, key: sql.Composable | None, params: dict[str, Any]
) -> sql.Composable:
    assert query.cursor is not None
    if key is None:
        (last_id,) = decode_cursor(query.cursor, "questions:newest", (UUID,))
        params["after_id"] = last_id
        return sql.SQL("q.id < %(after_id)s::uuid")
    last_key, last_id = decode_cursor(
        query.cursor, f"questions:{query.sort}", (_KEY_TYPES[query.sort], UUID)
    )
    params["after_key"], params["after_id"] = last_key, last_id
    return sql.SQL("({key}, q.id) < (%(after_key)s::{cast}, %(after_id)s::uuid)").format(
        key=key, cast=sql.SQL(_KEY_CASTS[query.sort])
    )


def _cursor_for(sort: str, row: dict[str, Any]) -> str:
    if sort == "newest":
        return encode_cursor("questions:newest", [str(row["id"])])
    sort_key = row["sort_key"]
    return encode_cursor(f"questions:{sort}", [sort_key, str(row["id"])])
