"""Earn and spend rules. Every balance change goes through the SQL function
``award_points``, which writes the ledger row under the user's row lock."""

from __future__ import annotations

from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import DictRow

ANSWER_POINTS = 10
ANSWER_DAILY_CAP = 5
FIRST_QUESTION_POINTS = 20
HIGHLIGHT_COST = 50
HIGHLIGHT_HOURS = 24


async def award(
    conn: AsyncConnection[DictRow],
    user_id: UUID,
    amount: int,
    kind: str,
    description: str,
    reference: tuple[str, UUID] | None = None,
    idempotency_key: str | None = None,
) -> UUID | None:
    """One ledger row; None when the idempotency key was already used."""
    cursor = await conn.execute(
        "SELECT award_points(%s, %s, %s::point_transaction_type, %s, %s, %s, %s) AS id",
        (
            user_id,
            amount,
            kind,
            description,
            reference[0] if reference else None,
            reference[1] if reference else None,
            idempotency_key,
        ),
    )
    row = await cursor.fetchone()
    return row["id"] if row else None


async def award_for_answer(conn: AsyncConnection[DictRow], user_id: UUID, answer_id: UUID) -> bool:
    """Points for writing an answer, at most ANSWER_DAILY_CAP a day (Korean time) per user.

    The user row is locked before counting, so concurrent answers cannot both
    slip under the cap.
    """
    await conn.execute("SELECT 1 FROM users WHERE id = %s FOR NO KEY UPDATE", (user_id,))
    cursor = await conn.execute(
        """
        SELECT count(*) AS n FROM point_transactions
        WHERE user_id = %s AND transaction_type = 'earn_answer'
          AND created_at >= (date_trunc('day', now() AT TIME ZONE 'Asia/Seoul')
                             AT TIME ZONE 'Asia/Seoul')
        """,
        (user_id,),
    )
    row = await cursor.fetchone()
    if row and row["n"] >= ANSWER_DAILY_CAP:
        return False
    awarded = await award(
        conn, user_id, ANSWER_POINTS, "earn_answer", "답변 작성", ("answer", answer_id),
        f"answer:{answer_id}",
    )  # fmt: skip
    return awarded is not None


async def award_first_question(
    conn: AsyncConnection[DictRow], user_id: UUID, question_id: UUID
) -> bool:
    awarded = await award(
        conn, user_id, FIRST_QUESTION_POINTS, "earn_first_question", "첫 질문 작성",
        ("question", question_id), f"first_question:{user_id}",
    )  # fmt: skip
    return awarded is not None
