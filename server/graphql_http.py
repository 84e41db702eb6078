"""The GraphQL-over-HTTP protocol: media types, request parameters and error responses.

Follows https://graphql.github.io/graphql-over-http/draft/ (checked by the graphql-http
audit in tests/node). Every refusal is a JSON GraphQL response with `extensions.code`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
_UTF8 = ("utf-8", "utf8")


class RequestError(Exception):
    """A request refused before execution, answered with `status` and a JSON error."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str = "BAD_REQUEST",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})

    def response(self, media_type: str = JSON) -> Response:
        return error_response(self.status, self.message, self.code, media_type, self.headers)


def error_response(
    status: int,
    message: str,
    code: str,
    media_type: str = JSON,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return Response(
        orjson.dumps(body),
        status_code=status,
        headers=dict(headers or {}),
        media_type=content_type(media_type),
    )


def content_type(media_type: str) -> str:
    return f"{media_type}; charset=utf-8"


@dataclass(frozen=True)
class GraphQLParams:
    """`query` is None only for a persisted query: a hash in `extensions.persistedQuery`
    (Apollo) or a registered operation's id in `doc_id` or `id` (Relay)."""

    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None
    document_id: str | None = None


def _media_range(part: str) -> tuple[str, dict[str, str]]:
    media, *parameters = part.split(";")
    values = {}
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        values[name.strip().lower()] = value.strip().strip('"').lower()
    return media.strip().lower(), values


def _quality(parameters: Mapping[str, str]) -> float:
    try:
        return float(parameters.get("q", "1"))
    except ValueError:
        return 0.0


def negotiate(accept: str | None) -> str:
    """The response media type for an Accept header, or a 406 `RequestError`.

    No Accept header, `*/*` or `application/*` mean application/json, as the spec asks
    of servers during the migration to application/graphql-response+json.
    """
    if not accept or not accept.strip():
        return JSON
    ranges = [_media_range(part) for part in accept.split(",") if part.strip()]
    refused = {media for media, parameters in ranges if _quality(parameters) <= 0}
    ranked = sorted(
        (
            (media, parameters)
            for media, parameters in ranges
            if _quality(parameters) > 0 and parameters.get("charset", "utf-8") in _UTF8
        ),
        key=lambda item: -_quality(item[1]),
    )
    for media, _parameters in ranked:
        if media in (GRAPHQL_RESPONSE_JSON, JSON) and media not in refused:
            return media
        if media in ("*/*", "application/*"):
            for candidate in (JSON, GRAPHQL_RESPONSE_JSON):
                if candidate not in refused:
                    return candidate
    raise RequestError(
        406,
        f"Cannot answer with any media type the request accepts ({accept[:200]!r}); "
        f"this endpoint answers with {GRAPHQL_RESPONSE_JSON} or {JSON}",
    )


def _loads(data: bytes | str, what: str) -> object:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise RequestError(400, f"Unable to parse {what} as JSON: {error}") from None


def params_from_body(content_type_header: str | None, body: bytes) -> GraphQLParams:
    """The parameters of a POST: a UTF-8 JSON object (RFC 8259) of application/json."""
    media, parameters = _media_range(content_type_header or "")
    if media != JSON or parameters.get("charset", "utf-8") not in _UTF8:
        raise RequestError(
            415,
            f"Unsupported content type {content_type_header or '(none)'!r}: "
            "POST a JSON object with Content-Type: application/json",
        )
    if not body.strip():
        raise RequestError(400, "The request body is empty: POST a JSON object with `query`")
    data = _loads(body, "the request body")
    if not isinstance(data, dict):
        raise RequestError(
            400,
            "The request body must be a JSON object with `query` "
            f"(got {_json_type(data)}; batched requests are not supported)",
        )
    return _params(data)


def params_from_query_string(query_params: Mapping[str, str]) -> GraphQLParams:
    """The parameters of a GET: `variables` and `extensions` are JSON in the URL."""
    data: dict[str, object] = {
        name: query_params.get(name) for name in ("query", "operationName", "doc_id", "id")
    }
    for name in ("variables", "extensions"):
        value = query_params.get(name)
        data[name] = _loads(value, f"the `{name}` parameter") if value else None
    return _params(data)


def _params(data: Mapping[str, object]) -> GraphQLParams:
    query = data.get("query")
    if query is not None and not isinstance(query, str):
        raise RequestError(400, f"`query` must be a string, got {_json_type(query)}")
    variables = _object_or_null(data, "variables")
    extensions = _object_or_null(data, "extensions")
    document_id = _document_id(data)
    if not query and document_id is None and "persistedQuery" not in (extensions or {}):
        raise RequestError(400, "The request has no `query`: send the GraphQL document in it")
    operation_name = data.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError(
            400, f"`operationName` must be a string or null, got {_json_type(operation_name)}"
        )
    return GraphQLParams(
        query=query or None,
        variables=variables,
        operation_name=operation_name or None,
        extensions=extensions,
        document_id=document_id,
    )


def _document_id(data: Mapping[str, object]) -> str | None:
    """Relay's id of a persisted operation: `doc_id`, or `id` in older network layers."""
    for name in ("doc_id", "id"):
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise RequestError(400, f"`{name}` must be a non-empty string, got {_json_type(value)}")
        return value
    return None


def _object_or_null(data: Mapping[str, object], name: str) -> dict[str, Any] | None:
    value = data.get(name)
    if value is not None and not isinstance(value, dict):
        raise RequestError(400, f"`{name}` must be an object or null, got {_json_type(value)}")
    return value


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
