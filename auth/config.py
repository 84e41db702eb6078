"""What `auth` needs to know, handed to it by `server` (which reads the environment)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit


def is_loopback_url(url: str) -> bool:
    """Whether `url` points at this machine (where plain http is acceptable)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Clock skew tolerated on `exp`, `nbf` and `iat`.
LEEWAY_SECONDS = 30
AUTHORIZATION_CODE_SECONDS = 120


@dataclass(frozen=True)
class ExternalIssuer:
    """An identity provider whose access tokens we accept beside our own."""

    issuer: str
    jwks_url: str
    # Tokens whose `staff_claim` (a dotted path into the claims) equals or contains
    # `staff_value` belong to staff.
    staff_claim: str = "roles"
    staff_value: str = "staff"
    cache_seconds: int = 3600
    refetch_seconds: int = 60


@dataclass(frozen=True)
class AuthConfig:
    issuer: str
    audience: str
    server_enabled: bool = True
    access_token_seconds: int = 900
    refresh_token_seconds: int = 30 * 24 * 3600
    # Plain-http requests to the OAuth endpoints: only for a loopback issuer or in DEBUG.
    allow_http: bool = False
    external: ExternalIssuer | None = None
    # How long an instance trusts what it read of a user's account state (deactivation,
    # ended sessions, staff rights): see `auth.account_status`.
    account_status_seconds: float = 5.0
