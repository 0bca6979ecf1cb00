"""Search glue on top of ``dongne.text.analysis``: documents, queries, synonyms, 초성, marks.

Both backends share the query side: the same Kiwi units, the same synonym
groups (the seed's), the same region short forms. The PostgreSQL backend also
builds its documents here (weighted tsvector literals), because PostgreSQL has
no Korean configuration.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from dongne.geo.boundaries import read_regions
from dongne.text.analysis import get_analyzer, short_form

# The seed's synonym groups (its Elasticsearch ``synonym_filter``).
SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("맛집", "맛있는집", "식당", "레스토랑"),
    ("카페", "커피숍", "다방"),
    ("숙소", "펜션", "호텔", "리조트"),
    ("해변", "바다", "해수욕장"),
    ("산", "오름", "등산"),
)

# Prefix of a synonym group's lexeme in PostgreSQL documents; Kiwi never
# produces a token starting with it.
SYNONYM_PREFIX = "~"

MAX_QUERY_LENGTH = 200
# More units than this is a paragraph, not a query; the rest are ignored so a
# pasted text cannot make a tsquery of hundreds of alternatives.
MAX_UNITS = 8

_CHOSEONG = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_CHOSEONG_ONLY = re.compile(f"^[{_CHOSEONG}]+$")
# tsvector positions are 1..16383; fields are spaced so a phrase never spans two.
_FIELD_GAP = 50
_MAX_POSITION = 16383


def normalize_query(text: str) -> str:
    """NFC, control characters dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return " ".join(text.split())


