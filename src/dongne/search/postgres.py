"""The default backend: Kiwi tokens in a weighted tsvector, pg_trgm for typos.

Matching follows the seed's Elasticsearch query (``operator: and``): a
question matches when it contains every word of the query (each word as
itself, its region short form, its synonyms, or — for a compound — all of
its parts). When fewer than ``RELAX_BELOW`` questions match that way, the
search widens: the last word also matches as a prefix (a word still being
typed), questions matching *some* of the words are admitted, and so are
questions whose title is trigram-similar to the query (the seed's
``title.ngram`` + ``fuzziness``: typos and partial words); the result says
``relaxed``. The prefix waits for the wider stage because a GIN prefix scan
reads every lexeme that starts with the word — for a common word, many
times the cost of the word itself.

The cost of a search is bounded, whatever the term. A search reads the
newest matches, filtered, up to ``CANDIDATE_LIMIT`` (200), and everything
— ranking, facets, the other sorts, ``total`` — works on those candidates. To
find the newest matches without reading all of them, the id range (ids are
UUIDv7, so time-ordered) is cut into windows read newest first — from the
start of the month 7 days ago, then of the months 31, 123 and 366 days ago
(partition bounds, ``window_edges``), and the rest — as one ``UNION ALL``
under a ``LIMIT``:
PostgreSQL runs the windows in order and stops as soon as the limit is met.
A term in half the corpus is found in the first window by walking the
primary key; a rare one by the GIN index in each window. Every filter is a
column of ``question_search`` itself (migration 0014), so no match is joined
to another table before the limit.

The rows shown are then read from ``questions`` by primary key: it is the
authority for visibility and counters, so a question hidden or deleted a
moment ago never appears even while its search row waits for the outbox.
"""

from __future__ import annotations

import functools
import math
import re
import time
import weakref
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

import psycopg
from psycopg import AsyncRawCursor
from psycopg.pq import TransactionStatus

from dongne.api.cursors import decode_cursor, encode_cursor
from dongne.db.router import SEARCH_SESSION, ShardRouter, Workload
from dongne.search.analysis import (
    QueryUnit,
    fragments,
    lexeme,
    mark,
    normalize_query,
    query_units,
    unit_terms,
    unit_tsquery,
)
from dongne.search.contract import (
    CANDIDATE_LIMIT,
    FACET_SIZES,
    SEARCHABLE_STATUSES,
    FacetBucket,
    GeoFilter,
    SearchHit,
    SearchQuery,
    SearchResult,
    validate,
)
from dongne.search.frequency import FREQUENT, FrequentLexemes, Shares

RELAX_BELOW = 10
# A word or filter in at least this share of the newest window's rows is
# checked on the rows the index finds, not by the index (``_strict_match``).
COMMON_SHARE = 0.8
# Title similarity (pg_trgm word_similarity) needed to match without the words.
TRIGRAM_THRESHOLD = 0.5
LOOSE_TRIGRAM_THRESHOLD = 0.3
# ts_rank weights {D, C, B, A}: the seed's nickname 1, content 1, hashtags 2, title 3.
_WEIGHTS = "{0.333,0.333,0.667,1.0}"
# Newest-first windows of the id range (see the module docstring).
WINDOWS = (timedelta(days=7), timedelta(days=31), timedelta(days=123), timedelta(days=366))
# The newest window ends a day after this server's clock: the months created
# ahead for future questions are empty, and without an upper bound every
# statement planned them too. A day covers any clock skew between the servers
# that stamp ids and this one.
CLOCK_SLACK = timedelta(days=1)
# A newest window read alone for a frequent query (``narrow_edge``): about
# twice the candidate limit by the estimate, never less than a day.
NARROW_MARGIN = 2.0
NARROW_MIN = timedelta(days=1)
# The months before the current one whose search partitions stay monthly;
# older quarters, and years, are merged into one partition each (migrations
# 0020 and 0022).
MONTHLY_SEARCH_MONTHS = 3

_SORT_KEYS: dict[str, tuple[str, str, Any] | None] = {
    # sort → (key expression over candidates c / questions q, SQL type, cursor parser)
    "newest": None,
    "oldest": None,
    "relevance": ("score", "double precision", float),
    "popularity": (
        "question_popularity_key(q.view_count, q.answer_count, q.like_count, q.urgency,"
        " q.created_at)",
        "double precision",
        float,
    ),
    "most_answers": ("q.answer_count", "integer", int),
    "most_views": ("q.view_count", "integer", int),
    "urgent": ("c.urgency", "question_urgency", str),
}
# Sorts by counters, which only ``questions`` holds up to date.
_COUNTER_SORTS = frozenset({"popularity", "most_answers", "most_views"})

# Word coverage (the share of the query's words a question has) first, then
# ts_rank with the seed's field weights, then — in the widened stages, where
# typos and unfinished words are why they were widened — title similarity.
# In the strict stage every candidate has every word: its coverage is 1
# without counting, and the title's weight in ts_rank carries the title. There
# title similarity cost ~0.55 ms a statement (pg_trgm builds both strings'
# trigrams for each candidate) and changed no query of the evaluation set.
_COVERAGE = """
    (SELECT count(*) FROM unnest(%(units)s::tsquery[]) AS t(u) WHERE c.document @@ t.u)
       ::float8 / %(n_units)s
"""
_RANK = f"""
    CASE WHEN %(any)s::tsquery IS NULL THEN 0
         ELSE ts_rank('{_WEIGHTS}', c.document, %(any)s::tsquery, 1) END
"""
_STRICT_SCORE = f"(1.0 + {_RANK})"
_WIDE_SCORE = f"({_COVERAGE} + {_RANK} + 0.5 * word_similarity(%(raw)s, c.title))"

# Each facet's top buckets by its own GROUP BY and LIMIT: a window function
# over the three together cost a fifth more (~0.12 ms over 200 candidates).
# The hashtags are unnested in the select list: as a lateral function scan,
# set up again for each candidate, they cost ~0.2 ms more.
_FACETS = """
    SELECT coalesce(json_agg(json_build_array(facet, key, n) ORDER BY facet, n DESC, key), '[]')
    FROM ((SELECT 'categories' AS facet, c.category::text AS key, count(*) AS n FROM c
           GROUP BY 2 ORDER BY 3 DESC, 2 LIMIT %(f_categories)s)
          UNION ALL (SELECT 'regions', c.region_code::text, count(*) FROM c
                     GROUP BY 2 ORDER BY 3 DESC, 2 LIMIT %(f_regions)s)
          UNION ALL (SELECT 'hashtags', tag, count(*)
                     FROM (SELECT unnest(c.hashtags) AS tag FROM c) t
                     GROUP BY 2 ORDER BY 3 DESC, 2 LIMIT %(f_hashtags)s)) f
"""

