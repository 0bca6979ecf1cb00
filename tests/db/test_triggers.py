"""The database's triggers: new-question processing, counters, acceptance and points."""

from __future__ import annotations

import threading
from uuid import UUID

import psycopg
import pytest
from psycopg import errors
from psycopg.rows import DictRow, dict_row

from tests.support.factories import AEWOL, HALLIM, make_answer, make_question, make_user


def _one(db: psycopg.Connection[DictRow], sql: str, *args: object) -> dict[str, object]:
    row = db.execute(sql, args).fetchone()
    assert row is not None
    return row


def test_hashtags_are_normalised_and_deduplicated(db: psycopg.Connection[DictRow]) -> None:
    user = make_user(db)
    question = make_question(
        db, user, hashtags=["#제주맛집", "제주맛집", " #Jeju ", "JEJU", "흑돼지 맛집", "#", ""]
    )
    row = _one(db, "SELECT hashtags FROM questions WHERE id = %s", question)
    assert row["hashtags"] == ["제주맛집", "jeju", "흑돼지맛집"]
    linked = db.execute(
        "SELECT h.normalized_name FROM question_hashtags qh "
        "JOIN hashtags h ON h.id = qh.hashtag_id "
        "WHERE qh.question_id = %s ORDER BY 1",
        (question,),
    ).fetchall()
    assert [r["normalized_name"] for r in linked] == ["jeju", "제주맛집", "흑돼지맛집"]


def test_hashtag_normalisation_uses_nfc(db: psycopg.Connection[DictRow]) -> None:
    decomposed = "\u1112\u1161\u11ab\u1105\u1161\u1109\u1161\u11ab"  # 한라산 as jamo
    row = _one(db, "SELECT normalize_hashtag(%s) AS tag", decomposed)
    assert row["tag"] == "한라산"


def test_hashtag_usage_counts_follow_edits_and_deletes(db: psycopg.Connection[DictRow]) -> None:
    user = make_user(db)
    question = make_question(db, user, hashtags=["오름투어", "새별오름"])

    def usage(tag: str) -> object:
        return _one(db, "SELECT usage_count FROM hashtags WHERE normalized_name = %s", tag)[
            "usage_count"
        ]

    assert (usage("오름투어"), usage("새별오름")) == (1, 1)
    db.execute(
        "UPDATE questions SET hashtags = %s WHERE id = %s", (["오름투어", "용눈이오름"], question)
    )
    assert (usage("오름투어"), usage("새별오름"), usage("용눈이오름")) == (1, 0, 1)
    db.execute("UPDATE questions SET deleted_at = now() WHERE id = %s", (question,))
    assert (usage("오름투어"), usage("용눈이오름")) == (0, 0)
    assert (
        _one(db, "SELECT count(*) AS n FROM question_hashtags WHERE question_id = %s", question)[
            "n"
        ]
        == 0
    )


def test_region_taken_from_location(db: psycopg.Connection[DictRow]) -> None:
    user = make_user(db)
    # 한림읍's seed centre.
    question = make_question(db, user, region_code=None, location="(126.266111,33.414722)")
    assert _one(db, "SELECT region_code FROM questions WHERE id = %s", question)["region_code"] == (
        HALLIM
    )


def test_location_outside_jeju_is_rejected(db: psycopg.Connection[DictRow]) -> None:
    user = make_user(db)
    with pytest.raises(errors.CheckViolation) as caught:
        make_question(db, user, region_code=None, location="(126.978,37.566)")  # Seoul
    assert caught.value.diag.constraint_name == "location_in_service_area"


def test_given_region_wins_over_location(db: psycopg.Connection[DictRow]) -> None:
    user = make_user(db)
    question = make_question(db, user, region_code=AEWOL, location="(126.266111,33.414722)")
    assert _one(db, "SELECT region_code FROM questions WHERE id = %s", question)["region_code"] == (
        AEWOL
    )


def test_missing_category_falls_back_to_other(db: psycopg.Connection[DictRow]) -> None:
    user = make_user(db)
    question = make_question(db, user, category=None)
    assert _one(db, "SELECT category FROM questions WHERE id = %s", question)["category"] == "other"


def test_created_at_comes_from_the_id(db: psycopg.Connection[DictRow]) -> None:
    user = make_user(db)
    question = make_question(db, user, created_at="2001-01-01T00:00:00Z")
    row = _one(
        db,
        "SELECT created_at = uuid_extract_timestamp(id) AS same FROM questions WHERE id = %s",
        question,
    )
    assert row["same"] is True


