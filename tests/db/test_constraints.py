"""Every rule the specification puts in the schema rejects a bad row."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import errors
from psycopg.rows import DictRow

from tests.support.factories import make_answer, make_question, make_user


def _rejects(db: psycopg.Connection[DictRow], error: type[Exception], sql: str, *args: Any) -> str:
    with pytest.raises(error) as caught:
        db.execute(sql, args)
    diag = getattr(caught.value, "diag", None)
    return str(getattr(diag, "constraint_name", "") or "")


@pytest.mark.parametrize(
    ("column", "value", "constraint"),
    [
        ("title", "너무 짧은 제목", "valid_title_length"),
        ("title", "가" * 201, None),  # varchar(200) stops it before the CHECK
        ("title", "  짧은제목       ", "valid_title_length"),
        ("content", "내용이 너무 짧아요", "valid_content_length"),
        ("content", "가" * 2001, "valid_content_length"),
        ("hashtags", ["a", "b", "c", "d", "e", "f"], "valid_hashtag_count"),
        ("images", [f"https://img/{i}.jpg" for i in range(11)], "valid_image_count"),
        ("location", "(200,33.4)", "valid_location"),
    ],
)
def test_question_rules(
    db: psycopg.Connection[DictRow], column: str, value: Any, constraint: str | None
) -> None:
    user = make_user(db)
    with pytest.raises((errors.CheckViolation, errors.StringDataRightTruncation)) as caught:
        make_question(db, user, **{column: value})
    if constraint:
        assert caught.value.diag.constraint_name == constraint
    assert db.execute(
        "SELECT count(*) AS n FROM questions WHERE user_id = %s", (user,)
    ).fetchone() == {"n": 0}


def test_question_lengths_at_the_limits_are_accepted(db: psycopg.Connection[DictRow]) -> None:
    user = make_user(db)
    make_question(db, user, title="가" * 10, content="나" * 20)
    make_question(db, user, title="가" * 200, content="나" * 2000, hashtags=list("abcde"))


def test_question_references_must_exist(db: psycopg.Connection[DictRow]) -> None:
    user = make_user(db)
    with pytest.raises(errors.ForeignKeyViolation):
        make_question(db, user, region_code="KR-49-01-99")
    with pytest.raises(errors.ForeignKeyViolation):
        make_question(db, user, category="gossip")


@pytest.mark.parametrize(
    ("content", "constraint"),
    [("짧은 답변", "valid_content_length"), ("가" * 1001, "valid_content_length")],
)
def test_answer_length(db: psycopg.Connection[DictRow], content: str, constraint: str) -> None:
    asker, helper = make_user(db), make_user(db)
    question = make_question(db, asker)
    with pytest.raises(errors.CheckViolation) as caught:
        make_answer(db, question, helper, content=content)
    assert caught.value.diag.constraint_name == constraint


def test_answer_quality_score_range(db: psycopg.Connection[DictRow]) -> None:
    asker, helper = make_user(db), make_user(db)
    question = make_question(db, asker)
    with pytest.raises(errors.CheckViolation) as caught:
        make_answer(db, question, helper, quality_score=1.5)
    assert caught.value.diag.constraint_name == "valid_quality_score"


@pytest.mark.parametrize("level", [-1, 4])
def test_verification_level_range(db: psycopg.Connection[DictRow], level: int) -> None:
    with pytest.raises(errors.CheckViolation) as caught:
        make_user(db, verification_level=level)
    assert caught.value.diag.constraint_name == "valid_verification_level"


def test_verified_flag_follows_level(db: psycopg.Connection[DictRow]) -> None:
    user = make_user(db, verification_level=2)
    row = db.execute("SELECT is_local_verified FROM users WHERE id = %s", (user,)).fetchone()
    assert row == {"is_local_verified": True}
    db.execute("UPDATE users SET verification_level = 0 WHERE id = %s", (user,))
    row = db.execute("SELECT is_local_verified FROM users WHERE id = %s", (user,)).fetchone()
    assert row == {"is_local_verified": False}


def test_balance_never_negative(db: psycopg.Connection[DictRow]) -> None:
    user = make_user(db)
    with pytest.raises(errors.CheckViolation) as caught:
        db.execute("UPDATE users SET point_balance = -1 WHERE id = %s", (user,))
    assert caught.value.diag.constraint_name == "positive_point_balance"
    with pytest.raises(errors.CheckViolation):
        db.execute("SELECT award_points(%s, -10, 'spend_highlight')", (user,))
    assert db.execute(
        "SELECT point_balance, (SELECT count(*) FROM point_transactions WHERE user_id = %s) AS n "
        "FROM users WHERE id = %s",
        (user, user),
    ).fetchone() == {"point_balance": 0, "n": 0}


@pytest.mark.parametrize(
    ("amount", "before", "after", "constraint"),
    [
        (10, 0, 11, "valid_balance_calculation"),
        (0, 5, 5, "valid_amount"),
        (-10, 5, -5, "non_negative_balance"),
    ],
)
def test_ledger_rows_must_add_up(
    db: psycopg.Connection[DictRow], amount: int, before: int, after: int, constraint: str
) -> None:
    user = make_user(db)
    name = _rejects(
        db,
        errors.CheckViolation,
        "INSERT INTO point_transactions (user_id, amount, transaction_type, balance_before, "
        "balance_after) VALUES (%s, %s, 'admin_adjustment', %s, %s)",
        user,
        amount,
        before,
        after,
    )
    assert name == constraint


def test_email_is_unique_among_live_accounts(db: psycopg.Connection[DictRow]) -> None:
    first = make_user(db, email="same@example.kr")
    with pytest.raises(errors.UniqueViolation):
        make_user(db, email="same@example.kr")
    db.execute("UPDATE users SET deleted_at = now() WHERE id = %s", (first,))
    make_user(db, email="same@example.kr")


@pytest.mark.parametrize("email", ["Upper@Example.kr", "no-at-sign", "a@b"])
def test_email_shape(db: psycopg.Connection[DictRow], email: str) -> None:
    with pytest.raises(errors.CheckViolation) as caught:
        make_user(db, email=email)
    assert caught.value.diag.constraint_name == "valid_email"


def test_badge_once_per_type(db: psycopg.Connection[DictRow]) -> None:
    user = make_user(db)
    db.execute("INSERT INTO user_badges (user_id, badge_type) VALUES (%s, 'first_answer')", (user,))
    with pytest.raises(errors.UniqueViolation):
        db.execute(
            "INSERT INTO user_badges (user_id, badge_type) VALUES (%s, 'first_answer')", (user,)
        )
    with pytest.raises(errors.CheckViolation):
        db.execute(
            "INSERT INTO user_badges (user_id, badge_type, badge_level) VALUES (%s, 'streak', 11)",
            (user,),
        )


def test_region_codes_follow_the_scheme(db: psycopg.Connection[DictRow]) -> None:
    with pytest.raises(errors.CheckViolation) as caught:
        db.execute(
            "INSERT INTO regions (code, name, parent_code, region_type) "
            "VALUES ('KR-50-1', '잘못', 'KR', 'province')"
        )
    assert caught.value.diag.constraint_name == "valid_region_code"
    with pytest.raises(errors.CheckViolation) as caught:
        db.execute(
            "INSERT INTO regions (code, name, parent_code, region_type) "
            "VALUES ('KR-48-01', '엉뚱한 부모', 'KR-49', 'city')"
        )
    assert caught.value.diag.constraint_name == "code_extends_parent"


def test_outbox_topic_shape(db: psycopg.Connection[DictRow]) -> None:
    with pytest.raises(errors.CheckViolation):
        db.execute("SELECT enqueue_outbox('Bad Topic', 'question', uuidv7(), '{}')")
