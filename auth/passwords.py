"""Password hashing with argon2id, off the event loop.

Hashing and verifying take tens of milliseconds of CPU and 64 MiB each by design, so they
run in a small dedicated thread pool: the loop keeps serving, and a flood of logins queues
instead of exhausting memory.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
MAX_LENGTH = 1024

_hasher = PasswordHasher()
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="argon2")


@cache
def _dummy_hash() -> str:
    """Verified when the e-mail is unknown, so that "no such user" takes as long as
    "wrong password" and response times don't reveal who has an account. Made on first
    use, not at import: every process importing `auth` would pay 64 MiB and a third of a
    second for it."""
    return _hasher.hash("not a real password, only spends the same time")


def password_problem(password: str) -> str | None:
    """Why `password` is unacceptable, or None."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    return None


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_pool, _hasher.hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; a missing hash (no such user) spends the same time."""
    if len(password) > MAX_LENGTH:
        return False
    return await asyncio.get_running_loop().run_in_executor(_pool, _verify, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
