"""A cron scheduler whose runs are single across every worker.

* **Schedule.** Each job has a 5-field cron expression (UTC) parsed by
  ``croniter``. A scheduler computes each job's next slot and sleeps until the
  earliest one (or until asked to stop).
* **Single run.** A slot is claimed by inserting ``(job, scheduled_for)`` into
  ``job_runs``; the unique key lets exactly one worker win it. While running,
  the winner holds a session advisory lock on the job, so a slow run and the
  next slot never overlap (the overlapping slot is recorded as ``skipped``).
  Jobs marked ``exclusive=False`` act on this process only (resizing its
  pools) and run in every process without a claim.
* **Failures.** An attempt that raises (or exceeds its timeout) is logged and
  retried after ``backoff_base_s × 2^(attempt-1)`` (capped) up to
  ``max_attempts``; then the run is recorded as ``failed``. Nothing a job does
  stops the scheduler. Results are counted in ``dongne_job_runs``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter
from psycopg.types.json import Jsonb

from dongne.db.router import ShardRouter, Workload
from dongne.metrics.logs import request_id_var
from dongne.metrics.registry import JOB_DURATION, JOB_LAST_SUCCESS, JOB_RUNS

logger = logging.getLogger(__name__)

JobFunc = Callable[[], Awaitable[Any]]


@dataclass(frozen=True)
class Job:
    name: str
    cron: str
    run: JobFunc
    exclusive: bool = True
    max_attempts: int = 3
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 60.0
    timeout_s: float = 15 * 60.0

    def __post_init__(self) -> None:
        if not croniter.is_valid(self.cron):
            raise ValueError(f"job {self.name}: invalid cron expression {self.cron!r}")
        if self.max_attempts < 1 or self.backoff_base_s < 0:
            raise ValueError(f"job {self.name}: max_attempts ≥ 1 and backoff ≥ 0 required")

    def next_after(self, moment: datetime) -> datetime:
        nxt: datetime = croniter(self.cron, moment).get_next(datetime)
        return nxt


@dataclass(frozen=True)
class RunOutcome:
    job: str
    slot: datetime
    status: str  # succeeded | failed | skipped | lost (another worker claimed it)
    attempts: int
    result: Any = None
    error: str | None = None


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Scheduler:
    def __init__(
        self,
        router: ShardRouter,
        jobs: Sequence[Job],
        *,
        shard: str | None = None,
        worker_id: str | None = None,
    ) -> None:
        names = [j.name for j in jobs]
        if len(set(names)) != len(names):
            raise ValueError("job names must be unique")
        self._router = router
        self._shard = shard or router.default_shard
        self.jobs = list(jobs)
        self.worker_id = worker_id or default_worker_id()
        self._next: dict[str, datetime] = {}

    # -- one slot -------------------------------------------------------------

    async def run_slot(self, job: Job, slot: datetime) -> RunOutcome:
        """Claim and run one scheduled slot of ``job`` (see the module docstring)."""
        token = request_id_var.set(f"job:{job.name}:{slot:%Y%m%dT%H%M}")
        try:
            if not job.exclusive:
                return await self._attempts(job, slot, run_id=None)
            run_id = await self._claim(job, slot)
            if run_id is None:
                JOB_RUNS.labels(job.name, "lost").inc()
                return RunOutcome(job.name, slot, "lost", 0)
            async with self._router.connection(Workload.BACKGROUND, shard=self._shard) as lock:
                cursor = await lock.execute(
                    "SELECT pg_try_advisory_lock(hashtextextended(%s, 0)) AS got",
                    (f"dongne.job:{job.name}",),
                )
                row = await cursor.fetchone()
                if not (row and row["got"]):
                    await self._settle(run_id, "skipped", 0, None, "previous run still running")
                    JOB_RUNS.labels(job.name, "skipped").inc()
                    logger.warning("job %s: slot %s skipped, previous run still running",
                                   job.name, slot.isoformat())  # fmt: skip
                    return RunOutcome(job.name, slot, "skipped", 0)
                try:
                    return await self._attempts(job, slot, run_id=run_id)
                finally:
                    await lock.execute(
                        "SELECT pg_advisory_unlock(hashtextextended(%s, 0))",
                        (f"dongne.job:{job.name}",),
                    )
        finally:
            request_id_var.reset(token)

    async def _claim(self, job: Job, slot: datetime) -> int | None:
        async with self._router.connection(Workload.BACKGROUND, shard=self._shard) as conn:
            cursor = await conn.execute(
                "INSERT INTO job_runs (job, scheduled_for, worker) VALUES (%s, %s, %s) "
                "ON CONFLICT (job, scheduled_for) DO NOTHING RETURNING id",
                (job.name, slot, self.worker_id),
            )
            row = await cursor.fetchone()
        return int(row["id"]) if row else None

    async def _settle(
        self, run_id: int, status: str, attempts: int, result: Any, error: str | None
    ) -> None:
        async with self._router.connection(Workload.BACKGROUND, shard=self._shard) as conn:
            await conn.execute(
                "UPDATE job_runs SET status = %s, attempts = %s, result = %s, last_error = %s, "
                "finished_at = now() WHERE id = %s",
                (status, attempts, Jsonb(result) if result is not None else None, error, run_id),
            )

    async def _record_attempt(self, run_id: int, attempts: int, error: str) -> None:
        async with self._router.connection(Workload.BACKGROUND, shard=self._shard) as conn:
            await conn.execute(
                "UPDATE job_runs SET attempts = %s, last_error = %s WHERE id = %s",
                (attempts, error, run_id),
            )

    async def _attempts(self, job: Job, slot: datetime, *, run_id: int | None) -> RunOutcome:
        error_text = ""
        for attempt in range(1, job.max_attempts + 1):
            started = time.perf_counter()
            try:
                result = await asyncio.wait_for(job.run(), timeout=job.timeout_s)
            except Exception as error:
                JOB_DURATION.labels(job.name).observe(time.perf_counter() - started)
                error_text = f"{type(error).__name__}: {error}"
                if attempt < job.max_attempts:
                    delay = min(job.backoff_base_s * 2 ** (attempt - 1), job.backoff_cap_s)
                    JOB_RUNS.labels(job.name, "retried").inc()
                    logger.warning("job %s attempt %d failed, retrying in %.1f s: %s",
                                   job.name, attempt, delay, error_text,
                                   exc_info=error)  # fmt: skip
                    if run_id is not None:
                        await self._record_attempt(run_id, attempt, error_text)
                    await asyncio.sleep(delay)
                    continue
                JOB_RUNS.labels(job.name, "failed").inc()
                logger.error("job %s failed after %d attempt(s): %s",
                             job.name, attempt, error_text, exc_info=error)  # fmt: skip
                if run_id is not None:
                    await self._settle(run_id, "failed", attempt, None, error_text)
                return RunOutcome(job.name, slot, "failed", attempt, error=error_text)
            elapsed = time.perf_counter() - started
            JOB_DURATION.labels(job.name).observe(elapsed)
            JOB_RUNS.labels(job.name, "succeeded").inc()
            JOB_LAST_SUCCESS.labels(job.name).set(time.time())
            safe = result if isinstance(result, int | float | str | bool | dict | list) else None
            if run_id is not None:
                await self._settle(run_id, "succeeded", attempt, safe, error_text or None)
            logger.info("job %s succeeded in %.3f s (attempt %d): %s",
                        job.name, elapsed, attempt, safe)  # fmt: skip
            return RunOutcome(job.name, slot, "succeeded", attempt, result=safe)
        raise AssertionError("unreachable")

    # -- the loop -------------------------------------------------------------

    def _due(self, now: datetime) -> list[tuple[Job, datetime]]:
        due: list[tuple[Job, datetime]] = []
        for job in self.jobs:
            nxt = self._next.setdefault(job.name, job.next_after(now - timedelta(seconds=1)))
            if nxt <= now:
                due.append((job, nxt))
                self._next[job.name] = job.next_after(now)
        return due

    async def tick(self, now: datetime | None = None) -> list[RunOutcome]:
        """Run every slot due at ``now`` (UTC); a failing job never stops the others."""
        now = now or datetime.now(UTC)
        outcomes: list[RunOutcome] = []
        for job, slot in self._due(now):
            try:
                outcomes.append(await self.run_slot(job, slot))
            except Exception as error:  # the database itself failed: log, carry on
                JOB_RUNS.labels(job.name, "failed").inc()
                logger.exception("job %s: could not run slot %s", job.name, slot.isoformat())
                outcomes.append(RunOutcome(job.name, slot, "failed", 0, error=str(error)))
        return outcomes

    def seconds_until_next(self, now: datetime) -> float:
        for job in self.jobs:
            self._next.setdefault(job.name, job.next_after(now - timedelta(seconds=1)))
        if not self._next:
            return 60.0
        return max(0.0, (min(self._next.values()) - now).total_seconds())

    async def run(self, stop: asyncio.Event) -> None:
        logger.info("scheduler %s: %d job(s): %s", self.worker_id, len(self.jobs),
                    ", ".join(f"{j.name} [{j.cron}]" for j in self.jobs))  # fmt: skip
        while not stop.is_set():
            wait_s = self.seconds_until_next(datetime.now(UTC))
            try:
                await asyncio.wait_for(stop.wait(), timeout=min(wait_s + 0.05, 60.0))
                break
            except TimeoutError:
                pass
            await self.tick()
