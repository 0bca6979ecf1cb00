"""Rate limits in Redis: failed logins per account, login attempts and
sign-ups per address.

Both are fixed windows that open with the first counted attempt: a counter
whose expiry is set when it is created, in one Lua call so that a crash can
never leave a counter without an expiry (which would lock an account forever).
"""

from __future__ import annotations

from dataclasses import dataclass

from dongne.cache.client import RedisClient
from dongne.cache.keys import Keys

WINDOW_S = 15 * 60
ACCOUNT_FAILURES = 5
ADDRESS_ATTEMPTS = 30
SIGNUP_WINDOW_S = 60 * 60

# Returns {count after increment, seconds left in the window}.
_HIT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


class RateLimitedError(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"rate limited for {retry_after_s} s")
        self.retry_after_s = max(retry_after_s, 1)


@dataclass(frozen=True)
class Window:
    count: int
    retry_after_s: int


async def _hit(redis: RedisClient, key: str, window_s: int) -> Window:
    count, ttl = await redis.eval(_HIT, 1, key, window_s)
    return Window(count=int(count), retry_after_s=int(ttl))


class LoginLimiter:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def _hit(self, key: str) -> Window:
        return await _hit(self._redis, key, WINDOW_S)

    async def attempt(self, address: str, email: str) -> None:
        """Count a login attempt; raise when the address or the account is over budget.

        The account counter is raised before the password is checked and cleared
        on success, so it counts failures; counting up front means concurrent
        guesses cannot all slip in under the limit while the hashes are checked.
        """
        by_address = await self._hit(self._keys.login_attempts_address(address))
        if by_address.count > ADDRESS_ATTEMPTS:
            raise RateLimitedError(by_address.retry_after_s)
        by_account = await self._hit(self._keys.login_attempts_account(email))
        if by_account.count > ACCOUNT_FAILURES:
            raise RateLimitedError(by_account.retry_after_s)

    async def succeeded(self, email: str) -> None:
        await self._redis.delete(self._keys.login_attempts_account(email))


class SignupLimiter:
    """Sign-ups per address in an hour, every attempt counted (a refused
    duplicate address too, so sign-up cannot probe which e-mails exist)."""

    def __init__(self, redis: RedisClient, keys: Keys, per_hour: int) -> None:
        self._redis = redis
        self._keys = keys
        self._per_hour = per_hour

    async def attempt(self, address: str) -> None:
        window = await _hit(
            self._redis, self._keys.signup_attempts_address(address), SIGNUP_WINDOW_S
        )
        if window.count > self._per_hour:
            raise RateLimitedError(window.retry_after_s)
