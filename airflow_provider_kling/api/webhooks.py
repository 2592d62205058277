"""Check Kling's Webhook Signature on a callback before trusting its body.

Kling signs a callback when the account has a webhook secret (``whsec_…``, console → Basic
Settings → Webhook): headers ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
``webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{raw body}")>`` with
``key = base64decode(secret without "whsec_")``; during a secret rotation the header holds
several space-separated signatures. This is the Standard Webhooks scheme, checked here with
the standard library (see docs/webhooks.md for why not the ``standardwebhooks`` package).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from airflow_provider_kling.exceptions import KlingWebhookError

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 300


def verify_kling_webhook(
    headers: Mapping[str, str],
    raw_body: bytes | str,
    secret: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """Return the callback's parsed JSON body once its signature and timestamp check out.

    :param headers: the request's headers, any case (a dict, aiohttp/Starlette headers, …).
    :param raw_body: the body exactly as received; re-serialised JSON would not match.
    :param secret: the account's webhook secret, ``whsec_`` + Base64.
    :param tolerance: seconds the timestamp may be off the clock, either way (Kling: 5 min).
    :param now: the current Unix time (default: ``time.time()``).
    :raises KlingWebhookError: a header is missing or malformed, no signature matches, or the
        timestamp is too old or in the future. The message never contains the secret.
    """
    key = _key(secret)
    found = {name.lower(): value for name, value in headers.items()}
    msg_id = found.get("webhook-id", "").strip()
    stamp = found.get("webhook-timestamp", "").strip()
    signatures = found.get("webhook-signature", "").split()
    missing = [
        name
        for name, value in (
            ("webhook-id", msg_id),
            ("webhook-timestamp", stamp),
            ("webhook-signature", signatures),
        )
        if not value
    ]
    if missing:
        raise KlingWebhookError(f"Kling callback is not signed: header {', '.join(missing)} is missing")
    if not stamp.isdigit():
        raise KlingWebhookError("Kling callback: webhook-timestamp is not a Unix time in seconds")
    body = raw_body.encode() if isinstance(raw_body, str) else bytes(raw_body)
    clock = time.time() if now is None else now
    skew = int(stamp) - clock
    if abs(skew) > tolerance:
        when = "in the future" if skew > 0 else "old"
        raise KlingWebhookError(
            f"Kling callback: webhook-timestamp is {abs(skew):.0f}s {when} (tolerance {tolerance:.0f}s)"
        )
    expected = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    if not any(hmac.compare_digest(expected, _decode_signature(s)) for s in signatures):
        raise KlingWebhookError("Kling callback: no webhook-signature matches the body and the secret")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise KlingWebhookError("Kling callback: the signed body is not JSON") from None
    if not isinstance(payload, dict):
        raise KlingWebhookError("Kling callback: the signed body is not a JSON object")
    return payload


def _key(secret: str) -> bytes:
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise KlingWebhookError("Kling webhook secret must start with 'whsec_'")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise KlingWebhookError("Kling webhook secret: the part after 'whsec_' is not Base64") from None
    if not key:
        raise KlingWebhookError("Kling webhook secret is empty after 'whsec_'")
    return key


def _decode_signature(versioned: str) -> bytes:
    """The HMAC of one ``v1,<base64>`` entry; b"" (matches nothing) for other versions or junk."""
    version, _, encoded = versioned.partition(",")
    if version != "v1":
        return b""
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return b""
