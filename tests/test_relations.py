"""Every field reachable from `Query`, `Mutation` and `_entities` answers without an
error, and what returns objects costs at most its relation's statement per level.

The walk reads the schema as a client does (introspection). From each root field, it
goes breadth first to every field that returns objects (an object, a list of them or a
connection) and asks for it along that shortest path, against data where each level holds
several objects. Each query is compared with the same query one step shorter: a relation
declared in `schema.relations` may add its statement (and, for a connection, its count's,
when its declaration does not know the count), any other field none. Ask for a field
that loads per object, or one that forgot to batch, and this fails.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from itertools import count
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import strawberry
from graphql import (
    GraphQLField,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    Undefined,
    build_client_schema,
    get_introspection_query,
    get_named_type,
    is_abstract_type,
    is_non_null_type,
    is_object_type,
)
from strawberry.types.base import StrawberryObjectDefinition

from auth.scopes import Scope
from events import Broker
from loaders import Loader
from models.catalog import Category
from models.reviews import Review
from resolvers.orders import CheckoutRules, OrderLine, place_order
from schema import schema
from schema.execution import StorefrontExecutionContext
from schema.prefetch import prefetched
from schema.relations import PagedRelation, Relation, declaration, graphql_name, relation
from schema.relay import to_global_id
from server.settings import Settings
from tests.conftest import StatementCounter, graphql
from tests.factories import make_catalog, make_product, make_user
from tests.oauth import browser_tokens, http_client, make_app, make_client

ALL_SCOPES = " ".join(Scope)
RULES = CheckoutRules(currency="USD", hold_seconds=900, max_units_held=1000)


@pytest.fixture
def bare_settings() -> Settings:
    """Room for the walk's deepest paths (a connection is three levels), and the signed-in
    user's account state read once, not again every few seconds of the walk."""
    return replace(
        Settings(), max_query_depth=40, max_query_cost=100_000, account_status_seconds=3600
    )


@dataclass(frozen=True)
class Step:
    """One field on the way down: `type_name.field`, inside `... on type_name` when the
    type above is abstract."""

    type_name: str
    field: str
    arguments: str
    connection: bool
    condition: bool


Path = tuple[Step, ...]
Variables = Callable[[], Awaitable[dict[str, Any]]]


@dataclass
class Root:
    """A root field and what it needs: arguments, and fresh variables for each request
    (a mutation writes each time)."""

    operation: str
    field: str
    arguments: str = ""
    definitions: str = ""
    variables: Variables | None = None
    # The one type a `node` root answers with.
    only: str | None = None


@dataclass
class World:
    """The seeded rows the roots' arguments name."""

    token: str
    product_ids: list[str]
    category_ids: list[str]
    review_ids: list[str]
    user_ids: list[str]
    order_ids: list[str]
    # Products with stock enough for every order the walk places.
    stocked_pks: list[int]
    customer_pk: int
    numbers: count[int] = field(default_factory=lambda: count(1))


async def _order(customer_id: int, product_pks: list[int]) -> str:
    lines = [OrderLine(product_id=pk, quantity=1) for pk in product_pks]
    order = await place_order(customer_id, lines, None, RULES, Broker())
    return to_global_id("Order", order.public_id)


async def seed(client: httpx.AsyncClient) -> World:
    """Two or more objects at every level: categories with parents, children and
    products; products with reviews by several authors; users with orders of two items."""
    catalog = await make_catalog(products=6, reviews_per_product=2)
    await Category.create(name="Sibling", slug="sibling", parent=catalog.root)
    staff = await make_user("staff@example.com", staff=True)
    stocked = [await make_product(100 + number, stock=1000) for number in range(2)]
    customers = [*catalog.users, staff]
    orders = [
        await _order(user.id, [product.id for product in stocked])
        for user in customers
        for _ in range(2)
    ]
    web = await make_client(ALL_SCOPES)
    tokens = await browser_tokens(client, web.client_id, staff.email, scope=ALL_SCOPES)
    return World(
        token=tokens["access_token"],
        product_ids=[to_global_id("Product", product.id) for product in catalog.products],
        category_ids=[
            to_global_id("Category", catalog.root.id),
            to_global_id("Category", catalog.child.id),
        ],
        review_ids=[
            to_global_id("Review", pk) for pk in await Review.all().values_list("id", flat=True)
        ],
        user_ids=[to_global_id("User", user.id) for user in catalog.users],
        order_ids=orders,
        stocked_pks=[product.id for product in stocked],
        customer_pk=catalog.users[0].id,
    )


