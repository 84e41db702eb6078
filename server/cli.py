"""The `storefront` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

from auth.config import is_loopback_url
from server.settings import SERVED_URL_VARIABLE, ConfigError, Settings, load_settings

Command = Callable[[argparse.Namespace, Settings], int]


def served_url(host: str, port: int) -> str:
    """The URL this machine reaches a server bound to `host:port` at: the built-in
    authorization server's issuer when OAUTH_SERVER_ISSUER is not set. A host that is not
    a loopback address (0.0.0.0, a LAN address) becomes 127.0.0.1: anything reached from
    elsewhere is behind a public URL, which only OAUTH_SERVER_ISSUER can know."""
    named = f"[{host}]" if ":" in host else host
    url = f"http://{named}:{port}"
    return url if is_loopback_url(url) else f"http://127.0.0.1:{port}"


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from server.logs import logging_config
    from server.metrics import multiprocess_directory, prepare_multiprocess

    # Before anything listens: an unreachable or unmigrated database is one line here,
    # not a traceback from every worker.
    if code := _with_database(settings, "serve", _nothing):
        return code
    if problem := _signing_keys_problem(settings):
        print(f"storefront: configuration error: {problem}", file=sys.stderr)
        return 2
    # The workers uvicorn starts build their settings from this environment.
    os.environ[SERVED_URL_VARIABLE] = served_url(args.host, args.port)
    if multiprocess_directory() or (args.workers > 1 and not args.reload):
        # Before the workers start: they inherit the variable and share the emptied folder.
        prepare_multiprocess()
    if args.workers > 1 and not args.reload and not settings.redis_url:
        print(
            f"storefront: warning: {args.workers} workers without REDIS_URL: each worker has "
            "its own event broker, so a subscriber hears only the events of mutations its "
            "own worker ran. Set REDIS_URL for live events across workers and instances.",
            file=sys.stderr,
        )

    uvicorn.run(
        "server.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=None if args.reload else args.workers,
        reload=args.reload,
        log_level=settings.log_level.lower(),
        log_config=logging_config(settings.log_level, settings.log_format),
        access_log=False,
        # The app believes X-Forwarded-* itself, from FORWARDED_ALLOW_IPS only
        # (server.middleware): uvicorn's default would trust 127.0.0.1 besides.
        proxy_headers=False,
        server_header=False,
        # Deadlines for reading each request's headers and body (HTTP_HEADER_TIMEOUT,
        # HTTP_BODY_TIMEOUT), which uvicorn has no option for.
        http="server.http_protocol:DeadlineHttpProtocol",
        ws="server.ws_protocol:GoingAwayProtocol",
        # A WebSocket message is a request body too: larger ones close the socket (1009).
        ws_max_size=settings.max_body_bytes,
    )
    return 0


def _signing_keys_problem(settings: Settings) -> str | None:
    """Why the signing keys can't be read with OAUTH_KEY_SECRET, checked before uvicorn
    starts so that it is one line, not a failed start-up's traceback. Also encrypts keys
    stored in plain text (as every instance's start-up does)."""
    if not settings.oauth_server:
        return None
    from tortoise import Tortoise

    from auth.keys import KeySecretError, KeyStore
    from server.database import pending_migrations, tortoise_config
    from server.oauth import key_cipher

    async def check() -> str | None:
        try:
            await Tortoise.init(config=tortoise_config(settings.database_url))
            if not await pending_migrations():
                await KeyStore(settings.access_token_seconds, key_cipher(settings)).ensure()
        except KeySecretError as error:
            return str(error)
        except Exception:  # an unreachable database is /readyz's to report
            return None
        finally:
            await Tortoise.close_connections()
        return None

    return asyncio.run(check())


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from server.database import apply_migrations, prepare_database

    note = asyncio.run(prepare_database(settings.database_url, create=True))
    if note:
        print(f"migrate: {note}", file=sys.stderr)
    asyncio.run(apply_migrations(settings.database_url))
    print("migrations applied", file=sys.stderr)
    return 0


def _export_schema(args: argparse.Namespace, settings: Settings) -> int:
    from schema import sdl

    Path(args.output).write_text(sdl(), encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _seed(args: argparse.Namespace, settings: Settings) -> int:
    from server.database import prepare_database
    from server.seed import SeedSizes, run_seed

    asyncio.run(prepare_database(settings.database_url))
    sizes = SeedSizes(
        categories=args.categories,
        products=args.products,
        users=args.users,
        reviews=args.reviews,
        orders=args.orders,
    )
    return _run(run_seed(settings, sizes, seed=args.seed, reset=args.reset, if_empty=args.if_empty))


def _run(coroutine: Coroutine[Any, Any, int]) -> int:
    return asyncio.run(coroutine)


async def _nothing() -> None:
    return None


def _with_database(
    settings: Settings,
    name: str,
    work: Callable[[], Awaitable[str | None]],
    refusals: tuple[type[Exception], ...] = (),
) -> int:
    """Run `work` on the migrated database; print what it returns (if anything) on stdout,
    or one line on stderr for a problem the user can fix: an account, client or key error,
    or one of `refusals` (a command's own, so that the others don't import its module)."""
    from tortoise import Tortoise

    from auth.accounts import AccountError
    from auth.clients import ClientError
    from auth.keys import KeySecretError
    from server.database import pending_migrations, prepare_database, tortoise_config

    problems: tuple[type[Exception], ...] = (AccountError, ClientError, KeySecretError, *refusals)

    async def run() -> int:
        await prepare_database(settings.database_url, seconds=settings.database_timeout)
        await Tortoise.init(
            config=tortoise_config(settings.database_url, settings.database_timeout)
        )
        try:
            if await pending_migrations():
                print(
                    f"{name}: the database is not migrated; run `storefront migrate` first",
                    file=sys.stderr,
                )
                return 1
            output = await work()
            if output is not None:
                print(output)
            return 0
        except problems as error:
            print(f"{name}: {error}", file=sys.stderr)
            return 1
        finally:
            await Tortoise.close_connections()

    return _run(run())


def _create_user(args: argparse.Namespace, settings: Settings) -> int:
    from auth.accounts import create_user

    read_stdin = args.password == "-"  # noqa: S105 (the "read it from stdin" marker)
    password = sys.stdin.readline().rstrip("\n") if read_stdin else args.password

    async def work() -> str:
        user = await create_user(args.email, args.name, password, is_staff=args.staff)
        return json.dumps({"id": user.id, "email": user.email, "is_staff": user.is_staff})

    return _with_database(settings, "create-user", work)


def _create_client(args: argparse.Namespace, settings: Settings) -> int:
    from auth.clients import create_client

    async def work() -> str:
        client = await create_client(
            args.name, args.scopes, args.redirect_uri or [], public=args.public
        )
        output = {"client_id": client.client_id}
        if client.client_secret is not None:
            output["client_secret"] = client.client_secret
        return json.dumps(output)

    return _with_database(settings, "create-client", work)


# Bounds of `issue-token --expires-in`: a minute (a shorter token would still pass the
# 30 s clock-skew leeway) to a day (a pasted token should not outlive a working day).
TOKEN_SECONDS_MIN = 60
TOKEN_SECONDS_MAX = 24 * 3600


def _issue_token(args: argparse.Namespace, settings: Settings) -> int:
    from server.oauth import build_auth

    if not settings.oauth_server:
        print(
            "issue-token: the built-in authorization server is off (OAUTH_SERVER=false)",
            file=sys.stderr,
        )
        return 1
    lifetime: int | None = args.expires_in
    if lifetime is not None and not TOKEN_SECONDS_MIN <= lifetime <= TOKEN_SECONDS_MAX:
        print(
            f"issue-token: --expires-in must be {TOKEN_SECONDS_MIN} to {TOKEN_SECONDS_MAX} "
            f"seconds (one minute to one day), got {lifetime}",
            file=sys.stderr,
        )
        return 2
    if args.issuer:
        loopback = args.issuer.startswith("http://") and is_loopback_url(args.issuer)
        if not (args.issuer.startswith("https://") or loopback):
            print(
                f"issue-token: --issuer must be an https:// URL or http:// on a loopback "
                f"address (the server's base URL), got {args.issuer!r}",
                file=sys.stderr,
            )
            return 2
        settings = replace(settings, oauth_server_issuer=args.issuer.rstrip("/"))
    service = build_auth(settings).service

    async def work() -> str:
        return await service.issue_token_for_user(args.user, args.scopes, lifetime=lifetime)

    return _with_database(settings, "issue-token", work)


def _list_clients(args: argparse.Namespace, settings: Settings) -> int:
    from auth.clients import registered_clients

    async def work() -> str | None:
        clients = await registered_clients()
        return "\n".join(json.dumps(client) for client in clients) if clients else None

    return _with_database(settings, "list-clients", work)


def _change_account(args: argparse.Namespace, settings: Settings) -> int:
    """`deactivate-user`, `activate-user`, `revoke-tokens`, `set-staff`: change one
    account and print its state as JSON."""
    from auth import accounts

    changes: dict[str, Callable[[], Awaitable[Any]]] = {
        "deactivate-user": lambda: accounts.deactivate_user(args.email),
        "activate-user": lambda: accounts.activate_user(args.email),
        "revoke-tokens": lambda: accounts.end_sessions(args.user),
        "set-staff": lambda: accounts.set_staff(args.email, args.staff),
    }

    async def work() -> str:
        user = await changes[args.command]()
        state = {"is_active": user.is_active, "is_staff": user.is_staff}
        return json.dumps({"id": user.id, "email": user.email} | state)

    return _with_database(settings, args.command, work)


def _rotate_keys(args: argparse.Namespace, settings: Settings) -> int:
    from auth.keys import rotate_keys
    from server.oauth import key_cipher

    async def work() -> str:
        kid = await rotate_keys(settings.access_token_seconds, key_cipher(settings))
        print(
            f"rotate-keys: new signing key {kid}; the previous one stays published "
            f"until its tokens expire",
            file=sys.stderr,
        )
        return kid

    return _with_database(settings, "rotate-keys", work)


def _expire_orders(args: argparse.Namespace, settings: Settings) -> int:
    from events import make_broker
    from resolvers.orders import expire_orders

    async def work() -> str:
        # With REDIS_URL, the instances' subscribers hear of the orders expired here.
        broker = make_broker(
            settings.redis_url,
            queue_size=settings.subscription_queue_size,
            timeout=settings.redis_timeout,
        )
        await broker.start()
        try:
            expiry = await expire_orders(broker)
        finally:
            await broker.close()
        units = sum(expiry.restocked.values())
        return json.dumps({"expired": len(expiry.orders), "units_restocked": units})

    return _with_database(settings, "expire-orders", work)


def _register_operations(args: argparse.Namespace, settings: Settings) -> int:
    from schema import schema
    from server.persisted import ManifestError, read_manifest, register_operations

    operations = []
    for file in args.file:
        try:
            operations += read_manifest(Path(file).read_bytes(), schema._schema)
        except (OSError, ManifestError) as error:
            print(f"register-operations: {file}: {error}", file=sys.stderr)
            return 1

    async def work() -> str:
        return json.dumps(await register_operations(operations))

    return _with_database(settings, "register-operations", work, refusals=(ManifestError,))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="storefront", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--reload", action="store_true", help="restart on code changes")
    serve.set_defaults(handler=_serve)

    commands.add_parser("migrate", help="create or upgrade the database schema").set_defaults(
        handler=_migrate
    )

    export = commands.add_parser("export-schema", help="write the GraphQL SDL")
    export.add_argument("--output", default="schema.graphql")
    export.set_defaults(handler=_export_schema)

    seed = commands.add_parser("seed", help="fill the database with deterministic demo data")
    seed.add_argument("--seed", type=int, default=42, help="random seed (same seed, same data)")
    seed.add_argument("--categories", type=int, default=20)
    seed.add_argument("--products", type=int, default=2000)
    seed.add_argument("--users", type=int, default=500)
    seed.add_argument("--reviews", type=int, default=20000)
    seed.add_argument("--orders", type=int, default=5000)
    group = seed.add_mutually_exclusive_group()
    group.add_argument("--reset", action="store_true", help="delete all data first")
    group.add_argument(
        "--if-empty", action="store_true", help="do nothing (and succeed) if data exists"
    )
    seed.set_defaults(handler=_seed)

    user = commands.add_parser("create-user", help="add a user who signs in with a password")
    user.add_argument("--email", required=True)
    user.add_argument("--name", required=True)
    user.add_argument("--password", required=True, help="the password, or - to read it from stdin")
    user.add_argument("--staff", action="store_true", help="may manage the catalog and orders")
    user.set_defaults(handler=_create_user)

    client = commands.add_parser(
        "create-client", help="register an OAuth client; prints its id and secret as JSON"
    )
    client.add_argument("--name", required=True)
    client.add_argument("--scopes", required=True, help='space-separated, e.g. "orders:write"')
    client.add_argument(
        "--redirect-uri", action="append", help="where to send the user back (repeatable)"
    )
    client.add_argument(
        "--public", action="store_true", help="a browser or native app: no secret, PKCE required"
    )
    client.set_defaults(handler=_create_client)

    token = commands.add_parser("issue-token", help="print an access token for a user")
    token.add_argument("--user", required=True, help="the user's e-mail")
    token.add_argument("--scopes", required=True, help='space-separated, e.g. "orders:write"')
    token.add_argument(
        "--expires-in",
        type=int,
        metavar="SECONDS",
        help=f"lifetime, {TOKEN_SECONDS_MIN} to {TOKEN_SECONDS_MAX} "
        "(default: OAUTH_ACCESS_TOKEN_SECONDS, 900)",
    )
    token.add_argument(
        "--issuer",
        metavar="URL",
        help="the server the token is for, when it is not OAUTH_SERVER_ISSUER's "
        "(e.g. http://127.0.0.1:9000 for `serve --port 9000`)",
    )
    token.set_defaults(handler=_issue_token)

    deactivate = commands.add_parser(
        "deactivate-user", help="stop a user signing in and end their sessions"
    )
    deactivate.add_argument("--email", required=True)
    deactivate.set_defaults(handler=_change_account)

    activate = commands.add_parser("activate-user", help="let a deactivated user sign in again")
    activate.add_argument("--email", required=True)
    activate.set_defaults(handler=_change_account)

    revoke = commands.add_parser(
        "revoke-tokens", help="end every session of a user (they must sign in again)"
    )
    revoke.add_argument("--user", required=True, help="the user's e-mail")
    revoke.set_defaults(handler=_change_account)

    staff = commands.add_parser("set-staff", help="grant or remove a user's staff rights")
    staff.add_argument("--email", required=True)
    staff.add_argument(
        "--staff", action=argparse.BooleanOptionalAction, required=True, help="--no-staff removes"
    )
    staff.set_defaults(handler=_change_account)

    commands.add_parser(
        "list-clients",
        help="print the registered OAuth clients, one JSON object per line",
    ).set_defaults(handler=_list_clients)

    commands.add_parser(
        "rotate-keys", help="start signing with a new key (the old one stays valid until expiry)"
    ).set_defaults(handler=_rotate_keys)

    commands.add_parser(
        "expire-orders",
        help="cancel unpaid orders whose hold is over and return their stock, once "
        '(for cron); prints {"expired": N, "units_restocked": N}',
    ).set_defaults(handler=_expire_orders)
    register = commands.add_parser(
        "register-operations",
        help="add a persisted-query manifest (Apollo's or Relay's) to the allow-list",
    )
    register.add_argument("file", nargs="+", help="manifest JSON files, registered together")
    register.set_defaults(handler=_register_operations)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"storefront: configuration error: {error}", file=sys.stderr)
        return 2
    handler: Command = args.handler
    try:
        return handler(args, settings)
    except Exception as error:
        problem = _database_problem(error)
        if problem is None:
            raise
        print(f"{args.command}: {problem}", file=sys.stderr)
        return 1


def _database_problem(error: Exception) -> str | None:
    """One line for a database that can't be reached or used, or None for anything else."""
    from asyncpg import PostgresConnectionError
    from tortoise.exceptions import DBConnectionError

    from server.database import DatabaseUnavailable

    if isinstance(error, DatabaseUnavailable):
        return str(error)
    if isinstance(error, DBConnectionError | PostgresConnectionError | ConnectionError):
        return (
            f"the database connection failed ({error}); check DATABASE_URL and that the "
            "database is up"
        )
    return None


if __name__ == "__main__":
    sys.exit(main())
