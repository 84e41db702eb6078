"""Liveness and readiness probes."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse
from tortoise.connection import get_connection

from schema.errors import is_outage
from server.database import pending_migrations

logger = logging.getLogger(__name__)


async def healthz(request: Request) -> JSONResponse:
    """The process is up and answering."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """The database answers and every migration is applied.

    Within DATABASE_TIMEOUT per statement, like every database call: a probe during an
    outage gets its 503 in time. An outage is a warning; anything else a fault, logged
    with its traceback.
    """
    try:
        await get_connection("default").execute_query("SELECT 1")
        pending = await pending_migrations()
    except Exception as error:
        if is_outage(error):
            logger.warning("readiness check: the database is unavailable (%r)", error)
        else:
            logger.exception("readiness check failed")
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    if pending:
        return JSONResponse(
            {"status": "unavailable", "database": "ok", "pending_migrations": pending},
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "ok"})