def _fixed(value: dict[str, Any]) -> Variables:
    async def variables() -> dict[str, Any]:
        return value

    return variables


def query_roots(world: World) -> list[Root]:
    """The roots of queries whose arguments the walk cannot guess."""
    ids = {
        "Product": world.product_ids,
        "Category": world.category_ids,
        "Review": world.review_ids,
        "User": world.user_ids,
        "Order": world.order_ids,
    }
    everything = [id_ for found in ids.values() for id_ in found[:2]]
    entities = [
        {"__typename": type_name, "id": id_}
        for type_name in ("Product", "Category", "User")
        for id_ in ids[type_name][:2]
    ]
    return [
        Root("query", "product", f'(id: "{world.product_ids[1]}")'),
        Root("query", "category", '(slug: "root")'),
        Root("query", "order", f'(id: "{world.order_ids[-1]}")'),
        Root("query", "nodes", "(ids: $ids)", "($ids: [ID!]!)", _fixed({"ids": everything})),
        Root(
            "query",
            "_entities",
            "(representations: $representations)",
            "($representations: [_Any!]!)",
            _fixed({"representations": entities}),
        ),
        *(
            Root("query", "node", f'(id: "{found[0]}")', only=type_name)
            for type_name, found in ids.items()
        ),
    ]


def mutation_roots(world: World) -> list[Root]:
    """Each mutation, with an input that succeeds anew each time."""

    def mutation(
        name: str, input_type: str, make: Callable[[int], Awaitable[dict[str, Any]]]
    ) -> Root:
        async def variables() -> dict[str, Any]:
            return {"input": await make(next(world.numbers))}

        return Root("mutation", name, "(input: $input)", f"($input: {input_type}!)", variables)

    async def create(number: int) -> dict[str, Any]:
        return {
            "sku": f"WALK-{number}",
            "name": f"Walk {number}",
            "slug": f"walk-{number}",
            "price": "5.00",
            "stock": 3,
            "categoryId": world.category_ids[1],
        }

    async def update(number: int) -> dict[str, Any]:
        return {"id": world.product_ids[1], "name": f"Renamed {number}"}

    async def new_product(number: int) -> dict[str, Any]:
        product = await make_product(1000 + number)
        return {"id": to_global_id("Product", product.id)}

    async def review(number: int) -> dict[str, Any]:
        product = await make_product(1000 + number)
        return {"productId": to_global_id("Product", product.id), "rating": 4, "body": "Fine"}

    async def place(number: int) -> dict[str, Any]:
        return {
            "items": [{"productId": to_global_id("Product", world.stocked_pks[0]), "quantity": 1}]
        }

    async def new_order(number: int) -> dict[str, Any]:
        return {"id": await _order(world.customer_pk, world.stocked_pks)}

    async def pay_new_order(number: int) -> dict[str, Any]:
        return {**await new_order(number), "status": "PAID"}

    return [
        mutation("createProduct", "CreateProductInput", create),
        mutation("updateProduct", "UpdateProductInput", update),
        mutation("deleteProduct", "DeleteProductInput", new_product),
        mutation("addReview", "AddReviewInput", review),
        mutation("placeOrder", "PlaceOrderInput", place),
        mutation("cancelOrder", "CancelOrderInput", new_order),
        mutation("updateOrderStatus", "UpdateOrderStatusInput", pay_new_order),
    ]


def roots(api: GraphQLSchema, world: World) -> list[Root]:
    """Every root field of queries and mutations, with what each needs."""
    special = query_roots(world)
    named = {root.field for root in special}
    found = list(special)
    assert api.query_type is not None
    for name, root_field in api.query_type.fields.items():
        if name not in named:
            found.append(Root("query", name, _arguments(f"Query.{name}", root_field)))
    mutations = mutation_roots(world)
    assert api.mutation_type is not None
    missing = set(api.mutation_type.fields) - {root.field for root in mutations}
    assert not missing, f"the walk needs inputs for the mutations {missing}: add them"
    return found + mutations


