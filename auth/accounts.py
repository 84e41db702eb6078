"""Creating users, checking their passwords, and switching accounts off and on.

Deactivating a user or ending their sessions revokes their refresh tokens at once and
sets `tokens_valid_after`; their access tokens are then refused by every instance within
`AccountStatus`'s cache window (`auth.account_status`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from auth.passwords import hash_password, needs_rehash, password_problem, verify_password
from models.accounts import User
from models.oauth import AuthorizationCode, RefreshToken

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AccountError(ValueError):
    """The account can't be created as asked; the message says why."""


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def create_user(email: str, name: str, password: str, *, is_staff: bool = False) -> User:
    email = normalize_email(email)
    if len(email) > 254 or not _EMAIL.match(email):
        raise AccountError(f"not a valid e-mail address: {email!r}")
    if not name.strip() or len(name.strip()) > 200:
        raise AccountError("the name must be 1 to 200 characters")
    problem = password_problem(password)
    if problem:
        raise AccountError(f"the password {problem}")
    password_hash = await hash_password(password)
    try:
        return await User.create(
            email=email, name=name.strip(), password_hash=password_hash, is_staff=is_staff
        )
    except IntegrityError:
        raise AccountError(f"a user with the e-mail {email} already exists") from None


async def authenticate(email: str, password: str) -> User | None:
    """The user with this e-mail and password, or None (the same time either way)."""
    user = await User.get_or_none(email=normalize_email(email))
    if not await verify_password(user.password_hash if user else None, password):
        return None
    assert user is not None
    if not user.is_active:
        return None
    assert user.password_hash is not None
    if needs_rehash(user.password_hash):
        user.password_hash = await hash_password(password)
        await user.save(update_fields=["password_hash"])
    return user


async def _user_by_email(email: str) -> User:
    user = await User.get_or_none(email=normalize_email(email))
    if user is None:
        raise AccountError(f"no user with the e-mail {normalize_email(email)}")
    return user


async def end_sessions(email: str) -> User:
    """Revoke the user's refresh tokens and pending codes, and refuse every access token
    issued until now."""
    user = await _user_by_email(email)
    await _cut_off(user, is_active=user.is_active)
    return user


async def deactivate_user(email: str) -> User:
    """The user can no longer sign in, and every session they have ends."""
    user = await _user_by_email(email)
    await _cut_off(user, is_active=False)
    return user


async def activate_user(email: str) -> User:
    """The user may sign in again (sessions ended by deactivation stay ended)."""
    user = await _user_by_email(email)
    await User.filter(id=user.id).update(is_active=True)
    user.is_active = True
    return user


async def set_staff(email: str, is_staff: bool) -> User:
    """Grant or remove staff rights; staff scopes on tokens already issued stop working
    within the account-status cache window, other scopes keep working."""
    user = await _user_by_email(email)
    await User.filter(id=user.id).update(is_staff=is_staff)
    user.is_staff = is_staff
    return user


async def _cut_off(user: User, *, is_active: bool) -> None:
    now = datetime.now(UTC)
    async with in_transaction():
        await User.filter(id=user.id).update(is_active=is_active, tokens_valid_after=now)
        await RefreshToken.filter(user_id=user.id, revoked_at=None).update(revoked_at=now)
        # A code not yet exchanged would otherwise bring a fresh session.
        await AuthorizationCode.filter(user_id=user.id, used_at=None).update(used_at=now)
    user.is_active, user.tokens_valid_after = is_active, now
