"""Korean analysis: what is kept and dropped, the Jeju dictionary, compounds, NFC."""

from __future__ import annotations

import unicodedata
from concurrent.futures import ThreadPoolExecutor

import pytest

from dongne.geo.boundaries import read_regions
from dongne.text import KoreanAnalyzer, get_analyzer
from dongne.text.analysis import JEJU_TERMS, short_form

REGION_NAMES = [region.name for region in read_regions()]
SHORT_FORMS = sorted({s for s in map(short_form, REGION_NAMES) if s is not None})


@pytest.fixture(scope="module")
def analyzer() -> KoreanAnalyzer:
    return get_analyzer()


def test_particles_and_endings_are_dropped(analyzer: KoreanAnalyzer) -> None:
    assert analyzer.tokens("애월읍에서") == ["애월읍"]
    assert analyzer.tokens("애월읍에서 흑돼지를 먹었어요.") == ["애월읍", "흑돼지", "먹다"]


def test_suffix_verbs_keep_only_their_noun(analyzer: KoreanAnalyzer) -> None:
    # 추천/NNG + 하/XSV + 어/EC + 주/VX + 세요/EF: the derivational 하다 and the
    # auxiliary 주다 are dropped.
    assert analyzer.tokens("추천해주세요") == ["추천"]
    assert analyzer.tokens("분실했어요") == ["분실"]


def test_verbs_and_adjectives_come_out_as_dictionary_forms(analyzer: KoreanAnalyzer) -> None:
    # Irregular stems (춥/VA-I, 걷/VV-I) included.
    assert analyzer.tokens("추워서 걸어서 가요") == ["춥다", "걷다", "가다"]
    assert analyzer.tokens("맛있는 국수") == ["맛있다", "국수"]


def test_roots_are_kept(analyzer: KoreanAnalyzer) -> None:
    # 깨끗/XR + 하/XSA + ㄴ/ETM: the root carries the meaning.
    assert analyzer.tokens("깨끗한 방") == ["깨끗", "방"]


def test_bound_nouns_numbers_and_foreign_words(analyzer: KoreanAnalyzer) -> None:
    assert analyzer.tokens("281번 버스") == ["281", "버스"]
    assert analyzer.tokens("iPhone이랑 KTX") == ["iphone", "ktx"]


def test_urls_and_phone_numbers_are_dropped_whole(analyzer: KoreanAnalyzer) -> None:
    assert analyzer.tokens("https://example.com/a?b=1 010-1234-5678 문의") == ["문의"]


@pytest.mark.parametrize("name", REGION_NAMES)
def test_region_names_stay_one_token(analyzer: KoreanAnalyzer, name: str) -> None:
    assert analyzer.tokens(f"{name}에서 만나요")[0] == name
    assert analyzer.tokens(f"{name} 근처 맛집")[0] == name


@pytest.mark.parametrize("short", SHORT_FORMS)
def test_short_forms_come_out_as_themselves(analyzer: KoreanAnalyzer, short: str) -> None:
    assert analyzer.tokens(f"{short}에 살아요")[0] == short


def test_short_forms_never_one_syllable() -> None:
    assert short_form("애월읍") == "애월"
    assert short_form("서귀포시") == "서귀포"
    assert short_form("이도2동") == "이도"
    assert short_form("연동") is None
    assert short_form("제주특별자치도") is None
    assert {"애월", "한림", "서귀포", "제주", "노형"} <= set(SHORT_FORMS)
    assert all(len(s) >= 2 for s in SHORT_FORMS)


def test_short_forms_do_not_capture_ordinary_korean(analyzer: KoreanAnalyzer) -> None:
    # 아라 (아라동), 이도 (이도2동) and 오라 (오라동) are also plain Korean.
    assert analyzer.tokens("알아라") == ["알다"]
    assert analyzer.tokens("요즘 일도 많고 이도 아파요") == ["요즘", "일", "많다", "아프다"]
    assert analyzer.tokens("오라고 했어요") == ["오다", "하다"]


@pytest.mark.parametrize(("term", "_tag"), JEJU_TERMS)
def test_jeju_terms_are_single_tokens(analyzer: KoreanAnalyzer, term: str, _tag: str) -> None:
    assert analyzer.tokens(f"{term}에 가요")[0] == term


def test_compounds_are_joined_by_default(analyzer: KoreanAnalyzer) -> None:
    assert analyzer.tokens("흑돼지맛집 추천") == ["흑돼지맛집", "추천"]
    assert analyzer.tokens("흑돼지 맛집 추천") == ["흑돼지", "맛집", "추천"]


def test_split_compounds_adds_the_parts_after_the_compound(analyzer: KoreanAnalyzer) -> None:
    joined = analyzer.tokens("흑돼지맛집 추천", split_compounds=True)
    spaced = analyzer.tokens("흑돼지 맛집 추천", split_compounds=True)
    assert joined == ["흑돼지맛집", "흑돼지", "맛집", "추천"]
    assert spaced == ["흑돼지", "맛집", "추천"]
    # Either spelling finds the other through the parts.
    assert set(spaced) <= set(joined)


def test_dictionary_words_are_not_split(analyzer: KoreanAnalyzer) -> None:
    assert analyzer.tokens("성산일출봉", split_compounds=True) == ["성산일출봉"]


def test_nouns_keep_only_nouns(analyzer: KoreanAnalyzer) -> None:
    text = "애월 흑돼지맛집에서 맛있게 먹었어요"
    assert analyzer.nouns(text) == ["애월", "흑돼지맛집"]
    assert analyzer.nouns(text, split_compounds=True) == ["애월", "흑돼지맛집", "흑돼지", "맛집"]


def test_decomposed_input_gives_the_same_tokens(analyzer: KoreanAnalyzer) -> None:
    text = "애월읍에서 흑돼지맛집 추천해주세요"
    decomposed = unicodedata.normalize("NFD", text)
    assert decomposed != text
    assert analyzer.tokens(decomposed) == analyzer.tokens(text) == ["애월읍", "흑돼지맛집", "추천"]


@pytest.mark.parametrize("text", ["", " ", "\n\t  ", "\u3000"])
def test_empty_input_gives_no_tokens(analyzer: KoreanAnalyzer, text: str) -> None:
    assert analyzer.tokens(text) == []
    assert analyzer.nouns(text) == []


def test_add_words_registers_new_proper_nouns(analyzer: KoreanAnalyzer) -> None:
    word = "뽀롱뽀롱섬"
    assert analyzer.tokens(f"{word}에서") != [word]
    assert analyzer.add_words([word, "귤", " ", "두 단어", ""]) == 1
    assert analyzer.tokens(f"{word}에서") == [word]
    assert analyzer.add_words([word]) == 0


def test_get_analyzer_builds_once_under_concurrency() -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        instances = list(pool.map(lambda _: get_analyzer(), range(16)))
    assert all(instance is instances[0] for instance in instances)


def test_concurrent_analysis_matches_serial(analyzer: KoreanAnalyzer) -> None:
    texts = [
        f"{name}에서 흑돼지맛집 추천해주세요 {n}번 버스" for n, name in enumerate(REGION_NAMES)
    ]
    serial = [analyzer.tokens(text, split_compounds=True) for text in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(lambda t: analyzer.tokens(t, split_compounds=True), texts))
    assert parallel == serial
