"""Signing keys: generated on first start, kept in the database (so every instance signs
and verifies with the same keys), rotated by `storefront rotate-keys`.

The newest unretired key signs. Rotation retires the current key and makes a new one; a
retired key stays published in the JWKS (and trusted here) until every token it can have
signed has expired: its retirement, plus how long an instance may keep signing with it
before reloading (`RELOAD_SECONDS`), plus an access token's lifetime, plus clock leeway.

Private keys are encrypted at rest with AES-GCM under a key derived (HKDF-SHA256) from
`OAUTH_KEY_SECRET`, the key id bound as associated data (a row's ciphertext can't be
moved to another row). Rows written before a secret was set hold the plain JWK: they are
encrypted the first time an instance (or `storefront rotate-keys`) runs with the secret.
A secret that decrypts no key, or an encrypted key without a secret, is `KeySecretError`:
the service refuses to start rather than mint a new key beside keys it can't read.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
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
_ENCRYPTED = "aesgcm1:"
_NONCE_BYTES = 12


class KeySecretError(Exception):
    """The signing keys can't be read with the configured OAUTH_KEY_SECRET (one line)."""


class KeyCipher:
    """Encrypts private JWKs for the database, and decrypts them."""

    def __init__(self, secret: str) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"storefront signing keys v1"
        ).derive(secret.encode())
        self._aead = AESGCM(derived)

    def encrypt(self, kid: str, plain: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plain.encode(), kid.encode())
        return _ENCRYPTED + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, kid: str, stored: str) -> str:
        raw = base64.urlsafe_b64decode(stored.removeprefix(_ENCRYPTED))
        try:
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], kid.encode())
        except InvalidTag:
            raise KeySecretError(
                f"OAUTH_KEY_SECRET does not decrypt signing key {kid}: is it the secret the "
                "keys were encrypted with?"
            ) from None
        return plain.decode()


@dataclass(frozen=True)
class LoadedKeys:
    signing: ECKey
    published: dict[str, ECKey]
    loaded_at: float


def _new_key() -> ECKey:
    key = ECKey.generate_key(CURVE, parameters={"alg": ALGORITHM, "use": "sig"}, private=True)
    key.ensure_kid()  # RFC 7638 thumbprint
    return key


def is_encrypted(stored: str) -> bool:
    return stored.startswith(_ENCRYPTED)


def _import(row: SigningKey, cipher: KeyCipher | None) -> ECKey:
    stored = row.private_jwk
    if is_encrypted(stored):
        if cipher is None:
            raise KeySecretError(
                "OAUTH_KEY_SECRET: the signing keys in the database are encrypted; "
                "set the secret they were encrypted with"
            )
        stored = cipher.decrypt(row.kid, stored)
    return ECKey.import_key(json.loads(stored))


def _stored(kid: str, key: ECKey, cipher: KeyCipher | None) -> str:
    plain = json.dumps(key.as_dict(private=True))
    return plain if cipher is None else cipher.encrypt(kid, plain)


async def _insert(key: ECKey, cipher: KeyCipher | None) -> None:
    kid = str(key.kid)
    await SigningKey.create(kid=kid, algorithm=ALGORITHM, private_jwk=_stored(kid, key, cipher))


async def encrypt_stored_keys(cipher: KeyCipher) -> int:
    """Encrypt the keys still stored in plain text; how many there were. KeySecretError,
    before writing anything, when an encrypted key does not decrypt with `cipher`."""
    rows = await SigningKey.all()
    keys = {row.kid: _import(row, cipher) for row in rows}
    plain = [row for row in rows if not is_encrypted(row.private_jwk)]
    for row in plain:
        key = keys[row.kid]
        # Conditional, so that two instances doing this at once write each row once.
        await SigningKey.filter(kid=row.kid, private_jwk=row.private_jwk).update(
            private_jwk=_stored(row.kid, key, cipher)
        )
    if plain:
        logger.info("encrypted %d signing key(s) stored in plain text", len(plain))
    return len(plain)


def _publish_cutoff(access_token_seconds: int) -> datetime:
    window = access_token_seconds + RELOAD_SECONDS + LEEWAY_SECONDS
    return datetime.now(UTC) - timedelta(seconds=window)


async def rotate_keys(access_token_seconds: int, cipher: KeyCipher | None = None) -> str:
    """Retire the signing key and make a new one; returns the new key's id."""
    if cipher is not None:
        await encrypt_stored_keys(cipher)
    key = _new_key()
    async with in_transaction():
        await SigningKey.filter(retired_at=None).update(retired_at=datetime.now(UTC))
        await _insert(key, cipher)
    await SigningKey.filter(retired_at__lt=_publish_cutoff(access_token_seconds)).delete()
    return str(key.kid)


class KeyStore:
    """The keys of this instance, reloaded from the database when stale or when a token
    names a key we don't know (at most once per `RELOAD_SECONDS`, so forged `kid`s can't
    turn every request into a query)."""

    def __init__(self, access_token_seconds: int, cipher: KeyCipher | None = None) -> None:
        self.access_token_seconds = access_token_seconds
        self.cipher = cipher
        self._keys: LoadedKeys | None = None
        self._last_unknown_reload = float("-inf")

    async def ensure(self) -> None:
        """Load the keys, generating the first one when the table is empty, and encrypt
        any still in plain text when a secret is set. On a database not migrated yet this
        only warns: the keys load on first use instead. KeySecretError when the keys
        can't be read with the configured secret."""
        try:
            if self.cipher is not None:
                await encrypt_stored_keys(self.cipher)
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
            await _insert(_new_key(), self.cipher)
            rows = await self._published_rows()
        active = [row for row in rows if row.retired_at is None]
        signing = max(active, key=lambda row: (row.created_at, row.kid))
        published = {row.kid: _import(row, self.cipher) for row in rows}
        return LoadedKeys(published[signing.kid], published, time.monotonic())

    async def _published_rows(self) -> list[SigningKey]:
        cutoff = _publish_cutoff(self.access_token_seconds)
        return await SigningKey.filter(Q(retired_at=None) | Q(retired_at__gte=cutoff))
