"""Persisted queries: Apollo's automatic persisted queries (APQ) and an allow-list.

APQ (`PERSISTED_QUERIES=auto`), as Apollo Client's persisted-queries link speaks it: a
request carries `extensions.persistedQuery = {version: 1, sha256Hash}` and no `query`. A
known hash runs its document; an unknown one is answered, with status 200 as Apollo Server
does, by the error `PersistedQueryNotFound` (code PERSISTED_QUERY_NOT_FOUND), and the
client sends the hash again with the document, which is stored once it has run valid.
Documents live in Redis when REDIS_URL is set (so every instance knows them), in a
bounded in-process cache otherwise. Redis is a cache here: when it fails, a request with
the full document still runs and a hash-only request gets PERSISTED_QUERY_NOT_FOUND, so the
client resends the document.

The allow-list (`PERSISTED_QUERIES=only`) is the table `storefront register-operations`
fills from an Apollo or Relay manifest: only those operations run, named by their id
(Apollo's `sha256Hash`, Relay's `doc_id` or `id`) or sent as their exact text; nothing is
registered through requests. Registered operations are also reachable by `doc_id`/`id`
under `auto`. `off` refuses persisted-query requests with PersistedQueryNotSupported.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from graphql import GraphQLError, GraphQLSchema, OperationDefinitionNode, parse, validate
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from tortoise.exceptions import BaseORMException
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.persisted import PersistedOperation
from server.graphql_http import RequestError
from server.settings import Settings

logger = logging.getLogger("storefront.persisted")

VERSION = 1
_SHA256 = re.compile(r"[0-9a-f]{64}")
# Every wait on Redis or the database ends by then; past it the store counts as failed.
REDIS_DEADLINE_SECONDS = 0.5
DATABASE_DEADLINE_SECONDS = 5.0
# Unknown allow-list ids are remembered this long, so repeating one costs no statement.
UNKNOWN_ID_SECONDS = 10.0
_REDIS_KEY = "storefront:apq:"

lookups = Counter(
    "storefront_persisted_query_lookups",
    "Persisted-query lookups by hash or id, by outcome",
    ["outcome"],
)
store_failures = Counter(
    "storefront_persisted_query_store_failures",
    "Calls to the persisted-query store (Redis) that failed or ran out of time",
)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def not_found() -> RequestError:
    # Apollo Client retries with the document on this message or code; Apollo Server
    # answers it with status 200.
    return RequestError(200, "PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")


def not_supported() -> RequestError:
    return RequestError(200, "PersistedQueryNotSupported", "PERSISTED_QUERY_NOT_SUPPORTED")


def not_in_allow_list() -> RequestError:
    return RequestError(
        403,
        "This service runs registered operations only (PERSISTED_QUERIES=only), "
        "and this document is not one of them",
        "FORBIDDEN",
    )


class _LRU:
    """Strings by key, least recently used dropped first, bounded by entries and bytes."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> str | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: str) -> None:
        size = len(value.encode())
        if size > self.max_bytes:
            return
        self.discard(key)
        self._items[key] = value
        self.bytes += size
        while len(self._items) > self.max_entries or self.bytes > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self.bytes -= len(dropped.encode())

    def discard(self, key: str) -> None:
        value = self._items.pop(key, None)
        if value is not None:
            self.bytes -= len(value.encode())


class QueryStore(Protocol):
    """Where automatically persisted documents are kept, by the SHA-256 of their text.

    Neither call raises: a store that fails behaves as one that does not know the hash.
    """

    async def get(self, sha256: str) -> str | None: ...

    async def put(self, sha256: str, document: str) -> None: ...

    async def close(self) -> None: ...


class MemoryQueryStore:
    """This process's documents only: each instance learns each hash for itself."""

    def __init__(self, max_entries: int = 2000, max_bytes: int = 8_000_000) -> None:
        self.documents = _LRU(max_entries, max_bytes)

    async def get(self, sha256: str) -> str | None:
        return self.documents.get(sha256)

    async def put(self, sha256: str, document: str) -> None:
        self.documents.put(sha256, document)

    async def close(self) -> None:
        return None


