"""The ``dongne`` command. Errors are one plain line on stderr and exit status 1."""

from __future__ import annotations

import asyncio
import errno
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import psycopg
import typer
from pydantic import ValidationError
from redis.exceptions import RedisError

from dongne.config import Settings
from dongne.db import migrate as migrations
from dongne.embedded.home import HomeInUseError
from dongne.embedded.postgres import POSTGRES_BIN_PATH, PostgresStartError
from dongne.embedded.redis import RedisStartError
from dongne.embedded.stack import ServerUrls
from dongne.geo.boundaries import BoundaryFileError
from dongne.geo.services import InvalidCoordinatesError, OutsideServiceAreaError
from dongne.ops.cli import bench_app, ops_app
from dongne.ops.report import StatementsUnavailableError
from dongne.runtime import Runtime, prepare_database, servers
from dongne.search.cli import search_app

app = typer.Typer(help="dongne (동네물어봐): hyperlocal Q&A for Jeju.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema and access.", no_args_is_help=True)
regions_app = typer.Typer(help="Regions and their boundaries.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(regions_app, name="regions")
app.add_typer(ops_app, name="ops")
app.add_typer(bench_app, name="bench")
app.add_typer(search_app, name="search")

T = TypeVar("T")

_USER_ERRORS = (
    HomeInUseError,
    PostgresStartError,
    RedisStartError,
    migrations.MigrationError,
    BoundaryFileError,
    InvalidCoordinatesError,
    OutsideServiceAreaError,
    psycopg.OperationalError,
    RedisError,
    FileNotFoundError,
    ValueError,
    StatementsUnavailableError,
)


def _settings() -> Settings:
    return Settings()


def _run(settings: Settings, urls: ServerUrls, work: Callable[[Runtime], Awaitable[T]]) -> T:
    async def run() -> T:
        runtime = Runtime.build(settings, urls)
        await runtime.open()
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    return asyncio.run(run())


def _with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run ``work`` against the configured servers, starting embedded ones if needed."""
    with servers(settings) as urls:
        prepare_database(settings, urls)
        return _run(settings, urls, work)


class _ShutdownRequestedError(Exception):
    pass


def _raise_shutdown(signum: int, frame: object) -> None:
    raise _ShutdownRequestedError(signum)


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ValueError(
                    f"port {port} on {host} is already in use; set DONGNE_API_PORT"
                ) from None
            raise


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="Address to serve on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to serve on.")] = None,
    worker: Annotated[
        bool, typer.Option(help="Deliver the outbox in this process (off: run `dongne worker`).")
    ] = True,
) -> None:
    """Start PostgreSQL, Redis and the API; Ctrl-C stops everything cleanly."""
    import uvicorn

    from dongne.api.app import create_app
    from dongne.api.server import uvicorn_config
    from dongne.geo.services import load_regions
    from dongne.metrics.logs import log_config

    settings = _settings().model_copy(update={"embedded_worker": worker})
    host = host or settings.api_host
    port = port or settings.api_port
    _check_port_free(host, port)
    # uvicorn re-raises the signal that stopped it; SIGTERM must then unwind
    # through our cleanup like Ctrl-C does, not kill the process outright.
    signal.signal(signal.SIGTERM, _raise_shutdown)
    try:
        with servers(settings, own=True) as urls:
            applied = prepare_database(settings, urls)
            if applied:
                typer.echo(f"applied {len(applied)} migration(s)")

            async def load(runtime: Runtime) -> None:
                report = await load_regions(runtime.router)
                typer.echo(f"regions: {report.regions} known, {report.changed} updated")

            _run(settings, urls, load)
            runtime = Runtime.build(settings, urls)
            typer.echo(
                f"dongne is up: API http://{host}:{port}/api/v1 — docs http://{host}:{port}/docs"
            )
            typer.echo("press Ctrl-C to stop")
            # WebSocket frames are refused by the protocol layer well before
            # they could cost memory; the app closes smaller oversized ones
            # itself with a reason (1009).
            config = uvicorn_config(
                create_app(runtime),
                host=host,
                port=port,
                log_level="info",
                log_config=log_config(),
            )
            uvicorn.Server(config).run()
    except (KeyboardInterrupt, _ShutdownRequestedError):
        pass
    typer.echo("dongne stopped; data kept in " + str(settings.home.resolve()))


@db_app.command("migrate")
def db_migrate(
    to: Annotated[int | None, typer.Option(help="Stop after this migration version.")] = None,
) -> None:
    """Apply pending migrations (each in its own transaction)."""
    settings = _settings()
    with servers(settings) as urls:
        applied = migrations.migrate(urls.database_url, target=to)
        for migration in applied:
            typer.echo(f"applied {migration.version:04d}_{migration.name}")
        if not applied:
            typer.echo("database is up to date")


@db_app.command("status")
def db_status() -> None:
    """Show applied and pending migrations."""
    settings = _settings()
    with servers(settings) as urls, psycopg.connect(urls.database_url, autocommit=True) as conn:
        state = migrations.status(conn)
        typer.echo(f"current version: {state.current}")
        for migration in migrations.load_migrations():
            mark = "pending" if migration in state.pending else "applied"
            typer.echo(f"  {migration.version:04d}_{migration.name}: {mark}")


@db_app.command("psql", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def db_psql(ctx: typer.Context) -> None:
    """Open psql on the database (extra arguments are passed to psql)."""
    settings = _settings()
    with servers(settings) as urls:
        code = subprocess.call([str(POSTGRES_BIN_PATH / "psql"), urls.database_url, *ctx.args])
    raise typer.Exit(code)


@regions_app.command("load")
def regions_load(
    file: Annotated[
        Path | None, typer.Option(help="A KOSTAT boundary GeoJSON (default: the bundled one).")
    ] = None,
) -> None:
    """Load region boundaries; loading the same file twice changes nothing."""
    from dongne.geo.services import load_regions

    async def work(runtime: Runtime) -> None:
        report = await load_regions(runtime.router, file)
        typer.echo(f"regions: {report.regions} in file, {report.changed} inserted or updated")

    _with_runtime(_settings(), work)


@regions_app.command("resolve")
def regions_resolve(lat: float, lng: float) -> None:
    """Print the district for a latitude/longitude."""
    from dongne.geo.services import resolve

    async def work(runtime: Runtime) -> None:
        hit = await resolve(runtime.router, lat, lng)
        suffix = f" (snapped {hit.distance_km} km)" if hit.snapped else ""
        typer.echo(f"{hit.code} {hit.name}{suffix}")

    _with_runtime(_settings(), work)


@app.command()
def seed(
    demo: Annotated[bool, typer.Option("--demo", help="Load realistic demo Q&A.")] = False,
    questions: Annotated[int, typer.Option(min=1, max=5000)] = 300,
) -> None:
    """Fill the database with demo neighbours, questions and answers."""
    if not demo:
        raise ValueError("nothing to seed: pass --demo")
    from dongne.geo.services import load_regions
    from dongne.seed.demo import seed_demo

    async def work(runtime: Runtime) -> None:
        await load_regions(runtime.router)
        report = await seed_demo(runtime.router, questions=questions)
        typer.echo(report)

    _with_runtime(_settings(), work)


@app.command()
def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Process the events due now, then exit.")
    ] = False,
    poll_interval: Annotated[
        float, typer.Option(min=0.1, max=300, help="Seconds between polls without a NOTIFY.")
    ] = 5.0,
) -> None:
    """Deliver outbox events and run scheduled jobs until Ctrl-C or SIGTERM."""
    from dongne.jobs.builtin import default_jobs
    from dongne.jobs.scheduler import Scheduler
    from dongne.metrics.logs import configure_json_logging
    from dongne.outbox.effects import after_commit_effects
    from dongne.outbox.handlers import default_registry
    from dongne.outbox.worker import EventCallback, OutboxWorker
    from dongne.search.external import syncers_for

    configure_json_logging()
    settings = _settings()
    # Until the event loop takes over, SIGTERM unwinds through cleanup like Ctrl-C.
    signal.signal(signal.SIGTERM, _raise_shutdown)

    async def work(runtime: Runtime) -> int:
        async with after_commit_effects(runtime) as callbacks:
            return await deliver(runtime, callbacks)

    async def deliver(runtime: Runtime, callbacks: list[EventCallback]) -> int:
        # With Elasticsearch configured, search handlers also queue changes for
        # it and a syncer per shard sends them (dongne.search.external).
        syncers = syncers_for(runtime.settings, runtime.router)
        registry = default_registry(external_search=bool(syncers))
        workers = [
            OutboxWorker(
                runtime.router,
                registry,
                shard=name,
                poll_interval_s=poll_interval,
                after_commit=[*callbacks, *([syncers[name].on_outbox_event] if syncers else [])],
            )
            for name in runtime.router.shard_names
        ]
        if once:
            processed = sum([await w.run_once() for w in workers])
            for syncer in syncers.values():
                await syncer.run_once()
            return processed
        # Inside the loop a signal only asks the workers to stop: each finishes
        # its batch, so no event is left half-handled (it would roll back anyway).
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            typer.echo(f"dongne worker: delivering {len(workers)} shard(s); Ctrl-C stops")
            # Scheduled jobs (dongne.jobs): each slot runs once across all workers.
            scheduler = Scheduler(runtime.router, default_jobs(runtime))
            await asyncio.gather(
                *(w.run(stop) for w in workers),
                *(s.run(stop) for s in syncers.values()),
                scheduler.run(stop),
            )
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        return 0

    try:
        processed = _with_runtime(settings, work)
    except (KeyboardInterrupt, _ShutdownRequestedError):
        processed = 0
    if once:
        typer.echo(f"processed {processed} event(s)")
    else:
        typer.echo("dongne worker stopped")


def main() -> None:
    try:
        app()
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        typer.echo(f"dongne: error: invalid configuration {where}: {first['msg']}", err=True)
        sys.exit(1)
    except _USER_ERRORS as error:
        typer.echo(f"dongne: error: {error}", err=True)
        sys.exit(1)
