"""Plain counters of the cache and realtime layers, for /metrics to read.

Deliberately free of prometheus_client: the operations code reads
``CacheMetrics.snapshot()`` (a flat ``dict[str, float]``) or the fields below
and exports them however it likes. Counters only ever grow; ``breaker_state``
is a gauge (0 closed, 1 half-open, 2 open).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

TIERS = ("l1", "l2")
OUTCOMES = ("hit", "miss")


@dataclass
class CacheMetrics:
    # (tier, domain, outcome) -> count, e.g. ("l1", "region_stats", "hit")
    lookups: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    # domain -> database computations (loader runs)
    loads: Counter[str] = field(default_factory=Counter)
    # domain -> entries refreshed early (before expiry) in the background
    early_refreshes: Counter[str] = field(default_factory=Counter)
    # domain -> corrupt L2 entries treated as misses and replaced
    corrupt: Counter[str] = field(default_factory=Counter)
    l1_evictions: int = 0
    invalidations_sent: int = 0
    invalidations_received: int = 0
    redis_errors: int = 0
    breaker_state: int = 0
    breaker_opened: int = 0
    ws_connections: int = 0
    ws_rejected: int = 0
    realtime_published: int = 0
    realtime_delivered: int = 0

    def hit(self, tier: str, domain: str) -> None:
        self.lookups[(tier, domain, "hit")] += 1

    def miss(self, tier: str, domain: str) -> None:
        self.lookups[(tier, domain, "miss")] += 1

    def hit_ratio(self, tier: str, domain: str | None = None) -> float:
        hits = misses = 0
        for (t, d, outcome), n in self.lookups.items():
            if t != tier or (domain is not None and d != domain):
                continue
            if outcome == "hit":
                hits += n
            else:
                misses += n
        return hits / (hits + misses) if hits + misses else 0.0

    def snapshot(self) -> dict[str, float]:
        """Every counter under a flat dotted name, e.g. ``cache.l1.region_stats.hit``."""
        out: dict[str, float] = {}
        for (tier, domain, outcome), n in self.lookups.items():
            out[f"cache.{tier}.{domain}.{outcome}"] = n
        for domain, n in self.loads.items():
            out[f"cache.loads.{domain}"] = n
        for domain, n in self.early_refreshes.items():
            out[f"cache.early_refreshes.{domain}"] = n
        for domain, n in self.corrupt.items():
            out[f"cache.corrupt.{domain}"] = n
        for name in (
            "l1_evictions", "invalidations_sent", "invalidations_received", "redis_errors",
            "breaker_state", "breaker_opened", "ws_connections", "ws_rejected",
            "realtime_published", "realtime_delivered",
        ):  # fmt: skip
            out[f"cache.{name}"] = getattr(self, name)
        return out
