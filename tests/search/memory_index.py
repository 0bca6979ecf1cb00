"""An in-memory stand-in for Elasticsearch: real classes holding documents in dicts.

``MemoryCluster`` keeps what the sync relies on: index versions behind one
alias, writes through the alias failing while there is none (``require_alias``),
and the external-version rule (a write lands only with a version above the one
held, deletes leave their version behind). ``FlakyIndex`` fails on purpose.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dongne.search.external import ExternalSearchIndex, IndexChange


@dataclass
class _Index:
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)

    def write(self, changes: Sequence[IndexChange]) -> dict[str, str]:
        for change in changes:
            held = self.versions.get(change.question_id)
            if held is not None and change.version <= held:
                continue  # Elasticsearch's 409: this or a newer state is already there
            self.versions[change.question_id] = change.version
            if change.document is None:
                self.documents.pop(change.question_id, None)
            else:
                self.documents[change.question_id] = copy.deepcopy(change.document)
        return {}


class MemoryCluster:
    """An ``ExternalSearchIndex`` and ``IndexBuilder`` in memory."""

    def __init__(self) -> None:
        self.indices: dict[str, _Index] = {}
        self.alias: str | None = None
        self._names = itertools.count(1)
        # Called before each write into a named index version (the reindex's
        # bulk loads): lets a test change things while a build is in progress.
        self.on_build_write: Callable[[], None] | None = None

    @property
    def documents(self) -> dict[str, dict[str, Any]]:
        """What searches see: the documents of the index the alias points at."""
        return self.indices[self.alias].documents if self.alias else {}

    async def apply(self, changes: Sequence[IndexChange]) -> dict[str, str]:
        if self.alias is None:
            raise LookupError("no such alias (no reindex has run yet)")
        return self.indices[self.alias].write(changes)

    async def ids(self) -> set[str]:
        return set(self.documents)

    def create_index(self, *, shards: int, replicas: int) -> str:
        name = f"questions-v{next(self._names)}"
        self.indices[name] = _Index()
        return name

    def write(self, index: str, changes: Sequence[IndexChange]) -> dict[str, str]:
        if self.on_build_write is not None:
            self.on_build_write()
        return self.indices[index].write(changes)

    def publish(self, index: str) -> list[str]:
        old = [self.alias] if self.alias and self.alias != index else []
        self.alias = index
        return old

    def delete_indices(self, indices: Iterable[str]) -> None:
        for index in indices:
            self.indices.pop(index, None)


class FlakyIndex:
    """Fails the first ``failing_requests`` requests as a whole (an unreachable
    cluster), then rejects the first change of each of the next ``failing_items``
    requests (a per-document error); writes everything else through."""

    def __init__(
        self, inner: ExternalSearchIndex, *, failing_requests: int = 0, failing_items: int = 0
    ) -> None:
        self._inner = inner
        self.failing_requests = failing_requests
        self.failing_items = failing_items
        self.calls = 0

    async def apply(self, changes: Sequence[IndexChange]) -> dict[str, str]:
        self.calls += 1
        if self.failing_requests > 0:
            self.failing_requests -= 1
            raise ConnectionError("cluster unreachable")
        if self.failing_items > 0 and changes:
            self.failing_items -= 1
            rejected, rest = changes[0], changes[1:]
            failures = await self._inner.apply(rest)
            return {**failures, rejected.question_id: "503: shard unavailable"}
        return await self._inner.apply(changes)

    async def ids(self) -> set[str]:
        return await self._inner.ids()
