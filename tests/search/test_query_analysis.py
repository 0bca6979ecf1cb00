# Korean prose is test data here.
"""Query analysis is cached per process, and never across dictionary versions."""

from __future__ import annotations

import pytest

from dongne.search.analysis import query_units
from dongne.text.analysis import get_analyzer


def test_a_repeated_query_is_analysed_once() -> None:
    first = query_units("애월읍 흑돼지맛집 추천")
    assert [unit.text for unit in first] == ["애월읍", "흑돼지맛집", "추천"]
    assert query_units("애월읍 흑돼지맛집 추천") is first


def test_a_dictionary_change_reanalyses(monkeypatch: pytest.MonkeyPatch) -> None:
    analyzer = get_analyzer()
    before = query_units("한림읍 카페 추천")
    monkeypatch.setattr(analyzer, "dictionary_version", analyzer.dictionary_version + 1)
    after = query_units("한림읍 카페 추천")
    assert after == before
    assert after is not before
