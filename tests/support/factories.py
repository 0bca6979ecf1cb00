"""Rows for tests, written with plain SQL so the database's own rules apply."""

from __future__ import annotations

import itertools
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

_counter = itertools.count(1)

AEWOL = "KR-49-01-02"
HALLIM = "KR-49-01-01"


def _insert(db: psycopg.Connection[DictRow], table: str, values: dict[str, Any]) -> UUID:
    columns = ", ".join(values)
    placeholders = ", ".join(f"%({k})s" for k in values)
    row = db.execute(
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) RETURNING id",  # noqa: S608
        values,
    ).fetchone()
    assert row is not None
    row_id: UUID = row["id"]
    return row_id


def make_user(db: psycopg.Connection[DictRow], **fields: Any) -> UUID:
    n = next(_counter)
    values = {"email": f"user{n}@example.kr", "nickname": f"이웃{n}", "region_code": AEWOL}
    return _insert(db, "users", {**values, **fields})


def make_question(db: psycopg.Connection[DictRow], user_id: UUID, **fields: Any) -> UUID:
    n = next(_counter)
    values: dict[str, Any] = {
        "user_id": user_id,
        "title": f"애월 근처 맛집 추천해 주세요 {n}",
        "content": "이번 주말에 가족이랑 애월 해안도로 가는데 현지인 맛집 알려주세요.",
        "region_code": AEWOL,
        "category": "food",
    }
    return _insert(db, "questions", {**values, **fields})


def make_aged_questions(
    db: psycopg.Connection[DictRow], user_id: UUID, ages: list[int], title: str, **fields: Any
) -> dict[int, UUID]:
    """One question per age in days, created that long ago (its UUIDv7 id is
    its creation time), in month partitions made for them; ``title`` may hold
    ``{age}``."""
    db.execute(
        "SELECT ensure_question_partitions((now() - make_interval(days => %s))::date, now()::date)",
        (max(ages),),
    )
    ids = {}
    for age in ages:
        row = db.execute("SELECT uuidv7(make_interval(days => %s) * -1) AS id", (age,)).fetchone()
        assert row is not None
        ids[age] = make_question(db, user_id, id=row["id"], title=title.format(age=age), **fields)
    return ids


def make_answer(
    db: psycopg.Connection[DictRow], question_id: UUID, user_id: UUID, **fields: Any
) -> UUID:
    values: dict[str, Any] = {
        "question_id": question_id,
        "user_id": user_id,
        "content": "한담해변 쪽 고기국수집이 현지인들도 자주 가요.",
    }
    return _insert(db, "answers", {**values, **fields})