# Searches run on the search pools, whose sessions carry SEARCH_SESSION
# (dongne.db.router). One search, one backend core: parallel workers would
# only steal the cores of the searches running beside it (and reorder the
# windows). Never a sequential scan: under a LIMIT the planner reckons a rare
# word's handful of matches will turn up early in a scan of the table, and
# reads a million rows to find none (1.5 s); the indexes always answer a
# search. The ranking statement is prepared (parsing its text cost ~0.45 ms a
# search) but planned for each search's values: a generic plan, one for a
# frequent word and a rare one alike, walked the primary key for rare words
# (at 1 M questions 5 → 226 ms an all-windows statement). Partition pruning
# picks a window's partitions; constraint exclusion would only test each
# picked one's constraints against the search's conditions again (−1.6 % a
# ranking statement at 1 M without it).
# A search on a caller's connection (tests, evaluation) sets them for its
# transaction.
_SEARCH_SETTINGS = "; ".join(
    f"SET LOCAL {name} = {value}" for name, value in SEARCH_SESSION.items()
).encode()


def id_floor(moment: datetime) -> UUID:
    """The smallest UUIDv7 of a millisecond (SQL ``uuidv7_floor``)."""
    return _id_at(math.floor(moment.timestamp() * 1000))


def _id_at(millis: int) -> UUID:
    # A UUIDv7 holds 48 bits of milliseconds since 1970; a date outside that
    # (year 1 or 9999 from the API) clamps to the first or last possible id.
    return UUID(int=min(max(millis, 0), (1 << 48) - 1) << 80)


def _region_cover(codes: Sequence[str]) -> list[str]:
    """The codes no ancestor of which is listed: a city stands for its districts."""
    listed = set(codes)
    return [
        code for code in codes
        if not any("-".join(code.split("-")[:n]) in listed for n in range(2, code.count("-") + 1))
    ]  # fmt: skip


# Grid cell sizes (degrees) of the map-point lexemes (migration 0014), finest
# first, and how many cells a radius may OR together. Each ORed cell is one
# more posting list GIN reads in every month, and a point in a cell but outside
# the circle is one more row fetched and dropped. The cover starts on one
# level, the finest whose cells touching the circle number at most MAX_CELLS
# (``_cover`` then refines it): the cells' indexes come from the same
# floor(coordinate / size) as the trigger's, float for float, and each size is
# twice the next, so a cell's halves are exactly its 2x, 2x + 1 (doubling a
# float is exact). Measured at 1 M questions, 5 km radius, the
# bench's 50 map searches of each kind three times, one at a time, mean ms by
# MAX_CELLS 4 / 8 / 12 / 16: mixed words 18.1 / 14.9 / 17.1 / 15.9, the most
# frequent word 16.3 / 14.4 / 15.0 / 15.8, rare words 10.0 / 9.9 / 9.9 / 9.7.
# More cells drop more rows outside the circle but cost GIN more per month.
GRID_SIZES = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64)
MAX_CELLS = 8
MAX_REFINED_CELLS = 12
_KM_PER_DEGREE = 111.32
# The sphere of PostgreSQL's earthdistance (earth()), so a radius here means
# what it means to earth_distance() elsewhere.
EARTH_RADIUS_M = 6378168.0
# Margin over the radius for the cell and box tests: the flat-map distances
# below stand in for great-circle ones within a fraction of a percent.
_MARGIN = 1.01


def _degrees(near: GeoFilter) -> tuple[float, float]:
    """Half the radius's bounding box in degrees of latitude and longitude, with
    a 1 % margin over the spherical earth_distance (whose radius is larger)."""
    dlat = near.radius_km / _KM_PER_DEGREE * _MARGIN
    dlng = dlat / max(math.cos(math.radians(near.lat)), 0.01)
    return dlat, dlng


def _touches_circle(near: GeoFilter, x: int, y: int, size: float, lng_scale: float) -> bool:
    """Whether the cell's nearest point to the centre lies within the radius, on a
    flat map whose longitude degrees are never longer than anywhere in the box
    (so a distance is never overestimated and no touching cell is dropped)."""
    nearest_lng = min(max(near.lng, x * size), (x + 1) * size)
    nearest_lat = min(max(near.lat, y * size), (y + 1) * size)
    east_km = (nearest_lng - near.lng) * _KM_PER_DEGREE * lng_scale
    north_km = (nearest_lat - near.lat) * _KM_PER_DEGREE
    return math.hypot(east_km, north_km) <= near.radius_km * _MARGIN


def grid_cells(near: GeoFilter) -> list[str]:
    """Lexemes of cells that hold every point within the radius (``_cover``)."""
    return [f"@g{level}:{x}:{y}" for level, x, y in _cover(near)]


@functools.lru_cache(maxsize=1024)
def _cover(near: GeoFilter) -> tuple[tuple[int, int, int], ...]:
    """The cells touching the circle on the finest grid where they number at
    most MAX_CELLS (the coarsest otherwise); then, while at most
    MAX_REFINED_CELLS, the cell wasting the most area outside the circle
    gives way to those of its four halves that touch it.

    Every point a cell holds but the circle does not is a row fetched and
    dropped: the 2 × 2 cells of 0.08° around a 5 km circle hold about three
    times its rows. Refined, they hold about twice. Measured at 1 M questions
    over the bench's 50 map searches, one at a time after a prewarm, mean
    time −7 to −10 % (8 / 12 / 12 refined cells)."""
    dlat, _ = _degrees(near)
    lng_scale = math.cos(math.radians(min(89.9, abs(near.lat) + dlat)))
    cells = _level_cover(near, lng_scale)
    settled: set[tuple[int, int, int]] = set()
    while True:
        wastes = {cell: _waste(near, cell) for cell in cells if cell not in settled and cell[0] > 1}
        worst = max(wastes, key=wastes.__getitem__, default=None)
        if worst is None or wastes[worst] == 0:
            return tuple(cells)
        halves = _touching_halves(near, worst, lng_scale)
        if len(halves) == 4 or len(cells) - 1 + len(halves) > MAX_REFINED_CELLS:
            settled.add(worst)
            continue
        cells = [cell for cell in cells if cell != worst] + halves


