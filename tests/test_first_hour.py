"""A new user's first hour, as issue 9 found it: each wall driven through what the user
runs (the `storefront` command in a subprocess, the real server, the browser's requests).

Durations are bounded only so that a hang fails the test instead of stalling the run;
they are not timings.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from auth.tokens import peek
from server.app import create_app
from server.cli import served_url
from server.seed import DEMO_CUSTOMER, create_demo_accounts
from server.settings import Settings, load_settings
from tests.conftest import (
    POSTGRES_ADMIN_URL,
    drop_postgres_database,
    free_port,
    port_open,
    require_service,
    stop_server,
    wait_healthy,
)
from tests.oauth import form_action, form_fields, pkce_pair

REPOSITORY = Path(__file__).resolve().parent.parent
HANG_GUARD_SECONDS = 30


def storefront(
    cwd: Path, database_url: str, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run `storefront ARGS` as a user would; its result and how long it took."""
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    environment.pop("OAUTH_SERVER_ISSUER", None)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
        check=False,
    )
    return result, time.monotonic() - started


def assert_one_line_failure(result: subprocess.CompletedProcess[str], *phrases: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, result.stderr
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


def require_postgres() -> None:
    require_service(port_open("127.0.0.1", 5432), "PostgreSQL is not reachable on 127.0.0.1:5432")


def postgres_url(database: str, user: str | None = None) -> str:
    base = (
        POSTGRES_ADMIN_URL if user is None else POSTGRES_ADMIN_URL.replace("postgres@", f"{user}@")
    )
    return f"{base}/{database}"


async def postgres_admin(statement: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(f"{POSTGRES_ADMIN_URL}/postgres", timeout=10)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


# ---------------------------------------------------------------- 5. the database


def test_migrate_creates_a_missing_sqlite_folder(tmp_path: Path) -> None:
    url = "sqlite://data/dev.sqlite3"

    migrated, seconds = storefront(tmp_path, url, "migrate")

    assert migrated.returncode == 0, migrated.stderr
    assert "created the folder data" in migrated.stderr
    assert (tmp_path / "data" / "dev.sqlite3").is_file()
    assert seconds < HANG_GUARD_SECONDS
    listed, _ = storefront(tmp_path, url, "list-clients")
    assert listed.returncode == 0, listed.stderr


@pytest.mark.parametrize("command", [["serve"], ["seed"], ["list-clients"], ["rotate-keys"]])
def test_commands_on_a_missing_sqlite_database_say_to_migrate(
    tmp_path: Path, command: list[str]
) -> None:
    result, _ = storefront(tmp_path, "sqlite://data/dev.sqlite3", *command)

    assert_one_line_failure(result, "data/dev.sqlite3 does not exist", "storefront migrate")
    assert not (tmp_path / "data").exists()


def test_an_unopenable_sqlite_path_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the folder should be")

    result, _ = storefront(tmp_path, "sqlite://data/dev.sqlite3", "migrate")

    assert_one_line_failure(result, "data")


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    (tmp_path / "empty.sqlite3").touch()

    result, _ = storefront(tmp_path, "sqlite://empty.sqlite3", "serve", "--port", str(free_port()))

    assert_one_line_failure(result, "not migrated", "storefront migrate")


async def test_migrate_creates_a_missing_postgres_database(tmp_path: Path) -> None:
    require_postgres()
    name = f"storefront_missing_{uuid.uuid4().hex[:12]}"
    try:
        listed, _ = storefront(tmp_path, postgres_url(name), "list-clients")
        assert_one_line_failure(listed, f"'{name}' does not exist", "storefront migrate")

        migrated, _ = storefront(tmp_path, postgres_url(name), "migrate")
        assert migrated.returncode == 0, migrated.stderr
        assert f"created the PostgreSQL database '{name}'" in migrated.stderr

        listed, _ = storefront(tmp_path, postgres_url(name), "list-clients")
        assert listed.returncode == 0, listed.stderr
    finally:
        await drop_postgres_database(name)


async def test_migrate_says_when_the_user_may_not_create_the_database(tmp_path: Path) -> None:
    require_postgres()
    role = f"storefront_nocreate_{uuid.uuid4().hex[:8]}"
    name = f"storefront_missing_{uuid.uuid4().hex[:12]}"
    await postgres_admin(f'CREATE ROLE "{role}" LOGIN NOCREATEDB')
    try:
        result, _ = storefront(tmp_path, postgres_url(name, role), "migrate")
        assert_one_line_failure(result, f"'{name}' does not exist", "may not create it")
    finally:
        await drop_postgres_database(name)
        await postgres_admin(f'DROP ROLE "{role}"')


@pytest.mark.parametrize(
    "command",
    [["migrate"], ["seed"], ["serve"], ["create-client", "--name", "X", "--scopes", "profile"]],
)
def test_a_postgres_server_that_refuses_is_one_line(tmp_path: Path, command: list[str]) -> None:
    port = free_port()  # nobody listens there

    result, _ = storefront(tmp_path, f"postgres://postgres@127.0.0.1:{port}/x", *command)

    assert_one_line_failure(result, f"127.0.0.1:{port}", "Connection refused")


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


def test_a_postgres_server_that_never_answers_is_one_line_within_seconds(
    tmp_path: Path, silent_listener: int
) -> None:
    url = f"postgres://postgres@127.0.0.1:{silent_listener}/x"

    result, seconds = storefront(tmp_path, url, "migrate")

    assert_one_line_failure(result, f"127.0.0.1:{silent_listener}", "did not answer within")
    assert seconds < HANG_GUARD_SECONDS


# ---------------------------------------------------------------- 6. the issuer


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:9000"),
        ("localhost", "http://localhost:9000"),
        ("::1", "http://[::1]:9000"),
        ("0.0.0.0", "http://127.0.0.1:9000"),  # noqa: S104
        ("192.0.2.7", "http://127.0.0.1:9000"),
    ],
)
def test_served_url(host: str, url: str) -> None:
    assert served_url(host, 9000) == url


