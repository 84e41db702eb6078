"""The HTTP boundary of the authorization server: what the web framework hands over and
gets back, and the adapters that show it to authlib."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from authlib.oauth2 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Payload
from authlib.oauth2.rfc6749.util import extract_basic_authorization


@dataclass(frozen=True)
class HttpRequest:
    """What the web framework hands over: the request line, headers and parameters."""

    method: str
    uri: str
    headers: Mapping[str, str]
    query: Sequence[tuple[str, str]] = ()
    form: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True)
class Reply:
    """What goes back: a status, a JSON body (or ""), and headers."""

    status: int
    body: dict[str, Any] | str
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str | None:
        return next((value for name, value in self.headers if name == "Location"), None)


class Payload(OAuth2Payload):
    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for name, value in pairs:
            self._datalist[name].append(value)
        self._data = {name: values[0] for name, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


def as_https(uri: str) -> str:
    return urlunsplit(urlsplit(uri)._replace(scheme="https"))


class OAuthRequest(OAuth2Request):
    def __init__(self, http: HttpRequest, parameters: Sequence[tuple[str, str]]) -> None:
        super().__init__(http.method, as_https(http.uri), headers=http.headers)
        self.payload = Payload(parameters)
        self._args = Payload(http.query).data
        self._form = Payload(http.form).data

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


def first_values(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    return Payload(pairs).data


def repeated_parameter(pairs: Sequence[tuple[str, str]]) -> Reply | None:
    """RFC 6749 section 3.2: no parameter may appear twice."""
    names = [name for name, _ in pairs]
    repeated = next((name for name in names if names.count(name) > 1), None)
    if repeated is None:
        return None
    return error_reply(InvalidRequestError(f"The parameter '{repeated}' appears twice."))


def credential_attempt(request: HttpRequest) -> str | None:
    """The client id a token request tries a secret or a refresh token for (what sign-in
    rate limits count as the account), or None when it presents neither."""
    form = first_values(request.form)
    basic_id, basic_secret = extract_basic_authorization(request.headers)
    if basic_secret:
        return str(basic_id or "")
    if form.get("client_secret") or form.get("grant_type") == "refresh_token":
        return form.get("client_id") or str(basic_id or "")
    return None


def failed_credentials(reply: Reply) -> bool:
    """Whether a token reply refused the client's secret or the refresh token."""
    body = reply.body if isinstance(reply.body, dict) else {}
    return body.get("error") in {"invalid_client", "invalid_grant"}


def error_reply(error: OAuth2Error) -> Reply:
    status, body, headers = error()
    return Reply(status, body, list(headers))