def _level_cover(near: GeoFilter, lng_scale: float) -> list[tuple[int, int, int]]:
    dlat, dlng = _degrees(near)
    cells: list[tuple[int, int, int]] = []
    for level, size in enumerate(GRID_SIZES, start=1):
        xs = range(math.floor((near.lng - dlng) / size), math.floor((near.lng + dlng) / size) + 1)
        ys = range(math.floor((near.lat - dlat) / size), math.floor((near.lat + dlat) / size) + 1)
        if len(xs) * len(ys) > 4 * MAX_CELLS and level < len(GRID_SIZES):
            continue
        cells = [
            (level, x, y) for x in xs for y in ys if _touches_circle(near, x, y, size, lng_scale)
        ]
        if len(cells) <= MAX_CELLS:
            break
    return cells


def _waste(near: GeoFilter, cell: tuple[int, int, int]) -> float:
    """About how much of the cell (square degrees) lies outside the circle:
    the share of a 3 × 3 grid of its points that does."""
    level, x, y = cell
    size = GRID_SIZES[level - 1]
    scale = math.cos(math.radians(near.lat))
    outside = sum(
        math.hypot(
            ((x + i / 2) * size - near.lng) * _KM_PER_DEGREE * scale,
            ((y + j / 2) * size - near.lat) * _KM_PER_DEGREE,
        )
        > near.radius_km
        for i in range(3)
        for j in range(3)
    )
    return outside / 9 * size * size


def _touching_halves(
    near: GeoFilter, cell: tuple[int, int, int], lng_scale: float
) -> list[tuple[int, int, int]]:
    """The cells of the next finer grid inside this one that touch the circle."""
    level, x, y = cell
    half = GRID_SIZES[level - 2]
    return [
        (level - 1, hx, hy)
        for hx in (2 * x, 2 * x + 1)
        for hy in (2 * y, 2 * y + 1)
        if _touches_circle(near, hx, hy, half, lng_scale)
    ]


def circle_share(near: GeoFilter, cells: list[str]) -> float:
    """About what share of the points in the cells lies within the radius:
    the circle's area over the cells'. The cells' rows overstate a map
    filter by that much, and a search that trusts them reads too narrow a
    newest window and then the whole window after it."""
    if not cells:
        return 1.0
    levels = [int(cell.split(":")[0].removeprefix("@g")) for cell in cells]
    km_per_degree_lng = _KM_PER_DEGREE * math.cos(math.radians(near.lat))
    cells_km2 = sum(
        (GRID_SIZES[level - 1] * _KM_PER_DEGREE) * (GRID_SIZES[level - 1] * km_per_degree_lng)
        for level in levels
    )
    return min(1.0, math.pi * near.radius_km**2 / cells_km2)


def _hashtags(query: SearchQuery) -> list[str]:
    # PostgreSQL text cannot hold NUL; no real hashtag contains one.
    return [tag.replace("\x00", "") for tag in query.hashtags]


def filter_groups(query: SearchQuery) -> list[list[str]]:
    """The filters as lexemes of the document (migration 0014): the lexemes of
    each group ORed, the groups ANDed."""
    groups: list[list[str]] = []
    if query.regions is not None:
        groups.append([f"@r:{code}" for code in _region_cover(query.regions)] or ["@r:"])
    if query.category is not None:
        groups.append([f"@c:{query.category}"])
    if query.hashtags:
        groups.append([f"@h:{tag}" for tag in _hashtags(query)])
    if query.urgency is not None:
        groups.append([f"@u:{query.urgency}"])
    if query.has_answers is not None:
        groups.append([f"@a:{int(query.has_answers)}"])
    if query.local_only:
        groups.append(["@v:1"])
    if query.near is not None:
        groups.append(grid_cells(query.near))
    if set(query.statuses) != SEARCHABLE_STATUSES:
        groups.append([f"@s:{status}" for status in query.statuses])
    return groups


def filter_tsquery(groups: list[list[str]]) -> str | None:
    """The filter groups as one tsquery, or None."""
    return " & ".join("(" + " | ".join(map(lexeme, group)) + ")" for group in groups) or None


def _filters(query: SearchQuery) -> tuple[list[str], dict[str, Any]]:
    """WHERE fragments (fixed text, allow-listed) and their parameters, only for the
    filters this query uses: the planner sees each search's real shape. The
    index answers them through ``filter_tsquery``; these re-check the columns
    whose lexemes a hashtag could spell."""
    where: list[str] = []
    params: dict[str, Any] = {}

    def add(fragment: str, **values: Any) -> None:
        where.append(fragment)
        params.update(values)

    # Every row of question_search is of a searchable status: a question
    # hidden or deleted loses its row in the same transaction (migration
    # 0014), and the sync writes rows of visible questions only. So the
    # default (all searchable statuses) needs no check; checking it anyway,
    # per row and per partition in planning, cost ~7 % of a ranking
    # statement at 1 M questions.
    if set(query.statuses) != SEARCHABLE_STATUSES:
        add("s.status = ANY(%(statuses)s::question_status[])", statuses=list(query.statuses))

    # No column check for regions where the index answers: the region lexemes
    # are exact and cannot be spelled by a user (every lexeme from text,
    # hashtags or nicknames is lower case; region codes are not), and
    # re-checking a city's districts as a list cost ~0.6 ms a search, mostly
    # planning it against every partition's statistics. A title matched by
    # similarity alone (``_widen``) has no lexeme test: it takes this check.
    if query.regions is not None:
        params["regions"] = list(query.regions)
    if query.category is not None:
        add("s.category = %(category)s", category=query.category)
    if query.hashtags:
        add("s.hashtags && %(hashtags)s::text[]", hashtags=_hashtags(query))
    if query.urgency is not None:
        add("s.urgency = %(urgency)s::question_urgency", urgency=query.urgency)
    if query.has_answers is not None:
        add("s.has_answers = %(has_answers)s", has_answers=query.has_answers)
    if query.local_only:
        add("s.author_verified")
    # created_at is the id's millisecond, so a time range is an id range.
    if query.created_from is not None:
        first = math.ceil(query.created_from.timestamp() * 1000)
        add("s.question_id >= %(id_from)s::uuid", id_from=_id_at(first))
    if query.created_to is not None:
        last = math.floor(query.created_to.timestamp() * 1000)
        add("s.question_id < %(id_to)s::uuid", id_to=_id_at(last + 1))
    if query.within is not None:
        add("s.question_id = ANY(%(within)s::uuid[])", within=list(query.within))
    if query.near is not None:
        near = query.near
        dlat, dlng = _degrees(near)
        # The box first (two comparisons), the great-circle distance only inside
        # it, as haversine in plain operators: earthdistance's functions are SQL
        # functions, inlined again for every search (~1.5 ms of planning).
        add(
            "s.location <@ box(point(%(lng_lo)s, %(lat_lo)s), point(%(lng_hi)s, %(lat_hi)s))"
            " AND sin(radians(s.location[1] - %(lat)s) / 2) ^ 2 + %(cos_lat)s"
            " * cos(radians(s.location[1])) * sin(radians(s.location[0] - %(lng)s) / 2) ^ 2"
            " <= %(haversine)s",
            lat=near.lat, lng=near.lng, cos_lat=math.cos(math.radians(near.lat)),
            haversine=math.sin(near.radius_km * 1000 / (2 * EARTH_RADIUS_M)) ** 2,
            lat_lo=near.lat - dlat, lat_hi=near.lat + dlat,
            lng_lo=near.lng - dlng, lng_hi=near.lng + dlng,
        )  # fmt: skip
    return where, params


