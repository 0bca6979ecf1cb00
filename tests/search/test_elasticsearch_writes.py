"""What the Elasticsearch writer sends and how it reads the answer, without a cluster.

A recording client (a plain class, no mock library) stands in for the
official one; the live suite runs the same code against a real cluster.
"""

from __future__ import annotations

import asyncio
from typing import Any

from dongne.search.elasticsearch import ElasticsearchSearchBackend, bulk_failures
from dongne.search.external import IndexChange


class _RecordingClient:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.calls: list[dict[str, Any]] = []
        self._items = items

    def bulk(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        return {"errors": False, "items": self._items}


def test_changes_become_versioned_bulk_operations_through_the_alias() -> None:
    client = _RecordingClient(items=[])
    backend = ElasticsearchSearchBackend(client, "dongne-questions")
    changes = [IndexChange("a", 7, {"id": "a", "title": "협재"}), IndexChange("b", 9, None)]
    assert asyncio.run(backend.apply(changes)) == {}
    assert client.calls == [{
        "index": "dongne-questions",
        "require_alias": True,
        "operations": [
            {"index": {"_id": "a", "version": 7, "version_type": "external"}},
            {"id": "a", "title": "협재"},
            {"delete": {"_id": "b", "version": 9, "version_type": "external"}},
        ],
    }]  # fmt: skip
    assert asyncio.run(backend.apply([])) == {}
    assert len(client.calls) == 1  # nothing to send, no request


def test_conflicts_and_missing_deletes_are_success_other_errors_fail() -> None:
    items = [
        {"index": {"_id": "ok", "status": 201}},
        {"index": {"_id": "newer", "status": 409, "error": {"type": "version_conflict"}}},
        {"delete": {"_id": "gone", "status": 404}},
        {"index": {"_id": "bad", "status": 400, "error": {"type": "mapper_parsing_exception"}}},
        {"delete": {"_id": "busy", "status": 429, "error": {"type": "es_rejected_execution"}}},
    ]
    failures = bulk_failures(items)
    assert set(failures) == {"bad", "busy"}
    assert failures["bad"].startswith("400: ") and "mapper_parsing_exception" in failures["bad"]
