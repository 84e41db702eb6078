"""Logs: LOG_FORMAT=json makes every line a JSON object (uvicorn's too); the access line of
a request says who asked what, how it went and what it cost, and never holds the token."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from server.logs import JsonFormatter
from server.settings import ConfigError, load_settings
from tests.conftest import free_port, stop_server, wait_healthy
from tests.factories import make_user
from tests.oauth import browser_tokens, make_client


async def test_the_access_line_names_the_caller_and_not_the_token(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    user = await make_user("ann@example.com")
    web = await make_client("profile")
    token = (await browser_tokens(client, web.client_id, "ann@example.com", scope="profile"))[
        "access_token"
    ]

    with caplog.at_level(logging.INFO, logger="storefront.access"):
        response = await client.post(
            "/graphql",
            json={"query": "query Me { me { name } }"},
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-7"},
        )
        await client.post("/graphql", json={"query": "{ me { nope } }"})
    lines = [
        JsonFormatter().format(record)
        for record in caplog.records
        if record.name == "storefront.access"
    ]

    assert response.status_code == 200
    assert "errors" not in response.json()
    assert all(token not in line for line in lines)
    me, invalid = (json.loads(line) for line in lines)
    assert me["request_id"] == "req-7"
    assert (me["method"], me["path"], me["status"]) == ("POST", "/graphql", 200)
    assert (me["operation"], me["operation_type"], me["outcome"]) == ("Me", "query", "success")
    assert me["caller"] == str(user.id)
    assert me["statements"] >= 1
    assert me["cost"] == 1
    assert me["duration_ms"] > 0
    assert me["error_codes"] == []
    assert me["client"] == "127.0.0.1"
    assert invalid["caller"] is None
    assert invalid["outcome"] == "rejected"
    assert invalid["error_codes"] == ["GRAPHQL_VALIDATION_FAILED"]
    assert invalid["request_id"] != "req-7"


def test_json_logs_are_one_object_per_line_from_start_to_stop(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'logs.sqlite3'}"
    env = {**os.environ, "DATABASE_URL": url, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    subprocess.run(
        [sys.executable, "-m", "server.cli", "migrate"],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stderr=subprocess.PIPE,
    )
    try:
        wait_healthy(process, base)
        kept = httpx.post(
            f"{base}/graphql",
            json={"query": "query Ping { __typename }"},
            headers={"X-Request-ID": "abc-123"},
        )
        replaced = httpx.post(
            f"{base}/graphql",
            json={"query": "query Ping { __typename }"},
            headers={"X-Request-ID": "not sane/../x"},
        )
    finally:
        stop_server(process)
    assert process.stderr is not None
    with process.stderr:
        lines = process.stderr.read().decode().splitlines()

    entries = [json.loads(line) for line in lines if line.strip()]  # every line parses
    messages = [entry["message"] for entry in entries]
    assert any("Uvicorn running on" in message for message in messages)  # uvicorn's own
    access = [entry for entry in entries if entry["logger"] == "storefront.access"]
    pings = [entry for entry in access if entry["path"] == "/graphql"]
    assert kept.headers["x-request-id"] == "abc-123"
    assert replaced.headers["x-request-id"] not in {"", "not sane/../x"}
    assert [entry["request_id"] for entry in pings] == [
        "abc-123",
        replaced.headers["x-request-id"],
    ]
    assert all(entry["operation"] == "Ping" and entry["status"] == 200 for entry in pings)
    assert all(entry["level"] == "INFO" and entry["time"] for entry in access)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LOG_FORMAT", "xml"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        ("METRICS_TOKEN", " "),
    ],
)
def test_a_bad_operations_setting_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings({variable: value}, env_file=None)
