"""Migrations: step-by-step equals fresh, re-runs are no-ops, failures roll back,
and a database newer than the code is refused."""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Iterator

import psycopg
import pytest

from dongne.db import migrate as migrations
from dongne.embedded.postgres import POSTGRES_BIN_PATH, EmbeddedPostgres
from tests.support.servers import create_database, drop_database


@pytest.fixture
def empty_db(pg: EmbeddedPostgres, request: pytest.FixtureRequest) -> Iterator[str]:
    name = "mig_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40]
    create_database(pg.url, name)
    yield pg.database_url(name)
    drop_database(pg.url, name)


def _schema(url: str) -> str:
    dump = subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_dump"), "--schema-only", "--no-owner", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return "\n".join(
        line
        for line in dump.splitlines()
        if not line.startswith("\\restrict") and not line.startswith("\\unrestrict")
    )


def _ledger(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY 1"
        ).fetchall()


def test_step_by_step_equals_fresh(pg: EmbeddedPostgres) -> None:
    create_database(pg.url, "mig_fresh")
    create_database(pg.url, "mig_steps")
    try:
        fresh, steps = pg.database_url("mig_fresh"), pg.database_url("mig_steps")
        migrations.migrate(fresh)
        for version in range(1, len(migrations.load_migrations()) + 1):
            applied = migrations.migrate(steps, target=version)
            assert [m.version for m in applied] == [version]
        assert _schema(steps) == _schema(fresh)
        assert _ledger(steps) == _ledger(fresh)
        assert "CREATE TABLE public.questions" in _schema(fresh)
    finally:
        drop_database(pg.url, "mig_fresh")
        drop_database(pg.url, "mig_steps")


def test_rerun_is_a_noop(empty_db: str) -> None:
    assert len(migrations.migrate(empty_db)) == len(migrations.load_migrations())
    before = _schema(empty_db)
    assert migrations.migrate(empty_db) == []
    assert _schema(empty_db) == before


def test_failing_migration_rolls_back(empty_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real = migrations.load_migrations()
    migrations.migrate(empty_db)
    broken = migrations.Migration(
        len(real) + 1,
        "broken",
        "CREATE TABLE half_done (id int); INSERT INTO half_done VALUES (1); SELECT 1/0;",
    )
    monkeypatch.setattr(migrations, "load_migrations", lambda: [*real, broken])
    with pytest.raises(migrations.MigrationError, match="broken failed and was rolled back"):
        migrations.migrate(empty_db)
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regclass('half_done')").fetchone() == (None,)
    assert len(_ledger(empty_db)) == len(real)


def test_database_newer_than_code_is_refused(empty_db: str) -> None:
    migrations.migrate(empty_db)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (999, 'future', 'x')"
        )
        with pytest.raises(migrations.MigrationError, match="upgrade dongne"):
            migrations.ensure_current(conn)
    with pytest.raises(migrations.MigrationError, match="only knows up to"):
        migrations.migrate(empty_db)


def test_edited_migration_is_detected(empty_db: str) -> None:
    migrations.migrate(empty_db)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 2")
        with pytest.raises(migrations.MigrationError, match="changed after it was applied"):
            migrations.status(conn)


def test_behind_database_is_refused_until_migrated(empty_db: str) -> None:
    migrations.migrate(empty_db, target=3)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        with pytest.raises(migrations.MigrationError, match="run `dongne db migrate`"):
            migrations.ensure_current(conn)
        assert migrations.status(conn).current == 3


def test_target_beyond_known_migrations(empty_db: str) -> None:
    with pytest.raises(migrations.MigrationError, match="no migration 99"):
        migrations.migrate(empty_db, target=99)


def test_concurrent_migrations_apply_once(empty_db: str) -> None:
    results: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def run() -> None:
        barrier.wait()
        try:
            results.append(len(migrations.migrate(empty_db)))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [0, 0, len(migrations.load_migrations())]


def test_extensions_enabled(empty_db: str) -> None:
    migrations.migrate(empty_db)
    with psycopg.connect(empty_db) as conn:
        names = {r[0] for r in conn.execute("SELECT extname FROM pg_extension").fetchall()}
    assert {"pg_trgm", "cube", "earthdistance", "btree_gist", "pg_stat_statements"} <= names
