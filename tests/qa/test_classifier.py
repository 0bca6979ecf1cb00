"""Category classifier: shipped examples, held-out and demo accuracy, edge cases."""

from __future__ import annotations

import math
import random
import time
from collections import Counter, defaultdict

import pytest

from dongne.geo.boundaries import read_regions
from dongne.qa.classifier import (
    CATEGORY_CODES,
    FALLBACK_CATEGORY,
    CategoryClassifier,
    Example,
    classify_question_category,
    default_classifier,
    load_examples,
    parse_examples,
)
from dongne.seed.content import CATEGORIES, CONTENT_LENGTH, TITLE_LENGTH, demo_questions
from dongne.text import get_analyzer

HELD_OUT_SHARE = 0.2
SPLIT_SEED = 20240601
MIN_EXAMPLES_PER_CATEGORY = 45

# Fresh questions, not in the examples file: one obvious case per category.
OBVIOUS = [
    (
        "food",
        "애월에 갈치조림 맛있는 식당 있을까요?",
        "부모님이랑 저녁 먹으려는데 갈치조림 잘하는 식당 추천해 주세요.",
    ),
    (
        "transport",
        "공항에서 서귀포 가는 버스 몇 번이에요?",
        "비행기 내려서 버스로 서귀포 시내까지 가려는데 몇 번 타야 하나요?",
    ),
    (
        "lodging",
        "성산 근처 게스트하우스 추천해 주세요",
        "혼자 여행인데 성산에서 하룻밤 묵을 깨끗한 숙소 있을까요?",
    ),
    (
        "travel",
        "오름 처음 가는데 어디가 좋아요?",
        "경치 좋고 너무 힘들지 않은 오름 추천해 주세요. 사진도 예쁘게 나오는 곳이요.",
    ),
    (
        "living",
        "재활용 쓰레기 버리는 요일 알려주세요",
        "이사 왔는데 클린하우스에 재활용 분리배출 하는 요일이 어떻게 되나요?",
    ),
    (
        "weather",
        "내일 태풍 때문에 비바람 심할까요?",
        "내일 태풍이 지나간다는데 바람이랑 비가 얼마나 올지 궁금해요.",
    ),
    (
        "medical",
        "밤에 아이가 열이 나요 소아과 있나요",
        "아이가 열이 39도예요. 지금 진료하는 소아과나 응급실 알려주세요.",
    ),
    (
        "education",
        "초등학교 전학 어떻게 하나요?",
        "아이 초등학교 전학 절차랑 필요한 서류 알려주세요. 학교 배정은 어떻게 돼요?",
    ),
    (
        "housing",
        "노형동 투룸 연세 시세 어느 정도예요?",
        "투룸 연세가 보통 얼마인가요? 보증금도 따로 있나요?",
    ),
    (
        "jobs",
        "주말 아르바이트 자리 구해요",
        "주말에 할 수 있는 카페나 식당 알바 있을까요? 시급은 얼마 정도 받나요?",
    ),
    (
        "lost_found",
        "버스에 휴대폰 두고 내렸어요",
        "오늘 아침 버스에서 휴대폰을 잃어버렸어요. 분실물 센터에 연락하면 찾을 수 있나요?",
    ),
    (
        "other",
        "동네 독서 모임 같이 하실 분 계세요?",
        "한 달에 한 번 책 읽고 이야기 나누는 동네 모임 만들고 싶어요. 관심 있는 분?",
    ),
]


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    return load_examples()


