"""`GET /`: where to go from here.

The URL uvicorn prints is the root, so it is the first thing a new user opens. A browser
gets a small page with links; an API client (anything not asking for HTML) gets the same
links as JSON.
"""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from server.settings import Settings


def _links(settings: Settings) -> dict[str, str]:
    links = {"graphql": "/graphql", "healthz": "/healthz", "readyz": "/readyz"}
    if settings.oauth_server:
        links |= {
            "oauth_metadata": "/.well-known/oauth-authorization-server",
            "jwks": "/.well-known/jwks.json",
        }
    return links


def _page(settings: Settings) -> str:
    graphql = (
        '<a href="/graphql">/graphql</a>: GraphiQL, to explore the schema and run queries'
        if settings.graphiql
        else "<code>POST /graphql</code>: the GraphQL endpoint"
    )
    others = "".join(
        f'<li><a href="{escape(path)}">{escape(path)}</a></li>'
        for name, path in _links(settings).items()
        if name != "graphql"
    )
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Storefront</title>"
        "<h1>Storefront GraphQL API</h1>"
        f"<p>{graphql}.</p>"
        "<p>Signing in, the command line and configuration: see README.md in the "
        "repository.</p>"
        f"<ul>{others}</ul></html>"
    )


async def home(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    accept = request.headers.get("accept", "")
    if "text/html" in accept:
        return HTMLResponse(
            _page(settings), headers={"Content-Security-Policy": "default-src 'none'"}
        )
    return JSONResponse({"name": "Storefront GraphQL API", "links": _links(settings)})
