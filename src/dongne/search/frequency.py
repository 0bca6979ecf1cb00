"""Lexemes frequent in the newest search window (migration 0019).

The PostgreSQL backend reads the newest window alone first only when the
query's words and filters may fill the candidate limit there; otherwise it
goes straight to all windows. This module keeps the list: the hourly job rewrites
it from the index, and each API process holds a copy for ``RELOAD_S``.
The list guides cost only — both paths return the same candidates — so a
stale or empty list is never wrong, at most slower.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple
from uuid import UUID

from dongne.db.router import ShardRouter, Workload

# Listed when in at least this many rows of the newest window (the empty
# lexeme counts the rows). A query word with no listed lexeme cannot fill the
# candidate limit (200) unless its alternatives (synonyms, compound parts)
# add up past it: a quarter of the limit leaves room for four.
FREQUENT_AT = 50
RELOAD_S = 300.0
_QUOTED = re.compile(r"'((?:[^']|'')*)'")


def tsquery_lexemes(tsquery: str) -> list[str]:
    """The lexemes of a tsquery written by ``analysis.lexeme``."""
    return [m.replace("''", "'").replace("\\\\", "\\") for m in _QUOTED.findall(tsquery)]


def _word_rows(query: str, count: Callable[[str], int]) -> int:
    """At most the rows of one word's tsquery: a compound's parts are ANDed
    (애월항 = 애월 & 항: no more rows than its rarest part), alternatives are
    ORed (at least as many as the most frequent). Taking the most frequent
    part of a compound made 애월항 look as common as 애월, and the search
    read the newest window alone in vain."""
    counts = [count(lexeme) for lexeme in tsquery_lexemes(query)]
    if not counts:
        return 0
    return max(counts) if "|" in query else min(counts)


class Shares(NamedTuple):
    words: list[float]
    groups: list[float]
    rows: int

    @property
    def expected_rows(self) -> float:
        """The rows of the newest window with every word and every filter: the
        rarest word's rows, thinned by each filter group's share as if they
        were independent. 0 while the list is empty."""
        expected = self.rows * min(self.words, default=0.0)
        for share in self.groups:
            expected *= share
        return expected


class FrequentLexemes:
    """One process's copy of the list, reloaded when older than ``RELOAD_S``."""

    def __init__(self) -> None:
        self._documents: dict[str, int] = {}
        self._loaded_at: float | None = None

    async def shares(
        self, conn: Any, unit_queries: Sequence[str], filters: Sequence[Sequence[str]]
    ) -> Shares:
        """Each word's (one tsquery each) and each filter group's (ORed
        lexemes) share of the newest window's rows. A lexeme off the list
        counts as just under ``FREQUENT_AT`` rows, the most it can have; a
        word as ``_word_rows``, a group's lexemes as their sum. All shares
        are 0 while the list is empty."""
        documents = await self._current(conn)
        rows = documents.get("", 0)
        if not rows:
            return Shares([0.0] * len(unit_queries), [0.0] * len(filters), 0)

        def count(lexeme: str) -> int:
            return documents.get(lexeme, FREQUENT_AT - 1)

        words = [min(1.0, _word_rows(query, count) / rows) for query in unit_queries]
        groups = [min(1.0, sum(map(count, group)) / rows) for group in filters]
        return Shares(words, groups, rows)

    async def _current(self, conn: Any) -> dict[str, int]:
        now = time.monotonic()
        if self._loaded_at is None or now - self._loaded_at > RELOAD_S:
            # Marked first: concurrent searches keep the old copy meanwhile.
            self._loaded_at = now
            cursor = await conn.execute("SELECT lexeme, documents FROM search_frequent_lexemes")
            self._documents = {row["lexeme"]: row["documents"] for row in await cursor.fetchall()}
        return self._documents


# The API process's copy, shared by its backends.
FREQUENT = FrequentLexemes()


async def refresh(router: ShardRouter, since: UUID, shard: str | None = None) -> int:
    """Rewrite the list of one shard (default: every shard) from its rows since
    ``since``; returns how many lexemes are listed."""
    listed = 0
    for name in [shard] if shard else router.shard_names:
        async with router.connection(Workload.BACKGROUND, shard=name) as conn:
            cursor = await conn.execute(
                "SELECT refresh_search_frequent_lexemes(%s::uuid, %s) AS n", (since, FREQUENT_AT)
            )
            row = await cursor.fetchone()
            listed += int(row["n"]) if row else 0
    return listed
