"""Guess a question's category: multinomial naive Bayes over Korean tokens.

The API calls ``classify_question_category(title, content)`` when an asker
leaves the category empty. Features are the analyzer's content morphemes with
compounds split (so 흑돼지맛집 counts as 흑돼지맛집, 흑돼지 and 맛집), title
tokens counted twice because a title states the topic while the body wanders.
The model is trained at first use from the hand-written examples shipped in
``qa/data/category_examples.tsv`` (about a second, almost all of it Kiwi
analysing ~1,400 examples) and then shared.

Probabilities are a softmax of the naive Bayes log scores. When even the best
category gets less than ``CONFIDENCE_THRESHOLD`` the question is filed under
``other``: a wrong specific category misleads readers more than 기타 does.
Tokens never seen in training are ignored rather than smoothed, so text the
model knows nothing about (gibberish, a language it was not trained on) gets
the near-uniform prior (~1/12) and lands in ``other``.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import get_args

from dongne.qa.schemas import Category
from dongne.text.analysis import KoreanAnalyzer, get_analyzer

CATEGORY_CODES: tuple[str, ...] = get_args(Category)
FALLBACK_CATEGORY = "other"

# Naive Bayes is overconfident (every extra token multiplies the odds), so a
# real question's best probability is almost always far above this: on five
# 80/20 splits of the examples only 1 question in 1,400 fell below it, and none
# that was classified correctly. What it catches is text with no or hardly any
# known tokens (best ≈ 1/12, the prior), which would otherwise go to whichever
# category has the most examples. Raising it to 0.5 changed held-out accuracy
# by nothing; at 0.6 it starts sending correct answers to other.
CONFIDENCE_THRESHOLD = 0.35
TITLE_WEIGHT = 2
# Laplace (add-one) smoothing for both the priors and the token likelihoods.
_SMOOTHING = 1.0
_EXAMPLES = ("data", "category_examples.tsv")
_HEADER = ("category", "title", "content")
_HEADER_LINE = "\t".join(_HEADER)


@dataclass(frozen=True)
class Example:
    """One labelled question."""

    category: str
    title: str
    content: str


@dataclass(frozen=True)
class Classification:
    """The guess, the best probability, and the probability of every category.

    ``confidence`` is the best category's probability even when it fell below
    the threshold and ``category`` fell back to ``other``.
    """

    category: str
    confidence: float
    scores: dict[str, float]


@dataclass(frozen=True)
class _Model:
    # Indexed like CATEGORY_CODES.
    log_priors: tuple[float, ...]
    token_log_probs: dict[str, tuple[float, ...]]


class CategoryClassifier:
    """Multinomial naive Bayes over analysed tokens; pure Python, deterministic.

    Safe to share between threads once trained: ``train()`` builds a new model
    and swaps it in whole.
    """

    def __init__(
        self,
        analyzer: KoreanAnalyzer | None = None,
        *,
        threshold: float = CONFIDENCE_THRESHOLD,
    ) -> None:
        self._analyzer = analyzer or get_analyzer()
        self._threshold = threshold
        self._model: _Model | None = None

    @classmethod
    def load_default(cls) -> CategoryClassifier:
        """A classifier trained on the examples shipped with dongne."""
        classifier = cls()
        classifier.train(load_examples())
        return classifier

    def train(self, examples: Iterable[Example]) -> None:
        """Fit on ``examples``, replacing anything learned before."""
        documents: Counter[str] = Counter()
        counts: dict[str, Counter[str]] = {code: Counter() for code in CATEGORY_CODES}
        for example in examples:
            _check_category(example.category)
            documents[example.category] += 1
            counts[example.category].update(self._features(example.title, example.content))
        if not documents:
            raise ValueError("no training examples")
        self._model = _Model(_log_priors(documents), _token_log_probs(counts))

    def classify(self, title: str, content: str) -> Classification:
        model = self._model
        if model is None:
            raise RuntimeError("train the classifier before classifying")
        log_scores = list(model.log_priors)
        for token, count in self._features(title, content).items():
            row = model.token_log_probs.get(token)
            if row is not None:
                for index, log_prob in enumerate(row):
                    log_scores[index] += count * log_prob
        scores = dict(zip(CATEGORY_CODES, _softmax(log_scores), strict=True))
        # max() keeps the first of equals, so ties resolve in CATEGORY_CODES order.
        best = max(CATEGORY_CODES, key=scores.__getitem__)
        category = best if scores[best] >= self._threshold else FALLBACK_CATEGORY
        return Classification(category, scores[best], scores)

    def _features(self, title: str, content: str) -> Counter[str]:
        features = Counter(self._analyzer.tokens(content, split_compounds=True))
        for token in self._analyzer.tokens(title, split_compounds=True):
            features[token] += TITLE_WEIGHT
        return features


def load_examples() -> list[Example]:
    """The labelled examples shipped in ``qa/data/category_examples.tsv``."""
    text = resources.files("dongne.qa").joinpath(*_EXAMPLES).read_text(encoding="utf-8")
    return parse_examples(text.splitlines())


def parse_examples(lines: Sequence[str]) -> list[Example]:
    """Parse TSV lines (a ``category, title, content`` header, then one example a line)."""
    if not lines or lines[0] != _HEADER_LINE:
        raise ValueError(f"examples must start with the header {_HEADER_LINE!r}")
    examples = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(_HEADER):
            raise ValueError(f"line {number}: expected 3 tab-separated fields, got {len(fields)}")
        _check_category(fields[0], where=f"line {number}: ")
        examples.append(Example(*fields))
    return examples


def _check_category(category: str, where: str = "") -> None:
    if category not in CATEGORY_CODES:
        raise ValueError(f"{where}unknown category {category!r}")


def _log_priors(documents: Counter[str]) -> tuple[float, ...]:
    total = sum(documents.values()) + _SMOOTHING * len(CATEGORY_CODES)
    return tuple(math.log((documents[code] + _SMOOTHING) / total) for code in CATEGORY_CODES)


def _token_log_probs(counts: dict[str, Counter[str]]) -> dict[str, tuple[float, ...]]:
    vocabulary = sorted(set().union(*counts.values()))
    totals = {code: counts[code].total() + _SMOOTHING * len(vocabulary) for code in CATEGORY_CODES}
    return {
        token: tuple(
            math.log((counts[code][token] + _SMOOTHING) / totals[code]) for code in CATEGORY_CODES
        )
        for token in vocabulary
    }


def _softmax(log_scores: Sequence[float]) -> list[float]:
    # Subtracting the maximum keeps exp() from underflowing to 0 for every
    # category: log scores of long texts run into the thousands below zero.
    top = max(log_scores)
    weights = [math.exp(score - top) for score in log_scores]
    total = sum(weights)
    return [weight / total for weight in weights]


_default: CategoryClassifier | None = None
_default_lock = threading.Lock()


def default_classifier() -> CategoryClassifier:
    """The shared classifier trained on the shipped examples, built on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = CategoryClassifier.load_default()
    return _default


def classify_question_category(title: str, content: str) -> Classification:
    """Guess the category of a question with the shared default model."""
    return default_classifier().classify(title, content)
