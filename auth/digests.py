"""Random secrets and the SHA-256 digests we store instead of them.

Tokens, codes and client secrets are 32 random bytes: a fast hash is enough (nobody can
brute-force 256 bits), and it keeps the token endpoint cheap. Passwords are different:
see `auth.passwords`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def matches(value: str, expected_digest: str) -> bool:
    """Constant-time comparison of `value`'s digest with a stored digest."""
    return hmac.compare_digest(digest(value), expected_digest)
