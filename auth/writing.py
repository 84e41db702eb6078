"""The writes authlib asks for, run after it has decided: each conditional on the row
still being unused, so that of two racing requests only one wins."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from tortoise.expressions import Q

from auth.records import utc_now
from models.oauth import AuthorizationCode, RefreshToken, RevokedAccessToken

Write = Callable[[], Awaitable[Any]]


class Replay(Exception):
    """A code or refresh token was used again (or by two requests at once)."""

    def __init__(self, family_id: str | None) -> None:
        super().__init__(family_id)
        self.family_id = family_id


async def revoke_family(family_id: str | None) -> None:
    """Revoke every refresh token of a family and the live access tokens issued with them."""
    if not family_id:
        return
    now = utc_now()
    live = await RefreshToken.filter(family_id=family_id, access_expires_at__gt=now).values_list(
        "access_jti", "access_expires_at"
    )
    await RefreshToken.filter(family_id=family_id, revoked_at=None).update(revoked_at=now)
    await RevokedAccessToken.bulk_create(
        [RevokedAccessToken(jti=jti, expires_at=expires_at) for jti, expires_at in live],
        ignore_conflicts=True,
    )


async def revoke_access_token(jti: str, expires_at: datetime) -> None:
    await RevokedAccessToken.bulk_create(
        [RevokedAccessToken(jti=jti, expires_at=expires_at)], ignore_conflicts=True
    )


async def mark_code_used(code_pk: int, family_id: str) -> None:
    updated = await AuthorizationCode.filter(id=code_pk, used_at=None).update(
        used_at=utc_now(), family_id=family_id
    )
    if not updated:
        row = await AuthorizationCode.get_or_none(id=code_pk)
        raise Replay(row.family_id if row else None)


async def mark_refresh_token_used(token_pk: int, family_id: str) -> None:
    updated = await RefreshToken.filter(id=token_pk, used_at=None, revoked_at=None).update(
        used_at=utc_now()
    )
    if not updated:
        raise Replay(family_id)


async def purge_expired() -> None:
    """Forget codes, refresh tokens and revocations that can no longer matter."""
    now = utc_now()
    await AuthorizationCode.filter(expires_at__lt=now).delete()
    await RefreshToken.filter(Q(expires_at__lt=now) & Q(access_expires_at__lt=now)).delete()
    await RevokedAccessToken.filter(expires_at__lt=now).delete()