def _month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _months_before(moment: datetime, months: int) -> datetime:
    start = _month_start(moment)
    index = start.year * 12 + start.month - 1 - months
    return start.replace(year=index // 12, month=index % 12 + 1)


def merged_before(now: datetime) -> datetime:
    """Search partitions of years and quarters that ended by then are merged
    (migrations 0020, 0022): three months before the current month begins."""
    return _months_before(now, MONTHLY_SEARCH_MONTHS)


def partition_start(moment: datetime, now: datetime) -> datetime:
    """The start of the search partition holding ``moment``: its year's when
    that year is merged, its quarter's when that quarter is, else its month's."""
    month = _month_start(moment)
    year = month.replace(month=1)
    quarter = month.replace(month=(month.month - 1) // 3 * 3 + 1)
    upto = merged_before(now)
    if _months_before(year, -12) <= upto:
        return year
    return quarter if _months_before(quarter, -3) <= upto else month


def window_edges(now: datetime) -> list[UUID]:
    """The windows' lower edges, newest first: each at the start of the
    partition holding ``now - span``. A window that began inside a partition
    would share it with the next window, and the partition would be planned
    and searched twice; aligned, each is searched once, and the first window
    holds the whole current month (at least 7 days), so a word that fills the
    candidate limit in a month needs only the first statement. The candidates
    are the newest matches whatever the edges: they only order the work.

    A year's start between two edges is an edge too: once last year is one
    partition, the year-long span would otherwise begin a window at its
    January and read this year's quarters and all of last year together (at
    1 M questions, mixed queries then cost a fifth more PostgreSQL CPU)."""
    return list(_edges_on(now.astimezone(UTC).date()))


@functools.lru_cache(maxsize=4)
def _edges_on(day: date) -> tuple[UUID, ...]:
    # The spans are whole days, so ``now - span`` enters a month at a UTC
    # midnight: the edges are the same all day (computed every statement,
    # they were ~2 % of the API's CPU a search).
    now = datetime(day.year, day.month, day.day, tzinfo=UTC)
    starts = [partition_start(now - span, now) for span in WINDOWS]
    years = [
        datetime(year, 1, 1, tzinfo=UTC) for year in range(starts[-1].year + 1, starts[0].year + 1)
    ]
    return tuple(sorted({id_floor(start) for start in [*starts, *years]}, reverse=True))


_REGION_CHECK = "s.region_code = ANY(%(regions)s::varchar[])"
# ``_common`` inside a ranking statement, for the words of either stage.
_COMMON_CHECK = {
    "all": "CASE WHEN (SELECT count(*) FROM c) < %(relax)s THEN"
    " search_words_common(%(all)s::tsquery, %(relax)s) END",
    "any": "CASE WHEN (SELECT count(*) FROM c) < %(relax)s THEN"
    " search_words_common(%(any)s::tsquery, %(relax)s) END",
}


def narrow_edge(now: datetime, expected: float) -> UUID | None:
    """Where the newest window read alone should begin for a query expected to
    match ``expected`` of its rows: late enough to hold about twice the
    candidate limit (the estimate assumes independent filters), at least a day
    back; None when the whole window is needed. A frequent word then walks a
    few days' rows by primary key instead of fetching the month's matches."""
    start = window_edges(now)[0].int >> 80
    span_ms = now.timestamp() * 1000 - start
    share = NARROW_MARGIN * CANDIDATE_LIMIT / expected if expected else 1.0
    if share >= 1.0:
        return None
    back_ms = max(span_ms * share, NARROW_MIN.total_seconds() * 1000)
    return id_floor(now - timedelta(milliseconds=back_ms)) if back_ms < span_ms else None


def _window_bounds(
    now: datetime, ascending: bool, first_edge: UUID | None = None
) -> list[tuple[UUID | None, UUID | None]]:
    """[low, high) id ranges in reading order: newest first (oldest first ascending);
    ``first_edge`` splits the newest window (``narrow_edge``)."""
    edges = window_edges(now)
    if first_edge is not None and first_edge > edges[0]:
        edges = [first_edge, *edges]
    ranges: list[tuple[UUID | None, UUID | None]] = [(edges[0], id_floor(now + CLOCK_SLACK))]
    ranges += [(low, high) for low, high in zip(edges[1:], edges, strict=False)]
    ranges.append((None, edges[-1]))
    return ranges[::-1] if ascending else ranges


_CANDIDATE_COLUMNS = (
    "SELECT s.question_id, s.document, s.title, s.category, s.region_code, s.hashtags, s.urgency"
)
_CANDIDATE_SELECT = f"{_CANDIDATE_COLUMNS} FROM question_search s"


def _candidates(
    match: str,
    where: list[str],
    params: dict[str, Any],
    ascending: bool,
    windows: int | None,
    known: list[UUID] | None,
    now: datetime,
    first_edge: UUID | None = None,
) -> str:
    """The newest (oldest) matches up to the cap, window by window (the first ones).

    ``known``: the first window's matches, found by an earlier statement; they
    are read back by id (and re-checked) instead of searching that window again.
    """
    direction = "ASC" if ascending else "DESC"
    branches = []
    bounds_in_order = _window_bounds(now, ascending, first_edge)[:windows]
    # After the known matches, the windows need only supply the rest. Told
    # so, the planner walks the primary key for the few a frequent word still
    # lacks, instead of fetching and sorting every match of the month (at
    # 1 M questions, 1 868 rows read for the 18 missing).
    params["rest"] = CANDIDATE_LIMIT - len(known) if known is not None else CANDIDATE_LIMIT
    for i, (low, high) in enumerate(bounds_in_order):
        bounds = []
        if i == 0 and known is not None:
            params["known"] = known
            bounds.append("s.question_id = ANY(%(known)s::uuid[])")
            low = high = None
        if low is not None:
            params[f"w{i}_low"] = low
            bounds.append(f"s.question_id >= %(w{i}_low)s::uuid")
        if high is not None:
            params[f"w{i}_high"] = high
            bounds.append(f"s.question_id < %(w{i}_high)s::uuid")
        condition = " AND ".join([match, *where, *bounds])
        # Allow-listed fragments only; every value is a parameter.
        limit = "%(cap)s" if i == 0 else "%(rest)s"
        branches.append(
            f"({_CANDIDATE_SELECT} WHERE {condition} ORDER BY s.question_id {direction}"
            f" LIMIT {limit})"
        )
    return f"SELECT * FROM ({' UNION ALL '.join(branches)}) w LIMIT %(cap)s"  # noqa: S608


class SearchPartition(NamedTuple):
    name: str
    # The smallest id it holds (its range's lower bound).
    low: UUID


def _partition_candidates(
    match: str,
    where: list[str],
    ascending: bool,
    partitions: list[SearchPartition],
    now: datetime,
) -> str:
    """The newest (oldest) matches up to the cap, one branch per search
    partition named outright, newest first: the same candidates as
    ``_candidates``, with no id condition at all. Each branch is ordered by
    the id's bytes (``uuid_send``: the same order), which the primary key
    cannot provide, so whatever the values a plan made once reads every
    partition through the document index (``_plans_once``)."""
    direction = "ASC" if ascending else "DESC"
    ceiling = id_floor(now + CLOCK_SLACK)
    # Months created ahead hold no question yet.
    chosen = sorted(
        (p for p in partitions if p.low < ceiling), key=lambda p: p.low, reverse=not ascending
    )
    condition = " AND ".join([match, *where])
    # Partition names are checked against _PARTITION_NAME (``SearchPartitions``).
    branches = [
        f"({_CANDIDATE_COLUMNS} FROM {p.name} s WHERE {condition}"
        f" ORDER BY uuid_send(s.question_id) {direction} LIMIT %(cap)s)"
        for p in chosen
    ]
    return f"SELECT * FROM ({' UNION ALL '.join(branches)}) w LIMIT %(cap)s"  # noqa: S608


_PARTITION_NAME = re.compile(r"^question_search_[a-z0-9_]{1,40}$")
_PARTITION_BOUND = re.compile(r"^FOR VALUES FROM \('([0-9a-f-]{36})'\) TO \('([0-9a-f-]{36})'\)$")
PARTITIONS_RELOAD_S = 10.0


class SearchPartitions:
    """Each database's search partitions, from the catalog, reloaded when older
    than ``PARTITIONS_RELOAD_S``; forgotten when a statement named one that a
    merge has since replaced. None when a partition is not a plain id range
    (then no search names them)."""

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, str, str], tuple[float, list[SearchPartition] | None]] = {}

    async def of(self, conn: Any) -> list[SearchPartition] | None:
        key = _database_key(conn)
        loaded = self._loaded.get(key)
        if loaded is not None and time.monotonic() - loaded[0] < PARTITIONS_RELOAD_S:
            return loaded[1]
        cursor = await conn.execute(
            "SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound"
            " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'question_search'::regclass"
        )
        partitions = _parsed_partitions(await cursor.fetchall())
        self._loaded[key] = (time.monotonic(), partitions)
        return partitions

    def forget(self, conn: Any) -> None:
        self._loaded.pop(_database_key(conn), None)