def test_counters_follow_answers_likes_and_deletes(db: psycopg.Connection[DictRow]) -> None:
    asker, helper, fan = make_user(db), make_user(db), make_user(db)
    question = make_question(db, asker)
    answer = make_answer(db, question, helper)
    make_answer(db, question, fan)
    for _ in range(2):  # liking twice is one like
        db.execute(
            "INSERT INTO question_likes VALUES (%s, %s) ON CONFLICT DO NOTHING", (question, fan)
        )
        db.execute("INSERT INTO answer_likes VALUES (%s, %s) ON CONFLICT DO NOTHING", (answer, fan))
    row = _one(db, "SELECT answer_count, like_count FROM questions WHERE id = %s", question)
    assert row == {"answer_count": 2, "like_count": 1}
    assert _one(db, "SELECT like_count FROM answers WHERE id = %s", answer)["like_count"] == 1
    db.execute("DELETE FROM question_likes WHERE question_id = %s", (question,))
    db.execute("UPDATE answers SET deleted_at = now() WHERE id = %s", (answer,))
    row = _one(db, "SELECT answer_count, like_count FROM questions WHERE id = %s", question)
    assert row == {"answer_count": 1, "like_count": 0}
    assert _one(db, "SELECT answer_count, question_count FROM users WHERE id = %s", helper) == {
        "answer_count": 0,
        "question_count": 0,
    }
    assert _one(db, "SELECT question_count FROM users WHERE id = %s", asker)["question_count"] == 1


def test_updated_at_moves_on_edits_not_on_counters(db: psycopg.Connection[DictRow]) -> None:
    asker, helper = make_user(db), make_user(db)
    question = make_question(db, asker)
    before = _one(db, "SELECT updated_at FROM questions WHERE id = %s", question)["updated_at"]
    make_answer(db, question, helper)
    db.execute("UPDATE questions SET view_count = view_count + 5 WHERE id = %s", (question,))
    same = _one(db, "SELECT updated_at FROM questions WHERE id = %s", question)["updated_at"]
    assert same == before
    db.execute(
        "UPDATE questions SET title = '애월 맛집 다시 여쭤봐요 수정' WHERE id = %s", (question,)
    )
    after = _one(db, "SELECT updated_at FROM questions WHERE id = %s", question)["updated_at"]
    assert after > before  # type: ignore[operator]
    db.execute("UPDATE users SET bio = '애월 주민' WHERE id = %s", (asker,))
    user = _one(db, "SELECT updated_at > created_at AS moved FROM users WHERE id = %s", asker)
    assert user["moved"] is True


def _balance(db: psycopg.Connection[DictRow], user: UUID) -> dict[str, object]:
    return _one(
        db,
        "SELECT point_balance, total_earned_points, accepted_answer_count, "
        "(SELECT count(*) FROM point_transactions WHERE user_id = u.id) AS ledger_rows "
        "FROM users u WHERE id = %s",
        user,
    )


def test_accepting_awards_150_points_once(db: psycopg.Connection[DictRow]) -> None:
    asker, helper = make_user(db), make_user(db)
    question = make_question(db, asker)
    answer = make_answer(db, question, helper)
    db.execute("UPDATE answers SET is_accepted = true WHERE id = %s", (answer,))
    db.execute("UPDATE answers SET is_accepted = true WHERE id = %s", (answer,))  # retried
    assert _balance(db, helper) == {
        "point_balance": 150,
        "total_earned_points": 150,
        "accepted_answer_count": 1,
        "ledger_rows": 1,
    }
    ledger = _one(
        db,
        "SELECT amount, transaction_type::text AS type, balance_before, balance_after, "
        "reference_id FROM point_transactions WHERE user_id = %s",
        helper,
    )
    assert ledger == {
        "amount": 150,
        "type": "earn_accepted_answer",
        "balance_before": 0,
        "balance_after": 150,
        "reference_id": answer,
    }
    q = _one(
        db,
        "SELECT status::text AS status, accepted_answer_id FROM questions WHERE id = %s",
        question,
    )
    assert q == {"status": "answered", "accepted_answer_id": answer}
    queued = _one(
        db,
        "SELECT count(*) AS n FROM notification_queue "
        "WHERE user_id = %s AND type = 'answer_accepted'",
        helper,
    )
    assert queued["n"] == 1
    events = _one(
        db,
        "SELECT count(*) AS n FROM outbox WHERE topic = 'answer.accepted' AND aggregate_id = %s",
        question,
    )
    assert events["n"] == 1


