"""Kling's error answers: the business code, its HTTP status, the JSON envelope.

Contract: docs/kling-api.md#error-codes and docs/kling-api.md#envelope.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

# docs/kling-api.md#error-codes, one line per row of Kling's table.
HTTP_STATUS_FOR_CODE: dict[int, int] = {
    **dict.fromkeys((1000, 1001, 1002, 1003, 1004), 401),
    **dict.fromkeys((1100, 1101, 1102), 429),
    1103: 403,
    **dict.fromkeys((1200, 1201), 400),
    **dict.fromkeys((1202, 1203), 404),
    **dict.fromkeys((1300, 1301), 400),
    **dict.fromkeys((1302, 1303, 1304), 429),
    5000: 500,
    5001: 503,
    5002: 504,
}
# Kling's own 1303 sample body has no ``data`` key at all; the other samples carry ``data: null``
# (docs/kling-api.md#envelope).
CODES_WITHOUT_DATA = frozenset({1303})


class KlingAPIFailure(Exception):
    """Raised anywhere in a handler: answered as Kling's envelope with ``code`` and its HTTP status."""

    def __init__(self, code: int, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status  # None: the one Kling's table pairs with ``code``


def http_status_for(code: int) -> int:
    """The HTTP status Kling pairs with ``code``; 400 for a code outside the table."""
    return HTTP_STATUS_FOR_CODE.get(code, 400)


def envelope(code: int, message: str, data: Any) -> dict[str, Any]:
    return {"code": code, "message": message, "request_id": str(uuid.uuid4()), "data": data}


def error_response(code: int, message: str, http_status: int | None = None) -> web.Response:
    body = envelope(code, message, None)
    if code in CODES_WITHOUT_DATA:
        del body["data"]
    return web.json_response(body, status=http_status or http_status_for(code))


def unmatched_route_response(request: web.Request) -> web.Response | None:
    """Kling's envelope for a path no route serves (1203) or a method it does not take (1202).

    The codes and their HTTP 404 are in docs/kling-api.md#error-codes.

    ``None`` when a route matched: its own 404s (e.g. a result file not ready) stay as they are.
    """
    problem = request.match_info.http_exception
    if problem is None:
        return None
    if isinstance(problem, web.HTTPMethodNotAllowed):
        return error_response(1202, f"Invalid request method {request.method} for {request.path}")
    return error_response(1203, f"Resource {request.path} does not exist")
