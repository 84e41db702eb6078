"""The `storefront` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from server.settings import ConfigError, Settings, load_settings

Command = Callable[[argparse.Namespace, Settings], int]


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
        proxy_headers=True,
        server_header=False,
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