class RedisQueryStore:
    """Documents shared by every instance, each kept `ttl` seconds after it was stored."""

    def __init__(self, url: str, ttl: int, deadline: float = REDIS_DEADLINE_SECONDS) -> None:
        self.ttl = ttl
        self.deadline = deadline
        # No retries: during an outage each request should learn it at once, not after
        # backing off; the next request tries again.
        self.redis = Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=deadline,
            socket_connect_timeout=deadline,
            retry=Retry(NoBackoff(), 0),
        )
        self._failing = False

    async def get(self, sha256: str) -> str | None:
        try:
            async with asyncio.timeout(self.deadline):
                value = await self.redis.get(_REDIS_KEY + sha256)
        except (RedisError, OSError, TimeoutError) as error:
            self._failed(error)
            return None
        self._recovered()
        return value if isinstance(value, str) else None

    async def put(self, sha256: str, document: str) -> None:
        try:
            async with asyncio.timeout(self.deadline):
                await self.redis.set(_REDIS_KEY + sha256, document, ex=self.ttl)
        except (RedisError, OSError, TimeoutError) as error:
            self._failed(error)
            return
        self._recovered()

    async def close(self) -> None:
        await self.redis.aclose()

    def _failed(self, error: BaseException) -> None:
        store_failures.inc()
        if not self._failing:
            self._failing = True
            logger.warning(
                "persisted queries: Redis failed (%s: %s); hash-only requests get "
                "PersistedQueryNotFound until it answers again",
                type(error).__name__,
                error,
            )

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            logger.warning("persisted queries: Redis answers again")


class OperationStore:
    """The allow-list in the database, its lookups cached in this process.

    Registered operations never change (an id keeps its body), so found ones stay cached
    until the cache is full; unknown ids are remembered for a few seconds only, so that
    an operation registered meanwhile is seen soon.
    """

    def __init__(self, max_entries: int = 2000, max_bytes: int = 8_000_000) -> None:
        self.known = _LRU(max_entries, max_bytes)
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self._max_unknown = max_entries

    async def find(self, key: str) -> str | None:
        """The body of the operation whose id, or whose body's SHA-256, is `key`."""
        body = self.known.get(key)
        if body is not None:
            return body
        if self._unknown.get(key, 0.0) > time.monotonic():
            return None
        body = await self._select(key)
        if body is None:
            self._unknown[key] = time.monotonic() + UNKNOWN_ID_SECONDS
            self._unknown.move_to_end(key)
            while len(self._unknown) > self._max_unknown:
                self._unknown.popitem(last=False)
        else:
            self.known.put(key, body)
        return body

    async def _select(self, key: str) -> str | None:
        try:
            async with asyncio.timeout(DATABASE_DEADLINE_SECONDS):
                bodies = (
                    await PersistedOperation.filter(Q(id=key) | Q(body_sha256=key))
                    .limit(1)
                    .values_list("body", flat=True)
                )
        except (BaseORMException, OSError, TimeoutError):
            logger.exception("persisted queries: the allow-list could not be read")
            raise RequestError(
                503,
                "The service is temporarily unavailable; try again shortly",
                "SERVICE_UNAVAILABLE",
            ) from None
        return str(bodies[0]) if bodies else None


@dataclass(frozen=True)
class Resolution:
    """The document a request runs, and the hash to store it under once it ran valid."""

    query: str
    register: str | None = None


