"""The scale-out backend: the seed's nori index on Elasticsearch, behind an alias.

What follows the seed and what deliberately differs:

- Settings and mapping are the seed's (nori ``mixed`` decompounding, its
  part-of-speech stop tags, reading form, lowercase, its synonym groups, the
  keyword hashtag analyzer, the 2–3 ngram title field, ``geo_point``, the
  ``user``/``stats`` objects) with these changes: the user dictionary is
  inline (``user_dictionary_rules``: region names and Jeju terms from
  ``dongne.text.analysis``) so no file has to be copied onto every node;
  synonyms apply at search time (``synonym_graph`` in a search analyzer), so
  changing a group needs no reindex and multi-word synonyms stay correct;
  ``popularity_key`` stores the time-invariant ``question_popularity_key``
  instead of the seed's ``popularity_score`` (which decays while the document
  sits still); ``urgency_rank`` replaces the seed's painless sort script; and
  a ``suggest`` completion field carries the region context (all ancestor
  codes, so ``KR-49`` boosts the whole province) and 초성 inputs.
- Queries: the query side is analysed with Kiwi like the PostgreSQL backend
  (particles dropped, compounds split, synonyms, region short forms), and
  each unit must match (the seed's ``operator: and``) through the seed's
  ``multi_match`` (title^3, title.ngram^2, content, hashtags^2,
  user.nickname, ``fuzziness: AUTO``). A query with no content units (emoji,
  punctuation) is never sent: it has an empty result.
- Paging uses ``search_after`` with the sort values in the cursor, not
  ``from``; hidden and deleted questions are never indexed, and the status
  filter is always present as well.
- ``reindex`` (``services.reindex_elasticsearch``) builds a new versioned
  index and swaps the alias atomically: readers never see a half-built index.
- Writes carry an external version (``dongne.search.external``): the outbox
  sync and the reindex can race without an older state ever winning.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from dongne.api.cursors import decode_cursor, encode_cursor
from dongne.geo.boundaries import read_regions
from dongne.search.analysis import (
    SYNONYM_GROUPS,
    initials,
    normalize_query,
    query_units,
    term_alternatives,
)
from dongne.search.contract import (
    FACET_SIZES,
    TOTAL_LIMIT,
    FacetBucket,
    SearchHit,
    SearchQuery,
    SearchResult,
    validate,
)
from dongne.text.analysis import JEJU_TERMS, short_form

if TYPE_CHECKING:
    from dongne.search.external import IndexChange

URGENCY_RANK = {"normal": 1, "urgent": 2, "emergency": 3}
MULTI_MATCH_FIELDS = ["title^3", "title.ngram^2", "content^1", "hashtags^2", "user.nickname^1"]
STOPTAGS = ["E", "IC", "J", "MAG", "MAJ", "MM", "SP", "SSC", "SSO", "SC", "SE",
            "XPN", "XSA", "XSN", "XSV", "UNA", "NA", "VSV"]  # fmt: skip


def user_dictionary_rules() -> list[str]:
    """Nori user dictionary lines: region names, their short forms, Jeju terms."""
    words: dict[str, None] = {}
    for region in read_regions():
        words[region.name] = None
        short = short_form(region.name)
        if short is not None:
            words[short] = None
    for word, _tag in JEJU_TERMS:
        words[word] = None
    return sorted(words)


def index_body(*, shards: int = 3, replicas: int = 1) -> dict[str, Any]:
    """Settings and mapping of one question index version (golden-tested)."""
    return {
        "settings": {
            "number_of_shards": shards,
            "number_of_replicas": replicas,
            "analysis": {
                "analyzer": {
                    "korean_analyzer": {
                        "type": "custom",
                        "tokenizer": "nori_user_dict_tokenizer",
                        "filter": ["nori_part_of_speech_filter", "nori_readingform",
                                   "lowercase", "stop"],
                    },
                    "korean_search_analyzer": {
                        "type": "custom",
                        "tokenizer": "nori_user_dict_tokenizer",
                        "filter": ["nori_part_of_speech_filter", "nori_readingform",
                                   "lowercase", "stop", "synonym_filter"],
                    },
                    "hashtag_analyzer": {
                        "type": "custom", "tokenizer": "keyword", "filter": ["lowercase", "trim"],
                    },
                    "ngram_analyzer": {
                        "type": "custom", "tokenizer": "ngram_tokenizer", "filter": ["lowercase"],
                    },
                },
                "tokenizer": {
                    "nori_user_dict_tokenizer": {
                        "type": "nori_tokenizer",
                        "decompound_mode": "mixed",
                        "user_dictionary_rules": user_dictionary_rules(),
                    },
                    "ngram_tokenizer": {
                        "type": "ngram", "min_gram": 2, "max_gram": 3,
                        "token_chars": ["letter", "digit"],
                    },
                },
                "filter": {
                    "nori_part_of_speech_filter": {
                        "type": "nori_part_of_speech", "stoptags": STOPTAGS,
                    },
                    "synonym_filter": {
                        "type": "synonym_graph",
                        "lenient": True,
                        "synonyms": [",".join(group) for group in SYNONYM_GROUPS],
                    },
                },
            },
        },
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "id": {"type": "keyword"},
                "title": {
                    "type": "text",
                    "analyzer": "korean_analyzer",
                    "search_analyzer": "korean_search_analyzer",
                    "fields": {
                        "ngram": {"type": "text", "analyzer": "ngram_analyzer"},
                        "keyword": {"type": "keyword", "ignore_above": 256},
                    },
                },
                "content": {
                    "type": "text",
                    "analyzer": "korean_analyzer",
                    "search_analyzer": "korean_search_analyzer",
                },
                "hashtags": {
                    "type": "text",
                    "analyzer": "hashtag_analyzer",
                    "fields": {"keyword": {"type": "keyword"}},
                },
                "region_code": {"type": "keyword"},
                "region_path": {"type": "keyword"},
                "category": {"type": "keyword"},
                "urgency": {"type": "keyword"},
                "urgency_rank": {"type": "byte"},
                "status": {"type": "keyword"},
                "location": {"type": "geo_point"},
                "user": {
                    "properties": {
                        "id": {"type": "keyword"},
                        "nickname": {
                            "type": "text",
                            "analyzer": "korean_analyzer",
                            "search_analyzer": "korean_search_analyzer",
                        },
                        "is_local_verified": {"type": "boolean"},
                        "verification_level": {"type": "integer"},
                    }
                },
                "stats": {
                    "properties": {
                        "view_count": {"type": "integer"},
                        "like_count": {"type": "integer"},
                        "answer_count": {"type": "integer"},
                    }
                },
                "created_at": {"type": "date"},
                "updated_at": {"type": "date"},
                "popularity_key": {"type": "double"},
                "suggest": {
                    "type": "completion",
                    "analyzer": "simple",
                    "contexts": [{"name": "region", "type": "category", "path": "region_path"}],
                },
            },
        },
    }  # fmt: skip


def region_path(code: str) -> list[str]:
    """KR-49-01-02 → [KR, KR-49, KR-49-01, KR-49-01-02]: context for every ancestor."""
    parts = code.split("-")
    return ["-".join(parts[: i + 1]) for i in range(len(parts))]


def document(row: dict[str, Any]) -> dict[str, Any]:
    """The indexed document for a question row (see ``SOURCE_SQL``)."""
    location = None
    if row.get("lat") is not None:
        location = {"lat": row["lat"], "lon": row["lng"]}
    return {
        "id": str(row["id"]),
        "title": row["title"],
        "content": row["content"],
        "hashtags": list(row["hashtags"]),
        "region_code": row["region_code"],
        "region_path": region_path(row["region_code"]),
        "category": row["category"],
        "urgency": row["urgency"],
        "urgency_rank": URGENCY_RANK[row["urgency"]],
        "status": row["status"],
        "location": location,
        "user": {
            "id": str(row["user_id"]),
            "nickname": row["nickname"],
            "is_local_verified": row["verification_level"] >= 1,
            "verification_level": row["verification_level"],
        },
        "stats": {
            "view_count": row["view_count"],
            "like_count": row["like_count"],
            "answer_count": row["answer_count"],
        },
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "popularity_key": row["popularity_key"],
        "suggest": {
            "input": list(dict.fromkeys([row["title"], initials(row["title"]),
                                         *row["hashtags"]])),
            "weight": max(1, min(row["answer_count"] * 2 + row["like_count"] + 1, 1000)),
        },
    }  # fmt: skip


SOURCE_SQL = """
SELECT q.id, q.title, q.content, q.hashtags, q.region_code, q.category,
       q.urgency::text AS urgency, q.status::text AS status,
       q.location[1] AS lat, q.location[0] AS lng, q.view_count, q.like_count, q.answer_count,
       q.created_at, q.updated_at, q.user_id, u.nickname, u.verification_level,
       question_popularity_key(q.view_count, q.answer_count, q.like_count, q.urgency,
                               q.created_at) AS popularity_key
