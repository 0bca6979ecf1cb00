"""The Elasticsearch mapping and generated queries, pinned as golden JSON.

No cluster runs here: these tests pin exactly what would be sent. After an
intended change, regenerate with ``DONGNE_UPDATE_GOLDEN=1 pytest tests/search``
and review the diff like code.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from dongne.api.cursors import encode_cursor
from dongne.search.contract import GeoFilter, SearchQuery
from dongne.search.elasticsearch import (
    build_search,
    build_suggest,
    document,
    index_body,
    region_path,
)

GOLDEN = Path(__file__).parent / "golden"


def _check(name: str, value: Any) -> None:
    path = GOLDEN / f"{name}.json"
    text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    if os.environ.get("DONGNE_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with DONGNE_UPDATE_GOLDEN=1"
    assert json.loads(text) == json.loads(path.read_text(encoding="utf-8"))


def test_index_settings_and_mapping() -> None:
    body = index_body()
    _check("index", body)
    analysis = body["settings"]["analysis"]
    assert analysis["tokenizer"]["nori_user_dict_tokenizer"]["decompound_mode"] == "mixed"
    assert "애월읍" in analysis["tokenizer"]["nori_user_dict_tokenizer"]["user_dictionary_rules"]
    assert "맛집,맛있는집,식당,레스토랑" in analysis["filter"]["synonym_filter"]["synonyms"]
    properties = body["mappings"]["properties"]
    assert properties["location"] == {"type": "geo_point"}
    assert properties["title"]["fields"]["ngram"]["analyzer"] == "ngram_analyzer"
    assert properties["suggest"]["type"] == "completion"


QUERIES: dict[str, SearchQuery] = {
    "query_basic": SearchQuery(text="애월읍에서 흑돼지맛집 추천해 주세요"),
    "query_filters": SearchQuery(
        text="카페",
        regions=("KR-49-01", "KR-49-01-02"),
        category="food",
        hashtags=("오션뷰", "애월"),
        urgency="urgent",
        has_answers=True,
        local_only=True,
        created_from=datetime(2026, 1, 1, tzinfo=UTC),
        created_to=datetime(2026, 6, 30, tzinfo=UTC),
        near=GeoFilter(lat=33.46, lng=126.31, radius_km=5),
        statuses=("open",),
        sort="popularity",
        limit=10,
        facets=False,
        highlight=False,
    ),
    "query_sort_urgent_page_2": SearchQuery(
        text="버스",
        sort="urgent",
        cursor=encode_cursor(
            "es:urgent", [3, 1767225600000, "01900000-0000-7000-8000-000000000000"]
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_generated_queries(name: str) -> None:
    _check(name, build_search(QUERIES[name]))


def test_nothing_to_search_sends_nothing() -> None:
    for text in ["😀😀", "!!!", "ㅋㅋ", "   "]:
        assert build_search(SearchQuery(text=text)) is None


def test_suggest_and_document() -> None:
    _check("suggest", build_suggest("ㅇㅇ", "KR-49-01-02"))
    assert region_path("KR-49-01-02") == ["KR", "KR-49", "KR-49-01", "KR-49-01-02"]
    row = {
        "id": UUID("01900000-0000-7000-8000-000000000001"), "title": "애월 흑돼지 맛집 추천",
        "content": "부모님과 갈 흑돼지 구이집 알려주세요.", "hashtags": ["흑돼지"],
        "region_code": "KR-49-01-02", "category": "food", "urgency": "urgent", "status": "open",
        "lat": 33.46, "lng": 126.31, "view_count": 3, "like_count": 1, "answer_count": 2,
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
        "user_id": UUID("01900000-0000-7000-8000-000000000002"), "nickname": "애월토박이",
        "verification_level": 2, "popularity_key": 12345.5,
    }  # fmt: skip
    _check("document", document(row))
