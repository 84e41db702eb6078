"""GraphiQL served entirely by this service, so it works in networks with no internet.

Strawberry's own page loads React and GraphiQL from a public CDN. This page loads our
copies in `server/static/graphiql/` (see the README there) from `STATIC_PATH`, under
`/graphql` so that whatever routes `/graphql/...` to the service also serves the IDE.
Every file carries a Subresource Integrity hash computed from the file at import, and a
`?v=` fingerprint so it can be cached for a year. The page's own script is a file too,
so its Content-Security-Policy allows this origin and nothing else: no inline script,
and only the one inline style GraphiQL adds, by its hash.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from html import escape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static" / "graphiql"
STATIC_PATH = "/graphql/static"

_STYLESHEETS = ("graphiql/graphiql.min.css", "plugin-explorer/style.css", "page.css")
# Order matters: each script uses the globals the ones before it define.
_SCRIPTS = (
    "react/react.production.min.js",
    "react-dom/react-dom.production.min.js",
    "graphiql/graphiql.min.js",
    "plugin-explorer/index.umd.js",
    "page.js",
)
_ICON = "favicon.svg"

# The one inline style the page allows: the <style> that react-remove-scroll-bar (inside
# graphiql.min.js) adds while a dialog is open. Its text depends on the scrollbar width and
# the body's margins, which page.css keeps at zero, so it is always the same. The browser
# test opens a dialog and fails on any CSP violation, so an upgrade that changes it shows.
_DIALOG_STYLE_HASH = "'sha256-Y/huXlwoYkVyQlxwSVcCi1RCDGDCSVBzDt0hYP9qlTc='"

_YEAR = 365 * 24 * 3600
# A Host header is echoed into the policy: anything beyond host[:port] is left out.
_NETLOC = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


@dataclass(frozen=True)
class Asset:
    """One vendored file, identified by its content."""

    path: str
    digest: bytes

    @classmethod
    def load(cls, path: str) -> Asset:
        return cls(path, hashlib.sha384((STATIC_DIR / path).read_bytes()).digest())

    @property
    def integrity(self) -> str:
        return "sha384-" + base64.b64encode(self.digest).decode()

    def url(self, root_path: str) -> str:
        return f"{root_path}{STATIC_PATH}/{self.path}?v={self.digest.hex()[:16]}"


STYLESHEETS = tuple(Asset.load(path) for path in _STYLESHEETS)
SCRIPTS = tuple(Asset.load(path) for path in _SCRIPTS)
ICON = Asset.load(_ICON)

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Storefront GraphiQL</title>
<link rel="icon" type="image/svg+xml" href="{icon}">
{stylesheets}
{scripts}
</head>
<body>
<div id="graphiql" data-endpoint="{endpoint}">Loading…</div>
<noscript>GraphiQL needs JavaScript.</noscript>
</body>
</html>
"""


def render_page(endpoint: str, root_path: str = "") -> str:
    """The GraphiQL page for the GraphQL endpoint at `endpoint` (a path)."""
    stylesheets = "\n".join(
        f'<link rel="stylesheet" href="{escape(asset.url(root_path))}"'
        f' integrity="{asset.integrity}">'
        for asset in STYLESHEETS
    )
    scripts = "\n".join(
        f'<script defer src="{escape(asset.url(root_path))}"'
        f' integrity="{asset.integrity}"></script>'
        for asset in SCRIPTS
    )
    return _PAGE.format(
        icon=escape(ICON.url(root_path)),
        stylesheets=stylesheets,
        scripts=scripts,
        endpoint=escape(endpoint),
    )


def content_security_policy(netloc: str) -> str:
    """This origin only. `data:` is for the fonts and icons inlined in GraphiQL's CSS."""
    connect = ["'self'"]
    # CSP 3 lets 'self' cover ws:/wss: to the same host; older browsers need it spelled out.
    if _NETLOC.fullmatch(netloc):
        connect += [f"ws://{netloc}", f"wss://{netloc}"]
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            f"style-src 'self' {_DIALOG_STYLE_HASH}",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src " + " ".join(connect),
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


def graphiql_response(request: Request) -> Response:
    """The GraphiQL page for the GraphQL endpoint `request` was sent to."""
    page = render_page(request.url.path, request.scope.get("root_path", ""))
    return HTMLResponse(
        page,
        headers={
            "Content-Security-Policy": content_security_policy(request.url.netloc),
            "Cache-Control": "no-cache",
            # The same URL answers JSON to API clients.
            "Vary": "Accept",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


class _VendoredFiles(StaticFiles):
    """Static files; a fingerprinted URL (`?v=`, as the page writes them) is immutable."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        versioned = b"v=" in scope.get("query_string", b"")
        response.headers["Cache-Control"] = (
            f"public, max-age={_YEAR}, immutable" if versioned else "no-cache"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def static_routes() -> list[BaseRoute]:
    """The route serving the vendored files at `STATIC_PATH`."""
    return [Mount(STATIC_PATH, app=_VendoredFiles(directory=STATIC_DIR), name="graphiql-static")]