def _database_key(conn: Any) -> tuple[str, str, str]:
    return (conn.info.host, str(conn.info.port), conn.info.dbname)


def _parsed_partitions(rows: list[dict[str, Any]]) -> list[SearchPartition] | None:
    partitions = []
    for row in rows:
        bound = _PARTITION_BOUND.match(row["bound"] or "")
        if bound is None or not _PARTITION_NAME.match(row["name"]):
            return None
        partitions.append(SearchPartition(row["name"], UUID(bound[1])))
    return partitions or None


# The API process's copy, shared by its backends.
PARTITIONS = SearchPartitions()


class _Ranked(NamedTuple):
    total: int
    page: list[dict[str, Any]]
    facets: list[Any]
    ids: list[UUID]
    # The page's rows, read by the same statement when it was the last.
    shown: list[dict[str, Any]] | None = None
    # Whether the words alone match at least RELAX_BELOW questions (see
    # ``_common``), read by the same statement when it found fewer.
    common: bool | None = None


class _Analysed(NamedTuple):
    """A search's words and filters, ready for its statements."""

    query: SearchQuery
    units: tuple[QueryUnit, ...]
    exact: list[str]
    groups: list[list[str]]
    # Each filter group as its own tsquery (lexemes ORed), for the index.
    group_queries: list[str]
    where: list[str]
    params: dict[str, Any]
    raw: str


def _analyse(query: SearchQuery) -> _Analysed:
    text = normalize_query(query.text)
    units = query_units(text)
    raw = text.lower()
    where, params = _filters(query)
    n = len(units)
    exact = [unit_tsquery(u) for u in units]
    # The wider stage: the last word may be unfinished.
    wide = [unit_tsquery(u, prefix=i == n - 1) for i, u in enumerate(units)]
    groups = filter_groups(query)
    params.update(
        all=" & ".join(f"({q})" for q in exact) or None,
        any=" | ".join(f"({q})" for q in wide) or None,
        units=wide,
        n_units=max(n, 1),
        raw=raw,
        cap=CANDIDATE_LIMIT,
        **{f"f_{name}": size for name, size in FACET_SIZES.items()},
    )
    group_queries = [filter_tsquery([group]) or "" for group in groups]
    return _Analysed(query, units, exact, groups, group_queries, where, params, raw)


