"""Checks of single request fields; each failure is Kling's 1201 with a message naming the field.

1201 is "invalid key or value" (docs/kling-api.md#error-codes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlparse

from kling_emulator.errors import KlingAPIFailure


def invalid(message: str) -> KlingAPIFailure:
    return KlingAPIFailure(1201, message)


def given(body: dict[str, Any], name: str) -> bool:
    """``null`` and ``""`` count as "not given": Kling's own examples send ``""`` for unused fields
    (docs/kling-api.md#video-to-audio)."""
    return body.get(name) not in (None, "")


def text(
    body: dict[str, Any], name: str, max_len: int | None = None, required: bool = False, *, where: str = ""
) -> str | None:
    """A string field; ``where`` (e.g. ``"multi_prompt[0]."``) prefixes the name in messages."""
    value = body.get(name)
    name = where + name
    if value is None or value == "":
        if required:
            raise invalid(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string")
    if max_len is not None and len(value) > max_len:
        raise invalid(f"{name} exceeds {max_len} characters")
    return value


def url(body: dict[str, Any], name: str) -> str | None:
    value = text(body, name)
    if value is not None:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise invalid(f"{name} must be an http(s) URL")
    return value


def choice(
    body: dict[str, Any], name: str, allowed: Iterable[str], default: str | None = None, *, where: str = ""
) -> str | None:
    """A string field from a fixed set (listed in the message when it is not one of them)."""
    value = body.get(name)
    name = where + name
    if value is None or value == "":
        return default
    options = list(allowed)
    if value not in options:
        raise invalid(f"{name} must be one of {', '.join(options)} (got {value!r})")
    return str(value)


def number(value: Any, name: str, low: float, high: float) -> float:
    """A JSON number (not a bool, not a string) within ``low``..``high``; NaN and inf fail too."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"{name} must be a number from {low} to {high}")
    if not (math.isfinite(value) and low <= value <= high):
        raise invalid(f"{name} must be a number from {low} to {high} (got {value})")
    return float(value)


def boolean(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise invalid(f"{name} must be a boolean")
    return value


def obj(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(f"{name} must be an object")
    return value


def array(body: dict[str, Any], name: str, max_items: int) -> list[Any] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list):
        raise invalid(f"{name} must be an array")
    if len(value) > max_items:
        raise invalid(f"{name} has {len(value)} items; at most {max_items} are allowed")
    return value
