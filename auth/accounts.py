"""Creating users and checking their passwords."""

from __future__ import annotations

import re

from tortoise.exceptions import IntegrityError

from auth.passwords import hash_password, needs_rehash, password_problem, verify_password
from models.accounts import User

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
    assert user.password_hash is not None
    if needs_rehash(user.password_hash):
        user.password_hash = await hash_password(password)
        await user.save(update_fields=["password_hash"])
    return user
