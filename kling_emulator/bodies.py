"""Reading a request's JSON body: every bad body becomes a Kling envelope (1200/1201), never plain text.

Kling's table (docs/kling-api.md#error-codes) has 1200 "invalid request parameters" and 1201
"invalid key or value"; it shows no answer for an oversized body, so the emulator pairs 1200
with HTTP 413, the status aiohttp itself uses there.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from kling_emulator.errors import KlingAPIFailure


async def json_object(request: web.Request, limit: int, *, empty_ok: bool = False) -> dict[str, Any]:
    """The body as a JSON object, or a ``KlingAPIFailure`` saying what is wrong with it.

    ``limit``: the app's ``client_max_size``, named in the 413 answer; ``empty_ok``: no body at all
    reads as ``{}`` (a list request whose fields are all optional).
    """
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise KlingAPIFailure(
            1200, f"Request body is larger than the {limit} byte limit", http_status=413
        ) from None
    if empty_ok and not raw:
        return {}
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise KlingAPIFailure(1200, "Request body is not valid UTF-8") from None
    except RecursionError:
        raise KlingAPIFailure(1201, "Request body nests too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and ints past Python's digit limit
        raise KlingAPIFailure(1200, f"Request body is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(body, dict):
        raise KlingAPIFailure(1200, "Request body must be a JSON object")
    check_text(body, "")
    return body


def check_text(value: Any, where: str) -> None:
    """Refuse a string that is no Unicode text (a lone surrogate such as ``"\\ud800"``): 1201 naming it.

    JSON lets ``\\ud800`` through, but no UTF-8 document (a callback body, a log line) can carry
    it: accepted, it would break every callback of the task later, silently.
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise KlingAPIFailure(
                1201, f"{where or 'body'}: not valid Unicode text (a lone surrogate such as \\ud800)"
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, where)
            check_text(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_text(item, f"{where}[{index}]")