class PersistedQueries:
    """What the GraphQL view asks before running a request (`resolve`) and after (`remember`)."""

    def __init__(self, mode: str, documents: QueryStore, operations: OperationStore) -> None:
        self.mode = mode
        self.documents = documents
        self.operations = operations

    async def resolve(
        self, query: str | None, extensions: Mapping[str, Any] | None, document_id: str | None
    ) -> Resolution:
        """The document to run, or a `RequestError` that refuses the request."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None and document_id is None:
            if query is None:
                raise RequestError(400, "The request has no `query`: send the GraphQL document")
            if self.mode == "only":
                return Resolution(await self._registered(sha256_hex(query), not_in_allow_list()))
            return Resolution(query)
        if self.mode == "off":
            raise not_supported()
        if document_id is not None:
            if query is not None or persisted is not None:
                raise RequestError(400, "Send a document id (`doc_id`/`id`) or a `query`, not both")
            return Resolution(await self._registered(document_id, not_found()))
        sha256 = _requested_hash(persisted)
        if query is None:
            return Resolution(await self._stored(sha256))
        if sha256_hex(query) != sha256:
            raise RequestError(400, "provided sha does not match query", "BAD_USER_INPUT")
        if self.mode == "only":
            return Resolution(await self._registered(sha256, not_in_allow_list()))
        return Resolution(query, register=sha256)

    async def remember(self, resolution: Resolution) -> None:
        if resolution.register is not None:
            await self.documents.put(resolution.register, resolution.query)
            lookups.labels("registered").inc()

    async def close(self) -> None:
        await self.documents.close()

    async def _stored(self, sha256: str) -> str:
        if self.mode == "only":
            return await self._registered(sha256, not_found())
        query = await self.documents.get(sha256)
        lookups.labels("miss" if query is None else "hit").inc()
        if query is None:
            raise not_found()
        return query

    async def _registered(self, key: str, refusal: RequestError) -> str:
        body = await self.operations.find(key)
        lookups.labels("miss" if body is None else "hit").inc()
        if body is None:
            raise refusal
        return body


def _requested_hash(persisted: object) -> str:
    if not isinstance(persisted, dict):
        raise RequestError(400, "`extensions.persistedQuery` must be an object")
    if persisted.get("version") != VERSION:
        raise RequestError(
            400,
            f"Unsupported persisted query version {persisted.get('version')!r}; "
            f"this service speaks version {VERSION}",
        )
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise RequestError(
            400, "`extensions.persistedQuery.sha256Hash` must be 64 lowercase hex digits"
        )
    return sha256


def persisted_queries(settings: Settings) -> PersistedQueries:
    """The persisted-query handling the settings ask for."""
    documents: QueryStore = (
        RedisQueryStore(settings.redis_url, settings.persisted_query_ttl)
        if settings.redis_url
        else MemoryQueryStore()
    )
    return PersistedQueries(settings.persisted_queries, documents, OperationStore())


# Registration from a manifest (`storefront register-operations FILE`).


class ManifestError(Exception):
    """The manifest cannot be registered; the message says which operation and why."""


@dataclass(frozen=True)
class ManifestOperation:
    id: str
    body: str
    name: str | None
    operation_type: str


APOLLO_FORMAT = "apollo-persisted-query-manifest"
MAX_ID_LENGTH = 128  # PersistedOperation.id


def read_manifest(content: bytes, schema: GraphQLSchema) -> list[ManifestOperation]:
    """The operations of an Apollo persisted-query manifest or a Relay `{id: text}` map,
    each checked against the schema (and, for Apollo, its id against its body)."""
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError as error:
        raise ManifestError(f"not JSON: {error}") from None
    if isinstance(data, dict) and data.get("format") == APOLLO_FORMAT:
        entries = _apollo_entries(data)
    elif isinstance(data, dict) and data and all(isinstance(v, str) for v in data.values()):
        entries = [(key, body, None) for key, body in data.items()]
    else:
        raise ManifestError(
            f'expected {{"format": "{APOLLO_FORMAT}", "version": 1, "operations": [...]}} '
            'or a Relay map {"<id>": "<document>", ...}'
        )
    return [_checked(id_, body, declared, schema) for id_, body, declared in entries]


def _apollo_entries(data: Mapping[str, Any]) -> list[tuple[str, str, str | None]]:
    if data.get("version") != 1:
        raise ManifestError(f"unsupported manifest version {data.get('version')!r} (expected 1)")
    operations = data.get("operations")
    if not isinstance(operations, list):
        raise ManifestError("`operations` must be a list")
    entries = []
    for index, entry in enumerate(operations):
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("id"), str)
            and isinstance(entry.get("body"), str)
        ):
            raise ManifestError(f"operations[{index}] needs string `id` and `body`")
        if sha256_hex(entry["body"]) != entry["id"]:
            raise ManifestError(f"operation {entry['id']!r}: the id is not the SHA-256 of its body")
        declared = entry.get("type")
        declared_type = declared if isinstance(declared, str) else None
        entries.append((entry["id"], entry["body"], declared_type))
    return entries


def _checked(
    id_: str, body: str, declared_type: str | None, schema: GraphQLSchema
) -> ManifestOperation:
    if not 0 < len(id_) <= MAX_ID_LENGTH:
        raise ManifestError(f"operation {id_!r}: ids must have 1 to {MAX_ID_LENGTH} characters")
    try:
        document = parse(body)
    except GraphQLError as error:
        raise ManifestError(f"operation {id_!r}: {error.message}") from None
    errors = validate(schema, document)
    if errors:
        raise ManifestError(f"operation {id_!r}: {errors[0].message}")
    operations = [
        node for node in document.definitions if isinstance(node, OperationDefinitionNode)
    ]
    if len(operations) != 1:
        raise ManifestError(f"operation {id_!r}: a document must hold exactly one operation")
    operation = operations[0]
    operation_type = operation.operation.value
    if declared_type is not None and declared_type != operation_type:
        raise ManifestError(
            f"operation {id_!r}: declared as {declared_type} but the document is a {operation_type}"
        )
    return ManifestOperation(
        id=id_,
        body=body,
        name=operation.name.value if operation.name else None,
        operation_type=operation_type,
    )


async def register_operations(operations: Iterable[ManifestOperation]) -> dict[str, int]:
    """Store the operations (all or none); an id already registered must keep its body."""
    wanted = {operation.id: operation for operation in operations}
    async with in_transaction():
        existing = dict(
            await PersistedOperation.filter(id__in=list(wanted)).values_list("id", "body")
        )
        for id_, body in existing.items():
            if body != wanted[id_].body:
                raise ManifestError(f"operation {id_!r} is already registered with another body")
        new = [
            PersistedOperation(
                id=operation.id,
                body_sha256=sha256_hex(operation.body),
                body=operation.body,
                name=operation.name,
                operation_type=operation.operation_type,
            )
            for id_, operation in wanted.items()
            if id_ not in existing
        ]
        if new:
            await PersistedOperation.bulk_create(new)
    return {"registered": len(new), "unchanged": len(existing)}
