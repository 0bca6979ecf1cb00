"""L1: a bounded, in-process TTL cache with tag-based invalidation.

Entries remember the tag generations they were computed under. Generations
announced over pub/sub are remembered per tag, so a value computed from data
older than an invalidation this process has already seen is never stored,
even when the computation finishes after the invalidation arrived.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from dongne.cache.metrics import CacheMetrics

_MAX_KNOWN_TAGS = 50_000


@dataclass
class LocalEntry:
    value: Any
    expires_at: float
    generations: dict[str, int]


class LocalCache:
    def __init__(self, max_entries: int, metrics: CacheMetrics) -> None:
        self._max = max_entries
        self._metrics = metrics
        self._entries: OrderedDict[str, LocalEntry] = OrderedDict()
        self._by_tag: dict[str, set[str]] = {}
        self._known: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> LocalEntry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= time.monotonic():
            self._remove(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def set(self, key: str, value: Any, ttl_s: float, generations: dict[str, int]) -> None:
        if self._max == 0:
            return
        if any(self._known.get(tag, -1) > gen for tag, gen in generations.items()):
            return  # computed before an invalidation we already applied
        if key in self._entries:
            self._remove(key)
        self._entries[key] = LocalEntry(value, time.monotonic() + ttl_s, dict(generations))
        for tag in generations:
            self._by_tag.setdefault(tag, set()).add(key)
        while len(self._entries) > self._max:
            oldest = next(iter(self._entries))
            self._remove(oldest)
            self._metrics.l1_evictions += 1

    def invalidate(self, tag: str, generation: int | None = None) -> None:
        """Drop every entry of ``tag``; remember ``generation`` as the newest seen."""
        if generation is not None and generation > self._known.get(tag, -1):
            if len(self._known) >= _MAX_KNOWN_TAGS:
                # Bounded memory; forgetting only weakens the guard for a moment,
                # entries are still dropped below and validated in Redis.
                self._known.clear()
            self._known[tag] = generation
        for key in list(self._by_tag.get(tag, ())):
            self._remove(key)

    def clear(self) -> None:
        self._entries.clear()
        self._by_tag.clear()

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        for tag in entry.generations:
            keys = self._by_tag.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_tag[tag]
