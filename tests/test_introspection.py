"""INTROSPECTION: on by default; off, `__schema`/`__type` are refused and error messages
suggest no names, while federation's `_service { sdl }` still answers. Over HTTP; no
database is needed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from server.settings import Settings, load_settings
from tests.conftest import app_client

SCHEMA = "{ __schema { queryType { name } } }"
TYPE = '{ __type(name: "Product") { name fields { name } } }'
MISSPELT_FIELD = "{ prodcts(first: 1) { totalCount } }"
MISSPELT_ENUM = "{ products(first: 1, orderBy: {field: NAM, direction: ASC}) { totalCount } }"
MISSPELT_VARIABLE = (
    "query ($o: ProductOrder) { products(first: 1, orderBy: $o) { totalCount } }",
    {"o": {"field": "PRICEE", "direction": "ASC"}},
)


async def client_with(introspection: bool) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(replace(Settings(), introspection=introspection)) as http:
        yield http


@pytest.fixture
async def closed() -> AsyncIterator[httpx.AsyncClient]:
    async for http in client_with(False):
        yield http


@pytest.fixture
async def open_() -> AsyncIterator[httpx.AsyncClient]:
    async for http in client_with(True):
        yield http


async def post(
    http: httpx.AsyncClient, query: str, variables: dict[str, object] | None = None
) -> httpx.Response:
    return await http.post("/graphql", json={"query": query, "variables": variables or {}})


def messages(response: httpx.Response) -> list[str]:
    return [error["message"] for error in response.json()["errors"]]


@pytest.mark.parametrize("query", [SCHEMA, TYPE])
async def test_introspection_is_refused_when_off(closed: httpx.AsyncClient, query: str) -> None:
    response = await post(closed, query)
    body = response.json()
    assert "data" not in body
    assert "introspection has been disabled" in body["errors"][0]["message"]


@pytest.mark.parametrize("query", [SCHEMA, TYPE])
async def test_introspection_answers_by_default(open_: httpx.AsyncClient, query: str) -> None:
    response = await post(open_, query)
    assert response.status_code == 200
    assert "errors" not in response.json()


async def test_federation_sdl_and_typename_still_answer_when_off(
    closed: httpx.AsyncClient,
) -> None:
    response = await post(closed, "{ __typename _service { sdl } }")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["__typename"] == "Query"
    assert "type Product" in data["_service"]["sdl"]


@pytest.mark.parametrize(
    ("query", "variables", "misspelt"),
    [
        (MISSPELT_FIELD, None, "prodcts"),
        (MISSPELT_ENUM, None, "NAM"),
        (*MISSPELT_VARIABLE, "PRICEE"),
    ],
)
async def test_no_suggestions_when_off_but_by_default(
    closed: httpx.AsyncClient,
    open_: httpx.AsyncClient,
    query: str,
    variables: dict[str, object] | None,
    misspelt: str,
) -> None:
    hinted = messages(await post(open_, query, variables))
    assert any("Did you mean" in message for message in hinted), hinted

    refused = await post(closed, query, variables)
    assert "data" not in refused.json()
    plain = messages(refused)
    assert any(misspelt in message for message in plain), plain
    assert not any("Did you mean" in message for message in plain), plain
    assert not any(name in " ".join(plain) for name in ("'products'", "'NAME'", "'PRICE'"))


def test_the_setting_is_read_from_the_environment() -> None:
    assert load_settings({}, env_file=None).introspection is True
    assert load_settings({"INTROSPECTION": "false"}, env_file=None).introspection is False
    with pytest.raises(Exception, match="INTROSPECTION"):
        load_settings({"INTROSPECTION": "sometimes"}, env_file=None)