@pytest.fixture(scope="module")
def held_out_split(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    by_category: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        by_category[example.category].append(example)
    rng = random.Random(SPLIT_SEED)
    train: list[Example] = []
    test: list[Example] = []
    for code in CATEGORY_CODES:
        items = by_category[code][:]
        rng.shuffle(items)
        cut = round(len(items) * HELD_OUT_SHARE)
        test += items[:cut]
        train += items[cut:]
    return train, test


@pytest.fixture(scope="module")
def default() -> CategoryClassifier:
    return default_classifier()


def _accuracy(
    classifier: CategoryClassifier, cases: list[tuple[str, str, str]]
) -> tuple[float, str]:
    confusions: Counter[tuple[str, str]] = Counter()
    correct = 0
    for expected, title, content in cases:
        got = classifier.classify(title, content).category
        correct += got == expected
        if got != expected:
            confusions[(expected, got)] += 1
    worst = ", ".join(f"{a}→{b} ×{n}" for (a, b), n in confusions.most_common(6))
    return correct / len(cases), worst


def test_examples_file_is_well_formed(examples: list[Example]) -> None:
    assert tuple(CATEGORIES) == CATEGORY_CODES
    counts = Counter(example.category for example in examples)
    assert set(counts) == set(CATEGORY_CODES)
    assert min(counts.values()) >= MIN_EXAMPLES_PER_CATEGORY, counts
    for example in examples:
        assert TITLE_LENGTH[0] <= len(example.title) <= TITLE_LENGTH[1], example
        assert CONTENT_LENGTH[0] <= len(example.content) <= CONTENT_LENGTH[1], example
    titles = [example.title for example in examples]
    assert len(set(titles)) == len(titles)


def test_held_out_accuracy(held_out_split: tuple[list[Example], list[Example]]) -> None:
    train, test = held_out_split
    classifier = CategoryClassifier()
    classifier.train(train)
    accuracy, worst = _accuracy(classifier, [(e.category, e.title, e.content) for e in test])
    assert accuracy >= 0.85, f"held-out accuracy {accuracy:.3f} on {len(test)}; {worst}"


def test_demo_content_accuracy(default: CategoryClassifier) -> None:
    # The seed's template generator is an independent distribution: none of its
    # questions are in the examples file.
    districts = [region.name for region in read_regions() if region.region_type == "district"]
    assert len(districts) == 43
    questions = demo_questions(random.Random(7), districts, 300)
    cases = [(q.category, q.title, q.content) for q in questions]
    accuracy, worst = _accuracy(default, cases)
    assert accuracy >= 0.75, f"demo accuracy {accuracy:.3f} on {len(cases)}; {worst}"


@pytest.mark.parametrize(("category", "title", "content"), OBVIOUS)
def test_obvious_questions(
    default: CategoryClassifier, category: str, title: str, content: str
) -> None:
    assert default.classify(title, content).category == category


@pytest.mark.parametrize(
    ("title", "content"),
    [("asdf qwer zxcv", "ㅋㅋ ㅎㅎ 뷁뷁 쀍쀍"), ("", ""), ("hello world", "lorem ipsum dolor")],
)
def test_text_without_known_tokens_is_other(
    default: CategoryClassifier, title: str, content: str
) -> None:
    result = default.classify(title, content)
    assert result.category == FALLBACK_CATEGORY
    assert result.confidence < 0.35


@pytest.mark.parametrize(("category", "title", "content"), OBVIOUS[:4])
def test_scores_are_probabilities_over_all_categories(
    default: CategoryClassifier, category: str, title: str, content: str
) -> None:
    result = default.classify(title, content)
    assert list(result.scores) == list(CATEGORY_CODES)
    assert all(0.0 <= p <= 1.0 for p in result.scores.values())
    assert math.isclose(sum(result.scores.values()), 1.0, abs_tol=1e-9)
    assert result.confidence == max(result.scores.values()) == result.scores[category]


def test_training_is_fast_and_deterministic(default: CategoryClassifier) -> None:
    get_analyzer()  # building Kiwi is not training
    started = time.perf_counter()
    fresh = CategoryClassifier.load_default()
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"training took {elapsed:.2f} s"
    for _, title, content in OBVIOUS:
        assert fresh.classify(title, content) == default.classify(title, content)


def test_module_function_uses_the_shared_model(default: CategoryClassifier) -> None:
    _, title, content = OBVIOUS[0]
    assert default_classifier() is default
    assert classify_question_category(title, content) == default.classify(title, content)


def test_below_threshold_falls_back_to_other_keeping_the_best_probability() -> None:
    classifier = CategoryClassifier(threshold=0.5)
    classifier.train(
        [
            Example("food", "흑돼지 맛집 추천", "흑돼지 맛집 추천해 주세요"),
            Example("transport", "버스 시간표 문의", "버스 시간표 알려주세요"),
        ]
    )
    assert classifier.classify("흑돼지 맛집", "").category == "food"
    mixed = classifier.classify("흑돼지 버스", "")
    assert mixed.category == FALLBACK_CATEGORY
    assert mixed.confidence == max(mixed.scores.values()) < 0.5
    assert mixed.scores["food"] == pytest.approx(mixed.scores["transport"])


def test_untrained_and_invalid_training_are_refused() -> None:
    classifier = CategoryClassifier()
    with pytest.raises(RuntimeError):
        classifier.classify("제목입니다", "내용입니다")
    with pytest.raises(ValueError, match="no training examples"):
        classifier.train([])
    with pytest.raises(ValueError, match="unknown category 'shopping'"):
        classifier.train([Example("shopping", "제목", "내용")])


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "header"),
        (["title\tcategory\tcontent"], "header"),
        (["category\ttitle\tcontent", "food\t제목만"], "line 2: expected 3"),
        (
            ["category\ttitle\tcontent", "food\t제목\t내용", "shopping\t제목\t내용"],
            "line 3: unknown",
        ),
    ],
)
def test_malformed_examples_are_refused(lines: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_examples(lines)
