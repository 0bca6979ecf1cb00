"""The shipped evaluation: our pg backend ranks Korean better than the peers' approaches."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from dongne.config import Settings
from dongne.db.router import ShardRouter
from dongne.search.evaluation import format_report, load_dataset, ndcg, recall, run_evaluation


def test_the_dataset_is_large_enough_and_consistent() -> None:
    corpus, queries = load_dataset()
    keys = {row[0] for row in corpus}
    assert len(corpus) >= 100 and len(keys) == len(corpus)
    assert len(queries) >= 60
    assert all(set(grades) <= keys and grades for _, grades in queries)


def test_metrics() -> None:
    grades = {"a": 2, "b": 1}
    assert ndcg(["a", "b"], grades) == 1.0
    assert ndcg(["b", "a"], grades) < 1.0
    assert ndcg(["x"], grades) == 0.0
    assert recall(["x", "b"], grades) == 0.5


async def test_pg_beats_every_baseline_and_leaves_no_trace(
    router: ShardRouter, database_url: str
) -> None:
    with psycopg.connect(database_url) as conn:
        before = conn.execute("SELECT count(*) FROM questions").fetchone()
    evaluation = await run_evaluation(router)
    print(format_report(evaluation))
    pg = evaluation.scores["pg"]
    for baseline in ("like", "simple", "trigram"):
        assert pg.ndcg > evaluation.scores[baseline].ndcg, format_report(evaluation)
        assert pg.recall > evaluation.scores[baseline].recall, format_report(evaluation)
    assert pg.ndcg >= 0.75
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM questions").fetchone() == before


def test_eval_command_prints_all_four_systems(
    database_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dongne.cli import app

    for key, value in {
        "DONGNE_DATABASE_URL": database_url, "DONGNE_REDIS_URL": str(settings.redis_url),
        "DONGNE_HOME": str(settings.home), "DONGNE_ENVIRONMENT": "test",
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["search", "eval"])
    assert result.exit_code == 0, result.output
    for name in ("dongne pg", "LIKE", "simple", "pg_trgm"):
        assert name in result.output
