"""Demo content: determinism, database limits, coverage and mix."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from dongne.seed.content import (
    CATEGORIES,
    DemoAnswer,
    DemoQuestion,
    demo_questions,
)

JEJU_DISTRICTS = [
    "한림읍", "애월읍", "구좌읍", "조천읍", "한경면", "추자면", "우도면",
    "일도1동", "일도2동", "이도1동", "이도2동", "삼도1동", "삼도2동", "용담1동", "용담2동",
    "건입동", "화북동", "삼양동", "봉개동", "아라동", "오라동", "연동", "노형동", "외도동",
    "이호동", "도두동", "대정읍", "남원읍", "성산읍", "안덕면", "표선면", "송산동", "정방동",
    "중앙동", "천지동", "효돈동", "영천동", "동홍동", "서홍동", "대륜동", "대천동", "중문동",
    "예래동",
]  # fmt: skip

# Leftover "{slot}" or an unresolved particle pair such as "을/를" means a broken template.
_ARTIFACT = re.compile(r"[{}]|(을/를|이/가|은/는|과/와|으로/로|이랑/랑|이에요/예요|이라는/라는)")


def _generate(seed: int, count: int = 500, names: list[str] | None = None) -> list[DemoQuestion]:
    return demo_questions(random.Random(seed), names or JEJU_DISTRICTS, count)


def _assert_valid(question: DemoQuestion) -> None:
    assert 10 <= len(question.title) <= 200, question.title
    assert 20 <= len(question.content) <= 2000, question.content
    assert question.category in CATEGORIES
    assert question.urgency in {"normal", "urgent", "emergency"}
    assert isinstance(question.hashtags, tuple)
    assert len(question.hashtags) <= 5
    assert len(set(question.hashtags)) == len(question.hashtags)
    for tag in question.hashtags:
        assert 1 <= len(tag) <= 30, tag
        assert "#" not in tag
        assert not any(ch.isspace() for ch in tag), tag
    assert isinstance(question.answers, tuple)
    assert len(question.answers) <= 6
    for answer in question.answers:
        assert isinstance(answer, DemoAnswer)
        assert 10 <= len(answer.content) <= 1000, answer.content
    for text in (question.title, question.content, *(a.content for a in question.answers)):
        assert not _ARTIFACT.search(text), text


def test_categories_are_the_agreed_keys_and_labels() -> None:
    assert CATEGORIES == {
        "food": "맛집",
        "transport": "교통",
        "lodging": "숙소",
        "travel": "관광",
        "living": "생활",
        "weather": "날씨",
        "medical": "의료",
        "education": "육아·교육",
        "housing": "부동산",
        "jobs": "일자리",
        "lost_found": "분실물",
        "other": "기타",
    }


def test_same_seed_gives_the_same_questions() -> None:
    assert _generate(7) == _generate(7)


def test_different_seeds_give_different_questions() -> None:
    first, second = _generate(1, 50), _generate(2, 50)
    assert [q.title for q in first] != [q.title for q in second]


def test_does_not_touch_the_global_random_state() -> None:
    before = random.getstate()
    _generate(3, 50)
    assert random.getstate() == before


@pytest.mark.parametrize("seed", [0, 1, 49, 2024])
def test_every_question_fits_the_database_limits(seed: int) -> None:
    questions = _generate(seed)
    assert len(questions) == 500
    for question in questions:
        _assert_valid(question)


@pytest.mark.parametrize("seed", [0, 49])
def test_every_district_gets_a_question(seed: int) -> None:
    assert {q.district_name for q in _generate(seed)} == set(JEJU_DISTRICTS)
    exact = _generate(seed, count=len(JEJU_DISTRICTS))
    assert sorted(q.district_name for q in exact) == sorted(JEJU_DISTRICTS)


def test_fewer_questions_than_districts_never_repeats_a_district() -> None:
    names = [q.district_name for q in _generate(5, count=20)]
    assert len(names) == len(set(names)) == 20


@pytest.mark.parametrize("seed", [0, 1, 49, 2024])
def test_titles_are_unique(seed: int) -> None:
    titles = [q.title for q in _generate(seed)]
    assert len(titles) == len(set(titles))


def test_titles_stay_unique_for_a_single_district() -> None:
    questions = _generate(11, count=500, names=["애월읍"])
    assert len({q.title for q in questions}) == 500
    for question in questions:
        _assert_valid(question)


def test_urgency_and_answer_mix_is_roughly_as_specified() -> None:
    questions = [q for seed in range(4) for q in _generate(seed)]
    urgency = Counter(q.urgency for q in questions)
    total = len(questions)
    assert 0.72 <= urgency["normal"] / total <= 0.88
    assert 0.09 <= urgency["urgent"] / total <= 0.21
    assert 0.02 <= urgency["emergency"] / total <= 0.09
    unanswered = sum(1 for q in questions if not q.answers) / total
    assert 0.08 <= unanswered <= 0.23
    assert any(len(q.answers) == 6 for q in questions)
    assert all(q.answers for q in questions if q.urgency == "emergency")


def test_categories_are_mixed() -> None:
    counts = Counter(q.category for q in _generate(49))
    assert set(counts) == set(CATEGORIES)
    assert max(counts.values()) < 0.25 * 500


def test_most_questions_mention_their_district() -> None:
    questions = _generate(9, count=300)
    mentioning = 0
    for question in questions:
        short = question.district_name.removesuffix("읍").removesuffix("면")
        text = question.title + question.content + " ".join(a.content for a in question.answers)
        mentioning += short[:2] in text
    assert mentioning / len(questions) > 0.6


def test_unknown_district_names_still_work() -> None:
    names = ["가상동", "Springfield", "신도시읍", "X"]
    questions = demo_questions(random.Random(3), names, 40)
    assert {q.district_name for q in questions} == set(names)
    for question in questions:
        _assert_valid(question)


def test_zero_count_returns_nothing() -> None:
    assert demo_questions(random.Random(0), JEJU_DISTRICTS, 0) == []
    assert demo_questions(random.Random(0), [], 0) == []


@pytest.mark.parametrize(
    ("names", "count"),
    [(JEJU_DISTRICTS, -1), ([], 3), (["애월읍", "  "], 3)],
)
def test_invalid_arguments_are_rejected(names: list[str], count: int) -> None:
    with pytest.raises(ValueError, match=r"must|required"):
        demo_questions(random.Random(0), names, count)
