"""Anti-forgery tokens for the login form, signed by the server.

A token is `kid.nonce.issued.mac`: the MAC (HMAC-SHA256) is keyed with a secret derived
from the private signing key named by `kid`, which every instance shares through the
database, and covers the nonce and the time it was issued. The login form accepts a POST
only when its field and its cookie hold the same token and the token verifies and is
younger than `MAX_AGE_SECONDS`: a cookie planted by someone who can write cookies but
not read our keys (a sibling subdomain, a plain-http man in the middle) is refused.
After a key rotation, tokens stay valid while the old key is published.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from joserfc.jwk import ECKey

from auth.digests import new_secret
from auth.keys import KeyStore

MAX_AGE_SECONDS = 3600
_PURPOSE = b"storefront login csrf v1"


def _mac_key(key: ECKey) -> bytes:
    private = str(key.as_dict(private=True)["d"]).encode()
    return hmac.new(private, _PURPOSE, hashlib.sha256).digest()


def _mac(key: ECKey, nonce: str, issued: str) -> str:
    return hmac.new(_mac_key(key), f"{nonce}.{issued}".encode(), hashlib.sha256).hexdigest()


async def new_csrf_token(keys: KeyStore) -> str:
    key = await keys.signing_key()
    nonce, issued = new_secret(24), str(int(time.time()))
    return f"{key.kid}.{nonce}.{issued}.{_mac(key, nonce, issued)}"


async def csrf_token_valid(keys: KeyStore, token: str) -> bool:
    """Whether we issued `token` less than `MAX_AGE_SECONDS` ago."""
    parts = token.split(".")
    if len(parts) != 4 or not parts[2].isdigit() or len(token) > 256:
        return False
    kid, nonce, issued, mac = parts
    if not 0 <= time.time() - int(issued) <= MAX_AGE_SECONDS:
        return False
    key = await keys.verification_key(kid)
    return key is not None and hmac.compare_digest(mac, _mac(key, nonce, issued))
