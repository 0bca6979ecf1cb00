"""``dongne search``: rebuild the index, report drift, measure ranking quality."""

from __future__ import annotations

from typing import Annotated

import typer

from dongne.runtime import Runtime

search_app = typer.Typer(help="Korean search: index, drift, quality.", no_args_is_help=True)


@search_app.command("reindex")
def reindex(
    batch_size: Annotated[int, typer.Option(min=10, max=10_000)] = 500,
) -> None:
    """Rebuild the search index from PostgreSQL in batches, printing progress."""
    from dongne.cli import _settings, _with_runtime
    from dongne.search import services

    def progress(done: int, total: int) -> None:
        typer.echo(f"indexed {done}/{total}")

    async def work(runtime: Runtime) -> int:
        if runtime.settings.search_backend == "elasticsearch":
            from dongne.search.elasticsearch import ElasticsearchSearchBackend

            backend = services.backend_for(runtime.settings, runtime.router)
            assert isinstance(backend, ElasticsearchSearchBackend)
            index = await services.reindex_elasticsearch(
                runtime.router, backend, batch_size=batch_size,
                progress=lambda n: typer.echo(f"indexed {n}"),
            )  # fmt: skip
            typer.echo(f"alias {backend.alias} → {index}")
        done = 0
        for shard in runtime.router.shard_names:
            done += await services.reindex(
                runtime.router, batch_size=batch_size, progress=progress, shard=shard
            )
        return done

    done = _with_runtime(_settings(), work)
    typer.echo(f"reindexed {done} question(s)")


@search_app.command("check")
def check() -> None:
    """Report drift between the index and PostgreSQL; exit 1 when there is any."""
    from dongne.cli import _settings, _with_runtime
    from dongne.search import services

    async def work(runtime: Runtime) -> int:
        drift_total = 0
        if runtime.settings.search_backend == "elasticsearch":
            drift_total += await _check_elasticsearch(runtime)
        for shard in runtime.router.shard_names:
            report = await services.check(runtime.router, shard=shard)
            typer.echo(
                f"{shard}: visible {report.visible}, indexed {report.indexed}, "
                f"missing {len(report.missing)}, orphaned {len(report.orphaned)}, "
                f"stale {len(report.stale)}"
            )
            for kind in ("missing", "orphaned", "stale"):
                for question_id in getattr(report, kind)[:10]:
                    typer.echo(f"  {kind} {question_id}")
            if report.waiting:
                typer.echo(
                    f"  {report.waiting} of them have outbox events not yet processed:"
                    " check again once the worker has caught up"
                )
            drift_total += report.total
        return drift_total

    drift_total = _with_runtime(_settings(), work)
    typer.echo(f"drift: {drift_total}")
    if drift_total:
        raise typer.Exit(1)


async def _check_elasticsearch(runtime: Runtime) -> int:
    """Ids in the Elasticsearch alias against visible questions; the drift count."""
    from dongne.search import external, services
    from dongne.search.elasticsearch import ElasticsearchSearchBackend

    index = services.backend_for(runtime.settings, runtime.router)
    assert isinstance(index, ElasticsearchSearchBackend)
    report = await external.drift(runtime.router, index)
    typer.echo(
        f"elasticsearch: visible {report.visible}, indexed {report.indexed}, "
        f"queued {report.pending} (failing {report.failing}), "
        f"missing {len(report.missing)}, orphaned {len(report.orphaned)}"
    )
    for kind in ("missing", "orphaned"):
        for question_id in getattr(report, kind)[:10]:
            typer.echo(f"  {kind} {question_id}")
    return report.total


@search_app.command("eval")
def evaluate() -> None:
    """nDCG@10 and recall@10 of the pg backend and three peer baselines on the shipped set."""
    from dongne.cli import _settings, _with_runtime
    from dongne.search.evaluation import format_report, run_evaluation

    async def work(runtime: Runtime) -> str:
        return format_report(await run_evaluation(runtime.router))

    typer.echo(_with_runtime(_settings(), work))
