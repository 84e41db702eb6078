"""The `storefront` command line."""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from server.settings import ConfigError, Settings, load_settings

Command = Callable[[argparse.Namespace, Settings], int]


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, with our loggers (access log, errors) on its handler; uvicorn's
    own access log is off, since ours carries the request id."""
    import uvicorn.config

    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["storefront"] = {"handlers": ["default"], "level": level, "propagate": False}
    return config


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    uvicorn.run(
        "server.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=None if args.reload else args.workers,
        reload=args.reload,
        log_level=settings.log_level.lower(),
        log_config=_log_config(settings.log_level),
        access_log=False,
        proxy_headers=True,
        server_header=False,
        # Deadlines for reading each request's headers and body (HTTP_HEADER_TIMEOUT,
        # HTTP_BODY_TIMEOUT), which uvicorn has no option for.
        http="server.http_protocol:DeadlineHttpProtocol",
        # A WebSocket message is a request body too: larger ones close the socket (1009).
        ws_max_size=settings.max_body_bytes,
    )
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from server.database import apply_migrations

    asyncio.run(apply_migrations(settings.database_url))
    print("migrations applied", file=sys.stderr)
    return 0


def _export_schema(args: argparse.Namespace, settings: Settings) -> int:
    from schema import sdl

    Path(args.output).write_text(sdl(), encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _seed(args: argparse.Namespace, settings: Settings) -> int:
    from server.seed import SeedSizes, run_seed

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


def _with_database(settings: Settings, name: str, work: Callable[[], Awaitable[str]]) -> int:
    """Run `work` on the migrated database; print what it returns on stdout, or one line
    on stderr for a problem the user can fix."""
    from tortoise import Tortoise

    from auth.accounts import AccountError
    from auth.clients import ClientError
    from server.database import pending_migrations, tortoise_config

    async def run() -> int:
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
            print(await work())
            return 0
        except (AccountError, ClientError) as error:
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


def _issue_token(args: argparse.Namespace, settings: Settings) -> int:
    from server.oauth import build_auth

    if not settings.oauth_server:
        print(
            "issue-token: the built-in authorization server is off (OAUTH_SERVER=false)",
            file=sys.stderr,
        )
        return 1

    async def work() -> str:
        return await build_auth(settings).service.issue_token_for_user(args.user, args.scopes)

    return _with_database(settings, "issue-token", work)


def _rotate_keys(args: argparse.Namespace, settings: Settings) -> int:
    from auth.keys import rotate_keys

    async def work() -> str:
        kid = await rotate_keys(settings.access_token_seconds)
        print(
            f"rotate-keys: new signing key {kid}; the previous one stays published "
            f"until its tokens expire",
            file=sys.stderr,
        )
        return kid

    return _with_database(settings, "rotate-keys", work)


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
    token.set_defaults(handler=_issue_token)

    commands.add_parser(
        "rotate-keys", help="start signing with a new key (the old one stays valid until expiry)"
    ).set_defaults(handler=_rotate_keys)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"storefront: configuration error: {error}", file=sys.stderr)
        return 2
    handler: Command = args.handler
    return handler(args, settings)


if __name__ == "__main__":
    sys.exit(main())
