"""Versioned SQL migrations, applied under an advisory lock, one transaction each.

Migrations are the files ``migrations/NNNN_name.sql``. Each runs in its own
transaction with lock and statement timeouts, so a failing one leaves no trace
and a concurrent ``migrate`` waits instead of racing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same in every dongne process.
_ADVISORY_LOCK_KEY = 0x646F6E676E65  # "dongne"
_LOCK_TIMEOUT = "10s"
_STATEMENT_TIMEOUT = "15min"

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """The database and the code's migrations do not agree."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class MigrationStatus:
    applied: list[int]
    pending: list[Migration]

    @property
    def current(self) -> int:
        return max(self.applied, default=0)


def load_migrations() -> list[Migration]:
    folder = resources.files("dongne.db").joinpath("migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    expected = list(range(1, len(found) + 1))
    if [m.version for m in found] != expected:
        raise MigrationError("migration versions must run 1, 2, 3 … without gaps")
    return found


def status(conn: psycopg.Connection[tuple[object, ...]]) -> MigrationStatus:
    """Compare the database's ledger with the code's migrations, failing on any mismatch."""
    migrations = load_migrations()
    conn.execute(_CREATE_LEDGER)
    rows = conn.execute(
        "SELECT version, checksum FROM schema_migrations ORDER BY version"
    ).fetchall()
    applied = {int(str(version)): str(checksum) for version, checksum in rows}
    known = {m.version: m for m in migrations}
    newer = sorted(v for v in applied if v not in known)
    if newer:
        raise MigrationError(
            f"the database has migration {newer[-1]} but this dongne only knows up to "
            f"{migrations[-1].version if migrations else 0}; upgrade dongne before starting it"
        )
    for version, checksum in applied.items():
        if known[version].checksum != checksum:
            raise MigrationError(
                f"migration {version:04d}_{known[version].name} changed after it was applied; "
                "add a new migration instead of editing an applied one"
            )
    pending = [m for m in migrations if m.version not in applied]
    return MigrationStatus(applied=sorted(applied), pending=pending)


def migrate(conninfo: str, *, target: int | None = None) -> list[Migration]:
    """Apply pending migrations up to ``target`` (all by default); return those applied."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_ADVISORY_LOCK_KEY,))
        try:
            return _apply_pending(conn, target)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_ADVISORY_LOCK_KEY,))


def _apply_pending(
    conn: psycopg.Connection[tuple[object, ...]], target: int | None
) -> list[Migration]:
    pending = status(conn).pending
    if target is not None:
        if target > len(load_migrations()):
            raise MigrationError(f"there is no migration {target}")
        pending = [m for m in pending if m.version <= target]
    for migration in pending:
        with conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'")
            conn.execute(f"SET LOCAL statement_timeout = '{_STATEMENT_TIMEOUT}'")
            try:
                conn.execute(migration.sql.encode())
            except psycopg.Error as error:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} failed and was rolled "
                    f"back: {error}"
                ) from error
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
    return pending


def ensure_current(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Refuse to serve a database that is behind or ahead of the code."""
    pending = status(conn).pending
    if pending:
        raise MigrationError(
            f"the database is missing {len(pending)} migration(s); run `dongne db migrate`"
        )


def ensure_partitions(conn: psycopg.Connection[tuple[object, ...]], months_ahead: int) -> int:
    """Create question partitions from this month to ``months_ahead`` months ahead."""
    row = conn.execute(
        """
        SELECT ensure_question_partitions(
            (now() AT TIME ZONE 'UTC')::date,
            ((now() AT TIME ZONE 'UTC') + make_interval(months => %s))::date)
        """,
        (months_ahead,),
    ).fetchone()
    return int(str(row[0])) if row else 0