FROM questions q JOIN users u ON u.id = q.user_id
WHERE q.deleted_at IS NULL AND q.status <> 'hidden'
"""

_SORTS: dict[str, list[Any]] = {
    "relevance": ["_score", {"created_at": {"order": "desc"}}, {"id": {"order": "desc"}}],
    "newest": [{"created_at": {"order": "desc"}}, {"id": {"order": "desc"}}],
    "oldest": [{"created_at": {"order": "asc"}}, {"id": {"order": "asc"}}],
    "popularity": [{"popularity_key": {"order": "desc"}}, {"id": {"order": "desc"}}],
    "most_answers": [{"stats.answer_count": {"order": "desc"}}, {"created_at": {"order": "desc"}},
                     {"id": {"order": "desc"}}],
    "most_views": [{"stats.view_count": {"order": "desc"}}, {"created_at": {"order": "desc"}},
                   {"id": {"order": "desc"}}],
    "urgent": [{"urgency_rank": {"order": "desc"}}, {"created_at": {"order": "desc"}},
               {"id": {"order": "desc"}}],
}  # fmt: skip


def _unit_clause(alternatives: Iterable[str]) -> dict[str, Any]:
    return {
        "bool": {
            "should": [
                {"multi_match": {"query": text, "fields": MULTI_MATCH_FIELDS,
                                 "type": "best_fields", "fuzziness": "AUTO", "operator": "and"}}
                for text in alternatives
            ],
            "minimum_should_match": 1,
        }
    }  # fmt: skip


def build_filters(query: SearchQuery) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = [{"terms": {"status": list(query.statuses)}}]
    if query.regions is not None:
        filters.append({"terms": {"region_code": list(query.regions)}})
    if query.category:
        filters.append({"term": {"category": query.category}})
    if query.hashtags:
        filters.append({"terms": {"hashtags.keyword": list(query.hashtags)}})
    if query.urgency:
        filters.append({"term": {"urgency": query.urgency}})
    if query.has_answers is True:
        filters.append({"range": {"stats.answer_count": {"gt": 0}}})
    elif query.has_answers is False:
        filters.append({"term": {"stats.answer_count": 0}})
    if query.local_only:
        filters.append({"term": {"user.is_local_verified": True}})
    if query.created_from or query.created_to:
        bounds: dict[str, str] = {}
        if query.created_from:
            bounds["gte"] = query.created_from.astimezone(UTC).isoformat()
        if query.created_to:
            bounds["lte"] = query.created_to.astimezone(UTC).isoformat()
        filters.append({"range": {"created_at": bounds}})
    if query.near is not None:
        filters.append({"geo_distance": {
            "distance": f"{query.near.radius_km:g}km",
            "location": {"lat": query.near.lat, "lon": query.near.lng},
        }})  # fmt: skip
    if query.within is not None:
        filters.append({"ids": {"values": [str(i) for i in query.within]}})
    return filters


def build_search(query: SearchQuery) -> dict[str, Any] | None:
    """The request body for a query, or None when there is nothing to search for."""
    units = query_units(normalize_query(query.text))
    if not units:
        return None
    must = []
    for unit in units:
        alternatives = [" ".join(alt) for alt in term_alternatives(unit.text)]
        if len(unit.parts) > 1:
            alternatives.append(" ".join(unit.parts))
        must.append(_unit_clause(dict.fromkeys(alternatives)))
    body: dict[str, Any] = {
        "query": {"bool": {"must": must, "filter": build_filters(query)}},
        "sort": _SORTS[query.sort],
        "size": query.limit + 1,
        "track_total_hits": TOTAL_LIMIT,
        "_source": {"excludes": ["suggest"]},
    }
    if query.highlight:
        body["highlight"] = {
            "fields": {
                "title": {"number_of_fragments": 0},
                "content": {"fragment_size": 150, "number_of_fragments": 3},
            },
            "pre_tags": ["<mark>"],
            "post_tags": ["</mark>"],
            "encoder": "html",
        }
    if query.facets:
        body["aggs"] = {
            "categories": {"terms": {"field": "category", "size": FACET_SIZES["categories"]}},
            "regions": {"terms": {"field": "region_code", "size": FACET_SIZES["regions"]}},
            "hashtags": {"terms": {"field": "hashtags.keyword", "size": FACET_SIZES["hashtags"]}},
        }
    if query.cursor:
        body["search_after"] = decode_cursor(
            query.cursor, f"es:{query.sort}", (_json_value,) * (len(_SORTS[query.sort]))
        )
    return body


def build_suggest(prefix: str, region: str | None, size: int = 10) -> dict[str, Any]:
    """The seed's completion suggester, boosted for the user's region when given."""
    contexts = [{"context": "KR-49"}]
    if region:
        contexts.append({"context": region, "boost": 3})  # type: ignore[dict-item]
    return {
        "suggest": {
            "title_suggest": {
                "prefix": normalize_query(prefix),
                "completion": {"field": "suggest", "size": size, "skip_duplicates": True,
                               "contexts": {"region": contexts}},
            }
        },
        "_source": False,
    }  # fmt: skip


def _json_value(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError("cursor values are strings or numbers")
    return value


class ElasticsearchSearchBackend:
    """Queries the alias; the official client is synchronous, so calls run in a thread."""

    name = "elasticsearch"

    def __init__(self, client: Any, alias: str) -> None:
        self._client = client
        self.alias = alias

    @classmethod
    def connect(cls, url: str, alias: str) -> ElasticsearchSearchBackend:
        from elasticsearch import Elasticsearch

        return cls(Elasticsearch(url, request_timeout=10, max_retries=2), alias)

    async def search(self, query: SearchQuery) -> SearchResult:
        started = time.perf_counter()
        validate(query)
        body = build_search(query)
        if body is None:
            empty: dict[str, list[FacetBucket]] = (
                {name: [] for name in FACET_SIZES} if query.facets else {}
            )
            return SearchResult([], 0, True, 0.0, None, empty)
        response = await asyncio.to_thread(lambda: self._client.search(index=self.alias, **body))
        hits = response["hits"]["hits"]
        next_cursor = None
        if len(hits) > query.limit:
            hits = hits[: query.limit]
            next_cursor = encode_cursor(f"es:{query.sort}", list(hits[-1]["sort"]))
        total = response["hits"]["total"]
        facets = {
            name: [FacetBucket(str(b["key"]), int(b["doc_count"])) for b in agg["buckets"]]
            for name, agg in response.get("aggregations", {}).items()
        }
        return SearchResult(
            hits=[_hit(hit) for hit in hits],
            total=int(total["value"]),
            total_exact=total.get("relation") == "eq",
            took_ms=round((time.perf_counter() - started) * 1000, 2),
            next_cursor=next_cursor,
            facets=facets,
        )

    # -- writing --------------------------------------------------------------
    # Every write carries an external version (see ``dongne.search.external``):
    # Elasticsearch applies it only when it is higher than the version it
    # holds, so a late writer never puts an older state back.

    def create_index(self, *, shards: int = 3, replicas: int = 1) -> str:
        """A new, empty index version named after the alias and the current time."""
        version = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
        index = f"{self.alias}-v{version}"
        self._client.indices.create(index=index, **index_body(shards=shards, replicas=replicas))
        return index

    def write(
        self, index: str, changes: Sequence[IndexChange], *, require_alias: bool = False
    ) -> dict[str, str]:
        """One bulk request; returns {question id: error} of the changes that failed."""
        operations: list[dict[str, Any]] = []
        for change in changes:
            meta = {"_id": change.question_id, "version": change.version,
                    "version_type": "external"}  # fmt: skip
            if change.document is None:
                operations.append({"delete": meta})
            else:
                operations += [{"index": meta}, change.document]
        if not operations:
            return {}
        response = self._client.bulk(
            index=index, operations=operations, require_alias=require_alias
        )
        return bulk_failures(response["items"])

    async def apply(self, changes: Sequence[IndexChange]) -> dict[str, str]:
        """The live index (through the alias). ``require_alias``: before the first
        reindex there is no alias, and a write must not auto-create an index with
        that name and a guessed mapping; it fails and stays queued instead."""
        return await asyncio.to_thread(self.write, self.alias, changes, require_alias=True)

    async def ids(self) -> set[str]:
        from elasticsearch import helpers

        def scan() -> set[str]:
            query = {"query": {"match_all": {}}, "_source": False}
            return {hit["_id"] for hit in helpers.scan(self._client, index=self.alias,
                                                         query=query)}  # fmt: skip

        return await asyncio.to_thread(scan)

    def publish(self, index: str) -> list[str]:
        """Make ``index`` searchable and point the alias at it in one atomic action;
        return the indices the alias pointed at before."""
        self._client.indices.refresh(index=index)
        old: list[str] = []
        if self._client.indices.exists_alias(name=self.alias):
            old = [i for i in self._client.indices.get_alias(name=self.alias) if i != index]
        actions: list[dict[str, Any]] = [{"remove": {"index": i, "alias": self.alias}} for i in old]
        actions.append({"add": {"index": index, "alias": self.alias}})
        self._client.indices.update_aliases(actions=actions)
        return old

    def delete_indices(self, indices: Iterable[str]) -> None:
        for index in indices:
            self._client.indices.delete(index=index, ignore_status=404)


def bulk_failures(items: Iterable[dict[str, Any]]) -> dict[str, str]:
    """The failed items of a bulk response, by document id.

    A version conflict (409) is success: the index already holds this or a
    newer state. So is deleting a document that is not there (404).
    """
    failures: dict[str, str] = {}
    for item in items:
        ((action, result),) = item.items()
        status = int(result.get("status", 500))
        if 200 <= status < 300 or status == 409 or (action == "delete" and status == 404):
            continue
        failures[str(result.get("_id"))] = f"{status}: {result.get('error')}"
    return failures


def _hit(hit: dict[str, Any]) -> SearchHit:
    source = hit["_source"]
    highlight = hit.get("highlight", {})
    return SearchHit(
        id=UUID(source["id"]), title=source["title"], content=source["content"],
        hashtags=source["hashtags"], region_code=source["region_code"],
        category=source["category"], urgency=source["urgency"], status=source["status"],
        answer_count=source["stats"]["answer_count"], view_count=source["stats"]["view_count"],
        like_count=source["stats"]["like_count"],
        created_at=datetime.fromisoformat(source["created_at"]),
        author_nickname=source["user"]["nickname"],
        author_verified=source["user"]["is_local_verified"], score=hit.get("_score"),
        highlight={"title": (highlight.get("title") or [html.escape(source["title"])])[0],
                   "content": highlight.get("content", [])},
    )  # fmt: skip
