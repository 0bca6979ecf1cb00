"""Korean morphological analysis with Kiwi, tuned for questions about Jeju.

``KoreanAnalyzer.tokens()`` turns a text into its content morphemes, the unit
both the category classifier and Korean search work with:

- the text is Unicode NFC-normalised first, so decomposed jamo (as some
  keyboards and macOS file names produce) analyse like composed syllables;
- kept: common and proper nouns (NNG, NNP) as written; verb and adjective stems
  (VV, VA, regular or irregular) as their dictionary form, stem + "다"
  (추워요 → 춥다); roots (XR, 깨끗한 → 깨끗); foreign words (SL) lower-cased;
  numbers (SN);
- dropped: particles (J*), endings (E*), prefixes and suffixes (XP*, XS*, so
  추천해주세요 → 추천, without 하다), auxiliary verbs (VX), 이다/아니다 (VCP,
  VCN), bound nouns (NNB: 번, 분, 곳…), pronouns and numerals (NP, NR),
  adverbs, determiners, interjections, punctuation and symbols, and URLs,
  e-mail addresses and serial numbers (phone numbers) as whole units;
- compounds: nouns written together without a space (흑돼지맛집 = 흑돼지 +
  맛집) come out as one joined token, 흑돼지맛집. With
  ``split_compounds=True`` the joined token is followed by its parts:
  흑돼지맛집 → 흑돼지맛집, 흑돼지, 맛집, while the spaced 흑돼지 맛집 gives
  흑돼지, 맛집 in both modes. Indexing with ``split_compounds=True`` therefore
  lets either spelling match the parts of the other, and an exact compound
  still scores one term higher. Dictionary words (region names, Jeju terms,
  added words) are atomic: 성산일출봉 is never split.

The user dictionary holds every region name from the boundary file (애월읍,
이도2동, 서귀포시…) so "애월읍에서" is the single token 애월읍, their short forms
(애월, 이도, 서귀포; never one syllable, so 연동 gives no 연), and Jeju terms
Kiwi's model splits or misreads (흑돼지, 고기국수, 올레길, 곶자왈…).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from kiwipiepy import Kiwi
from kiwipiepy.const import Match

from dongne.geo.boundaries import read_regions

_NOUN_TAGS = frozenset({"NNG", "NNP"})
_LEMMA_TAGS = frozenset({"VV", "VA"})
_VERBATIM_TAGS = frozenset({"XR", "SN"})
_FOREIGN_TAG = "SL"

# URLs, e-mail addresses and phone/serial numbers are recognised as one unit
# each and then dropped (their W_* tags are not kept) instead of being chopped
# into meaningless foreign-word and number tokens. Hashtags are deliberately
# not matched: "#흑돼지맛집" should analyse like 흑돼지맛집.
_MATCH_OPTIONS = Match.URL | Match.EMAIL | Match.SERIAL

# One-syllable user words (연 from 연동, or a hashtag like 귤) would capture that
# syllable inside unrelated words, so nothing shorter than this is registered
# as a short form or through add_words().
_MIN_WORD_LENGTH = 2

_ADMIN_SUFFIX = re.compile(r"\d*[읍면동시]$")

# Short forms compete with ordinary Korean: at score 0, 아라 (아라동) turned
# 알아라 into 알 + 아라 and 이도 (이도2동) swallowed 이도 ("the tooth, too").
# At -6 Kiwi still reads 애월에서, 이도에 있는, 아라지구 as the place, but prefers
# the grammatical reading when there is one. Full names and Jeju terms are
# distinctive enough to register at the neutral 0.
_SHORT_FORM_SCORE = -6.0
_WORD_SCORE = 0.0

JEJU_TERMS: tuple[tuple[str, str], ...] = (
    ("한라산", "NNP"),
    ("백록담", "NNP"),
    ("윗세오름", "NNP"),
    ("성판악", "NNP"),
    ("어리목", "NNP"),
    ("영실", "NNP"),
    ("성산일출봉", "NNP"),
    ("섭지코지", "NNP"),
    ("협재", "NNP"),
    ("함덕", "NNP"),
    ("곽지", "NNP"),
    ("월정리", "NNP"),
    ("이호테우", "NNP"),
    ("쇠소깍", "NNP"),
    ("용머리해안", "NNP"),
    ("천지연폭포", "NNP"),
    ("정방폭포", "NNP"),
    ("사려니숲길", "NNP"),
    ("비자림", "NNP"),
    ("새별오름", "NNP"),
    ("마라도", "NNP"),
    ("가파도", "NNP"),
    ("비양도", "NNP"),
    ("모슬포", "NNP"),
    ("동문시장", "NNP"),
    ("매일올레시장", "NNP"),
    ("중문관광단지", "NNP"),
    ("제주공항", "NNP"),
    ("삼다수", "NNP"),
    ("오름", "NNG"),
    ("올레", "NNG"),
    ("올레길", "NNG"),
    ("곶자왈", "NNG"),
    ("흑돼지", "NNG"),
    ("고기국수", "NNG"),
    ("몸국", "NNG"),
    ("고사리해장국", "NNG"),
    ("갈치조림", "NNG"),
    ("자리물회", "NNG"),
    ("한치물회", "NNG"),
    ("돔베고기", "NNG"),
    ("오메기떡", "NNG"),
    ("빙떡", "NNG"),
    ("한라봉", "NNG"),
    ("천혜향", "NNG"),
    ("해녀", "NNG"),
    ("돌하르방", "NNG"),
    ("클린하우스", "NNG"),
    ("괸당", "NNG"),
    ("신구간", "NNG"),
)


@dataclass(frozen=True)
class _Unit:
    """One kept morpheme, or a run of nouns written together (a compound)."""

    parts: tuple[str, ...]
    noun: bool


class KoreanAnalyzer:
    """One Kiwi instance with the Jeju user dictionary.

    Building it takes about a second and ~300 MB (Kiwi's language model), so
    share the process-wide instance from ``get_analyzer()``. Kiwi rebuilds its
    internal tables on the first analysis after a word is added, so every call
    into Kiwi goes through one lock; analysing a question takes well under a
    millisecond, which makes serialising cheaper than any risk of a reader
    meeting a half-built table.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # The typo and multi-word dictionaries serve typo correction and
        # multi-word entities, which we do not use; skipping them halves the
        # build time and saves ~190 MB. One worker: we analyse one text at a time.
        self._kiwi: Any = Kiwi(num_workers=1, load_typo_dict=False, load_multi_dict=False)
        for word, tag, score in _dictionary():
            self._kiwi.add_user_word(word, tag, score)
        # Kiwi builds lazily; pay for it here rather than in the first request.
        self._kiwi.tokenize("")
        # Bumped by every addition to the dictionary: results cached under an
        # older version (search's query analysis) are then not reused.
        self.dictionary_version = 0

    def add_words(self, words: Iterable[str]) -> int:
        """Register proper nouns (e.g. popular hashtags); return how many were new.

        Words are NFC-normalised and stripped; blank ones, ones containing
        whitespace and one-syllable ones are skipped. Kiwi rebuilds its tables
        (~0.5 s, during which analysis waits) on the next analysis after any
        addition, so add words in batches, not one call per word.
        """
        candidates = [unicodedata.normalize("NFC", word).strip() for word in words]
        with self._lock:
            added = sum(
                1
                for word in candidates
                if _registrable(word) and self._kiwi.add_user_word(word, "NNP", _WORD_SCORE)
            )
            if added:
                self.dictionary_version += 1
            return added

    def tokens(self, text: str, *, split_compounds: bool = False) -> list[str]:
        """Content morphemes of ``text`` in order (see the module docstring)."""
        return list(_emit(self._units(text), split_compounds=split_compounds))

    def nouns(self, text: str, *, split_compounds: bool = False) -> list[str]:
        """Like ``tokens()``, but only the nouns (NNG, NNP) and noun compounds."""
        units = [unit for unit in self._units(text) if unit.noun]
        return list(_emit(units, split_compounds=split_compounds))

    def _units(self, text: str) -> list[_Unit]:
        normalized = unicodedata.normalize("NFC", text)
        if not normalized.strip():
            return []
        with self._lock:
            morphemes = self._kiwi.tokenize(normalized, match_options=_MATCH_OPTIONS)
        return _group(morphemes)


_instance: KoreanAnalyzer | None = None
_instance_lock = threading.Lock()


def get_analyzer() -> KoreanAnalyzer:
    """The process-wide analyzer, built on first use (once, even under concurrency)."""
    global _instance
    if _instance is None:
        with _instance_lock:
            if _instance is None:
                _instance = KoreanAnalyzer()
    return _instance


def short_form(name: str) -> str | None:
    """A region name without its 시/읍/면/동 suffix and number: 이도2동 → 이도.

    None when nothing would be left but one syllable (연동) or the name has no
    such suffix (제주특별자치도).
    """
    stem = _ADMIN_SUFFIX.sub("", name)
    return stem if stem != name and len(stem) >= _MIN_WORD_LENGTH else None


def _dictionary() -> list[tuple[str, str, float]]:
    entries = [(word, tag, _WORD_SCORE) for word, tag in JEJU_TERMS]
    names = [region.name for region in read_regions()]
    entries += [(name, "NNP", _WORD_SCORE) for name in names]
    shorts = dict.fromkeys(s for s in map(short_form, names) if s is not None)
    entries += [(short, "NNP", _SHORT_FORM_SCORE) for short in shorts]
    return entries


def _registrable(word: str) -> bool:
    return len(word) >= _MIN_WORD_LENGTH and not any(char.isspace() for char in word)


def _content_form(form: str, tag: str, lemma: str) -> str | None:
    """What a morpheme contributes to the token stream, or None to drop it."""
    # Irregular conjugations carry a suffix on the tag: 춥/VA-I, 걷/VV-I.
    base = tag.split("-", 1)[0]
    if base in _NOUN_TAGS or base in _VERBATIM_TAGS:
        return form
    if base in _LEMMA_TAGS:
        return lemma
    if base == _FOREIGN_TAG:
        return form.lower()
    return None


def _group(morphemes: Iterable[Any]) -> list[_Unit]:
    """Kept morphemes as units, nouns that touch in the text merged into compounds.

    Nouns touch when one starts where the previous kept morpheme ends; any
    dropped morpheme in between (a particle, a bound noun, a space) occupies
    characters and so breaks the compound.
    """
    units: list[_Unit] = []
    previous_end = -1
    for morpheme in morphemes:
        start, length = int(morpheme.start), int(morpheme.len)
        tag = str(morpheme.tag)
        form = _content_form(str(morpheme.form), tag, str(morpheme.lemma))
        if form is None:
            continue
        noun = tag in _NOUN_TAGS
        if noun and units and units[-1].noun and start == previous_end:
            units[-1] = _Unit((*units[-1].parts, form), noun=True)
        else:
            units.append(_Unit((form,), noun))
        previous_end = start + length
    return units


def _emit(units: Iterable[_Unit], *, split_compounds: bool) -> Iterator[str]:
    for unit in units:
        yield "".join(unit.parts)
        if split_compounds and len(unit.parts) > 1:
            yield from unit.parts
