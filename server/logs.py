"""Log output: uvicorn's logging set-up, as text or one JSON object per line.

With LOG_FORMAT=json every line (ours, uvicorn's, any library's) is a JSON object with
`time`, `level`, `logger`, `message`, the fields the call passed in `extra`, the request
id of the request being served when there is one, and `exception` with its traceback.
"""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime
from typing import Any

import orjson

from telemetry.request import current_record

# Attributes every LogRecord has; anything else on a record came from `extra`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's coloured copy of the message
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                entry[key] = value
        if "request_id" not in entry and (request := current_record()) is not None:
            entry["request_id"] = request.request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return orjson.dumps(entry, default=str).decode()


def logging_config(level: str, log_format: str) -> dict[str, Any]:
    """uvicorn's logging config, with our loggers (access log, errors) and the root logger
    on its handler, and JSON formatters when `log_format` is json. uvicorn's own access
    log stays off: ours carries the request id."""
    import uvicorn.config

    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["storefront"] = {"handlers": ["default"], "level": level, "propagate": False}
    config["root"] = {"handlers": ["default"], "level": "WARNING"}
    if log_format == "json":
        for name in config["formatters"]:
            config["formatters"][name] = {"()": f"{__name__}.JsonFormatter"}
    return config
