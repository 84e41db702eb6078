"""GraphiQL at GET /graphql, served entirely by the service (no CDN, no internet)."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from models.catalog import Product
from server.settings import Settings
from tests.conftest import app_client, require_service

HTML = {"Accept": "text/html"}
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".svg": ("image/svg+xml",),
}


@dataclass
class PageResources:
    """What a browser would fetch to show the page."""

    scripts: list[dict[str, str | None]] = field(default_factory=list)
    links: list[dict[str, str | None]] = field(default_factory=list)
    inline_scripts: int = 0
    inline_styles: int = 0


class ResourceParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found = PageResources()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.found.scripts.append(attributes)
        elif tag == "script":
            self.found.inline_scripts += 1
        elif tag == "style" or "style" in attributes:
            self.found.inline_styles += 1
        elif tag == "link":
            self.found.links.append(attributes)


def page_resources(html: str) -> PageResources:
    parser = ResourceParser()
    parser.feed(html)
    return parser.found


def policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


async def test_page_loads_everything_from_our_origin_with_integrity() -> None:
    async with app_client(Settings(graphiql=True)) as http:
        page = await http.get("/graphql", headers=HTML)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        found = page_resources(page.text)
        assert found.inline_scripts == 0
        assert found.inline_styles == 0
        stylesheets = [link for link in found.links if link.get("rel") == "stylesheet"]
        assert len(found.scripts) == 5
        assert len(stylesheets) == 3

        for element in [*found.scripts, *stylesheets]:
            url = element.get("src") or element.get("href") or ""
            parts = urlsplit(url)
            assert (parts.scheme, parts.netloc) == ("", ""), url
            assert parts.path.startswith("/graphql/static/"), url
            integrity = element.get("integrity") or ""
            assert integrity.startswith("sha384-"), url

            asset = await http.get(url)
            assert asset.status_code == 200, url
            content_type = asset.headers["content-type"].split(";")[0]
            assert content_type in CONTENT_TYPES[Path(parts.path).suffix], url
            digest = base64.b64encode(hashlib.sha384(asset.content).digest()).decode()
            assert integrity == f"sha384-{digest}", url
            assert "immutable" in asset.headers["cache-control"], url

        for link in found.links:
            assert urlsplit(link.get("href") or "").netloc == "", link


async def test_page_policy_allows_only_our_origin() -> None:
    async with app_client(Settings(graphiql=True)) as http:
        page = await http.get("/graphql", headers=HTML)

    directives = policy(page.headers["content-security-policy"])
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    ours = {"'self'", "'none'", "data:", "ws://testserver", "wss://testserver"}
    for name, sources in directives.items():
        for source in sources:
            assert source in ours or re.fullmatch(r"'sha256-[A-Za-z0-9+/]+=*'", source), (
                name,
                source,
            )


async def test_vendored_packages_ship_their_licences() -> None:
    async with app_client(Settings(graphiql=True)) as http:
        for package in ("react", "react-dom", "graphiql", "plugin-explorer"):
            licence = await http.get(f"/graphql/static/{package}/LICENSE")
            assert licence.status_code == 200
            assert "MIT License" in licence.text


async def test_graphiql_off_serves_no_page_and_no_files() -> None:
    async with app_client(Settings(graphiql=False)) as http:
        page = await http.get("/graphql", headers=HTML)
        script = await http.get("/graphql/static/page.js")

    assert 400 <= page.status_code < 500
    assert not page.headers["content-type"].startswith("text/html")
    assert "<html" not in page.text.lower()
    assert script.status_code == 404


@pytest.fixture
def chromium() -> Path:
    require_service(CHROMIUM.exists(), "Chromium not installed: apt-get install chromium")
    return CHROMIUM


@pytest.mark.browser
async def test_query_runs_in_graphiql_in_a_browser(
    chromium: Path, live_server: str, tmp_path: Path
) -> None:
    from playwright.async_api import Route, async_playwright, expect

    await Product.create(
        sku="MUG-1", name="Enamel mug", slug="enamel-mug", price_minor=1250, currency="USD"
    )
    local = urlsplit(live_server).netloc
    requests: list[str] = []
    blocked: list[str] = []
    errors: list[str] = []

    async def block(route: Route) -> None:
        blocked.append(route.request.url)
        await route.abort()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            # Anything not for the server under test is recorded and never sent.
            await context.route(lambda url: urlsplit(url).netloc != local, block)
            page = await context.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.on("websocket", lambda socket: requests.append(socket.url))
            page.on(
                "console",
                lambda message: errors.append(message.text) if message.type == "error" else None,
            )
            page.on("pageerror", lambda error: errors.append(str(error)))

            await page.goto(f"{live_server}/graphql")
            await page.locator(".graphiql-query-editor .CodeMirror").click()
            await page.keyboard.press("Control+A")
            # insert_text, not typing: GraphiQL's editor would add closing brackets itself.
            await page.keyboard.insert_text(
                "{ products(first: 1) { totalCount edges { node { name } } } }"
            )
            await page.keyboard.press("Control+Enter")

            response = page.locator(".graphiql-response")
            await expect(response).to_contain_text('"totalCount": 1', timeout=15_000)
            await expect(response).to_contain_text('"name": "Enamel mug"')
            # A dialog adds GraphiQL's only inline style: the policy must allow it.
            await page.get_by_role("button", name="Open settings dialog").click()
            await expect(page.get_by_role("dialog")).to_be_visible()
            await page.keyboard.press("Escape")
            await page.screenshot(path=tmp_path / "graphiql.png")
        finally:
            await browser.close()

    assert blocked == []
    assert requests
    assert all(urlsplit(url).hostname == "127.0.0.1" for url in requests), requests
    assert errors == []