def test_an_explicit_issuer_wins_over_the_served_url() -> None:
    served = {"STOREFRONT_SERVED_URL": "http://127.0.0.1:9000"}
    assert load_settings(served, env_file=None).oauth_server_issuer == "http://127.0.0.1:9000"
    explicit = served | {
        "OAUTH_SERVER_ISSUER": "https://shop.example",
        "OAUTH_KEY_SECRET": "k" * 32,
    }
    assert load_settings(explicit, env_file=None).oauth_server_issuer == "https://shop.example"


@pytest.fixture
def served_on_a_free_port(db: str, tmp_path: Path) -> Iterator[str]:
    """`storefront serve --port P` with no OAUTH_SERVER_ISSUER, as ./scripts/run --port P."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db, "LOG_LEVEL": "WARNING", "CORS_ALLOW_LOOPBACK": "true"}
    env.pop("OAUTH_SERVER_ISSUER", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port)], env=env, cwd=tmp_path
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(process, base)
        yield base
    finally:
        stop_server(process)


async def test_the_issuer_follows_the_served_port(
    served_on_a_free_port: str, tmp_path: Path, db: str
) -> None:
    base = served_on_a_free_port
    await create_demo_accounts()
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        metadata = (await http.get("/.well-known/oauth-authorization-server")).json()
        assert metadata["issuer"] == base
        assert metadata["token_endpoint"] == f"{base}/oauth/token"
        assert metadata["jwks_uri"] == f"{base}/.well-known/jwks.json"

        token, _ = storefront(
            tmp_path,
            db,
            "issue-token",
            "--user",
            DEMO_CUSTOMER[0],
            "--scopes",
            "profile",
            "--issuer",
            base,
        )
        assert token.returncode == 0, token.stderr
        assert peek(token.stdout.strip()).claims["iss"] == base
        me = await http.post(
            "/graphql",
            json={"query": "{ me { email } }"},
            headers={"Authorization": f"Bearer {token.stdout.strip()}"},
        )
        assert me.json() == {"data": {"me": {"email": DEMO_CUSTOMER[0]}}}

        # Made for the default address, the token says so when refused.
        default, _ = storefront(
            tmp_path, db, "issue-token", "--user", DEMO_CUSTOMER[0], "--scopes", "profile"
        )
        refused = await http.post(
            "/graphql",
            json={"query": "{ me { email } }"},
            headers={"Authorization": f"Bearer {default.stdout.strip()}"},
        )
        error = refused.json()["errors"][0]
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert "http://127.0.0.1:8000" in error["message"]
        assert base in error["message"]


# ---------------------------------------------------------------- 7. the root


async def test_the_root_leads_to_graphql() -> None:
    app = create_app(Settings(), manage_database=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        page = await http.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
        api = await http.get("/", headers={"Accept": "application/json"})
        bare = await http.get("/")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'href="/graphql"' in page.text
    assert api.status_code == 200
    assert api.json()["links"]["graphql"] == "/graphql"
    assert bare.json() == api.json()


# ---------------------------------------------------------------- 8. a browser app


PAGE_ORIGIN = "http://localhost:5173"


@pytest.fixture
async def demo_http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app as ./scripts/run serves it (CORS_ALLOW_LOOPBACK on), on the seeded demo."""
    app = create_app(replace(settings, cors_allow_loopback=True), manage_database=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
    ) as http:
        yield http


