"""Reading, before authlib runs, the rows a token or authorization request can touch."""

from __future__ import annotations

from collections.abc import Mapping

from authlib.oauth2.rfc6749.util import extract_basic_authorization

from auth.digests import digest
from auth.records import ClientRecord, CodeRecord, Loaded, RefreshRecord, UserRecord
from models.oauth import AuthorizationCode, OAuthClient, RefreshToken


async def load_clients(loaded: Loaded, headers: Mapping[str, str], params: dict[str, str]) -> None:
    basic_id, _ = extract_basic_authorization(headers)
    client_ids = {value for value in (basic_id, params.get("client_id")) if value}
    if client_ids:
        rows = await OAuthClient.filter(client_id__in=list(client_ids))
        loaded.clients = {row.client_id: ClientRecord.of(row) for row in rows}


async def load_code(code: str) -> CodeRecord | None:
    row = await AuthorizationCode.get_or_none(code_hash=digest(code)).select_related(
        "client", "user"
    )
    if row is None:
        return None
    return CodeRecord(
        pk=row.id,
        code_hash=row.code_hash,
        client_id=row.client.client_id,
        user=UserRecord.of(row.user),
        redirect_uri=row.redirect_uri,
        scope=row.scope,
        code_challenge=row.code_challenge,
        code_challenge_method=row.code_challenge_method,
        expires_at=row.expires_at,
        used=row.used_at is not None,
        family_id=row.family_id,
    )


async def load_refresh_token(token: str) -> RefreshRecord | None:
    row = await RefreshToken.get_or_none(token_hash=digest(token)).select_related("client", "user")
    if row is None:
        return None
    return RefreshRecord(
        pk=row.id,
        token_hash=row.token_hash,
        family_id=row.family_id,
        client_id=row.client.client_id,
        user=UserRecord.of(row.user),
        scope=row.scope,
        expires_at=row.expires_at,
        created_at=row.created_at,
        used=row.used_at is not None,
        revoked=row.revoked_at is not None,
    )
