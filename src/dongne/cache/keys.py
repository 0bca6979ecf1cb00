"""Every Redis key dongne uses comes from one method here, one per dataset.

Keys carry a schema version (bump it to orphan every old entry at once) and a
deployment/test prefix. Per-user keys put the user id in a hash tag so that a
user's keys land on one Redis Cluster slot. Keys that one MULTI or one Lua
script touches together must share a hash tag; every other command here
touches a single key, so the rest spread over the cluster freely.

v2: session keys gained the user's hash tag.
"""

from __future__ import annotations

from uuid import UUID

KEY_VERSION = 2


class Keys:
    def __init__(self, prefix: str = "") -> None:
        self.base = f"dn:v{KEY_VERSION}:{prefix + ':' if prefix else ''}"

    # A session shares its user's hash tag with the user's session set: both
    # change together in one MULTI, which Redis Cluster allows only in one slot.
    def session(self, user_id: UUID, token_hash: str) -> str:
        return f"{self.base}session:{{{user_id}}}:{token_hash}"

    def user_sessions(self, user_id: UUID) -> str:
        return f"{self.base}user:{{{user_id}}}:sessions"

    def login_attempts_account(self, email: str) -> str:
        return f"{self.base}ratelimit:login:account:{email}"

    def login_attempts_address(self, address: str) -> str:
        return f"{self.base}ratelimit:login:address:{address}"

    def signup_attempts_address(self, address: str) -> str:
        return f"{self.base}ratelimit:signup:address:{address}"

    # The view-count keys share the {views} hash tag: a flush renames one into
    # another inside MULTI, which Redis Cluster allows only within one slot.
    def pending_views(self) -> str:
        return f"{self.base}{{views}}:pending"

    def view_flush(self, flush_id: str) -> str:
        return f"{self.base}{{views}}:flush:{flush_id}"

    def view_flushes(self) -> str:
        return f"{self.base}{{views}}:flushes"

    def viewed(self, question_id: UUID, viewer: str) -> str:
        return f"{self.base}views:seen:{question_id}:{viewer}"

    # -- two-tier cache (dongne.cache.store) ---------------------------------
    # An entry and its stampede lock share a hash tag, so the Lua script that
    # stores the value and releases the lock touches one cluster slot.
    def cache_entry(self, domain: str, digest: str) -> str:
        return f"{self.base}cache:{{{domain}:{digest}}}:entry"

    def cache_lock(self, domain: str, digest: str) -> str:
        return f"{self.base}cache:{{{domain}:{digest}}}:lock"

    # One generation counter per tag; entries record the generations they were
    # computed under, so INCR invalidates every entry of a tag without KEYS/SCAN.
    def cache_generation(self, tag: str) -> str:
        return f"{self.base}cache:gen:{{{tag}}}"

    def cache_invalidations(self) -> str:
        return f"{self.base}cache:invalidations"

    # -- realtime (dongne.realtime) ------------------------------------------
    def presence_session(self, user_id: UUID) -> str:
        return f"{self.base}presence:user:{{{user_id}}}:session"

    def presence_online(self) -> str:
        return f"{self.base}presence:online"

    def presence_online_region(self, region_code: str) -> str:
        return f"{self.base}presence:online:{region_code}"

    def typing(self, question_id: UUID) -> str:
        return f"{self.base}typing:{{{question_id}}}"

    def realtime_channel(self) -> str:
        return f"{self.base}realtime:events"
