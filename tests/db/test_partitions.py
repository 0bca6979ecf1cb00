"""questions is partitioned by month of its UUIDv7 id, and foreign keys still hold."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors
from psycopg.rows import DictRow

from tests.support.factories import make_answer, make_question, make_user


def _partition_of(db: psycopg.Connection[DictRow], question: object) -> str:
    row = db.execute(
        "SELECT tableoid::regclass::text AS part FROM questions WHERE id = %s", (question,)
    ).fetchone()
    assert row is not None
    return str(row["part"])


def test_questions_land_in_their_month(db: psycopg.Connection[DictRow]) -> None:
    db.execute("SELECT ensure_question_partitions('2025-01-01', '2025-03-01')")
    user = make_user(db)
    january_id = db.execute(
        "SELECT uuidv7('2025-01-15T12:00:00Z'::timestamptz - clock_timestamp()) AS id"
    ).fetchone()
    assert january_id is not None
    january = make_question(db, user, id=january_id["id"])
    now = make_question(db, user)
    assert _partition_of(db, january) == "questions_y2025m01"
    current = db.execute(
        "SELECT 'questions_y' || to_char(now() AT TIME ZONE 'UTC', 'YYYY\"m\"MM') AS name"
    ).fetchone()
    assert current is not None
    assert _partition_of(db, now) == current["name"]


def test_partitions_are_created_ahead(db: psycopg.Connection[DictRow]) -> None:
    rows = db.execute(
        "SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'questions'::regclass "
        "AND inhrelid::regclass::text >= 'questions_y' || "
        "to_char((now() AT TIME ZONE 'UTC') + interval '3 months', 'YYYY\"m\"MM')"
    ).fetchone()
    assert rows is not None and rows["n"] >= 1
    assert db.execute(
        "SELECT ensure_question_partitions(now()::date, now()::date) AS n"
    ).fetchone() == {"n": 0}


def test_id_without_a_partition_is_refused(db: psycopg.Connection[DictRow]) -> None:
    user = make_user(db)
    with pytest.raises(errors.CheckViolation, match="no partition"):
        make_question(db, user, id="01000000-0000-7000-8000-000000000000")  # 1978


def test_ids_must_be_uuidv7(db: psycopg.Connection[DictRow]) -> None:
    user = make_user(db)
    # A version-4 id inside this month's range: it has a partition, but is not v7.
    row = db.execute(
        "SELECT overlay(uuidv7()::text PLACING '4' FROM 15 FOR 1)::uuid AS id"
    ).fetchone()
    assert row is not None
    with pytest.raises(errors.CheckViolation) as caught:
        make_question(db, user, id=row["id"])
    assert caught.value.diag.constraint_name == "id_is_uuidv7"


def test_answer_foreign_keys_hold_across_partitions(db: psycopg.Connection[DictRow]) -> None:
    db.execute("SELECT ensure_question_partitions('2025-02-01', '2025-02-01')")
    asker, helper = make_user(db), make_user(db)
    old_id = db.execute(
        "SELECT uuidv7('2025-02-10T08:00:00Z'::timestamptz - clock_timestamp()) AS id"
    ).fetchone()["id"]  # type: ignore[index]
    old = make_question(db, asker, id=old_id)
    recent = make_question(db, asker)
    assert _partition_of(db, old) != _partition_of(db, recent)
    on_old = make_answer(db, old, helper)
    make_answer(db, recent, helper)
    with pytest.raises(errors.ForeignKeyViolation):
        make_answer(db, "01950000-0000-7000-8000-000000000000", helper)  # type: ignore[arg-type]
    db.execute("DELETE FROM questions WHERE id = %s", (old,))
    assert db.execute("SELECT count(*) AS n FROM answers WHERE id = %s", (on_old,)).fetchone() == {
        "n": 0
    }


def test_region_feed_prunes_to_one_partition(db: psycopg.Connection[DictRow]) -> None:
    plan = db.execute(
        "EXPLAIN (FORMAT JSON) SELECT id FROM questions "
        "WHERE id >= uuidv7_floor(date_trunc('month', now())) "
        "AND region_code = 'KR-49-01-02' ORDER BY id DESC LIMIT 20"
    ).fetchone()
    assert plan is not None
    text = str(plan)
    assert "questions_y" in text
    earlier = db.execute(
        "SELECT 'questions_y' || to_char((now() AT TIME ZONE 'UTC') - interval '1 month', "
        "'YYYY\"m\"MM') AS name"
    ).fetchone()
    assert earlier is not None and earlier["name"] not in text
