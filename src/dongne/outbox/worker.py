"""The outbox worker: claims due events, runs their handlers, settles them.

Delivery semantics
------------------
* **Database effects: exactly once.** A batch is one transaction: the claim
  (``FOR UPDATE SKIP LOCKED``), every handler of every event, and the marks
  ``processed_at`` commit together. Each event runs in its own savepoint, so a
  failing handler rolls back only its own event's effects, and its failed
  attempt (attempts + 1, last_error, backoff) is recorded in the same
  transaction. An event whose effects committed is never handled again; one
  whose transaction did not commit has no effects and is handled again later.
* **Delivery: at least once.** A handler may run for an event more than once
  (a failed attempt, a batch rolled back, a lost connection, a commit that
  failed) though only one run's effects ever commit; and an operator may
  replay events (requeue, reset ``processed_at``, restore a backup). So
  handlers are idempotent too: unique keys, upgrade-only writes, ledger
  idempotency keys.
* **After-commit callbacks: at most once**, and only after the commit
  succeeded. They suit derived, loss-tolerant work (cache invalidation,
  WebSocket pushes whose clients re-read the inbox); a crash between the commit
  and the callback skips them.
* **Order: per aggregate.** An event is claimed only when no earlier event of
  its aggregate is pending, so one aggregate's events are handled one after
  another in id order, while other aggregates proceed in parallel. A failing
  event holds back its own aggregate until it succeeds or dies; a dead event
  releases it. Id order is insertion order: two transactions racing to write
  events of one aggregate may commit in the other order (today's such events,
  like two answers to one question, commute).
* **Dead letters.** After ``max_attempts`` failed attempts (or at once for an
  :class:`~dongne.outbox.handlers.InvalidEventError`) an event gets ``dead_at``
  and is never claimed again until requeued.
* **Lock conflicts** between concurrent batches (deadlock, lock or
  serialization failure) are not the event's fault: the event is rolled back to
  its savepoint and retried alone right after its batch commits, without
  counting an attempt. Only a second failure counts.
* **Unknown topics** (no handler registered) are marked processed with
  ``last_error = 'no handler for topic'`` and a warning logged once per topic
  and process: producers may ship topics before their consumers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum

import psycopg
from psycopg import AsyncConnection, errors, sql
from psycopg.rows import DictRow

from dongne.db.router import ShardRouter, Workload
from dongne.outbox import repository
from dongne.outbox.handlers import HandlerRegistry, InvalidEventError, default_registry
from dongne.outbox.repository import OutboxEvent

logger = logging.getLogger(__name__)

EventCallback = Callable[[OutboxEvent], Awaitable[None]]

NO_HANDLER = "no handler for topic"
# While a due head event is locked by another worker, wait at least this long
# before looking again instead of spinning; that worker will handle it.
_MIN_IDLE_WAIT_S = 0.5
_RECONNECT_DELAY_S = (1.0, 30.0)


class _Outcome(Enum):
    PROCESSED = "processed"
    FAILED = "failed"
    # Lost a lock conflict with another worker's batch: retried right after
    # this batch commits, alone, without counting as a failed attempt.
    RETRY_ALONE = "retry_alone"


# Lock conflicts between concurrent batches, not faults of the event.
_TRANSIENT = (errors.DeadlockDetected, errors.LockNotAvailable, errors.SerializationFailure)


@dataclass
class _Batch:
    claimed: int = 0
    processed: list[OutboxEvent] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    retry_alone: list[int] = field(default_factory=list)

    def add(self, event: OutboxEvent, outcome: _Outcome) -> None:
        if outcome is _Outcome.PROCESSED:
            self.processed.append(event)
        elif outcome is _Outcome.FAILED:
            self.failed.append(event.id)
        else:
            self.retry_alone.append(event.id)


class OutboxWorker:
    """Delivers one shard's outbox. Run several (processes or tasks) for throughput."""

    def __init__(
        self,
        router: ShardRouter,
        registry: HandlerRegistry | None = None,
        *,
        shard: str | None = None,
        batch_size: int = 20,
        poll_interval_s: float = 5.0,
        max_attempts: int = 10,
        backoff_base_s: float = 2.0,
        backoff_cap_s: float = 15 * 60.0,
        statement_timeout_s: float = 30.0,
        after_commit: Sequence[EventCallback] = (),
        retention: timedelta = timedelta(days=7),
        purge_every_s: float = 3600.0,
    ) -> None:
        if batch_size < 1 or max_attempts < 1:
            raise ValueError("batch_size and max_attempts must be at least 1")
        if backoff_base_s <= 0 or backoff_cap_s < backoff_base_s or poll_interval_s <= 0:
            raise ValueError("backoff and poll intervals must be positive, cap ≥ base")
        self._router = router
        self._registry = registry if registry is not None else default_registry()
        self._shard = shard or router.default_shard
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self._statement_timeout_ms = int(statement_timeout_s * 1000)
        self._after_commit = list(after_commit)
        self._retention = retention
        self._purge_every_s = purge_every_s
        self._next_purge = time.monotonic()
        self._warned_topics: set[str] = set()
        # Set while run() waits for work: lets callers (tests, health checks)
        # see that the worker is idle and listening.
        self.idle = asyncio.Event()

    @property
    def shard(self) -> str:
        return self._shard

    # -- processing -------------------------------------------------------

    async def run_once(self) -> int:
        """Process every event due now (including ones handlers add meanwhile);
        return how many were settled as processed.

        An event that fails is not retried within the same call, whatever its
        backoff: a call always ends.
        """
        processed = 0
        failed: set[int] = set()
        while True:
            batch = await self._process_batch(exclude=failed)
            if batch.claimed == 0:
                return processed
            processed += len(batch.processed)
            failed.update(batch.failed)

    async def _process_batch(self, *, exclude: Iterable[int]) -> _Batch:
        """One transaction: claim a batch, handle each event in its own savepoint."""
        batch = _Batch()
        events: list[OutboxEvent] = []
        async with self._router.connection(Workload.BACKGROUND, shard=self._shard) as conn:
            body_done = False
            try:
                async with conn.transaction():
                    await self._limit_statements(conn)
                    events = await repository.claim_batch(
                        conn, self.batch_size, exclude=sorted(exclude)
                    )
                    batch.claimed = len(events)
                    for event in events:
                        batch.add(event, await self._handle(conn, event, alone=False))
                    body_done = True
            except psycopg.Error:
                if not body_done:
                    raise
                # COMMIT itself failed (a deferred constraint, say): nothing of
                # the batch happened. Handle its events one per transaction so
                # the culprit is found and counted and the others get through.
                logger.warning(
                    "outbox batch of %d failed at commit; retrying one by one", len(events)
                )
                return await self._one_by_one(events)
        await self._run_callbacks(batch.processed)
        if batch.retry_alone:
            alone = await self._one_by_one(
                [event for event in events if event.id in batch.retry_alone]
            )
            batch.processed.extend(alone.processed)
            batch.failed.extend(alone.failed)
        return batch

    async def _limit_statements(self, conn: AsyncConnection[DictRow]) -> None:
        # A handler stuck on a lock fails its own event (and is retried)
        # instead of holding its batch forever.
        await conn.execute(
            "SELECT set_config('statement_timeout', %s, true)", (str(self._statement_timeout_ms),)
        )

    async def _one_by_one(self, events: list[OutboxEvent]) -> _Batch:
        batch = _Batch(claimed=len(events))
        for claimed in events:
            # Whatever an earlier, uncommitted try registered must not run.
            claimed.discard_deferred()
            outcome = await self._process_single(claimed)
            if outcome is not None:
                batch.add(claimed, outcome)
        await self._run_callbacks(batch.processed)
        return batch

    async def _process_single(self, claimed: OutboxEvent) -> _Outcome | None:
        """The event in a transaction of its own; None if it was settled or
        taken by another worker meanwhile."""
        async with self._router.connection(Workload.BACKGROUND, shard=self._shard) as conn:
            handled: OutboxEvent | None = None  # set once the body ran to the end
            try:
                async with conn.transaction():
                    await self._limit_statements(conn)
                    event = await repository.claim_one(conn, claimed.id)
                    if event is None:
                        return None
                    outcome = await self._handle(conn, event, alone=True)
                    handled = event
            except psycopg.Error as error:
                if handled is None:
                    raise
                # This event alone fails at commit: count the attempt.
                async with conn.transaction():
                    await self._record_failure(conn, handled, error)
                return _Outcome.FAILED
        # Callbacks the handlers registered travel with the event the caller holds.
        for callback in event.deferred:
            claimed.after_commit(callback)
        return outcome

    async def _handle(
        self, conn: AsyncConnection[DictRow], event: OutboxEvent, *, alone: bool
    ) -> _Outcome:
        """Run the event's handlers and mark it processed, all in one savepoint.
        On failure roll back to the savepoint and record the attempt instead."""
        handlers = self._registry.handlers_for(event.topic)
        if not handlers:
            if event.topic not in self._warned_topics:
                self._warned_topics.add(event.topic)
                logger.warning(
                    "outbox topic %r has no handler; marking its events processed", event.topic
                )
            await repository.mark_processed(conn, event.id, note=NO_HANDLER)
            return _Outcome.PROCESSED
        try:
            async with conn.transaction():
                for handler in handlers:
                    await handler(conn, event)
                await repository.mark_processed(conn, event.id)
        except Exception as error:
            if conn.broken:
                raise
            event.discard_deferred()
            if isinstance(error, _TRANSIENT) and not alone:
                logger.info("outbox event #%d hit a lock conflict; retrying alone", event.id)
                return _Outcome.RETRY_ALONE
            await self._record_failure(conn, event, error)
            return _Outcome.FAILED
        return _Outcome.PROCESSED

    async def _record_failure(
        self, conn: AsyncConnection[DictRow], event: OutboxEvent, error: BaseException
    ) -> None:
        failure = await repository.record_failure(
            conn,
            event.id,
            f"{type(error).__name__}: {error}",
            max_attempts=self.max_attempts,
            backoff_base_s=self.backoff_base_s,
            backoff_cap_s=self.backoff_cap_s,
            give_up=isinstance(error, InvalidEventError),
        )
        if failure is None:
            return
        if failure.dead:
            logger.error(
                "outbox event #%d (%s) is dead after %d attempt(s): %s",
                event.id, event.topic, failure.attempts, error,
                exc_info=error,
            )  # fmt: skip
        else:
            logger.warning(
                "outbox event #%d (%s) failed (attempt %d), retrying at %s: %s",
                event.id, event.topic, failure.attempts, failure.available_at.isoformat(), error,
            )  # fmt: skip

    async def _run_callbacks(self, events: list[OutboxEvent]) -> None:
        """Post-commit work. Its failures are logged, never undo or retry the event."""
        for event in events:
            callbacks: list[Callable[[], Awaitable[None]]] = [
                functools.partial(callback, event) for callback in self._after_commit
            ]
            callbacks.extend(event.deferred)
            event.discard_deferred()
            for callback in callbacks:
                try:
                    await callback()
                except Exception:
                    logger.exception("after-commit callback failed for outbox event #%d", event.id)

    # -- the long-running loop ---------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Process events until ``stop`` is set; sleep on NOTIFY or the poll interval.

        Survives database restarts: a lost connection is logged and retried
        with a growing delay. A batch in progress finishes before stopping.
        """
        delay = _RECONNECT_DELAY_S[0]
        while not stop.is_set():
            try:
                await self._listen_and_serve(stop)
            except (psycopg.Error, OSError):
                logger.exception("outbox worker lost its database; retrying in %.0f s", delay)
                await _wait_for(stop, delay)
                delay = min(delay * 2, _RECONNECT_DELAY_S[1])
            else:
                delay = _RECONNECT_DELAY_S[0]

    async def _listen_and_serve(self, stop: asyncio.Event) -> None:
        # The listening connection is held for as long as the worker runs: a
        # pooled connection handed back would keep receiving our notifications.
        async with self._router.connection(Workload.BACKGROUND, shard=self._shard) as listener:
            # LISTEN before the first pass: an event committed while that pass
            # runs still leaves a notification to wake the wait after it.
            await listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(repository.CHANNEL)))
            try:
                while not stop.is_set():
                    handled = await self.run_once()
                    if handled:
                        logger.info("outbox: %d event(s) processed", handled)
                    await self._maybe_purge()
                    if stop.is_set():
                        break
                    wait_s = await self._idle_wait_s()
                    self.idle.set()
                    try:
                        await self._wait_for_notify(listener, stop, wait_s)
                    finally:
                        self.idle.clear()
            finally:
                if not listener.broken:
                    with contextlib.suppress(psycopg.Error):
                        await listener.execute("UNLISTEN *")

    async def _idle_wait_s(self) -> float:
        async with self._router.connection(Workload.BACKGROUND, shard=self._shard) as conn:
            seconds = await repository.seconds_until_due(conn)
        if seconds is None:
            return self.poll_interval_s
        return min(self.poll_interval_s, max(seconds, _MIN_IDLE_WAIT_S))

    async def _wait_for_notify(
        self, listener: AsyncConnection[DictRow], stop: asyncio.Event, wait_s: float
    ) -> None:
        """Return on a notification, on ``stop``, or after ``wait_s`` seconds."""

        async def notified() -> None:
            async with aclosing(listener.notifies(timeout=wait_s, stop_after=1)) as first:
                async for _ in first:
                    break
            # One wake-up per burst: drop what else has arrived, the next pass
            # reads the table anyway.
            async with aclosing(listener.notifies(timeout=0)) as rest:
                async for _ in rest:
                    pass

        waiter = asyncio.ensure_future(notified())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, stopper):
                task.cancel()
            results = await asyncio.gather(waiter, stopper, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                raise result

    async def _maybe_purge(self) -> None:
        if time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + self._purge_every_s
        async with self._router.connection(Workload.BACKGROUND, shard=self._shard) as conn:
            purged = await repository.purge_processed(conn, self._retention)
        if purged:
            logger.info("outbox: purged %d processed event(s)", purged)


async def _wait_for(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
