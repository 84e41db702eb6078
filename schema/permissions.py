"""Who may do what: the schema's adapter over `auth` (tokens, scopes, staff rights)."""

from __future__ import annotations

from strawberry.types import Info

from auth.resource import Viewer
from auth.scopes import Scope
from resolvers.errors import Forbidden, Unauthenticated


async def viewer_of(info: Info) -> Viewer | None:
    """The caller the request's bearer token proves, or None without a token.

    A token that is present but invalid (malformed, expired, revoked, ...) is
    UNAUTHENTICATED, never silently anonymous.
    """
    viewer: Viewer | None = await info.context.viewer()
    return viewer


async def require_scope(info: Info, scope: Scope) -> Viewer:
    """The caller, who must hold `scope`; UNAUTHENTICATED or FORBIDDEN otherwise."""
    viewer = await viewer_of(info)
    if viewer is None:
        raise Unauthenticated(f"This needs a bearer token with the `{scope}` scope")
    if not viewer.has_scope(scope):
        raise Forbidden(f"The token lacks the `{scope}` scope")
    return viewer


async def require_user(info: Info, scope: Scope, refusal: str) -> int:
    """The id of the signed-in user, whose token must hold `scope`; a client's own token
    (client_credentials) is FORBIDDEN with `refusal`."""
    viewer = await require_scope(info, scope)
    if viewer.user_id is None:
        raise Forbidden(refusal)
    return viewer.user_id


async def require_staff_scope(info: Info, scope: Scope) -> Viewer:
    """The caller, who must hold `scope` and be staff (or a client acting as itself)."""
    viewer = await require_scope(info, scope)
    if not viewer.acts_as_staff:
        raise Forbidden("Only staff may do this")
    return viewer


async def require_owner_or_staff(info: Info, owner_id: int, own_scope: Scope, what: str) -> Viewer:
    """The caller, who must be `owner_id` holding `own_scope`, or staff holding
    `orders:manage`; UNAUTHENTICATED without a token, FORBIDDEN otherwise."""
    viewer = await viewer_of(info)
    if viewer is None:
        raise Unauthenticated(f"Reading {what} needs a bearer token")
    if viewer.user_id == owner_id and viewer.has_scope(own_scope):
        return viewer
    if viewer.acts_as_staff and viewer.has_scope(Scope.ORDERS_MANAGE):
        return viewer
    raise Forbidden(f"You may not read {what}")
