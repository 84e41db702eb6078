"""OAuth2 state: clients, authorization codes, refresh tokens, revoked access tokens and
the keys access tokens are signed with.

Secrets and tokens are stored as SHA-256 hex digests only: they are random and long
(32 bytes or more), so a fast hash is as good as a slow one and a database dump reveals
nothing usable.
"""

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from models.accounts import User


class OAuthClient(Model):
    id = fields.IntField(primary_key=True)
    client_id = fields.CharField(max_length=64, unique=True)
    # Null for public clients (browser and native apps), which cannot keep a secret.
    secret_hash = fields.CharField(max_length=64, null=True)
    name = fields.CharField(max_length=200)
    scopes = fields.TextField()  # space-separated, the most this client may ask for
    redirect_uris: fields.Field[list[str]] = fields.JSONField(default=list)
    grant_types: fields.Field[list[str]] = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "oauth_client"


class AuthorizationCode(Model):
    id = fields.IntField(primary_key=True)
    code_hash = fields.CharField(max_length=64, unique=True)
    client: fields.ForeignKeyRelation[OAuthClient] = fields.ForeignKeyField(
        "storefront.OAuthClient", related_name="authorization_codes", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "storefront.User", related_name="authorization_codes", on_delete=fields.CASCADE
    )
    redirect_uri = fields.TextField()
    scope = fields.TextField()
    code_challenge = fields.CharField(max_length=128, null=True)
    code_challenge_method = fields.CharField(max_length=8, null=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    # The refresh-token family the code was exchanged for: revoked if the code comes back.
    family_id = fields.CharField(max_length=36, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    client_id: int
    user_id: int

    class Meta:
        table = "oauth_authorization_code"


# One link of a rotation chain: every token exchanged from one code shares a family.
# (Model docstrings become table comments, which Tortoise's SQLite DDL mangles.)
class RefreshToken(Model):
    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    family_id = fields.CharField(max_length=36)
    client: fields.ForeignKeyRelation[OAuthClient] = fields.ForeignKeyField(
        "storefront.OAuthClient", related_name="refresh_tokens", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "storefront.User", related_name="refresh_tokens", on_delete=fields.CASCADE
    )
    scope = fields.TextField()
    # The access token issued beside this refresh token, revoked with the family.
    access_jti = fields.CharField(max_length=64)
    access_expires_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)  # rotated: using it again is reuse
    revoked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    client_id: int
    user_id: int

    class Meta:
        table = "oauth_refresh_token"
        indexes = (Index(fields=["family_id"], name="oauth_refresh_family_idx"),)


# A JWT access token that must be refused until it expires.
class RevokedAccessToken(Model):
    jti = fields.CharField(max_length=64, primary_key=True)
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "oauth_revoked_access_token"


# A private JWK. The newest unretired key signs; retired keys stay published until every
# token they signed has expired.
class SigningKey(Model):
    kid = fields.CharField(max_length=64, primary_key=True)
    algorithm = fields.CharField(max_length=16)
    private_jwk = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)
    retired_at = fields.DatetimeField(null=True)

    class Meta:
        table = "oauth_signing_key"