def initials(text: str) -> str:
    """초성 of Hangul syllables, other characters kept (mirrors SQL hangul_initials)."""
    out = []
    for ch in text:
        code = ord(ch)
        if 0xAC00 <= code <= 0xD7A3:
            out.append(_CHOSEONG[(code - 0xAC00) // 588])
        else:
            out.append(ch)
    return "".join(out)


def is_choseong(text: str) -> bool:
    """True for input made only of initial consonants, like ㅇㅇㅇ."""
    return bool(_CHOSEONG_ONLY.match(text))


@functools.cache
def _region_short_forms() -> dict[str, str]:
    """Region name → short form (애월읍 → 애월), and the short form → itself."""
    forms: dict[str, str] = {}
    for region in read_regions():
        short = short_form(region.name)
        if short is not None:
            forms[region.name] = short
    return forms


@functools.cache
def _group_forms() -> tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]:
    """Each synonym group's own lexeme and the analysed forms of its members
    (each a token sequence: 맛있는집 is 맛있다, 집)."""
    analyzer = get_analyzer()
    groups = []
    for group in SYNONYM_GROUPS:
        forms = tuple(dict.fromkeys(tuple(analyzer.tokens(word)) for word in group))
        groups.append((SYNONYM_PREFIX + group[0], tuple(form for form in forms if form)))
    return tuple(groups)


@functools.cache
def _synonyms() -> dict[str, tuple[tuple[str, ...], ...]]:
    """Token → the analysed forms of its group's members (each a token sequence)."""
    return {form[0]: forms for _, forms in _group_forms() for form in forms if len(form) == 1}


@dataclass(frozen=True)
class QueryUnit:
    """One word of the query: a compound keeps its parts (흑돼지맛집 = 흑돼지 + 맛집)."""

    text: str
    parts: tuple[str, ...]


def query_units(text: str) -> tuple[QueryUnit, ...]:
    """The query's units in order, de-duplicated, at most MAX_UNITS.

    Cached per process (two Kiwi analyses per search otherwise; people search
    for the same words), keyed by the dictionary's version as well."""
    return _query_units(text, get_analyzer().dictionary_version)


@functools.lru_cache(maxsize=4096)
def _query_units(text: str, dictionary_version: int) -> tuple[QueryUnit, ...]:
    analyzer = get_analyzer()
    joined = analyzer.tokens(text)
    flat = analyzer.tokens(text, split_compounds=True)
    units: list[QueryUnit] = []
    i = 0
    for unit in joined:
        # ``flat`` repeats each unit, followed by its parts when it is a
        # compound; the parts are the ≥ 2 following tokens that spell it.
        assert flat[i] == unit
        i += 1
        parts: tuple[str, ...] = (unit,)
        spelled = ""
        for j in range(i, len(flat)):
            spelled += flat[j]
            if spelled == unit and j > i:
                parts = tuple(flat[i : j + 1])
                i = j + 1
                break
            if not unit.startswith(spelled):
                break
        if all(u.text != unit for u in units):
            units.append(QueryUnit(unit, parts))
    return tuple(units[:MAX_UNITS])


def term_alternatives(token: str) -> list[tuple[str, ...]]:
    """What a query token may match: itself, its region short form, its synonyms."""
    alternatives: list[tuple[str, ...]] = [(token,)]
    short = _region_short_forms().get(token)
    if short is not None:
        alternatives.append((short,))
    alternatives.extend(form for form in _synonyms().get(token, ()) if form != (token,))
    return list(dict.fromkeys(alternatives))


def unit_terms(unit: QueryUnit) -> list[str]:
    """Every single token the unit can match (for highlighting and Elasticsearch)."""
    terms = [t for alt in term_alternatives(unit.text) for t in alt]
    if len(unit.parts) > 1:
        terms += [t for part in unit.parts for alt in term_alternatives(part) for t in alt]
    return list(dict.fromkeys(terms))


# -- tsquery ----------------------------------------------------------------


def lexeme(token: str) -> str:
    """A tsquery/tsvector lexeme literal, quoted."""
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def _token_query(token: str, *, prefix: bool = False) -> str:
    """One lexeme per token: the synonym group's, else the region short form,
    else the token. The index stores the group lexeme and the short form next
    to every token they stand for, so one lexeme finds them all — and a
    single lexeme lets GIN skip through the longer posting lists of the other
    words and filters, which an OR of alternatives forbids."""
    word = synonym_lexeme(token) or _region_short_forms().get(token) or token
    if prefix and len(token) >= 2:
        return f"{lexeme(word)} | {lexeme(token)}:*"
    return lexeme(word)


def unit_tsquery(unit: QueryUnit, *, prefix: bool = False) -> str:
    """tsquery text for one unit; a compound is all its parts (흑돼지맛집 → 흑돼지 &
    맛집), which the index also holds wherever the compound is written whole."""
    if len(unit.parts) == 1:
        return _token_query(unit.text, prefix=prefix)
    whole = " & ".join(f"({_token_query(part)})" for part in unit.parts)
    return f"({whole}) | {lexeme(unit.text)}:*" if prefix else whole


# -- documents ----------------------------------------------------------------


@functools.cache
def _synonym_lexemes() -> dict[tuple[str, ...], str]:
    """Analysed form of each synonym group member → the group's own lexeme.

    The PostgreSQL index stores the group lexeme (``~맛집``) next to any member
    it meets (식당, 레스토랑, 맛있는 집 …), so a query asks for one lexeme
    instead of an OR of every member — in GIN, an OR reads every member's
    posting list in full, and a multi-word member (맛있다 <-> 집) two of the
    most frequent ones. Changing a group therefore needs ``dongne search
    reindex`` on PostgreSQL (Elasticsearch applies synonyms at query time).
    """
    return {form: group for group, forms in _group_forms() for form in forms}


def synonym_lexeme(token: str) -> str | None:
    """The group lexeme of a one-token synonym group member, else None."""
    return _synonym_lexemes().get((token,))


def index_tokens(text: str) -> list[str]:
    """A field's tokens as indexed: compounds split, region short forms and
    synonym group lexemes added next to the tokens they stand for."""
    tokens = get_analyzer().tokens(text, split_compounds=True)
    shorts = _region_short_forms()
    groups = _synonym_lexemes()
    longest = max((len(form) for form in groups), default=1)
    out: list[str] = []
    for i, token in enumerate(tokens):
        out.append(token)
        # 애월읍 is one token, and the short form next to it lets 애월 find it.
        if token in shorts:
            out.append(shorts[token])
        # A member ending here (식당, or 맛있다 + 집) adds its group's lexeme.
        for size in range(1, min(longest, i + 1) + 1):
            group = groups.get(tuple(tokens[i + 1 - size : i + 1]))
            if group is not None and group not in out[-size - 1 :]:
                out.append(group)
    return out


def document_tokens(
    title: str,
    content: str,
    hashtags: Iterable[str],
    nickname: str,
    tokenize: Callable[[str], list[str]] = index_tokens,
) -> list[tuple[str, list[str]]]:
    """(weight, tokens) per field: title A, hashtags B, content C, nickname D.

    ``tokenize`` is :func:`index_tokens`; a bulk loader may pass a memoised
    copy of it, since the same texts recur across many questions.
    """
    tag_tokens: list[str] = []
    for tag in hashtags:
        tag_tokens.append(tag.lower())
        tag_tokens.extend(t for t in tokenize(tag) if t != tag.lower())
    nick = [nickname.lower(), *(t for t in tokenize(nickname) if t != nickname.lower())]
    return [
        ("A", tokenize(title)),
        ("B", tag_tokens),
        ("C", tokenize(content)),
        ("D", nick),
    ]


def tsvector_literal(fields: Sequence[tuple[str, list[str]]]) -> str:
    """A tsvector in its text form, with positions and weights, for ``%s::tsvector``."""
    positions: dict[str, list[str]] = {}
    position = 0
    for weight, tokens in fields:
        for token in tokens:
            position = min(position + 1, _MAX_POSITION)
            positions.setdefault(token[:2046], []).append(f"{position}{weight}")
        position = min(position + _FIELD_GAP, _MAX_POSITION)
    return " ".join(
        f"{lexeme(token)}:{','.join(places[:256])}" for token, places in positions.items()
    )


# -- highlights ----------------------------------------------------------------


def _surface_forms(terms: Iterable[str]) -> list[str]:
    """Strings to look for in the text: nouns as written, verb stems without 다."""
    forms = set()
    for term in terms:
        if len(term) >= 2 and term.endswith("다"):
            term = term[:-1]
        if term:
            forms.add(term)
    # Longest first, so 흑돼지맛집 is marked whole rather than as 흑돼지 + 맛집.
    return sorted(forms, key=len, reverse=True)


def _pattern(terms: Iterable[str]) -> re.Pattern[str] | None:
    return _pattern_for(tuple(terms))


# A search marks 20 titles and contents with the same terms: build it once.
@functools.lru_cache(maxsize=256)
def _pattern_for(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    forms = _surface_forms(terms)
    if not forms:
        return None
    return re.compile("|".join(re.escape(f) for f in forms), re.IGNORECASE)


def _marked(text: str, pattern: re.Pattern[str] | None) -> str:
    """Escape the text segment by segment, so a mark never splits an entity."""
    if pattern is None:
        return html.escape(text)
    out: list[str] = []
    last = 0
    for match in pattern.finditer(text):
        out.append(html.escape(text[last : match.start()]))
        out.append(f"<mark>{html.escape(match.group(0))}</mark>")
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def mark(text: str, terms: Iterable[str]) -> str:
    """The whole text, HTML-escaped, with every match in ``<mark>``."""
    return _marked(text, _pattern(terms))


def fragments(text: str, terms: Iterable[str], *, size: int = 150, count: int = 3) -> list[str]:
    """Up to ``count`` escaped fragments of about ``size`` characters around matches."""
    pattern = _pattern(terms)
    if pattern is None:
        return []
    out: list[str] = []
    end = 0
    for match in pattern.finditer(text):
        if match.start() < end:
            continue
        start = max(end, match.start() - size // 3)
        end = min(len(text), start + size)
        out.append(_marked(text[start:end], pattern))
        if len(out) == count:
            break
    return out
