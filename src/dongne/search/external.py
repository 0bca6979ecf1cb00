"""Keeping an external search index (Elasticsearch) in step with PostgreSQL.

PostgreSQL is the truth, and a write to Elasticsearch cannot be part of a
PostgreSQL transaction. So the work is split in two, around a durable queue
(``search_external_sync``, migration 0015):

1. **Recording, inside the outbox worker's transaction.** The search handlers
   (``search.sync``) call :func:`enqueue` for every question whose document
   may have changed. The row commits with the event's "processed" mark, or
   neither commits and the event is handled again: no change is ever dropped
   between the event and the queue.
2. **Sending, outside any transaction.** :class:`ExternalIndexSyncer` claims
   due rows, reads each question's *current* state with ``SOURCE_SQL`` (the
   query the reindex uses), and writes one bulk request: the document when the
   question is visible, a delete when it is hidden, deleted or gone. A row is
   marked synced only after the index acknowledged it, and only if no newer
   request arrived meanwhile; failures stay queued with exponential backoff,
   forever (``dongne search check`` shows them).

Every request draws a number from ``search_external_seq``; it is also the
document's external version, and the index ignores a write whose version is
not above the one it holds. Two syncers racing on one question (an expired
lease, two processes) therefore cannot leave the older state behind.

``services.reindex_elasticsearch`` builds a new index version with the number
drawn when it started, and after swapping the alias re-queues every question
requested since (``seq`` above that number): updates that arrived during the
build reach the new index too. See docs/search.md, "Elasticsearch sync".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from psycopg import AsyncConnection, errors
from psycopg.rows import DictRow

from dongne.config import Settings
from dongne.db.router import ShardRouter, Workload
from dongne.outbox.repository import OutboxEvent
from dongne.search.elasticsearch import SOURCE_SQL, document

logger = logging.getLogger(__name__)

_MAX_ERROR_LENGTH = 2000


@dataclass(frozen=True)
class IndexChange:
    """One question's wanted state in the index: its document, or None to remove it."""

    question_id: str
    version: int
    document: dict[str, Any] | None


class ExternalSearchIndex(Protocol):
    """Where the syncer writes. The Elasticsearch backend is one; tests hold another."""

    async def apply(self, changes: Sequence[IndexChange]) -> dict[str, str]:
        """Write ``changes`` in one request and return {question id: error} of those
        that failed. A change whose version is not above the version the index holds
        is skipped and counts as done: the index already has a newer state. Raises
        when the request as a whole failed."""
        ...

    async def ids(self) -> set[str]:
        """Every question id the index holds (for the drift report)."""
        ...


class IndexBuilder(Protocol):
    """Building a new index version behind the alias (the reindex); blocking calls."""

    def create_index(self, *, shards: int, replicas: int) -> str:
        """A new, empty index version; its name."""
        ...

    def write(self, index: str, changes: Sequence[IndexChange]) -> dict[str, str]:
        """Like :meth:`ExternalSearchIndex.apply`, into one named index version."""
        ...

    def publish(self, index: str) -> list[str]:
        """Make ``index`` searchable and the alias's only index, atomically;
        return the index versions the alias pointed at before."""
        ...

    def delete_indices(self, indices: Iterable[str]) -> None: ...


# -- the queue (SQL; functions never commit) ---------------------------------

# Sorted input: concurrent workers lock the rows in one order. A new request
# makes the row due at once and forgets an earlier failure's backoff.
_ENQUEUE = """
INSERT INTO search_external_sync (question_id, seq)
SELECT id, nextval('search_external_seq') FROM unnest(%s::uuid[]) AS id ORDER BY id
ON CONFLICT (question_id) DO UPDATE
SET seq = EXCLUDED.seq, attempts = 0, available_at = now(), last_error = NULL
"""

