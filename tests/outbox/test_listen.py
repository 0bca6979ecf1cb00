"""The long-running worker: it delivers what piled up while it was down, and a
NOTIFY wakes it long before its poll interval."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from uuid import uuid4

import psycopg
import pytest
from psycopg.rows import DictRow

from dongne.db.router import ShardRouter
from dongne.outbox.worker import OutboxWorker
from tests.outbox.support import effect_registry, effects, enqueue, reset

# Far longer than any wait below: a delivery seen within WAIT_S was not a poll.
POLL_INTERVAL_S = 60.0
WAIT_S = 10.0


@pytest.fixture(autouse=True)
def _clean(db: psycopg.Connection[DictRow]) -> None:
    reset(db)


@asynccontextmanager
async def running(worker: OutboxWorker) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield task
    finally:
        stop.set()
        # Stopping must not wait for the poll interval either.
        await asyncio.wait_for(task, timeout=WAIT_S)


async def eventually(check: Callable[[], bool]) -> bool:
    """Poll ``check`` for up to WAIT_S seconds."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.05)
    return check()


async def test_events_written_while_no_worker_ran_are_delivered_once_on_start(
    db: psycopg.Connection[DictRow], router: ShardRouter
) -> None:
    ids = [enqueue(db, uuid4()) for _ in range(25)]
    worker = OutboxWorker(router, effect_registry("late"), poll_interval_s=POLL_INTERVAL_S)

    async with running(worker):
        assert await eventually(lambda: len(effects(db)) >= 25)
        await asyncio.wait_for(worker.idle.wait(), timeout=WAIT_S)

    assert sorted(r["event_id"] for r in effects(db)) == sorted(ids)
    # A restart delivers nothing again.
    async with running(OutboxWorker(router, effect_registry("again"))) as _:
        await asyncio.sleep(0.3)
    assert len(effects(db)) == 25


async def test_notify_wakes_an_idle_worker(
    db: psycopg.Connection[DictRow], router: ShardRouter
) -> None:
    worker = OutboxWorker(router, effect_registry("idle"), poll_interval_s=POLL_INTERVAL_S)
    async with running(worker) as task:
        await asyncio.wait_for(worker.idle.wait(), timeout=WAIT_S)
        assert not task.done()

        event = enqueue(db, uuid4())  # commits, and the trigger's NOTIFY with it

        assert await eventually(lambda: [r["event_id"] for r in effects(db)] == [event])
        # And again after going back to sleep: every burst wakes it.
        await asyncio.wait_for(worker.idle.wait(), timeout=WAIT_S)
        second = enqueue(db, uuid4())
        assert await eventually(lambda: len(effects(db)) == 2)
    assert [r["event_id"] for r in effects(db)] == [event, second]


async def test_without_notify_the_poll_interval_still_delivers(
    db: psycopg.Connection[DictRow], router: ShardRouter
) -> None:
    worker = OutboxWorker(router, effect_registry("poller"), poll_interval_s=0.5)
    db.execute("ALTER TABLE outbox DISABLE TRIGGER outbox_notify")
    try:
        async with running(worker):
            await asyncio.wait_for(worker.idle.wait(), timeout=WAIT_S)
            event = enqueue(db, uuid4())
            assert await eventually(lambda: len(effects(db)) == 1)
    finally:
        db.execute("ALTER TABLE outbox ENABLE TRIGGER outbox_notify")
    assert [r["event_id"] for r in effects(db)] == [event]