def authorize_query(client_id: str, redirect_uri: str, challenge: str) -> str:
    return "/oauth/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": "profile orders:read",
            "state": "s1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )


async def sign_in_as_customer(http: httpx.AsyncClient, url: str) -> httpx.Response:
    page = await http.get(url)
    assert page.status_code == 200, page.text
    fields = form_fields(page.text) | {"username": DEMO_CUSTOMER[0], "password": DEMO_CUSTOMER[2]}
    return await http.post(form_action(page.text), data=fields)


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://localhost:5173/callback",
        "http://127.0.0.1:5173/callback",
        "http://localhost:4321/callback",
    ],
)
async def test_a_local_browser_app_uses_the_demo(
    demo_http: httpx.AsyncClient, redirect_uri: str
) -> None:
    http = demo_http
    client_id = await create_demo_accounts()
    origin = f"{urlsplit(redirect_uri).scheme}://{urlsplit(redirect_uri).netloc}"
    verifier, challenge = pkce_pair()

    signed_in = await sign_in_as_customer(http, authorize_query(client_id, redirect_uri, challenge))
    assert signed_in.status_code == 302, signed_in.text
    location = signed_in.headers["location"]
    assert location.startswith(f"{redirect_uri}?")
    code = parse_qs(urlsplit(location).query)["code"][0]

    preflight = await http.options(
        "/oauth/token",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    tokens = await http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "code_verifier": verifier,
        },
        headers={"Origin": origin},
    )
    assert tokens.status_code == 200, tokens.text
    assert tokens.headers["access-control-allow-origin"] == origin

    preflight = await http.options(
        "/graphql",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    me = await http.post(
        "/graphql",
        json={"query": "{ me { email } }"},
        headers={"Origin": origin, "Authorization": f"Bearer {tokens.json()['access_token']}"},
    )
    assert me.json() == {"data": {"me": {"email": DEMO_CUSTOMER[0]}}}
    assert me.headers["access-control-allow-origin"] == origin


async def test_production_defaults_stay_closed(bare_client: httpx.AsyncClient) -> None:
    for origin in (PAGE_ORIGIN, "http://127.0.0.1:5173"):
        preflight = await bare_client.options(
            "/graphql", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
        )
        answer = await bare_client.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"Origin": origin}
        )
        assert "access-control-allow-origin" not in preflight.headers
        assert "access-control-allow-origin" not in answer.headers


async def test_loopback_origins_only(demo_http: httpx.AsyncClient) -> None:
    for origin in ("http://localhost.evil.example", "https://shop.example", "http://10.0.0.1:5173"):
        answer = await demo_http.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"Origin": origin}
        )
        assert "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://localhost:5173/other",  # another path
        "http://localhost.evil.example:5173/callback",  # another host
        "https://localhost:5173/callback",  # another scheme
        "http://user@localhost:5173/callback",  # userinfo
        "http://localhost:99999/callback",  # not a port
    ],
)
async def test_only_the_port_of_a_loopback_redirect_uri_may_vary(
    demo_http: httpx.AsyncClient, redirect_uri: str
) -> None:
    client_id = await create_demo_accounts()
    _, challenge = pkce_pair()

    page = await demo_http.get(authorize_query(client_id, redirect_uri, challenge))

    assert page.status_code == 400
    assert "location" not in page.headers


