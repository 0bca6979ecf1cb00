"""The two-tier cache: L1 in process, L2 in Redis, PostgreSQL behind both.

Operations (as the seed's ``RedisCacheManager``, made correct):

* ``get_or_set`` — cache-aside. L1, then L2, then the loader (PostgreSQL).
* ``put`` / ``write_through`` — store a value the caller already has.
* ``invalidate(tags)`` — after a commit, every entry depending on a tag is
  invalid in every process at once.

Correctness
-----------
* **Tags and generations, never KEYS.** Each tag has a generation counter in
  Redis. An entry records the generations of its tags read *before* its
  value was computed; it is served only while they are all still current.
  Invalidation bumps the counter (Lua: INCR, or a millisecond timestamp if the
  counter expired, so a generation is never reused) and PUBLISHes it; every
  process drops its L1 entries of that tag. A value computed from data older
  than an invalidation is never served after it, in L1 or L2.
* **L1 is trusted only while the invalidation subscription is live.** While
  it is down (Redis outage, reconnect), reads bypass L1; on resubscribe L1 is
  cleared because messages may have been missed.
* **Stampedes.** Concurrent misses of one key in a process share one load
  (single flight); across processes one caller takes a Redis lock (SET NX PX)
  and the others wait for its entry. Hot entries are refreshed early: after
  ``early_refresh`` of their TTL one caller (the lock winner) recomputes in the
  background while the rest keep getting the current value.
* **Absent objects** (loader returns None) are cached briefly (negative TTL).
* **Corrupt entries** (not our envelope, or rejected by ``parse``) are misses
  and get overwritten.
* **Redis down or slow.** Every Redis call goes through the circuit breaker
  with a short timeout; when Redis fails the value comes from the loader and
  the request succeeds. Invalidations that could not be sent are kept and
  sent when the breaker closes again; entries written before the outage
  expire by their TTL at the latest if this process dies meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from redis.exceptions import RedisError

from dongne.cache.breaker import CircuitBreaker, RedisUnavailableError
from dongne.cache.client import RedisClient, mget
from dongne.cache.keys import Keys
from dongne.cache.local import LocalCache
from dongne.cache.metrics import CacheMetrics

logger = logging.getLogger(__name__)

T = TypeVar("T")
Loader = Callable[[], Awaitable[Any]]

ENVELOPE_VERSION = 1
# Generation keys outlive every entry by far; the Lua bump never reuses a value.
_GENERATION_TTL_S = 30 * 24 * 3600
_LOCK_TTL_MS = 10_000
_WAIT_STEPS_S = (0.005, 0.01, 0.02, 0.05, 0.1)

_BUMP = """
local gen
if redis.call('EXISTS', KEYS[1]) == 1 then
  gen = redis.call('INCR', KEYS[1])