def _arguments(where: str, graphql_field: GraphQLField) -> str:
    """`(first: 2)` for a list, nothing for a field without required arguments."""
    if "first" in graphql_field.args:
        return "(first: 2)"
    required = [
        name
        for name, argument in graphql_field.args.items()
        if is_non_null_type(argument.type) and argument.default_value is Undefined
    ]
    assert not required, f"the walk needs arguments for {where}: add it to query_roots"
    return ""


def _connection_node(named: GraphQLNamedType) -> GraphQLNamedType | None:
    """The node type of a connection type, or None for another type."""
    if not isinstance(named, GraphQLObjectType) or "pageInfo" not in named.fields:
        return None
    edge = get_named_type(named.fields["edges"].type)
    assert isinstance(edge, GraphQLObjectType)
    return get_named_type(edge.fields["node"].type)


def walk(api: GraphQLSchema, root: Root, start: Path, named: GraphQLNamedType) -> list[Path]:
    """The shortest path from the `start` (the root field) to each field that returns
    objects, breadth first."""
    paths: list[Path] = [start]
    queue: list[tuple[Path, GraphQLNamedType]] = [(start, named)]
    seen: set[tuple[str, str]] = set()
    while queue:
        path, named = queue.pop(0)
        abstract = is_abstract_type(named)
        types = api.get_possible_types(named) if abstract else [named]  # type: ignore[arg-type]
        for object_type in types:
            if root.only is not None and abstract and object_type.name != root.only:
                continue
            assert isinstance(object_type, GraphQLObjectType)
            for name, graphql_field in object_type.fields.items():
                target = get_named_type(graphql_field.type)
                if is_leaf(target) or (object_type.name, name) in seen:
                    continue
                seen.add((object_type.name, name))
                node = _connection_node(target)
                where = f"{object_type.name}.{name}"
                step = Step(
                    object_type.name,
                    name,
                    _arguments(where, graphql_field),
                    node is not None,
                    abstract,
                )
                paths.append((*path, step))
                queue.append(((*path, step), node or target))
    return paths


def is_leaf(named: GraphQLNamedType) -> bool:
    return not (is_object_type(named) or is_abstract_type(named))


def document(root: Root, path: Path) -> str:
    """The operation that asks for `path`, with `__typename` at every level."""
    inner = "__typename"
    for step in reversed(path):
        if step.connection:
            inner = f"totalCount edges {{ node {{ __typename {inner} }} }}"
        inner = f"{step.field}{step.arguments} {{ {inner} }}"
        if step.condition:
            inner = f"... on {step.type_name} {{ {inner} }}"
        inner = f"__typename {inner}"
    return f"{root.operation} Walk{root.definitions} {{ {inner} }}"


def parents(data: Any, path: Path) -> list[dict[str, Any]]:
    """The objects of a response that the last step of `path` is asked on."""
    level = [data]
    for step in path[:-1]:
        below: list[Any] = []
        for item in level:
            value = item.get(step.field) if isinstance(item, dict) else None
            for found in value if isinstance(value, list) else [value]:
                if found is None:
                    continue
                if step.connection:
                    below.extend(edge["node"] for edge in found["edges"])
                else:
                    below.append(found)
        level = below
    last = path[-1]
    return [
        item
        for item in level
        if isinstance(item, dict) and item.get("__typename") == last.type_name
    ]


def declared(type_name: str) -> dict[str, Relation | PagedRelation]:
    """The relations `schema.relations` declares on a type, by field name."""
    definition = schema.get_type_by_name(type_name)
    if not isinstance(definition, StrawberryObjectDefinition):
        return {}
    return {
        graphql_name(strawberry_field): relation
        for strawberry_field in definition.fields
        if (relation := declaration(strawberry_field)) is not None
    }


def allowed(step: Step) -> int:
    """The statements one step may add: its relation's, and its count's when the
    relation's declaration does not know the count (the walk asks for `totalCount`)."""
    relation = declared(step.type_name).get(step.field)
    if relation is None:
        return 0
    if isinstance(relation, PagedRelation):
        return 1 if relation.count is not None else 2
    return 1


