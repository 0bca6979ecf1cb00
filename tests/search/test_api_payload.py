"""The search route serialises its result directly; the document must be
exactly what the ``SearchOut`` model (the OpenAPI shape) would produce."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from uuid import uuid4

import pydantic_core
import pytest

from dongne.search.api import FacetOut, Highlight, SearchHitOut, SearchOut, _payload
from dongne.search.contract import FacetBucket, SearchHit, SearchResult


def _hit(highlight: dict[str, object]) -> SearchHit:
    return SearchHit(
        id=uuid4(), title="애월 흑돼지 맛집", content="가족 여행 중인데 흑돼지 맛집 추천해 주세요",
        hashtags=["흑돼지", "애월"], region_code="KR-49-01-11", category="food",
        urgency="normal", status="open", answer_count=2, view_count=40, like_count=1,
        created_at=datetime(2026, 11, 26, 9, 30, 15, 123456, tzinfo=UTC),
        author_nickname="애월이웃", author_verified=True, score=1.25, highlight=highlight,
    )  # fmt: skip


@pytest.mark.parametrize(
    "highlight",
    [{}, {"title": "애월 <mark>흑돼지</mark> 맛집", "content": ["<mark>흑돼지</mark>"]}],
)
def test_the_payload_is_the_search_out_document(highlight: dict[str, object]) -> None:
    result = SearchResult(
        hits=[_hit(highlight), _hit(highlight)], total=2, total_exact=True, took_ms=3.5,
        next_cursor="c", relaxed=False,
        facets={"categories": [FacetBucket("food", 2)], "regions": [], "hashtags": []},
    )  # fmt: skip
    modelled = SearchOut(
        items=[
            SearchHitOut(**{**asdict(hit), "highlight": Highlight(**hit.highlight)})
            for hit in result.hits
        ],
        total=result.total, total_exact=result.total_exact, took_ms=result.took_ms,
        next_cursor=result.next_cursor, relaxed=result.relaxed,
        facets={"categories": [FacetOut(key="food", count=2)], "regions": [], "hashtags": []},
    )  # fmt: skip
    served = pydantic_core.to_json(_payload(result))
    assert json.loads(served) == json.loads(modelled.model_dump_json())
    assert SearchOut.model_validate_json(served) == modelled
