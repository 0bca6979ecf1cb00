"""The embedded PostgreSQL sizes its shared buffers to the machine."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.rows import DictRow

from dongne.embedded import postgres


@pytest.mark.parametrize(
    ("memory_mb", "expected"),
    [(256, 128), (2048, 512), (24 * 1024, 4096), (256 * 1024, 4096)],
)
def test_shared_buffers_are_a_quarter_of_memory_within_bounds(
    memory_mb: int, expected: int
) -> None:
    assert postgres._shared_buffers_mb(memory_mb) == expected


def test_the_running_server_uses_the_sized_settings(db: psycopg.Connection[DictRow]) -> None:
    memory_mb = postgres._memory_mb()
    row = db.execute(
        "SELECT current_setting('shared_buffers') AS buffers,"
        " current_setting('effective_cache_size') AS cache"
    ).fetchone()
    assert row is not None
    expected = postgres._shared_buffers_mb(memory_mb)
    shown = f"{expected // 1024}GB" if expected % 1024 == 0 else f"{expected}MB"
    assert row["buffers"] == shown
    assert row["cache"] in (f"{memory_mb // 2}MB", f"{memory_mb // 2 // 1024}GB")
