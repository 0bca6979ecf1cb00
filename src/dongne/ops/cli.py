"""``dongne ops …`` and ``dongne bench …`` sub-commands.

The bench harness lives in ``bench/`` at the repository root (it is a tool of
the source checkout, not part of the installed package); ``dongne bench``
imports it from there.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from dongne.db.router import Workload

ops_app = typer.Typer(help="Database reports, index advice and query analysis.",
                      no_args_is_help=True)  # fmt: skip
bench_app = typer.Typer(help="The benchmark harness (bench/ in the source checkout).",
                        no_args_is_help=True)  # fmt: skip


def _print_rows(title: str, rows: Any) -> None:
    typer.echo(f"\n== {title}")
    if isinstance(rows, dict):
        for key, value in rows.items():
            typer.echo(f"  {key}: {value}")
        return
    if not rows:
        typer.echo("  (none)")
        return
    for row in rows:
        typer.echo("  " + "  ".join(f"{k}={v}" for k, v in row.items()))


@ops_app.command("report")
def ops_report(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Slow queries, index usage, unused/duplicate indexes, sizes, cache hits, bloat, advice."""
    from dongne.cli import _settings, _with_runtime
    from dongne.ops.report import full_report
    from dongne.runtime import Runtime

    async def work(runtime: Runtime) -> dict[str, Any]:
        async with runtime.router.connection(Workload.BACKGROUND) as conn:
            return await full_report(conn)

    result = _with_runtime(_settings(), work)
    if as_json:
        typer.echo(json.dumps(result, default=str, ensure_ascii=False, indent=2))
        return
    for section, rows in result.items():
        _print_rows(section.replace("_", " "), rows)


@ops_app.command("recommend")
def ops_recommend(
    min_rows: Annotated[int, typer.Option(min=0, help="Ignore tables smaller than this.")] = 10_000,
) -> None:
    """Suggest indexes from pg_stat_statements and pg_stats."""
    from dongne.cli import _settings, _with_runtime
    from dongne.ops.recommender import recommend_indexes
    from dongne.runtime import Runtime

    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        async with runtime.router.connection(Workload.BACKGROUND) as conn:
            return [r.as_dict() for r in await recommend_indexes(conn, min_rows=min_rows)]

    rows = _with_runtime(_settings(), work)
    _print_rows("index recommendations", rows)


@ops_app.command("explain")
def ops_explain(
    query: Annotated[str, typer.Argument(help="The SQL statement to analyse.")],
    large_table_rows: Annotated[int, typer.Option(min=0)] = 10_000,
) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) a statement in a rolled-back transaction; list problems."""
    from dongne.cli import _settings, _with_runtime
    from dongne.ops.explain import analyse
    from dongne.runtime import Runtime

    async def work(runtime: Runtime) -> dict[str, Any]:
        async with runtime.router.connection(Workload.BACKGROUND) as conn:
            result = await analyse(conn, query, large_table_rows=large_table_rows)
            return result.as_dict()

    result = _with_runtime(_settings(), work)
    typer.echo(
        f"execution {result['execution_ms']:.3f} ms, planning {result['planning_ms']:.3f} ms"
    )
    _print_rows("findings", result["findings"])


def _bench_module(name: str = "run") -> Any:
    root = Path(__file__).resolve().parents[3]
    if (root / "bench" / "__init__.py").exists() and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        return importlib.import_module(f"bench.{name}")
    except ImportError as error:
        raise ValueError(f"dongne bench needs the source checkout (bench/): {error}") from None


@bench_app.command("run")
def bench_run(
    scale: Annotated[str, typer.Option(help="small | 100k | 1m")] = "small",
    home: Annotated[Path | None, typer.Option(help="Where the bench's own servers live.")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Use this PostgreSQL instead of the bench's own.")
    ] = None,
    allow_foreign_database: Annotated[
        bool, typer.Option(help="Allow a database the bench did not create (it gets written).")
    ] = False,
    seconds: Annotated[float, typer.Option(min=1, help="Time cap per load scenario.")] = 15.0,
    requests: Annotated[int, typer.Option(min=10, help="Request cap per load scenario.")] = 3000,
    fresh: Annotated[bool, typer.Option(help="Regenerate the data even if present.")] = False,
) -> None:
    """Generate a Jeju workload, load-test it on loopback, write bench/results/."""
    module = _bench_module()
    path = module.main(
        scale=scale, home=home, database_url=database_url,
        allow_foreign_database=allow_foreign_database, seconds=seconds, requests=requests,
        fresh=fresh,
    )  # fmt: skip
    typer.echo(f"results: {path}")


@bench_app.command("stacks")
def bench_stacks(
    scale: Annotated[str, typer.Option(help="small | 100k | 1m")] = "small",
    home: Annotated[Path | None, typer.Option(help="Where the bench's own servers live.")] = None,
    seconds: Annotated[float, typer.Option(min=1, help="Time cap per load scenario.")] = 10.0,
    requests: Annotated[int, typer.Option(min=10, help="Request cap per load scenario.")] = 2000,
) -> None:
    """Compare server stacks and drivers on the bench data; write bench/results/."""
    module = _bench_module("stacks")
    path = module.main(scale=scale, home=home, seconds=seconds, requests=requests)
    typer.echo(f"results: {path}")


@bench_app.command("search")
def bench_search(
    scale: Annotated[str, typer.Option(help="100k | 1m (small and toy work too)")] = "100k",
    home: Annotated[Path | None, typer.Option(help="Where the bench's own servers live.")] = None,
    seconds: Annotated[float, typer.Option(min=1, help="Time cap per load scenario.")] = 20.0,
    requests: Annotated[int, typer.Option(min=10, help="Request cap per load scenario.")] = 3000,
) -> None:
    """Search latency at 10 concurrent clients: mixed, most frequent and rare terms."""
    module = _bench_module("search")
    path = module.main(scale=scale, home=home, seconds=seconds, requests=requests)
    typer.echo(f"results: {path}")
