"""Signing keys: generated on first start, kept in the database (so every instance signs
and verifies with the same keys), rotated by `storefront rotate-keys`.

The newest unretired key signs. Rotation retires the current key and makes a new one; a
retired key stays published in the JWKS (and trusted here) until every token it can have
signed has expired: its retirement, plus how long an instance may keep signing with it
before reloading (`RELOAD_SECONDS`), plus an access token's lifetime, plus clock leeway.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey
from tortoise.exceptions import OperationalError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from auth.config import LEEWAY_SECONDS
from models.oauth import SigningKey

logger = logging.getLogger(__name__)

ALGORITHM = "ES256"
CURVE = "P-256"
# How long an instance trusts its in-memory copy of the key table.
RELOAD_SECONDS = 60


@dataclass(frozen=True)
class LoadedKeys:
    signing: ECKey
    published: dict[str, ECKey]
    loaded_at: float


def _new_key() -> ECKey:
    key = ECKey.generate_key(CURVE, parameters={"alg": ALGORITHM, "use": "sig"}, private=True)
    key.ensure_kid()  # RFC 7638 thumbprint
    return key


def _import(row: SigningKey) -> ECKey:
    return ECKey.import_key(json.loads(row.private_jwk))


async def _insert(key: ECKey) -> None:
    await SigningKey.create(
        kid=key.kid, algorithm=ALGORITHM, private_jwk=json.dumps(key.as_dict(private=True))
    )


def _publish_cutoff(access_token_seconds: int) -> datetime:
    window = access_token_seconds + RELOAD_SECONDS + LEEWAY_SECONDS
    return datetime.now(UTC) - timedelta(seconds=window)


async def rotate_keys(access_token_seconds: int) -> str:
    """Retire the signing key and make a new one; returns the new key's id."""
    key = _new_key()
    async with in_transaction():
        await SigningKey.filter(retired_at=None).update(retired_at=datetime.now(UTC))
        await _insert(key)
    await SigningKey.filter(retired_at__lt=_publish_cutoff(access_token_seconds)).delete()
    return str(key.kid)


class KeyStore:
    """The keys of this instance, reloaded from the database when stale or when a token
    names a key we don't know (at most once per `RELOAD_SECONDS`, so forged `kid`s can't
    turn every request into a query)."""

    def __init__(self, access_token_seconds: int) -> None:
        self.access_token_seconds = access_token_seconds
        self._keys: LoadedKeys | None = None
        self._last_unknown_reload = float("-inf")

    async def ensure(self) -> None:
        """Load the keys, generating the first one when the table is empty. On a database
        not migrated yet this only warns: the keys load on first use instead."""
        try:
            self._keys = await self._load()
        except OperationalError as error:
            logger.warning("signing keys not loaded at start-up (%s)", error)

    async def signing_key(self) -> ECKey:
        return (await self._current()).signing

    async def verification_key(self, kid: str) -> ECKey | None:
        keys = await self._current()
        key = keys.published.get(kid)
        now = time.monotonic()
        if key is None and now - self._last_unknown_reload >= RELOAD_SECONDS:
            self._last_unknown_reload = now
            self._keys = await self._load()
            key = self._keys.published.get(kid)
        return key

    async def jwks(self) -> dict[str, Any]:
        keys = await self._current()
        return {"keys": [key.as_dict(private=False) for key in keys.published.values()]}

    async def _current(self) -> LoadedKeys:
        keys = self._keys
        if keys is None or time.monotonic() - keys.loaded_at >= RELOAD_SECONDS:
            keys = self._keys = await self._load()
        return keys

    async def _load(self) -> LoadedKeys:
        rows = await self._published_rows()
        if not any(row.retired_at is None for row in rows):
            # Two instances starting together may both insert a key: both then sign with
            # the newest, and the other stays published until the next rotation.
            await _insert(_new_key())
            rows = await self._published_rows()
        active = [row for row in rows if row.retired_at is None]
        signing = max(active, key=lambda row: (row.created_at, row.kid))
        published = {row.kid: _import(row) for row in rows}
        return LoadedKeys(published[signing.kid], published, time.monotonic())

    async def _published_rows(self) -> list[SigningKey]:
        cutoff = _publish_cutoff(self.access_token_seconds)
        return await SigningKey.filter(Q(retired_at=None) | Q(retired_at__gte=cutoff))
