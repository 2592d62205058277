"""What a ``kling`` connection holds: its form, its base URL and the HTTP settings in its extra.

One place names the fields: the hook reads them (``read_extra``, ``base_url``), the connection
form shows them (``UI_FIELD_BEHAVIOUR`` and ``CONN_FIELDS`` in ``get_provider_info``). Stdlib
only: the provider info imports it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_kling.exceptions import KlingValidationError

MAX_RETRIES_LIMIT = 20


@dataclass(frozen=True)
class ExtraSettings:
    """What the extra sets; ``None`` leaves the hook's default."""

    request_timeout: float | None = None
    max_retries: int | None = None
    retry_min_wait: float | None = None
    retry_max_wait: float | None = None


# which returns this same dict.
# "schema" is hidden because the Base URL carries the scheme; "extra" is hidden in
# the Airflow 2 form (the Airflow 3 form always shows its "Extra Fields JSON" box).
# The port stays visible: Airflow 3.3.2's row "Test" button sends port 0 for a
# connection without one and the API refuses it (fixed in apache/airflow#73298).
# Kling documents the API key "for all models" and AK/SK -> JWT for the legacy
# design only: the labels put the API key first. Auth stays in the standard fields
# (password = API key, login empty) so existing connections keep working.
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "extra"],
    "relabeling": {
        "host": "Base URL",
        "login": "Access key (legacy JWT)",
        "password": "API key (or legacy secret key)",
    },
    "placeholders": {
        "host": (
            "https://api-singapore.klingai.com (China: https://api-beijing.klingai.com; "
            "proxy: https://www.kkiai.com/kling)"
        ),
        "login": "leave empty for an API key; legacy design (JWT): your access key",
        "password": "your API key (official or proxy); legacy design: your secret key",
        "port": "443 (set a port: Airflow 3.3.2's Test button needs one)",
    },
}


def legacy_ui_field_behaviour() -> dict[str, Any]:
    """``UI_FIELD_BEHAVIOUR`` as Airflow 3.1's ``get_ui_field_behaviour`` returns it (fresh copies)."""
    return {
        "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
        "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
        "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
    }


# Field name -> (label, description, JSON schema): what the Airflow 3 connection form renders.
# Optional fields allow null, or the form would show them as required.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "request_timeout": {
        "label": "Request timeout (s)",
        "description": "Seconds for one HTTP request to Kling, connect + read (default 60).",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
    },
    "max_retries": {
        "label": "Retries per request",
        "description": (
            "How often one request is retried on 1302/1303, 5xx, timeouts and connection errors "
            "(default 5). Other errors are never retried."
        ),
        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_RETRIES_LIMIT},
    },
    "retry_min_wait": {
        "label": "First retry wait (s)",
        "description": "Backoff before the first retry; doubles per retry, with jitter (default 1).",
        "schema": {"type": ["number", "null"], "minimum": 0},
    },
    "retry_max_wait": {
        "label": "Largest retry wait (s)",
        "description": "The backoff never exceeds this (default 60; 1303 waits up to 4x longer).",
        "schema": {"type": ["number", "null"], "minimum": 0},
    },
}


def _refused(conn_id: str, rule: str) -> KlingValidationError:
    from airflow_provider_kling.exceptions import KlingValidationError

    return KlingValidationError(f"Connection {conn_id!r}: extra field {rule}")


def _number(extra: Mapping[str, Any], name: str, conn_id: str, *, integer: bool = False) -> Any:
    value = extra.get(name)
    if value is None or value == "":  # the form stores a cleared field as null or ""
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            value = None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        value = None
    elif integer and value != int(value):
        value = None  # 2.5 retries
    if value is None:
        kind = "a whole number" if integer else "a number of seconds"
        raise _refused(conn_id, f"{name}: must be {kind}, got {extra.get(name)!r}")
    return int(value) if integer else float(value)


def read_extra(extra: Mapping[str, Any], conn_id: str) -> ExtraSettings:
    """Validate the extra's HTTP settings; the error names the connection, the field and the rule."""
    timeout = _number(extra, "request_timeout", conn_id)
    retries = _number(extra, "max_retries", conn_id, integer=True)
    min_wait = _number(extra, "retry_min_wait", conn_id)
    max_wait = _number(extra, "retry_max_wait", conn_id)

    def refuse(rule: str) -> KlingValidationError:
        return _refused(conn_id, rule)

    if timeout is not None and timeout <= 0:
        raise refuse(f"request_timeout: must be greater than 0, got {timeout:g}")
    if retries is not None and not 0 <= retries <= MAX_RETRIES_LIMIT:
        raise refuse(f"max_retries: must be 0..{MAX_RETRIES_LIMIT}, got {retries}")
    for name, value in (("retry_min_wait", min_wait), ("retry_max_wait", max_wait)):
        if value is not None and value < 0:
            raise refuse(f"{name}: must not be negative, got {value:g}")
    if min_wait is not None and max_wait is not None and max_wait < min_wait:
        raise refuse(f"retry_max_wait: must be at least retry_min_wait ({min_wait:g}), got {max_wait:g}")
    return ExtraSettings(timeout, retries, min_wait, max_wait)


def base_url(host: str | None, schema: str | None, port: int | None, default: str) -> str:
    """The base URL from the connection's Host (which may carry a proxy's path prefix), Schema and Port."""
    url = (host or "").strip() or default
    if "://" not in url:
        scheme = (schema or "https").strip() or "https"
        url = f"{scheme}://{url}"
    if port and url.count(":") < 2:
        # host may carry a path prefix: put the port right after the authority.
        scheme, rest = url.split("://", 1)
        authority, _, path = rest.partition("/")
        url = f"{scheme}://{authority}:{port}" + (f"/{path}" if path else "")
    return url.rstrip("/")