def _result(analysed: _Analysed, outcome: _Ranked, relaxed: bool, started: float) -> SearchResult:
    query = analysed.query
    total, page = outcome.total, outcome.page
    next_cursor = None
    if len(page) > query.limit:
        page = page[: query.limit]
        next_cursor = _cursor_for(query.sort, page[-1])
    # Every outcome with a page is a last statement's, which brought its rows.
    rows = _in_page_order(page, outcome.shown or [])
    terms = [t for u in analysed.units for t in unit_terms(u)]
    terms += [w for w in analysed.raw.split() if len(w) >= 2]
    hits = [_hit(row, terms if query.highlight else None) for row in rows]
    return SearchResult(
        hits=hits,
        total=total,
        total_exact=total < CANDIDATE_LIMIT,
        took_ms=round((time.perf_counter() - started) * 1000, 2),
        next_cursor=next_cursor,
        facets=_facets(outcome.facets) if query.facets else {},
        relaxed=relaxed,
    )


class PostgresSearchBackend:
    name = "postgres"

    def __init__(
        self,
        router: ShardRouter,
        frequent: FrequentLexemes = FREQUENT,
        partitions: SearchPartitions = PARTITIONS,
    ) -> None:
        self._router = router
        self._frequent = frequent
        self._partitions = partitions

    async def search(self, query: SearchQuery) -> SearchResult:
        validate(query)
        started = time.perf_counter()
        analysed = _analyse(query)
        # The connection is held for the statements alone: the analysis before
        # and the hits after (highlights) need none. A search pool sized to
        # the database's cores then keeps them busy, and a search waiting for
        # a connection waits its turn instead of slowing every other one down.
        async with self._router.connection(Workload.SEARCH) as conn:
            if self._router.sessions_persist:
                # No transaction: each statement reads committed data, as it
                # would in a READ COMMITTED one, and the session carries the
                # settings.
                outcome, relaxed = await self._statements(conn, analysed)
            else:
                async with conn.transaction():
                    await conn.execute(_SEARCH_SETTINGS)
                    outcome, relaxed = await self._statements(conn, analysed)
        return _result(analysed, outcome, relaxed, started)

    async def search_on(self, conn: Any, query: SearchQuery) -> SearchResult:
        """Search on a connection already inside a transaction (tests, evaluation)."""
        validate(query)
        started = time.perf_counter()
        analysed = _analyse(query)
        await conn.execute(_SEARCH_SETTINGS)
        outcome, relaxed = await self._statements(conn, analysed)
        return _result(analysed, outcome, relaxed, started)

    async def _statements(self, conn: Any, analysed: _Analysed) -> tuple[_Ranked, bool]:
        """The ranked outcome and whether it was widened (``relaxed``)."""
        query, units, params = analysed.query, analysed.units, analysed.params
        exact, groups, group_queries = analysed.exact, analysed.groups, analysed.group_queries
        where = analysed.where
        # One clock reading: the windows of every statement of this search meet
        # exactly, so the first window's matches are neither lost nor doubled.
        now = datetime.now(UTC)
        outcome = None
        shares = await self._frequent.shares(conn, exact, groups)
        if query.near is not None:
            cells = grid_cells(query.near)
            shares.groups[groups.index(cells)] *= circle_share(query.near, cells)
        expected = shares.expected_rows
        words = _strict_match(exact, group_queries, shares.words + shares.groups, params)
        if units and expected >= CANDIDATE_LIMIT:
            # The first window alone first: when it holds a full candidate set
            # (a frequent word), that set is the answer, and the statement plans
            # one or two month partitions instead of all of them.
            first = None if query.sort == "oldest" else narrow_edge(now, expected)
            outcome = await self._rank(
                conn, query, words, _STRICT_SCORE, where, params, now, windows=1, first_edge=first
            )
            if outcome.total < CANDIDATE_LIMIT:
                outcome = await self._rank(
                    conn, query, words, _STRICT_SCORE, where, params, now, known=outcome.ids,
                    first_edge=first, common_words="all",
                )  # fmt: skip
        elif units:
            outcome = await self._rank_rare(conn, query, words, where, params, now, shares)
        relaxed = False
        if (outcome is None or outcome.total < RELAX_BELOW) and not await _common(
            conn, params["all"], outcome
        ):
            some_words = None
            if units:
                some_words = _index_match([params["any"], *group_queries], params, "some")
            wider = await self._widen(conn, query, some_words, where, params, now)
            if wider is not None and wider.total > (outcome.total if outcome else 0):
                outcome, relaxed = wider, True
        return outcome or _Ranked(0, [], [], []), relaxed

    async def _rank_rare(
        self,
        conn: Any,
        query: SearchQuery,
        words: str,
        where: list[str],
        params: dict[str, Any],
        now: datetime,
        shares: Shares,
    ) -> _Ranked:
        """The strict stage over every window, on a plan made once per
        connection where that is safe (``_plans_once``). A partition a merge
        replaced since the list was read fails the statement: the list is
        read again at the next search, and this one is planned for its values."""
        partitions = None
        if _plans_once(conn, query, shares):
            partitions = await self._partitions.of(conn)
        if partitions is not None:
            try:
                return await self._rank(
                    conn, query, words, _STRICT_SCORE, where, params, now, common_words="all",
                    partitions=partitions,
                )  # fmt: skip
            except psycopg.errors.UndefinedTable:
                self._partitions.forget(conn)
        return await self._rank(
            conn, query, words, _STRICT_SCORE, where, params, now, common_words="all"
        )

    async def _widen(
        self,
        conn: Any,
        query: SearchQuery,
        some_words: str | None,
        where: list[str],
        params: dict[str, Any],
        now: datetime,
    ) -> _Ranked | None:
        """Some of the words (the last as a prefix); if that is still little, titles
        similar to the query too (typos, partial words); if nothing, loosely similar
        ones. Each step costs more than the last (a trigram search reads many short
        posting lists), so it runs only when the cheaper one found too little.
        ``some_words``: the match of some of the words and every filter, None
        for a query without words."""
        outcome = None
        if some_words is not None:
            outcome = await self._rank(
                conn, query, some_words, _WIDE_SCORE, where, params, now, common_words="any"
            )
            # Real words under narrow filters: no typo to correct.
            if outcome.total >= RELAX_BELOW or await _common(conn, params["any"], outcome):
                return outcome
        similar = "%(raw)s <%% s.title"
        if some_words is not None:
            similar = f"(({some_words}) OR {similar})"
        if query.regions is not None:
            where = [*where, _REGION_CHECK]
        for threshold in (TRIGRAM_THRESHOLD, LOOSE_TRIGRAM_THRESHOLD):
            # For the transaction if there is one, else for the session: a
            # search pool's connection runs searches only, and each sets the
            # threshold before the statement that uses it.
            await conn.execute(
                "SELECT set_config('pg_trgm.word_similarity_threshold', %s, %s)",
                (str(threshold), conn.info.transaction_status == TransactionStatus.INTRANS),
            )
            found = await self._rank(conn, query, similar, _WIDE_SCORE, where, params, now)
            if outcome is None or found.total > outcome.total:
                outcome = found
            if found.total > 0:
                break
        return outcome

    async def _rank(
        self,
        conn: Any,
        query: SearchQuery,
        match: str,
        score: str,
        where: list[str],
        params: dict[str, Any],
        now: datetime,
        windows: int | None = None,
        known: list[UUID] | None = None,
        first_edge: UUID | None = None,
        common_words: str | None = None,
        partitions: list[SearchPartition] | None = None,
    ) -> _Ranked:
        """Candidates → their count, the page's ids and sort keys in order, facets;
        and, from the first window alone, the candidates' ids. ``common_words``:
        the parameter holding the words whose ``_common`` answer a search that
        finds little needs next (one round trip fewer)."""
        spec = _SORT_KEYS[query.sort]
        params["limit"] = query.limit + 1
        ascending = query.sort == "oldest"
        if partitions is None:
            candidates = _candidates(
                match, where, params, ascending, windows, known, now, first_edge
            )
        else:
            candidates = _partition_candidates(match, where, ascending, partitions, now)
        ids = "(SELECT array_agg(question_id) FROM c)" if windows == 1 else "NULL::uuid[]"
        key = "NULL::float8" if spec is None or query.sort == "relevance" else spec[0]
        source = "c"
        if query.sort in _COUNTER_SORTS:
            source = "c JOIN questions q ON q.id = c.question_id"
        cursor_clause = ""
        cmp = ">" if ascending else "<"
        if spec is None:
            order = f"id {'ASC' if ascending else 'DESC'}"
            if query.cursor:
                (last_id,) = decode_cursor(query.cursor, f"search:{query.sort}", (UUID,))
                params["after_id"] = last_id
                cursor_clause = f"WHERE id {cmp} %(after_id)s::uuid"
        else:
            _, key_type, parser = spec
            column = "score" if query.sort == "relevance" else "sort_key"
            order = f"{column} DESC, id DESC"
            if query.cursor:
                last_key, last_id = decode_cursor(
                    query.cursor, f"search:{query.sort}", (parser, UUID)
                )
                params["after_key"], params["after_id"] = last_key, last_id
                cursor_clause = (
                    f"WHERE ({column}, id) < (%(after_key)s::{key_type}, %(after_id)s::uuid)"
                )
        facets = _FACETS if query.facets else "SELECT '[]'::json"
        # The page's rows come with the ranking when this statement is the
        # last of the search (one round trip fewer): always for all windows,
        # for the first window alone when it filled the candidate limit. A
        # first window that came up short is ranked again with the rest, so
        # its score and facets are not computed (~0.4 ms).
        last = "(SELECT count(*) FROM c) >= %(cap)s" if windows == 1 else "true"
        params["shown"] = query.limit
        params["relax"] = RELAX_BELOW
        common = "NULL::boolean"
        if common_words is not None and params[common_words] is not None:
            common = _COMMON_CHECK[common_words]
        # Fixed fragments only (allow-listed above); every value is a parameter.
        if query.sort == "relevance":
            ranking = f"""
            r AS (SELECT c.question_id AS id, {score} AS score, NULL::float8 AS sort_key FROM c),
            p AS MATERIALIZED (SELECT * FROM r {cursor_clause} ORDER BY {order} LIMIT %(limit)s)
            """  # noqa: S608
        else:
            # Other sorts score the page's rows only (the title similarity
            # alone is ~0.7 ms for 200 candidates).
            ranking = f"""
            r AS (SELECT c.question_id AS id, {key} AS sort_key FROM {source}),
            k AS MATERIALIZED (SELECT * FROM r {cursor_clause} ORDER BY {order} LIMIT %(limit)s),
            p AS MATERIALIZED (
                SELECT k.id, {score} AS score, k.sort_key FROM k JOIN c ON c.question_id = k.id)
            """  # noqa: S608
        statement = f"""
            WITH c AS MATERIALIZED ({candidates}),
            {ranking}
            SELECT (SELECT count(*) FROM c) AS total,
                   CASE WHEN {last} THEN
                       (SELECT coalesce(json_agg(json_build_array(p.id, p.score, p.sort_key)
                                                 ORDER BY {order}), '[]') FROM p)
                   END AS page,
                   CASE WHEN {last} THEN ({facets}) END AS facets,
                   {ids} AS ids,
                   CASE WHEN {last} THEN
                       (SELECT coalesce(json_agg(x), '[]') FROM search_page_rows(
                           ARRAY(SELECT id FROM p ORDER BY {order} LIMIT %(shown)s)) x)
                   END AS shown,
                   {common} AS common
        """  # noqa: S608
        await _use_plans(conn, generic=partitions is not None)
        cursor = await _execute_ranking(conn, statement, params)
        row = await cursor.fetchone()
        page = [
            {"id": UUID(i), "score": score, "sort_key": key} for i, score, key in row["page"] or []
        ]
        shown = None if row["shown"] is None else [_from_json(found) for found in row["shown"]]
        return _Ranked(
            int(row["total"]), page, row["facets"] or [], row["ids"] or [], shown, row["common"]
        )