# SKIP LOCKED: syncers never wait for each other. The lease keeps another
# syncer off the rows while this one writes; if it dies, they come due again.
_CLAIM = """
WITH due AS (
    SELECT question_id FROM search_external_sync
    WHERE seq > synced_seq AND available_at <= now()
    ORDER BY available_at, question_id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE search_external_sync s
SET available_at = now() + make_interval(secs => %(lease_s)s)
FROM due WHERE s.question_id = due.question_id
RETURNING s.question_id, s.seq
"""

# A request that arrived while the write was in flight raised seq above the
# claimed one: the row stays pending (and due), so the newer state is sent as
# well. "AND s.seq = c.seq" also keeps a slower syncer that claimed an older
# seq from touching a row a newer one already settled.
_SYNCED = """
UPDATE search_external_sync s SET synced_seq = c.seq, attempts = 0, last_error = NULL
FROM unnest(%(ids)s::uuid[], %(seqs)s::bigint[]) AS c(question_id, seq)
WHERE s.question_id = c.question_id AND s.seq = c.seq
"""

_FAILED = """
UPDATE search_external_sync s
SET attempts = s.attempts + 1, last_error = c.error,
    available_at = now() + make_interval(
        secs => least(%(cap_s)s, %(base_s)s * power(2, least(s.attempts, 30))))
FROM unnest(%(ids)s::uuid[], %(seqs)s::bigint[], %(errors)s::text[]) AS c(question_id, seq, error)
WHERE s.question_id = c.question_id AND s.seq = c.seq
"""

# Locks in question order, like _ENQUEUE, so the two cannot deadlock each other.
_REQUEUE_SINCE = """
WITH changed AS (
    SELECT question_id FROM search_external_sync WHERE seq > %s
    ORDER BY question_id FOR UPDATE
)
UPDATE search_external_sync s
SET seq = nextval('search_external_seq'), attempts = 0, available_at = now(), last_error = NULL
FROM changed WHERE s.question_id = changed.question_id
"""


async def enqueue(conn: AsyncConnection[DictRow], question_ids: Iterable[UUID]) -> None:
    """Ask for these questions to be re-sent (in the caller's transaction)."""
    ids = sorted(set(question_ids))
    if ids:
        await conn.execute(_ENQUEUE, (ids,))


@dataclass(frozen=True)
class Claim:
    question_id: UUID
    seq: int


async def claim(conn: AsyncConnection[DictRow], limit: int, lease_s: float) -> list[Claim]:
    cursor = await conn.execute(_CLAIM, {"limit": limit, "lease_s": lease_s})
    return [Claim(row["question_id"], row["seq"]) for row in await cursor.fetchall()]


async def mark_synced(conn: AsyncConnection[DictRow], claims: Sequence[Claim]) -> None:
    if claims:
        await conn.execute(
            _SYNCED, {"ids": [c.question_id for c in claims], "seqs": [c.seq for c in claims]}
        )


async def mark_failed(
    conn: AsyncConnection[DictRow],
    failures: Sequence[tuple[Claim, str]],
    *,
    backoff_base_s: float,
    backoff_cap_s: float,
) -> None:
    if not failures:
        return
    await conn.execute(
        _FAILED,
        {
            "ids": [c.question_id for c, _ in failures],
            "seqs": [c.seq for c, _ in failures],
            "errors": [error[:_MAX_ERROR_LENGTH] for _, error in failures],
            "base_s": backoff_base_s,
            "cap_s": backoff_cap_s,
        },
    )


async def start_build(conn: AsyncConnection[DictRow]) -> int:
    """The version of a new index build: every request made after this is higher."""
    cursor = await conn.execute("SELECT nextval('search_external_seq') AS seq")
    row = await cursor.fetchone()
    assert row is not None
    seq: int = row["seq"]
    return seq


async def requeue_since(conn: AsyncConnection[DictRow], build_seq: int) -> int:
    """Re-send every question requested after ``build_seq`` (already sent or not)."""
    cursor = await conn.execute(_REQUEUE_SINCE, (build_seq,))
    return cursor.rowcount


