"""The tuned execution engine answers exactly as graphql-core's own does.

`schema.execution` completes prefetched values itself and hands anything unusual back to
graphql-core. Each query below runs against one small schema twice, with graphql-core's
execution and with ours, and the responses a client would see (data, and each error's
message, path and locations) must be equal, including where a null propagates up.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import strawberry

from schema.execution import StorefrontExecutionContext
from tests.conftest import graphql
from tests.factories import make_catalog


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Tag(Named):
    name: str
    weight: int | None = None


@strawberry.type
class Box:
    label: str
    size: int
    note: str | None
    tag: Tag | None
    sure_tag: Tag
    tags: list[Tag]
    maybe_tags: list[Tag | None] | None

    @strawberry.field
    def shout(self) -> str:
        return self.label.upper()

    @strawberry.field
    async def later(self, fail: bool = False) -> str:
        if fail:
            raise ValueError("later failed")
        return self.label.upper()


def _tag(name: str) -> Tag:
    return Tag(name=name, weight=len(name))


def _boxes() -> list[Box]:
    good = Box(
        label="good",
        size=3,
        note=None,
        tag=_tag("a"),
        sure_tag=_tag("b"),
        tags=[_tag("c"), _tag("d")],
        maybe_tags=[_tag("e"), None],
    )
    odd = Box(
        label=None,  # type: ignore[arg-type]  # a non-null field holding null
        size="three",  # type: ignore[arg-type]  # an Int holding what is no integer
        note=7,  # type: ignore[arg-type]  # a String holding an int (coerced to "7")
        tag="not a tag",  # type: ignore[arg-type]  # an object of another type
        sure_tag=None,  # type: ignore[arg-type]
        tags=[_tag("f"), None],  # type: ignore[list-item]  # null among non-null items
        maybe_tags=[Tag(name="huge", weight=2**40)],  # an Int beyond 32 bits
    )
    return [good, odd]


@strawberry.type
class Query:
    @strawberry.field
    def boxes(self) -> list[Box | None]:
        return _boxes()

    @strawberry.field
    def sure_boxes(self) -> list[Box]:
        return _boxes()

    @strawberry.field
    def good_box(self) -> Box:
        return _boxes()[0]


REFERENCE = strawberry.Schema(query=Query)
TUNED = strawberry.Schema(query=Query, execution_context_class=StorefrontExecutionContext)


def _response(result: Any) -> dict[str, Any]:
    return {
        "data": result.data,
        "errors": sorted(
            (error.message, error.path, [(loc.line, loc.column) for loc in error.locations or []])
            for error in result.errors or []
        ),
    }


QUERIES = {
    "plain leaves and objects": """{ goodBox { label size note
        tag { name weight } sureTag { name } } }""",
    "lists, aliases and __typename": """{ goodBox { __typename first: tags { name }
        again: tags { weight __typename } maybeTags { name } } }""",
    "fragments on objects and interfaces": """{ goodBox { ...B tag { ... on Named { name } } } }
        fragment B on Box { label sureTag { ...T } }
        fragment T on Tag { name weight }""",
    "null in a non-null leaf propagates to the nullable box": "{ boxes { label size } }",
    "null propagates to the root through non-null items": "{ sureBoxes { label } }",
    "an Int that is no integer": "{ boxes { size note } }",
    "an Int beyond 32 bits": "{ boxes { maybeTags { weight } } }",
    "an object of another type": "{ boxes { tag { name } } }",
    "null in a non-null object": "{ boxes { note sureTag { name } } }",
    "null among non-null list items": "{ boxes { note tags { name } } }",
    "nullable list and items": "{ boxes { maybeTags { name weight } } }",
    "a resolver beside planned fields": "{ boxes { note later tag { name } } }",
    "a method that fails": "{ boxes { note shout } }",
    "a method that returns": "{ goodBox { shout } }",
    "a failing resolver": "{ goodBox { tags { name } later(fail: true) note } }",
    "skip and include": """query($yes: Boolean!, $no: Boolean!) { goodBox {
        label @include(if: $yes) size @include(if: $no) tags @skip(if: $no) { name } } }""",
}


@pytest.mark.parametrize("query", QUERIES.values(), ids=QUERIES.keys())
async def test_responses_equal_graphql_cores(query: str) -> None:
    variables = {"yes": True, "no": False}
    expected = _response(await REFERENCE.execute(query, variable_values=variables))
    assert _response(await TUNED.execute(query, variable_values=variables)) == expected


async def test_errors_null_the_nearest_nullable_parent() -> None:
    body = _response(await TUNED.execute("{ boxes { label tags { name } } }"))
    assert body["data"] == {
        "boxes": [{"label": "good", "tags": [{"name": "c"}, {"name": "d"}]}, None]
    }
    # The first null in a non-null field ends its object: `tags` is not completed.
    assert [path for _, path, _ in body["errors"]] == [["boxes", 1, "label"]]


async def test_unknown_page_arguments_are_reported_where_they_were_asked(
    client: httpx.AsyncClient, db: str
) -> None:
    """A nested connection whose page could not be prefetched goes to its own resolver,
    which reports the bad argument at that field."""
    await make_catalog(products=2, reviews_per_product=1)
    body = await graphql(
        client,
        """{ products(first: 2) { edges { node { sku
             few: reviews(first: 1) { totalCount }
             many: reviews(first: 51) { totalCount } } } } }""",
    )
    # Every type on the way up is non-null, so the error nulls the whole result.
    assert body["data"] is None
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
        (["products", "edges", 0, "node", "many"], "BAD_USER_INPUT")
    ]