async def test_a_confidential_clients_loopback_redirect_uri_is_exact(
    demo_http: httpx.AsyncClient,
) -> None:
    from auth.clients import create_client

    client = await create_client(
        "Local server app", "profile orders:read", ["http://127.0.0.1:5173/callback"], public=False
    )
    _, challenge = pkce_pair()

    moved = await demo_http.get(
        authorize_query(client.client_id, "http://127.0.0.1:5174/callback", challenge)
    )
    exact = await demo_http.get(
        authorize_query(client.client_id, "http://127.0.0.1:5173/callback", challenge)
    )

    assert moved.status_code == 400
    assert exact.status_code == 200


class _AppPage(BaseHTTPRequestHandler):
    """A browser app's page (the README's snippet), at / and at /callback."""

    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def app_origin() -> Iterator[tuple[str, type[_AppPage]]]:
    """A local web server for the browser app's page, like Vite's dev server."""
    page = type("Page", (_AppPage,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}", page
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.browser
async def test_the_readmes_browser_flow_runs_in_a_browser(
    served_on_a_free_port: str, app_origin: tuple[str, type[_AppPage]]
) -> None:
    from playwright.async_api import ConsoleMessage, async_playwright

    from tests.test_graphiql import CHROMIUM, CHROMIUM_ARGS

    require_service(CHROMIUM.exists(), "Chromium not installed: apt-get install chromium")
    origin, page_handler = app_origin
    client_id = await create_demo_accounts()
    readme = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```js\n(.*?)```", readme, re.DOTALL)
    assert match, "the README shows the browser flow in a js block"
    script = match.group(1).replace('"http://127.0.0.1:8000"', json.dumps(served_on_a_free_port))
    script = script.replace('"c_..."', json.dumps(client_id))
    page_handler.body = f'<!doctype html><script type="module">{script}</script>'.encode()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page()
            logged: asyncio.Queue[ConsoleMessage] = asyncio.Queue()
            page.on(
                "console",
                lambda message: logged.put_nowait(message) if message.type == "log" else None,
            )
            await page.goto(origin + "/")
            await page.fill('input[name="username"]', DEMO_CUSTOMER[0])
            await page.fill('input[name="password"]', DEMO_CUSTOMER[2])
            await page.click('button[type="submit"]')
            message = await asyncio.wait_for(logged.get(), 20)
            data = await message.args[0].json_value()
        finally:
            await browser.close()

    assert data["me"]["email"] == DEMO_CUSTOMER[0]
    assert data["me"]["orders"]["totalCount"] == 0


# ---------------------------------------------------------------- 10. the scripts


FAKE_PYTHON = """#!/usr/bin/env bash
# Stands in for .venv/bin/python: runs -c snippets, logs pip installs, fails on demand.
if [ "$1" = "-c" ]; then exec {python} "$@"; fi
echo "$*" >> "$(dirname "$0")/pip-calls"
echo "setuptools: an alarming note"
[ -z "${{FAIL_INSTALL:-}}" ]
"""


def run_ensure_venv(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail; source scripts/install.sh; ensure_venv . run"],
        cwd=root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
        check=False,
    )


def test_the_scripts_install_only_when_pyproject_changes(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "install.sh").write_text(
        (REPOSITORY / "scripts" / "install.sh").read_text()
    )
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON.format(python=sys.executable))
    python.chmod(0o755)
    calls = tmp_path / ".venv" / "bin" / "pip-calls"

    def installs() -> int:
        return (
            sum("install" in line for line in calls.read_text().splitlines())
            if calls.exists()
            else 0
        )

    first = run_ensure_venv(tmp_path)
    assert first.returncode == 0, first.stderr
    assert installs() == 1  # the project (the venv's own pip is new enough)
    assert "alarming" not in first.stdout + first.stderr

    again = run_ensure_venv(tmp_path)
    assert again.returncode == 0, again.stderr
    assert installs() == 1
    assert again.stdout + again.stderr == ""

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "2"\n')
    failed = run_ensure_venv(tmp_path, FAIL_INSTALL="1")
    assert failed.returncode != 0
    assert "alarming" in failed.stderr  # pip's output, shown because it failed
    retried = run_ensure_venv(tmp_path)
    assert retried.returncode == 0, retried.stderr
    assert installs() == 3  # 1, the failed install, 1


def test_the_run_script_uses_the_install_step() -> None:
    for script in ("run", "test"):
        text = (REPOSITORY / "scripts" / script).read_text()
        assert "source scripts/install.sh" in text
        assert "pip install" not in text