async def source_rows(conn: AsyncConnection[DictRow], ids: Sequence[UUID]) -> list[DictRow]:
    """``SOURCE_SQL`` rows of those of ``ids`` that are visible now."""
    cursor = await conn.execute((SOURCE_SQL + " AND q.id = ANY(%s)").encode(), (list(ids),))
    return await cursor.fetchall()


async def source_batch(
    conn: AsyncConnection[DictRow], after: UUID | None, size: int
) -> list[DictRow]:
    """Visible questions after ``after`` in id order (keyset: every batch costs the same)."""
    statement = SOURCE_SQL + (
        " AND (%(after)s::uuid IS NULL OR q.id > %(after)s) ORDER BY q.id LIMIT %(size)s"
    )
    cursor = await conn.execute(statement.encode(), {"after": after, "size": size})
    return await cursor.fetchall()


# -- sending ------------------------------------------------------------------


@dataclass
class SyncReport:
    written: int = 0
    failed: int = 0


class ExternalIndexSyncer:
    """Drains one shard's queue into an external index; run one or more per shard."""

    def __init__(
        self,
        router: ShardRouter,
        index: ExternalSearchIndex,
        *,
        shard: str | None = None,
        batch_size: int = 500,
        lease_s: float = 60.0,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 600.0,
        poll_interval_s: float = 1.0,
    ) -> None:
        if batch_size < 1 or lease_s <= 0 or poll_interval_s <= 0:
            raise ValueError("batch_size, lease and poll interval must be positive")
        if backoff_base_s <= 0 or backoff_cap_s < backoff_base_s:
            raise ValueError("backoff must be positive, cap ≥ base")
        self._router = router
        self._index = index
        self._shard = shard or router.default_shard
        self.batch_size = batch_size
        self.lease_s = lease_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()

    async def run_once(self) -> SyncReport:
        """Send every row due now. Failed rows wait for their backoff, so this ends;
        a request failing as a whole ends it at once (the next pass tries again)
        rather than failing every due row against an unreachable index."""
        report = SyncReport()
        while True:
            claims, changes = await self._claim()
            if not claims:
                return report
            failures, reached = await self._send(changes)
            await self._settle(claims, failures)
            report.failed += len(failures)
            report.written += len(claims) - len(failures)
            if not reached:
                return report

    async def _claim(self) -> tuple[list[Claim], list[IndexChange]]:
        # Claim and read in one transaction: the lease commits before the
        # (slow, external) write, and the state read is at least as new as
        # every request that made these rows due.
        async with (
            self._router.connection(Workload.BACKGROUND, shard=self._shard) as conn,
            conn.transaction(),
        ):
            claims = await claim(conn, self.batch_size, self.lease_s)
            rows = await source_rows(conn, [c.question_id for c in claims]) if claims else []
        docs = {row["id"]: document(row) for row in rows}
        changes = [IndexChange(str(c.question_id), c.seq, docs.get(c.question_id)) for c in claims]
        return claims, changes

    async def _send(self, changes: Sequence[IndexChange]) -> tuple[dict[str, str], bool]:
        """The failures by question id, and whether the index answered at all."""
        try:
            return await self._index.apply(changes), True
        except Exception as error:
            # Unreachable, timed out, rejected as a whole: every row waits and retries.
            logger.warning("external index write of %d change(s) failed: %s", len(changes), error)
            return {c.question_id: f"{type(error).__name__}: {error}" for c in changes}, False

    async def _settle(self, claims: Sequence[Claim], failures: dict[str, str]) -> None:
        done: list[Claim] = []
        failed: list[tuple[Claim, str]] = []
        for c in claims:
            error = failures.get(str(c.question_id))
            if error is None:
                done.append(c)
            else:
                failed.append((c, error))
        async with (
            self._router.connection(Workload.BACKGROUND, shard=self._shard) as conn,
            conn.transaction(),
        ):
            await mark_synced(conn, done)
            await mark_failed(
                conn, failed, backoff_base_s=self.backoff_base_s, backoff_cap_s=self.backoff_cap_s
            )

    # -- the long-running loop ---------------------------------------------

    async def on_outbox_event(self, event: OutboxEvent) -> None:
        """After-commit callback of the outbox worker: new rows may be due, look now."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Send due rows until ``stop`` is set; between passes wait for a wake-up
        (an outbox event this process committed) or the poll interval (rows queued
        by other processes, backoffs ending). Survives database outages."""
        delay = self.poll_interval_s
        while not stop.is_set():
            self._wake.clear()
            try:
                report = await self.run_once()
            except Exception:
                logger.exception("external index sync pass failed; retrying in %.0f s", delay)
                await self._idle(stop, delay)
                delay = min(delay * 2, 30.0)
                continue
            delay = self.poll_interval_s
            if report.written or report.failed:
                logger.info("external index: %d written, %d failed", report.written, report.failed)
            await self._idle(stop, self.poll_interval_s)

    async def _idle(self, stop: asyncio.Event, seconds: float) -> None:
        waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())}
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)


