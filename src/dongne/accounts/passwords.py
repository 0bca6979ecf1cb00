"""Password hashing with argon2id (argon2-cffi's RFC 9106 defaults).

Hashing is deliberately slow (~0.1 s of CPU), so the async helpers run it in a
worker thread instead of stalling the event loop for every other request.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
MAX_LENGTH = 128

_hasher = PasswordHasher()


@dataclass(frozen=True)
class Verdict:
    ok: bool
    needs_rehash: bool = False


@cache
def _dummy_hash() -> str:
    return _hasher.hash("dongne-dummy-password-for-unknown-accounts")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> Verdict:
    """Check a password against a stored hash.

    Accounts that do not exist (or have no password) are checked against a
    dummy hash, so the answer takes as long as for a real account and response
    times do not reveal which e-mail addresses are registered.
    """
    try:
        _hasher.verify(stored_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return Verdict(ok=False)
    if stored_hash is None:
        return Verdict(ok=False)
    return Verdict(ok=True, needs_rehash=_hasher.check_needs_rehash(stored_hash))


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(stored_hash: str | None, password: str) -> Verdict:
    return await asyncio.to_thread(verify_password, stored_hash, password)
