"""`storefront create-user`, `create-client`, `issue-token` and `rotate-keys`, run as a user
runs them: in a subprocess, on the test's database (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.accounts import User
from models.oauth import OAuthClient, SigningKey
from server.settings import Settings
from tests.oauth import make_app


def storefront(
    db: str, cwd: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": db, "LOG_LEVEL": "WARNING", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode != 0
    assert result.stdout == ""
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


async def test_create_user(db: str, tmp_path: Path) -> None:
    result = storefront(
        db,
        tmp_path,
        "create-user",
        "--email",
        "Sam@Example.com",
        "--name",
        "Sam",
        "--password",
        "long enough password",
        "--staff",
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["email"] == "sam@example.com"

    user = await User.get(id=output["id"])
    assert user.is_staff
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    assert "long enough password" not in user.password_hash

    from_stdin = storefront(
        db,
        tmp_path,
        "create-user",
        "--email",
        "kim@example.com",
        "--name",
        "Kim",
        "--password",
        "-",
        stdin="read from stdin\n",
    )
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert not (await User.get(email="kim@example.com")).is_staff


@pytest.mark.dialect("sqlite")  # input refused before any write: once is enough
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--email", "not-an-email", "--name", "X", "--password", "long enough"], "e-mail"),
        (["--email", "x@example.com", "--name", "X", "--password", "short"], "at least 8"),
        (["--email", "x@example.com", "--name", " ", "--password", "long enough"], "name"),
    ],
)
async def test_create_user_refuses_bad_input(
    db: str, tmp_path: Path, arguments: list[str], message: str
) -> None:
    assert_refused(storefront(db, tmp_path, "create-user", *arguments), message)
    assert await User.all().count() == 0


async def test_create_user_refuses_a_taken_email(db: str, tmp_path: Path) -> None:
    arguments = ["create-user", "--email", "a@example.com", "--name", "A", "--password", "12345678"]
    assert storefront(db, tmp_path, *arguments).returncode == 0
    assert_refused(storefront(db, tmp_path, *arguments), "already exists")


async def test_create_client(db: str, tmp_path: Path) -> None:
    confidential = storefront(
        db, tmp_path, "create-client", "--name", "Warehouse", "--scopes", "orders:manage"
    )
    assert confidential.returncode == 0, confidential.stderr
    output = json.loads(confidential.stdout)
    assert set(output) == {"client_id", "client_secret"}
    row = await OAuthClient.get(client_id=output["client_id"])
    assert row.secret_hash == hashlib.sha256(output["client_secret"].encode()).hexdigest()
    assert row.grant_types == ["client_credentials"]

    public = storefront(
        db,
        tmp_path,
        "create-client",
        "--name",
        "Web",
        "--scopes",
        "orders:write profile",
        "--redirect-uri",
        "http://localhost:3000/callback",
        "--public",
    )
    assert public.returncode == 0, public.stderr
    output = json.loads(public.stdout)
    assert set(output) == {"client_id"}
    row = await OAuthClient.get(client_id=output["client_id"])
    assert row.secret_hash is None
    assert row.redirect_uris == ["http://localhost:3000/callback"]
    assert row.grant_types == ["authorization_code", "refresh_token"]


@pytest.mark.dialect("sqlite")  # input refused before any write: once is enough
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--scopes", "orders:write everything"], "unknown scope everything"),
        (["--scopes", ""], "at least one scope"),
        (["--scopes", "orders:write", "--redirect-uri", "http://shop.example/cb"], "https"),
        (["--scopes", "orders:write", "--redirect-uri", "https://shop.example/cb#x"], "fragment"),
        (["--scopes", "orders:write", "--public"], "needs a redirect URI"),
    ],
)
async def test_create_client_refuses_bad_input(
    db: str, tmp_path: Path, arguments: list[str], message: str
) -> None:
    assert_refused(storefront(db, tmp_path, "create-client", "--name", "C", *arguments), message)
    assert await OAuthClient.all().count() == 0


async def test_issue_token(db: str, tmp_path: Path, settings: Settings) -> None:
    for email, staff in (("staff@example.com", ["--staff"]), ("cust@example.com", [])):
        created = storefront(
            db,
            tmp_path,
            "create-user",
            "--email",
            email,
            "--name",
            "N",
            "--password",
            "12345678",
            *staff,
        )
        assert created.returncode == 0, created.stderr

    result = storefront(
        db,
        tmp_path,
        "issue-token",
        "--user",
        "staff@example.com",
        "--scopes",
        "catalog:write orders:manage",
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    viewer = await make_app(settings).state.auth.resource.viewer(f"Bearer {token}")
    assert viewer.is_staff
    assert viewer.user_id == (await User.get(email="staff@example.com")).id
    assert viewer.scopes == {"catalog:write", "orders:manage"}

    assert_refused(
        storefront(
            db, tmp_path, "issue-token", "--user", "cust@example.com", "--scopes", "catalog:write"
        ),
        "not staff",
    )
    assert_refused(
        storefront(
            db, tmp_path, "issue-token", "--user", "nobody@example.com", "--scopes", "profile"
        ),
        "no user",
    )


async def test_rotate_keys(db: str, tmp_path: Path, settings: Settings) -> None:
    await User.create(email="r@example.com", name="R", is_staff=False)
    before = storefront(
        db, tmp_path, "issue-token", "--user", "r@example.com", "--scopes", "profile"
    )
    assert before.returncode == 0, before.stderr

    rotated = storefront(db, tmp_path, "rotate-keys")
    assert rotated.returncode == 0, rotated.stderr
    new_kid = rotated.stdout.strip()
    assert (await SigningKey.get(kid=new_kid)).retired_at is None
    assert await SigningKey.filter(retired_at=None).count() == 1

    after = storefront(
        db, tmp_path, "issue-token", "--user", "r@example.com", "--scopes", "profile"
    )
    resource = make_app(settings).state.auth.resource
    for token in (before.stdout.strip(), after.stdout.strip()):
        viewer = await resource.viewer(f"Bearer {token}")
        assert viewer.scopes == {"profile"}


async def test_commands_need_a_migrated_database(tmp_path: Path) -> None:
    empty = f"sqlite://{tmp_path / 'empty.sqlite3'}"
    assert_refused(storefront(empty, tmp_path, "rotate-keys"), "storefront migrate")


def test_bad_configuration_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "OAUTH_ISSUER": "https://idp.example"}
    broken = subprocess.run(
        [sys.executable, "-m", "server.cli", "rotate-keys"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert broken.returncode == 2
    assert broken.stderr.strip() == (
        "storefront: configuration error: OAUTH_JWKS_URL: must be set when OAUTH_ISSUER is set"
    )
