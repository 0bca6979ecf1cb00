"""Deleting a user, a question or an answer never scans a table.

Each ON DELETE action runs a lookup on the referencing columns, once per
deleted row: without an index that can answer it, erasure and retention
take minutes at scale (see migration 0021)."""

from __future__ import annotations

import psycopg
from psycopg.rows import DictRow

# The rows people delete. Regions and categories are reference data, never
# deleted while anything refers to them.
DELETED_TABLES = ("users", "questions", "answers")

_UNINDEXED = """
SELECT c.conname, c.conrelid::regclass::text AS referencing
FROM pg_constraint c
JOIN pg_class r ON r.oid = c.conrelid
WHERE c.contype = 'f' AND c.conparentid = 0 AND NOT r.relispartition
  AND c.confrelid = ANY(%(tables)s::regclass[])
  AND NOT EXISTS (
      SELECT 1 FROM pg_index i
      WHERE i.indrelid = c.conrelid
        -- An id of the key leads the index: each one picks out a row or a
        -- question's few (questions' (accepted_answer_id, id) by the id).
        AND i.indkey[0] = ANY(c.conkey)
        -- A partial index serves the lookup only if the lookup implies its
        -- predicate: "column IS NOT NULL" for a one-column key.
        AND (i.indpred IS NULL OR (
            cardinality(c.conkey) = 1
            AND pg_get_expr(i.indpred, i.indrelid) = format('(%%I IS NOT NULL)',
                (SELECT attname FROM pg_attribute
                 WHERE attrelid = c.conrelid AND attnum = c.conkey[1])))))
ORDER BY 1
"""


def test_every_foreign_key_into_deleted_rows_is_indexed(
    db: psycopg.Connection[DictRow],
) -> None:
    rows = db.execute(_UNINDEXED, {"tables": list(DELETED_TABLES)}).fetchall()
    assert rows == []


def test_deleting_a_question_probes_its_answers_by_index(
    db: psycopg.Connection[DictRow],
) -> None:
    # The cascade's own lookup; with sequential scans off the planner shows
    # whether any index answers it (without one it walks a whole index).
    with db.transaction():
        db.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            row["QUERY PLAN"]
            for row in db.execute(
                "EXPLAIN DELETE FROM ONLY answers WHERE question_id = %s::uuid",
                ("01a21688-1e04-7037-99ac-d2867089413c",),
            )
        )
    assert "answers_question_all_idx" in plan
    assert "Index Cond: (question_id = " in plan