async def test_every_relation_costs_its_statements_once_per_level(
    settings: Settings, sql: StatementCounter
) -> None:
    app = make_app(settings)
    # The token's checks read the revocation list every few seconds: once, for the walk.
    app.state.auth.resource.revocations.refresh_seconds = 3600
    async with http_client(app) as client:
        await walk_everything(client, sql)


async def walk_everything(client: httpx.AsyncClient, sql: StatementCounter) -> None:
    world = await seed(client)
    headers = {"Authorization": f"Bearer {world.token}"}
    introspection = await graphql(client, get_introspection_query())
    api = build_client_schema(introspection["data"])
    await graphql(client, "{ me { id } }", headers=headers)  # the token's first check

    async def statements(root: Root, path: Path) -> tuple[int, dict[str, Any]]:
        variables = await root.variables() if root.variables else {}
        sql.reset()
        body = await graphql(client, document(root, path), variables, headers)
        assert "errors" not in body, (document(root, path), body["errors"])
        return sql.count, body["data"]

    problems: list[str] = []
    most_parents: dict[tuple[str, str], int] = {}
    for root in roots(api, world):
        root_type = api.mutation_type if root.operation == "mutation" else api.query_type
        assert root_type is not None
        root_field = root_type.fields[root.field]
        named = get_named_type(root_field.type)
        if is_leaf(named):
            continue
        node = _connection_node(named)
        start = (
            Step(root_type.name, root.field, root.arguments, node is not None, condition=False),
        )
        counted: dict[Path, int] = {}
        for path in walk(api, root, start, node or named):
            counted[path], data = await statements(root, path)
            if path == start:
                continue
            step = path[-1]
            key = (step.type_name, step.field)
            found = len(parents(data, path))
            most_parents[key] = max(most_parents.get(key, 0), found)
            added = counted[path] - counted[path[:-1]]
            if not 0 <= added <= allowed(step):
                problems.append(
                    f"{document(root, path)}: {added} statements for {step.type_name}."
                    f"{step.field} on {found} objects (at most {allowed(step)})"
                )
    assert not problems, "\n".join(problems)
    relations = {(type_name, name) for type_name, _ in most_parents for name in declared(type_name)}
    assert relations, "no relation was walked"
    # Each relation was asked for on several objects at once somewhere.
    assert {key: most_parents[key] for key in relations if most_parents[key] < 2} == {}


@strawberry.type
class Leaf:
    name: str


async def _leaves(context: Any, parents: list[Branch]) -> list[Leaf]:
    names = await context.names.load_many([parent.key for parent in parents])
    return [Leaf(name=name) for name in names]


@strawberry.type
class Branch:
    key: int
    prefetched: strawberry.Private[dict[Any, Any]]
    leaf: Leaf = relation(_leaves, description="Loaded for many branches at once.")


def _branches() -> list[Branch]:
    return [Branch(key=key, prefetched={}) for key in (1, 2, 3)]


@strawberry.type
class Tree:
    @strawberry.field
    def branches(self) -> list[Branch]:
        return _branches()

    @strawberry.field
    async def prefetched_branches(self, info: strawberry.Info) -> list[Branch]:
        found = _branches()
        await prefetched(info, found)
        return found


TREE = strawberry.Schema(query=Tree, execution_context_class=StorefrontExecutionContext)


@pytest.mark.parametrize("field", ["branches", "prefetchedBranches"])
async def test_a_relation_loads_once_for_all_siblings_prefetched_or_not(field: str) -> None:
    """Not prefetched, each branch's field loads for itself, and the DataLoader makes one
    batch of the siblings' keys, as prefetching does."""
    batches: list[list[int]] = []

    async def names(keys: list[int]) -> list[str]:
        batches.append(keys)
        return [f"leaf {key}" for key in keys]

    context = SimpleNamespace(names=Loader(names))
    result = await TREE.execute(f"{{ {field} {{ leaf {{ name }} }} }}", context_value=context)
    assert result.errors is None
    assert result.data == {field: [{"leaf": {"name": f"leaf {key}"}} for key in (1, 2, 3)]}
    assert batches == [[1, 2, 3]]