def syncers_for(settings: Settings, router: ShardRouter) -> dict[str, ExternalIndexSyncer]:
    """One syncer per shard when Elasticsearch is the configured backend, else none."""
    if settings.search_backend != "elasticsearch":
        return {}
    from dongne.search.elasticsearch import ElasticsearchSearchBackend
    from dongne.search.services import backend_for

    index = backend_for(settings, router)
    assert isinstance(index, ElasticsearchSearchBackend)
    return {name: ExternalIndexSyncer(router, index, shard=name) for name in router.shard_names}


# -- reindex and drift ----------------------------------------------------------

_TRANSIENT = (errors.DeadlockDetected, errors.LockNotAvailable, errors.SerializationFailure)
_REQUEUE_ATTEMPTS = 5


async def requeue_after_build(router: ShardRouter, shard: str, build_seq: int) -> int:
    """:func:`requeue_since` in its own transaction, retried on lock conflicts: it
    runs after the alias swap, where giving up would leave the new index behind."""
    attempt = 0
    while True:
        try:
            async with (
                router.connection(Workload.BACKGROUND, shard=shard) as conn,
                conn.transaction(),
            ):
                return await requeue_since(conn, build_seq)
        except _TRANSIENT:
            attempt += 1
            if attempt == _REQUEUE_ATTEMPTS:
                raise
            await asyncio.sleep(0.1 * 2**attempt)


@dataclass
class ExternalDrift:
    visible: int = 0
    indexed: int = 0
    pending: int = 0  # queued, not yet acknowledged (in flight or backing off)
    failing: int = 0  # pending with at least one failed attempt
    missing: list[str] = field(default_factory=list)  # visible, not indexed, not queued
    orphaned: list[str] = field(default_factory=list)  # indexed, not visible, not queued

    @property
    def total(self) -> int:
        return len(self.missing) + len(self.orphaned)


_VISIBLE_IDS = "SELECT id FROM questions WHERE deleted_at IS NULL AND status <> 'hidden'"
_PENDING = "SELECT question_id, attempts FROM search_external_sync WHERE seq > synced_seq"


async def drift(router: ShardRouter, index: ExternalSearchIndex) -> ExternalDrift:
    """Ids in the index against visible questions in every shard.

    Queued questions are not drift: they are on their way. Only ids are
    compared, not contents: counters such as views change without an event.
    """
    indexed = await index.ids()
    visible: set[str] = set()
    pending: set[str] = set()
    report = ExternalDrift(indexed=len(indexed))
    for shard in router.shard_names:
        async with router.connection(Workload.BACKGROUND, shard=shard) as conn:
            rows = await (await conn.execute(_VISIBLE_IDS)).fetchall()
            visible.update(str(row["id"]) for row in rows)
            for row in await (await conn.execute(_PENDING)).fetchall():
                pending.add(str(row["question_id"]))
                report.failing += int(row["attempts"] > 0)
    report.visible, report.pending = len(visible), len(pending)
    report.missing = sorted(visible - indexed - pending)
    report.orphaned = sorted(indexed - visible - pending)
    return report
