"""Scheduled jobs: one run per slot across workers, retries with backoff, metrics."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

import psycopg
from psycopg.rows import DictRow

from dongne.config import Settings
from dongne.db.router import ShardRouter
from dongne.embedded.stack import ServerUrls
from dongne.jobs.builtin import default_jobs
from dongne.jobs.scheduler import Job, Scheduler
from dongne.metrics.registry import REGISTRY
from dongne.runtime import Runtime

_slots = itertools.count(1)


def _slot() -> datetime:
    """A distinct slot per test (job_runs is shared by the module)."""
    return datetime(2030, 1, 1, 0, next(_slots), tzinfo=UTC)


def _runs(name: str, result: str) -> float:
    return REGISTRY.get_sample_value("dongne_job_runs_total", {"job": name, "result": result}) or 0


async def test_a_slot_runs_once_across_workers(
    router: ShardRouter, db: psycopg.Connection[DictRow]
) -> None:
    calls: list[str] = []

    async def work() -> str:
        calls.append("ran")
        await asyncio.sleep(0.05)
        return "done"

    job = Job("single_run_probe", "* * * * *", work)
    workers = [Scheduler(router, [job], worker_id=f"w{i}") for i in range(3)]
    slot = _slot()
    outcomes = await asyncio.gather(*(w.run_slot(job, slot) for w in workers))

    assert sorted(o.status for o in outcomes) == ["lost", "lost", "succeeded"]
    assert calls == ["ran"]
    rows = db.execute(
        "SELECT status, attempts, result FROM job_runs WHERE job = 'single_run_probe'"
    ).fetchall()
    assert rows == [{"status": "succeeded", "attempts": 1, "result": "done"}]
    assert _runs("single_run_probe", "lost") == 2


async def test_failures_are_retried_with_backoff_then_reported(
    router: ShardRouter, db: psycopg.Connection[DictRow]
) -> None:
    attempts = {"flaky": 0, "broken": 0}

    async def flaky() -> int:
        attempts["flaky"] += 1
        if attempts["flaky"] < 3:
            raise RuntimeError("not yet")
        return 7

    async def broken() -> None:
        attempts["broken"] += 1
        raise RuntimeError("always broken")

    ran_after: list[bool] = []

    async def healthy() -> None:
        ran_after.append(True)

    jobs = [
        Job("flaky_probe", "* * * * *", flaky, max_attempts=3, backoff_base_s=0.01),
        Job("broken_probe", "* * * * *", broken, max_attempts=2, backoff_base_s=0.01),
        Job("healthy_probe", "* * * * *", healthy),
    ]
    scheduler = Scheduler(router, jobs)
    before = _runs("broken_probe", "failed")
    # The scheduler first learns the schedule, then the next minute is due for all three.
    assert await scheduler.tick(datetime(2031, 5, 5, 12, 0, 30, tzinfo=UTC)) == []
    outcomes = {o.job: o for o in await scheduler.tick(datetime(2031, 5, 5, 12, 1, 0, tzinfo=UTC))}

    assert outcomes["flaky_probe"].status == "succeeded" and outcomes["flaky_probe"].attempts == 3
    assert outcomes["broken_probe"].status == "failed" and attempts["broken"] == 2
    assert outcomes["healthy_probe"].status == "succeeded" and ran_after == [True]
    assert _runs("broken_probe", "failed") == before + 1
    assert _runs("flaky_probe", "retried") >= 2

    rows = {
        r["job"]: r
        for r in db.execute(
            "SELECT job, status, attempts, last_error FROM job_runs "
            "WHERE job IN ('flaky_probe', 'broken_probe')"
        ).fetchall()
    }
    assert rows["flaky_probe"]["status"] == "succeeded" and rows["flaky_probe"]["attempts"] == 3
    assert rows["broken_probe"]["status"] == "failed"
    assert rows["broken_probe"]["last_error"] == "RuntimeError: always broken"


async def test_cron_decides_which_slots_are_due(router: ShardRouter) -> None:
    async def noop() -> None:
        return None

    scheduler = Scheduler(router, [Job("cron_probe", "*/5 * * * *", noop)])
    assert await scheduler.tick(datetime(2032, 3, 1, 12, 0, 30, tzinfo=UTC)) == []
    assert await scheduler.tick(datetime(2032, 3, 1, 12, 4, 59, tzinfo=UTC)) == []
    due = await scheduler.tick(datetime(2032, 3, 1, 12, 5, 0, tzinfo=UTC))
    assert [(o.slot.minute, o.status) for o in due] == [(5, "succeeded")]


async def test_an_overlapping_slot_is_skipped(
    router: ShardRouter, database_url: str, db: psycopg.Connection[DictRow]
) -> None:
    async def work() -> None:
        return None

    job = Job("overlap_probe", "* * * * *", work)
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtextextended('dongne.job:overlap_probe', 0))")
        outcome = await Scheduler(router, [job]).run_slot(job, _slot())
    assert outcome.status == "skipped"
    row = db.execute("SELECT status FROM job_runs WHERE job = 'overlap_probe'").fetchone()
    assert row == {"status": "skipped"}


async def test_builtin_jobs_run(
    settings: Settings, database_url: str, db: psycopg.Connection[DictRow]
) -> None:
    runtime = Runtime.build(settings, ServerUrls(database_url, str(settings.redis_url)))
    await runtime.open()
    try:
        jobs = {job.name: job for job in default_jobs(runtime)}
        assert {"ensure_partitions", "flush_views", "analyze_hot_tables", "purge_job_runs",
                "resize_pools", "refresh_search_frequency", "merge_search_partitions",
                } <= set(jobs)  # fmt: skip
        scheduler = Scheduler(runtime.router, list(jobs.values()))
        for name in ("ensure_partitions", "flush_views", "analyze_hot_tables", "resize_pools",
                     "refresh_search_frequency", "merge_search_partitions"):  # fmt: skip
            outcome = await scheduler.run_slot(jobs[name], _slot())
            assert outcome.status == "succeeded", outcome
    finally:
        await runtime.close()
    ahead = db.execute(
        "SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'questions'::regclass"
    ).fetchone()
    assert ahead is not None and ahead["n"] >= 4