else
  gen = tonumber(ARGV[1])
  redis.call('SET', KEYS[1], gen)
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4] .. gen)
return gen
"""

_STORE = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('DEL', KEYS[2])
end
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class Policy:
    """How one domain is cached."""

    domain: str
    ttl_s: float
    l1_ttl_s: float = 60.0
    negative_ttl_s: float = 30.0
    early_refresh: float = 0.8


class _Negative:
    """L1 marker of a cached absence."""


_NEGATIVE = _Negative()


class CorruptEntryError(ValueError):
    pass


def digest(params: Any) -> str:
    raw = json.dumps(params, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass
class _Envelope:
    generations: dict[str, int]
    stored_at: float
    ttl_s: float
    negative: bool
    data: Any

    def encode(self) -> bytes:
        return json.dumps(
            {"v": ENVELOPE_VERSION, "g": self.generations, "t": self.stored_at,
             "ttl": self.ttl_s, "neg": self.negative, "d": self.data},
            separators=(",", ":"), ensure_ascii=False,
        ).encode()  # fmt: skip

    @classmethod
    def decode(cls, raw: bytes) -> _Envelope:
        try:
            body = json.loads(raw)
            if not isinstance(body, dict) or body.get("v") != ENVELOPE_VERSION:
                raise CorruptEntryError("not a cache envelope")
            generations = body["g"]
            if not isinstance(generations, dict) or not all(
                isinstance(k, str) and isinstance(v, int) for k, v in generations.items()
            ):
                raise CorruptEntryError("bad generations")
            return cls(generations, float(body["t"]), float(body["ttl"]), bool(body["neg"]),
                       body["d"])  # fmt: skip
        except (ValueError, KeyError, TypeError) as error:
            raise CorruptEntryError(str(error)) from error


class TwoTierCache:
    def __init__(
        self,
        client: RedisClient | None,
        keys: Keys,
        *,
        metrics: CacheMetrics,
        breaker: CircuitBreaker,
        l1_max_entries: int,
    ) -> None:
        self._redis = client
        self._keys = keys
        self.metrics = metrics
        self.breaker = breaker
        self.l1 = LocalCache(l1_max_entries, metrics)
        # Set by the subscriber while it is subscribed; L1 is bypassed otherwise.
        self.l1_live = False
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._pending_tags: set[str] = set()
        self._background: set[asyncio.Task[Any]] = set()
        breaker.on_close.append(self._schedule_pending)

    # -- reads -------------------------------------------------------------

    async def get_or_set(
        self,
        policy: Policy,
        params: Any,
        tags: Sequence[str],
        loader: Loader,
        parse: Callable[[Any], T],
    ) -> T | None:
        """The cached value for ``params``, loading it at most once under concurrency.

        ``loader`` returns JSON-able data or None (absent: cached briefly);
        ``parse`` turns data into the result and rejects corrupt entries.
        """
        key = f"{policy.domain}:{digest(params)}"
        if self.l1_live:
            entry = self.l1.get(key)
            if entry is not None:
                self.metrics.hit("l1", policy.domain)
                return None if entry.value is _NEGATIVE else entry.value
            self.metrics.miss("l1", policy.domain)
        flight = self._inflight.get(key)
        if flight is not None:
            return await asyncio.shield(flight)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await self._fetch(policy, key, list(tags), loader, parse)
        except BaseException as error:
            future.set_exception(error)
            # Waiters see it; this caller re-raises it below.
            future.exception()
            raise
        else:
            future.set_result(value)
            return value
        finally:
            del self._inflight[key]

    async def _fetch(
        self, policy: Policy, key: str, tags: list[str], loader: Loader,
        parse: Callable[[Any], T],
    ) -> T | None:  # fmt: skip
        name = key.split(":", 1)[1]
        entry_key = self._keys.cache_entry(policy.domain, name)
        lock_key = self._keys.cache_lock(policy.domain, name)
        token = secrets.token_hex(8)
        deadline = time.monotonic() + _LOCK_TTL_MS / 1000
        step = 0
        while True:
            try:
                generations, found = await self._read(tags, entry_key, policy, parse)
            except RedisUnavailableError:
                return await self._load_without_redis(policy, loader, parse)
            if found is not None:
                value, envelope = found
                self.metrics.hit("l2", policy.domain)
                self._maybe_refresh_early(policy, envelope, entry_key, lock_key, loader)
                self._remember(policy, key, value, envelope, generations)
                return value
            if step == 0:
                self.metrics.miss("l2", policy.domain)
            try:
                locked = await self._call(
                    lambda: self._client.set(lock_key, token, nx=True, px=_LOCK_TTL_MS)
                )
            except RedisUnavailableError:
                return await self._load_without_redis(policy, loader, parse)
            if locked:
                # Double-check: the previous holder may have stored the entry and
                # released the lock between our read and our SET NX.
                try:
                    generations, found = await self._read(tags, entry_key, policy, parse)
                except RedisUnavailableError:
                    return await self._load_without_redis(policy, loader, parse)
                if found is not None:
                    with contextlib.suppress(RedisUnavailableError):
                        await self._call(lambda: self._client.eval(_RELEASE, 1, lock_key, token))
                    self._remember(policy, key, found[0], found[1], generations)
                    return found[0]
                break
            if time.monotonic() > deadline:
                break
            # Someone else is computing it: wait for their entry.
            await asyncio.sleep(_WAIT_STEPS_S[min(step, len(_WAIT_STEPS_S) - 1)])
            step += 1
        try:
            data = await self._load(policy, loader)
        except BaseException:
            if locked:
                with contextlib.suppress(RedisUnavailableError):
                    await self._call(lambda: self._client.eval(_RELEASE, 1, lock_key, token))
            raise
        envelope = _Envelope(generations, time.time(), self._ttl(policy, data), data is None, data)
        with contextlib.suppress(RedisUnavailableError):
            await self._store(entry_key, lock_key, token, envelope)
        value = None if data is None else parse(data)
        self._remember(policy, key, value, envelope, generations)
        return value

    async def _read(
        self, tags: list[str], entry_key: str, policy: Policy, parse: Callable[[Any], T]
    ) -> tuple[dict[str, int], tuple[T | None, _Envelope] | None]:
        """Current generations of ``tags`` and the entry, if it is valid for them."""
        gen_keys = [self._keys.cache_generation(t) for t in tags]
        values = await self._call(lambda: mget(self._client, [*gen_keys, entry_key]))
        generations = {
            t: int(v) if v is not None else 0 for t, v in zip(tags, values, strict=False)
        }
        raw = values[-1]
        if raw is None:
            return generations, None
        try:
            envelope = _Envelope.decode(raw)
            if envelope.generations != generations:
                return generations, None  # invalidated since it was computed
            value = None if envelope.negative else parse(envelope.data)
        except Exception:
            self.metrics.corrupt[policy.domain] += 1
            logger.warning("corrupt cache entry %s treated as a miss", entry_key)
            return generations, None
        return generations, (value, envelope)

    async def _load(self, policy: Policy, loader: Loader) -> Any:
        self.metrics.loads[policy.domain] += 1
        return await loader()

    async def _load_without_redis(
        self, policy: Policy, loader: Loader, parse: Callable[[Any], T]
    ) -> T | None:
        data = await self._load(policy, loader)
        return None if data is None else parse(data)

    def _ttl(self, policy: Policy, data: Any) -> float:
        return policy.negative_ttl_s if data is None else policy.ttl_s

    def _remember(
        self, policy: Policy, key: str, value: Any, envelope: _Envelope,
        generations: dict[str, int],
    ) -> None:  # fmt: skip
        if not self.l1_live:
            return
        remaining = envelope.stored_at + envelope.ttl_s - time.time()
        ttl = min(policy.l1_ttl_s, remaining, envelope.ttl_s)
        if ttl > 0:
            self.l1.set(key, _NEGATIVE if value is None else value, ttl, generations)

    def _maybe_refresh_early(
        self, policy: Policy, envelope: _Envelope, entry_key: str, lock_key: str, loader: Loader
    ) -> None:
        if envelope.negative:
            return
        age = time.time() - envelope.stored_at
        if age < envelope.ttl_s * policy.early_refresh:
            return
        task = asyncio.create_task(
            self._refresh(policy, envelope.generations, entry_key, lock_key, loader)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _refresh(
        self, policy: Policy, generations: dict[str, int], entry_key: str, lock_key: str,
        loader: Loader,
    ) -> None:  # fmt: skip
        token = secrets.token_hex(8)
        try:
            if not await self._call(
                lambda: self._client.set(lock_key, token, nx=True, px=_LOCK_TTL_MS)
            ):
                return  # another caller is refreshing it
            self.metrics.early_refreshes[policy.domain] += 1
            data = await self._load(policy, loader)
            envelope = _Envelope(generations, time.time(), self._ttl(policy, data), data is None,
                                 data)  # fmt: skip
            await self._store(entry_key, lock_key, token, envelope)
        except Exception:
            logger.exception("early refresh of %s failed", entry_key)

    async def _store(self, entry_key: str, lock_key: str, token: str, envelope: _Envelope) -> None:
        ttl_ms = max(1, int(envelope.ttl_s * 1000))
        payload = envelope.encode()
        await self._call(
            lambda: self._client.eval(_STORE, 2, entry_key, lock_key, payload, ttl_ms, token)
        )

    # -- writes ------------------------------------------------------------

    async def put(self, policy: Policy, params: Any, tags: Sequence[str], data: Any) -> None:
        """Write-through: store ``data`` (already committed to PostgreSQL) for ``params``."""
        name = digest(params)
        gen_keys = [self._keys.cache_generation(t) for t in tags]
        try:
            values = await self._call(lambda: mget(self._client, gen_keys))
            generations = {
                t: int(v) if v is not None else 0 for t, v in zip(tags, values, strict=False)
            }
            envelope = _Envelope(generations, time.time(), self._ttl(policy, data), data is None,
                                 data)  # fmt: skip
            await self._store(
                self._keys.cache_entry(policy.domain, name),
                self._keys.cache_lock(policy.domain, name), "-", envelope,
            )  # fmt: skip
        except RedisUnavailableError:
            return
        value = _NEGATIVE if data is None else data
        self._remember(policy, f"{policy.domain}:{name}", value, envelope, generations)

    async def write_through(
        self, policy: Policy, params: Any, tags: Sequence[str], data: Any,
        write: Callable[[Any], Awaitable[None]],
    ) -> None:  # fmt: skip
        """The seed's write-through: PostgreSQL first, then the cache."""
        await write(data)
        await self.put(policy, params, tags, data)

    async def invalidate(self, *tags: str) -> None:
        """Make every entry of ``tags`` invalid in every process. Call after commit."""
        for tag in tags:
            self.l1.invalidate(tag)
        for tag in dict.fromkeys(tags):
            try:
                await self._bump(tag)
            except RedisUnavailableError:
                # Sent when Redis is back (the breaker closes); meanwhile other
                # processes bypass L1 because their subscription is down too.
                self._pending_tags.add(tag)

    async def _bump(self, tag: str) -> int:
        generation = await self._call(
            lambda: self._client.eval(
                _BUMP, 1, self._keys.cache_generation(tag), int(time.time() * 1000),
                _GENERATION_TTL_S, self._keys.cache_invalidations(), f"{tag}\n",
            )
        )  # fmt: skip
        self.metrics.invalidations_sent += 1
        gen = int(generation)
        self.l1.invalidate(tag, gen)
        return gen

    def _schedule_pending(self) -> None:
        if not self._pending_tags:
            return
        task = asyncio.get_running_loop().create_task(self._flush_pending())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _flush_pending(self) -> None:
        tags, self._pending_tags = self._pending_tags, set()
        await self.invalidate(*tags)

    def on_message(self, message: bytes | str) -> None:
        """An invalidation from any process (our own included): drop L1 entries."""
        text = message.decode() if isinstance(message, bytes) else message
        tag, _, generation = text.rpartition("\n")
        self.metrics.invalidations_received += 1
        try:
            self.l1.invalidate(tag, int(generation))
        except ValueError:
            self.l1.invalidate(text)

    # -- plumbing ----------------------------------------------------------

    @property
    def _client(self) -> RedisClient:
        if self._redis is None:
            raise RedisUnavailableError("the cache has no Redis")
        return self._redis

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        if self._redis is None:
            raise RedisUnavailableError("the cache has no Redis")
        return await self.breaker.call(operation)

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)


__all__ = ["Policy", "RedisError", "TwoTierCache", "digest"]