# psycopg converts ``%(name)s`` placeholders to ``$n`` for every execution of
# a statement longer than its cache's 4 096 bytes, and 44 % of ranking
# statements were (six windows, each with every condition): ~0.17 ms of the
# API's CPU a search at 1 M questions. Converted once per statement text
# here, they go to PostgreSQL through a raw cursor with the values in order.
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


@functools.lru_cache(maxsize=512)
def positional(statement: str) -> tuple[bytes, tuple[str, ...]]:
    """The statement with ``$n`` placeholders (a name used twice keeps its
    number; ``%%`` is ``%``) and the parameter names in their order."""
    numbers: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        return f"${numbers.setdefault(name, len(numbers) + 1)}"

    return _PLACEHOLDER.sub(number, statement).encode(), tuple(numbers)


async def _execute_ranking(conn: Any, statement: str, params: dict[str, Any]) -> Any:
    text, names = positional(statement)
    cursor = AsyncRawCursor(conn)
    return await cursor.execute(text, [params[name] for name in names])


def _plans_once(conn: Any, query: SearchQuery, shares: Shares) -> bool:
    """Whether the strict stage's all-windows statement may run on a plan made
    once per connection and statement text (a generic plan).

    Making its custom plan cost ~0.9 ms at 1 M questions, a third of the
    statement, for a plan its shape decides once no branch has an id
    condition or an order the primary key provides (``_partition_candidates``):
    each partition's matches through the document index, sorted. That is
    the plan this statement wants — the frequent list expects fewer matches
    than the candidate limit in the newest window — but not while the list is
    empty (a frequent word would then read whole partitions instead of
    walking the key), nor with a time range or an id list (their id
    conditions would let a generic plan read the primary key: at 100 k
    questions, a month's range scanned and every row filtered, 2.3 → 15.5 ms),
    nor inside a transaction (a caller's connection, or behind a
    transaction-mode pooler, where nothing is prepared)."""
    return (
        shares.rows > 0
        and query.created_from is None
        and query.created_to is None
        and query.within is None
        and conn.info.transaction_status == TransactionStatus.IDLE
    )