def test_only_one_answer_per_question_is_accepted(db: psycopg.Connection[DictRow]) -> None:
    asker, first, second = make_user(db), make_user(db), make_user(db)
    question = make_question(db, asker)
    a1, a2 = make_answer(db, question, first), make_answer(db, question, second)
    db.execute("UPDATE answers SET is_accepted = true WHERE id = %s", (a1,))
    with pytest.raises(errors.UniqueViolation):
        db.execute("UPDATE answers SET is_accepted = true WHERE id = %s", (a2,))
    assert _balance(db, second)["point_balance"] == 0


def test_acceptance_is_final(db: psycopg.Connection[DictRow]) -> None:
    asker, helper = make_user(db), make_user(db)
    question = make_question(db, asker)
    answer = make_answer(db, question, helper)
    db.execute("UPDATE answers SET is_accepted = true WHERE id = %s", (answer,))
    with pytest.raises(errors.CheckViolation) as caught:
        db.execute("UPDATE answers SET is_accepted = false WHERE id = %s", (answer,))
    assert caught.value.diag.constraint_name == "acceptance_is_final"


def test_asker_cannot_accept_own_answer(db: psycopg.Connection[DictRow]) -> None:
    asker = make_user(db)
    question = make_question(db, asker)
    answer = make_answer(db, question, asker)
    with pytest.raises(errors.CheckViolation) as caught:
        db.execute("UPDATE answers SET is_accepted = true WHERE id = %s", (answer,))
    assert caught.value.diag.constraint_name == "not_own_answer"
    assert _balance(db, asker)["point_balance"] == 0


def test_accepted_answer_must_belong_to_the_question(db: psycopg.Connection[DictRow]) -> None:
    asker, helper = make_user(db), make_user(db)
    q1, q2 = make_question(db, asker), make_question(db, asker)
    foreign = make_answer(db, q2, helper)
    with pytest.raises(errors.ForeignKeyViolation):
        db.execute(
            "UPDATE questions SET accepted_answer_id = %s, accepted_at = now() WHERE id = %s",
            (foreign, q1),
        )


def test_concurrent_acceptances_award_once(
    database_url: str, db: psycopg.Connection[DictRow]
) -> None:
    asker, helper = make_user(db), make_user(db)
    question = make_question(db, asker)
    answer = make_answer(db, question, helper)
    barrier = threading.Barrier(4)
    failures: list[BaseException] = []

    def accept() -> None:
        try:
            with psycopg.connect(database_url, row_factory=dict_row) as conn:
                barrier.wait()
                conn.execute("UPDATE answers SET is_accepted = true WHERE id = %s", (answer,))
                conn.commit()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=accept) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert _balance(db, helper)["ledger_rows"] == 1
    assert _balance(db, helper)["point_balance"] == 150


def test_concurrent_awards_never_lose_an_update(
    database_url: str, db: psycopg.Connection[DictRow]
) -> None:
    user = make_user(db)
    barrier = threading.Barrier(8)

    def award() -> None:
        with psycopg.connect(database_url) as conn:
            barrier.wait()
            for _ in range(5):
                conn.execute("SELECT award_points(%s, 10, 'earn_answer')", (user,))
                conn.commit()

    threads = [threading.Thread(target=award) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _balance(db, user)["point_balance"] == 400
    chain = db.execute(
        "SELECT bool_and(balance_before = prev) AS chained FROM ("
        " SELECT balance_before, lag(balance_after, 1, 0) OVER (ORDER BY balance_before) AS prev"
        " FROM point_transactions WHERE user_id = %s) t",
        (user,),
    ).fetchone()
    assert chain == {"chained": True}


def test_award_with_idempotency_key_happens_once(db: psycopg.Connection[DictRow]) -> None:
    user = make_user(db)
    for _ in range(3):
        db.execute(
            "SELECT award_points(%s, 5, 'earn_daily_login', NULL, NULL, NULL, 'login:2026-11-26')",
            (user,),
        )
    assert _balance(db, user)["point_balance"] == 5
