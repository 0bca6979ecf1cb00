"""The outbox worker against the real database: exactly-once effects under
concurrent workers, per-aggregate order, retries with backoff, dead letters,
commit failures and post-commit callbacks."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from datetime import timedelta
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row

from dongne.db.router import ShardRouter, Workload
from dongne.outbox import repository
from dongne.outbox.handlers import HandlerRegistry, InvalidEventError
from dongne.outbox.repository import OutboxEvent
from dongne.outbox.worker import NO_HANDLER, OutboxWorker
from tests.outbox.support import EFFECT, effect_registry, effects, enqueue, outbox_row, reset

FLAKY = "test.flaky"


@pytest.fixture(autouse=True)
def _clean(db: psycopg.Connection[DictRow]) -> None:
    reset(db)


def _flaky_registry(worker: str = "w") -> HandlerRegistry:
    registry = effect_registry(worker)

    @registry.on(FLAKY)
    async def fail(conn: AsyncConnection[DictRow], event: OutboxEvent) -> None:
        # Writes first, so a leak of its effects past the rollback would show.
        await conn.execute(
            "INSERT INTO test_effects (event_id, aggregate_id, worker) VALUES (%s, %s, 'flaky')",
            (event.id, event.aggregate_id),
        )
        raise RuntimeError("boom: the neighbour service is down")

    return registry


async def test_two_workers_deliver_every_event_exactly_once(
    db: psycopg.Connection[DictRow], router: ShardRouter
) -> None:
    aggregates = [uuid4() for _ in range(40)]
    ids = [enqueue(db, aggregates[n % 40]) for n in range(200)]
    first = OutboxWorker(router, effect_registry("first"), batch_size=7)
    second = OutboxWorker(router, effect_registry("second"), batch_size=7)

    counts = await asyncio.gather(first.run_once(), second.run_once())

    assert sum(counts) == 200
    assert all(count > 0 for count in counts), "both workers should have taken part"
    rows = effects(db)
    assert sorted(r["event_id"] for r in rows) == sorted(ids)  # each once, none doubled
    assert {r["worker"] for r in rows} == {"first", "second"}
    pending = db.execute("SELECT count(*) AS n FROM outbox WHERE processed_at IS NULL").fetchone()
    assert pending == {"n": 0}
    # Running again finds nothing: processed events are never handed out twice.
    assert await first.run_once() == 0
    assert len(effects(db)) == 200


async def test_events_of_one_aggregate_are_handled_in_order(
    db: psycopg.Connection[DictRow], router: ShardRouter
) -> None:
    shuffle = random.Random(7)
    aggregates = [uuid4() for _ in range(4)]
    for _ in range(120):
        enqueue(db, shuffle.choice(aggregates))

    def slow_registry(worker: str) -> HandlerRegistry:
        registry = HandlerRegistry()

        @registry.on(EFFECT)
        async def record(conn: AsyncConnection[DictRow], event: OutboxEvent) -> None:
            # Uneven pauses give a worker holding a later event every chance
            # to overtake one holding an earlier event of the same aggregate.
            await conn.execute("SELECT pg_sleep(random() * 0.004)")
            await conn.execute(
                "INSERT INTO test_effects (event_id, aggregate_id, worker) VALUES (%s, %s, %s)",
                (event.id, event.aggregate_id, worker),
            )

        return registry

    workers = [OutboxWorker(router, slow_registry(name), batch_size=5) for name in "abc"]
    counts = await asyncio.gather(*(w.run_once() for w in workers))

    assert sum(counts) == 120
    seen: dict[UUID, list[int]] = defaultdict(list)
    for row in effects(db):  # in the order the handlers ran
        seen[row["aggregate_id"]].append(row["event_id"])
    assert set(seen) == set(aggregates)
    for handled in seen.values():
        assert handled == sorted(handled)
    assert sum(len(handled) for handled in seen.values()) == 120


async def test_a_failing_event_retries_with_backoff_and_dies_without_blocking_others(
    db: psycopg.Connection[DictRow], router: ShardRouter
) -> None:
    stuck, other = uuid4(), uuid4()
    failing = enqueue(db, stuck, FLAKY)
    behind = enqueue(db, stuck)  # same aggregate: must wait for the failing one
    independent = enqueue(db, other)
    worker = OutboxWorker(
        router, _flaky_registry(), max_attempts=3, backoff_base_s=10, backoff_cap_s=15
    )

    assert await worker.run_once() == 1
    row = outbox_row(db, failing)
    assert row["attempts"] == 1
    assert "RuntimeError: boom" in row["last_error"]
    assert row["processed_at"] is None and row["dead_at"] is None
    assert 8 < row["due_in"] <= 10  # base · 2⁰
    assert outbox_row(db, behind)["processed_at"] is None
    assert outbox_row(db, independent)["processed_at"] is not None
    assert [r["event_id"] for r in effects(db)] == [independent]  # the failure left nothing

    # Not due yet: nothing happens however often the worker looks.
    assert await worker.run_once() == 0
    assert outbox_row(db, failing)["attempts"] == 1

    db.execute("UPDATE outbox SET available_at = now() WHERE id = %s", (failing,))
    assert await worker.run_once() == 0
    row = outbox_row(db, failing)
    assert row["attempts"] == 2
    assert 13 < row["due_in"] <= 15  # base · 2¹ = 20, capped at 15
    assert outbox_row(db, behind)["processed_at"] is None

    db.execute("UPDATE outbox SET available_at = now() WHERE id = %s", (failing,))
    # Third and last attempt: dead. A dead event releases its aggregate, so the
    # event behind it is delivered in the same pass.
    assert await worker.run_once() == 1
    row = outbox_row(db, failing)
    assert row["attempts"] == 3
    assert row["dead_at"] is not None and row["processed_at"] is None
    assert "boom" in row["last_error"]
    assert outbox_row(db, behind)["processed_at"] is not None
    assert [r["event_id"] for r in effects(db)] == [independent, behind]

    async with router.connection(Workload.BACKGROUND) as conn:
        dead = await repository.dead_events(conn)
        assert [d["id"] for d in dead] == [failing]
        assert await repository.requeue_dead(conn, failing)
        assert not await repository.requeue_dead(conn, independent)  # not dead
    row = outbox_row(db, failing)
    assert (row["attempts"], row["dead_at"]) == (0, None)
    assert await worker.run_once() == 0
    assert outbox_row(db, failing)["attempts"] == 1  # claimed and tried again


async def test_a_malformed_event_goes_dead_at_once(
    db: psycopg.Connection[DictRow], router: ShardRouter
) -> None:
    registry = HandlerRegistry()

    @registry.on("test.malformed")
    async def reject(conn: AsyncConnection[DictRow], event: OutboxEvent) -> None:
        raise InvalidEventError("payload.answer_id is missing")

    event = enqueue(db, uuid4(), "test.malformed")
    assert await OutboxWorker(router, registry, max_attempts=10).run_once() == 0
    row = outbox_row(db, event)
    assert row["attempts"] == 1
    assert row["dead_at"] is not None
    assert "answer_id is missing" in row["last_error"]


async def test_unknown_topics_are_marked_processed_with_a_warning(
    db: psycopg.Connection[DictRow], router: ShardRouter, caplog: pytest.LogCaptureFixture
) -> None:
    first = enqueue(db, uuid4(), "future.topic")
    second = enqueue(db, uuid4(), "future.topic")
    worker = OutboxWorker(router, effect_registry("w"))
    with caplog.at_level(logging.WARNING, logger="dongne.outbox.worker"):
        assert await worker.run_once() == 2
    for event in (first, second):
        row = outbox_row(db, event)
        assert row["processed_at"] is not None
        assert row["last_error"] == NO_HANDLER
    warnings = [r for r in caplog.records if "future.topic" in r.getMessage()]
    assert len(warnings) == 1  # once per topic, not once per event


async def test_after_commit_callbacks_run_only_after_a_commit(
    db: psycopg.Connection[DictRow], router: ShardRouter, database_url: str
) -> None:
    seen: list[tuple[str, int, bool]] = []

    async def committed(event_id: int) -> bool:
        # A separate connection sees only committed data.
        async with await AsyncConnection.connect(database_url, row_factory=dict_row) as other:
            cursor = await other.execute(
                "SELECT processed_at IS NOT NULL AS done FROM outbox WHERE id = %s", (event_id,)
            )
            row = await cursor.fetchone()
        return bool(row and row["done"])

    async def on_any(event: OutboxEvent) -> None:
        seen.append(("worker", event.id, await committed(event.id)))

    async def broken(event: OutboxEvent) -> None:
        raise RuntimeError("a callback failing must not undo or retry anything")

    registry = HandlerRegistry()

    @registry.on(EFFECT)
    async def succeed(conn: AsyncConnection[DictRow], event: OutboxEvent) -> None:
        async def push() -> None:
            seen.append(("handler", event.id, await committed(event.id)))

        event.after_commit(push)

    @registry.on(FLAKY)
    async def fail(conn: AsyncConnection[DictRow], event: OutboxEvent) -> None:
        async def push() -> None:
            seen.append(("rolled back", event.id, True))

        event.after_commit(push)
        raise RuntimeError("boom")

    good = enqueue(db, uuid4())
    bad = enqueue(db, uuid4(), FLAKY)
    worker = OutboxWorker(router, registry, after_commit=[broken, on_any])
    assert await worker.run_once() == 1

    assert sorted(seen) == [("handler", good, True), ("worker", good, True)]
    assert outbox_row(db, bad)["attempts"] == 1
    assert outbox_row(db, good)["last_error"] is None


async def test_a_commit_failure_is_pinned_on_its_event(
    db: psycopg.Connection[DictRow], router: ShardRouter
) -> None:
    # A deferred unique key fails at COMMIT, after every handler returned:
    # the whole batch rolls back, and the worker must still single out the culprit.
    db.execute(
        "CREATE TABLE IF NOT EXISTS test_deferred (k int UNIQUE DEFERRABLE INITIALLY DEFERRED)"
    )
    db.execute("TRUNCATE test_deferred")
    registry = effect_registry("w")

    @registry.on("test.commit_fails")
    async def violate(conn: AsyncConnection[DictRow], event: OutboxEvent) -> None:
        await conn.execute("INSERT INTO test_deferred VALUES (1), (1)")

    @registry.on(EFFECT)
    async def defer(conn: AsyncConnection[DictRow], event: OutboxEvent) -> None:
        async def pushed() -> None:
            calls.append(("handler", event.id))

        event.after_commit(pushed)

    async def on_any(event: OutboxEvent) -> None:
        calls.append(("worker", event.id))

    calls: list[tuple[str, int]] = []
    before = enqueue(db, uuid4())
    culprit = enqueue(db, uuid4(), "test.commit_fails")
    after = enqueue(db, uuid4())
    worker = OutboxWorker(router, registry, batch_size=10, after_commit=[on_any])

    assert await worker.run_once() == 2
    assert sorted(r["event_id"] for r in effects(db)) == [before, after]
    # The first, failed commit's callbacks are gone; the retry's ran once each.
    assert sorted(calls) == sorted(
        [("handler", before), ("handler", after), ("worker", before), ("worker", after)]
    )
    row = outbox_row(db, culprit)
    assert row["attempts"] == 1 and row["processed_at"] is None
    assert "UniqueViolation" in row["last_error"]
    assert db.execute("SELECT count(*) AS n FROM test_deferred").fetchone() == {"n": 0}


async def test_a_deadlock_between_workers_costs_no_attempt(
    db: psycopg.Connection[DictRow], router: ShardRouter, caplog: pytest.LogCaptureFixture
) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS test_locks (k int PRIMARY KEY)")
    db.execute("INSERT INTO test_locks VALUES (1), (2) ON CONFLICT DO NOTHING")
    registry = effect_registry("w")

    @registry.on("test.lock")
    async def lock(conn: AsyncConnection[DictRow], event: OutboxEvent) -> None:
        await conn.execute(
            "SELECT k FROM test_locks WHERE k = %s FOR UPDATE", (event.payload["row"],)
        )
        # Holds the row while the other worker takes its first one.
        await conn.execute("SELECT pg_sleep(0.3)")
        await conn.execute(
            "INSERT INTO test_effects (event_id, aggregate_id, worker) VALUES (%s, %s, 'w')",
            (event.id, event.aggregate_id),
        )

    # Two batches of two that lock rows 1, 2 and 2, 1: a classic deadlock.
    ids = [enqueue(db, uuid4(), "test.lock", {"row": row}) for row in (1, 2, 2, 1)]
    workers = [OutboxWorker(router, registry, batch_size=2) for _ in range(2)]
    with caplog.at_level(logging.INFO, logger="dongne.outbox.worker"):
        counts = await asyncio.gather(*(w.run_once() for w in workers))

    assert sum(counts) == 4
    assert sorted(r["event_id"] for r in effects(db)) == ids
    assert any("lock conflict" in r.getMessage() for r in caplog.records)
    for event in ids:
        row = outbox_row(db, event)
        assert row["processed_at"] is not None
        assert (row["attempts"], row["last_error"]) == (0, None)


async def test_events_added_by_handlers_are_delivered_in_the_same_pass(
    db: psycopg.Connection[DictRow], router: ShardRouter
) -> None:
    registry = effect_registry("w")

    @registry.on("test.chain")
    async def chain(conn: AsyncConnection[DictRow], event: OutboxEvent) -> None:
        await repository.enqueue(conn, EFFECT, "test", event.aggregate_id, {})

    aggregate = uuid4()
    enqueue(db, aggregate, "test.chain")
    assert await OutboxWorker(router, registry).run_once() == 2
    assert [r["aggregate_id"] for r in effects(db)] == [aggregate]


async def test_purge_removes_only_old_processed_events(
    db: psycopg.Connection[DictRow], router: ShardRouter
) -> None:
    old, recent, pending, dead = (enqueue(db, uuid4()) for _ in range(4))
    db.execute("UPDATE outbox SET processed_at = now() - interval '8 days' WHERE id = %s", (old,))
    db.execute("UPDATE outbox SET processed_at = now() WHERE id = %s", (recent,))
    db.execute(
        "UPDATE outbox SET dead_at = now() - interval '30 days', attempts = 10 WHERE id = %s",
        (dead,),
    )
    async with router.connection(Workload.BACKGROUND) as conn:
        assert await repository.purge_processed(conn, timedelta(days=7)) == 1
    left = db.execute("SELECT id FROM outbox ORDER BY id").fetchall()
    assert [r["id"] for r in left] == [recent, pending, dead]


def test_processed_and_dead_are_exclusive(db: psycopg.Connection[DictRow]) -> None:
    event = enqueue(db, uuid4())
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            "UPDATE outbox SET processed_at = now(), dead_at = now() WHERE id = %s", (event,)
        )