# Each search connection's plan mode, for ``_use_plans``: custom plans unless
# set otherwise (SEARCH_SESSION).
_GENERIC_PLANS: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


async def _use_plans(conn: Any, *, generic: bool) -> None:
    """Switch a search session between generic and custom plans, only when
    its next ranking statement needs the other (a prepared statement's plan
    mode is the session's when it runs). A search inside a transaction keeps
    its ``SET LOCAL`` settings: custom plans."""
    if conn.info.transaction_status != TransactionStatus.IDLE:
        return
    if _GENERIC_PLANS.get(conn, False) == generic:
        return
    mode = "force_generic_plan" if generic else "force_custom_plan"
    await conn.execute("SELECT set_config('plan_cache_mode', %s, false)", (mode,))
    _GENERIC_PLANS[conn] = generic


def _strict_match(
    exact: list[str], group_queries: list[str], shares: list[float], params: dict[str, Any]
) -> str:
    """Every word and every filter; the index reads only the selective ones.

    A lexeme in most rows narrows a GIN intersection little and costs it
    much: its long posting list is walked beside the others'. ANDed with a
    rare word and a map-cell filter, 제주 (in 82 % of rows) doubled the
    index scan. When some part of the query is selective, the index reads
    those parts, and the common ones are checked on the rows it finds (by
    the function, which no index answers). At half the rows the check cost
    more than it saved: a word and a city that rarely meet (성산읍 in 제주시)
    then fetched every row of the word. Measured at 1 M questions over the
    bench's 300 mixed queries, one at a time: mean 7.35 → 7.05 ms."""
    parts = [f"({q})" for q in exact] + group_queries
    selective = [part for part, share in zip(parts, shares, strict=True) if share < COMMON_SHARE]
    common = [part for part, share in zip(parts, shares, strict=True) if share >= COMMON_SHARE]
    if not selective or not common:
        return _index_match(parts, params, "every")
    params["common"] = " & ".join(common)
    return (
        _index_match(selective, params, "every")
        + " AND ts_match_vq(s.document, %(common)s::tsquery)"
    )


def _index_match(parts: list[str], params: dict[str, Any], name: str) -> str:
    """Rows with every part (word or filter group), each part its own index
    condition. GIN answers the conditions as separate keys and leaps each
    over the others' items, while inside one tsquery it walks every item of
    the entries it deems required — the individually rarest, which for a
    map filter were its cells, every item of their union. Measured at 1 M
    questions over the bench's mixed queries, one statement at a time:
    −9 % database time, map searches up to 2.6× faster."""
    conditions = []
    for i, part in enumerate(parts):
        params[f"{name}{i}"] = part
        conditions.append(f"s.document @@ %({name}{i})s::tsquery")
    return " AND ".join(conditions)


def _from_json(row: dict[str, Any]) -> dict[str, Any]:
    """A ``search_page_rows`` row as JSON, typed as psycopg would read it."""
    return {**row, "id": UUID(row["id"]), "created_at": datetime.fromisoformat(row["created_at"])}


def _in_page_order(page: list[dict[str, Any]], found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The page's rows that are still visible, in its order, with its sort keys."""
    by_id = {row["id"]: row for row in found}
    rows = []
    for entry in page:
        row = by_id.get(entry["id"])
        if row is not None:
            rows.append({**row, "score": entry["score"], "sort_key": entry["sort_key"]})
    return rows


async def _common(conn: Any, tsquery: str | None, ranked: _Ranked | None = None) -> bool:
    """Whether the words alone (no filters) match at least RELAX_BELOW questions.

    Then few results mean the filters are narrow, not that the words are
    misspelt or unfinished, and widening would only add noise (and cost).
    The ranking statement that found few answers it when it could.
    """
    if tsquery is None:
        return False
    if ranked is not None and ranked.common is not None:
        return ranked.common
    cursor = await conn.execute(
        "SELECT search_words_common(%(words)s::tsquery, %(relax)s) AS common",
        {"words": tsquery, "relax": RELAX_BELOW},
    )
    row = await cursor.fetchone()
    return bool(row["common"])


def _facets(rows: list[Any]) -> dict[str, list[FacetBucket]]:
    facets: dict[str, list[FacetBucket]] = {name: [] for name in FACET_SIZES}
    for facet, key, count in rows:
        facets[facet].append(FacetBucket(key, int(count)))
    return facets


def _cursor_for(sort: str, row: dict[str, Any]) -> str:
    if _SORT_KEYS[sort] is None:
        return encode_cursor(f"search:{sort}", [str(row["id"])])
    key = row["score"] if sort == "relevance" else row["sort_key"]
    return encode_cursor(f"search:{sort}", [key, str(row["id"])])


def _hit(row: dict[str, Any], terms: list[str] | None) -> SearchHit:
    highlight: dict[str, Any] = {}
    if terms is not None:
        highlight = {
            "title": mark(row["title"], terms),
            "content": fragments(row["content"], terms),
        }
    return SearchHit(
        id=row["id"], title=row["title"], content=row["content"], hashtags=list(row["hashtags"]),
        region_code=row["region_code"], category=row["category"], urgency=row["urgency"],
        status=row["status"], answer_count=row["answer_count"], view_count=row["view_count"],
        like_count=row["like_count"], created_at=row["created_at"],
        author_nickname=row["author_nickname"], author_verified=row["author_verified"],
        score=float(row["score"]) if row.get("score") is not None else None,
        highlight=highlight,
    )  # fmt: skip
