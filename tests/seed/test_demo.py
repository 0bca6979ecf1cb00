"""``dongne seed --demo`` through the real write path: counters and ledger stay consistent."""

from __future__ import annotations

import psycopg
from psycopg.rows import DictRow

from dongne.db.router import ShardRouter
from dongne.seed.demo import seed_demo


async def test_demo_seed_builds_a_consistent_board(
    router: ShardRouter, db: psycopg.Connection[DictRow]
) -> None:
    report = await seed_demo(router, questions=120)
    assert report.questions == 120
    counts = db.execute(
        "SELECT (SELECT count(*) FROM questions) AS questions, "
        "(SELECT count(*) FROM answers) AS answers, "
        "(SELECT count(*) FROM answers WHERE is_accepted) AS accepted, "
        "(SELECT count(DISTINCT region_code) FROM questions) AS districts"
    ).fetchone()
    assert counts == {
        "questions": 120,
        "answers": report.answers,
        "accepted": report.accepted,
        "districts": 43,
    }
    assert report.accepted > 10

    drift = db.execute(
        "SELECT count(*) AS n FROM questions q WHERE answer_count <> "
        "(SELECT count(*) FROM answers a WHERE a.question_id = q.id AND a.deleted_at IS NULL) "
        "OR like_count <> (SELECT count(*) FROM question_likes l WHERE l.question_id = q.id)"
    ).fetchone()
    assert drift == {"n": 0}
    ledger = db.execute(
        "SELECT count(*) AS n FROM users u WHERE point_balance <> "
        "coalesce((SELECT sum(amount) FROM point_transactions t WHERE t.user_id = u.id), 0)"
    ).fetchone()
    assert ledger == {"n": 0}
    awarded = db.execute(
        "SELECT sum(amount) AS points FROM point_transactions "
        "WHERE transaction_type = 'earn_accepted_answer'"
    ).fetchone()
    assert awarded == {"points": 150 * report.accepted}
    answered = db.execute(
        "SELECT count(*) AS n FROM questions WHERE status = 'answered' "
        "AND accepted_answer_id IS NOT NULL"
    ).fetchone()
    assert answered == {"n": report.accepted}
    located = db.execute(
        "SELECT count(*) AS n FROM questions q, region_at(q.location, 0) r "
        "WHERE q.location IS NOT NULL AND r.code <> q.region_code"
    ).fetchone()
    assert located == {"n": 0}


async def test_seeding_twice_adds_nothing(
    router: ShardRouter, db: psycopg.Connection[DictRow]
) -> None:
    before = db.execute("SELECT count(*) AS n FROM questions").fetchone()
    report = await seed_demo(router, questions=50)
    assert report.skipped
    assert db.execute("SELECT count(*) AS n FROM questions").fetchone() == before


async def test_every_demo_question_reaches_the_search_index(
    router: ShardRouter, db: psycopg.Connection[DictRow]
) -> None:
    from dongne.outbox.worker import OutboxWorker
    from dongne.search import services

    await seed_demo(router, questions=120)  # a no-op when this module seeded already
    worker = OutboxWorker(router)
    while await worker.run_once():
        pass
    # Unanswered questions too: they have no answer event to re-sync them.
    unanswered = db.execute("SELECT count(*) AS n FROM questions WHERE answer_count = 0")
    assert unanswered.fetchone() != {"n": 0}
    drift = await services.check(router)
    assert drift.visible >= 120 and drift.total == 0, drift
