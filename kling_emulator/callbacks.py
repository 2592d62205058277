"""What the emulator POSTs to a ``callback_url``: the body in either design's format, and its signature.

Written from the contract (docs/kling-api.md#callbacks, docs/kling-api.md#webhook-signature,
docs/kling-api.md#new-design) on its own, like the rest of the emulator: it shares no code with
the provider's webhook check, so a bug in one is caught by the other's tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

# Legacy status spelling -> new design's ("succeed" became "succeeded"; docs/kling-api.md#task-statuses).
NEW_STATUS = {"succeed": "succeeded"}
# billing[].package_type: video | image | audio (docs/kling-api.md#new-design).
PACKAGE_TYPE = {"text-to-audio": "audio", "video-to-audio": "audio"}


def new_format(task: dict[str, Any], kind: str) -> dict[str, Any]:
    """The new-design callback body for a task rendered in the legacy format.

    ``id/status/message/create_time/update_time/external_id/outputs[]/billing[]``; audio
    outputs use the renamed keys (``url_mp3`` -> ``mp3_url`` ...). Derived from the legacy
    rendering so that both formats always report the same task.
    """
    result = task.get("task_result") or {}
    outputs: list[dict[str, Any]] = []
    for video in result.get("videos", []):
        outputs.append({"type": "video", **video})
    for audio in result.get("audios", []):
        outputs.append(
            {
                "type": "audio",
                "id": audio["id"],
                "mp3_url": audio["url_mp3"],
                "wav_url": audio["url_wav"],
                "mp3_duration": audio["duration_mp3"],
                "wav_duration": audio["duration_wav"],
            }
        )
    billing: list[dict[str, Any]] = []
    units = task.get("final_unit_deduction")
    if units is not None:
        billing.append(
            {"charge_type": "unit", "amount": str(units), "package_type": PACKAGE_TYPE.get(kind, "video")}
        )
    cash = task.get("final_balance_deduction")
    if isinstance(cash, dict):
        billing.append(
            {
                "charge_type": "cash",
                "cash_type": "balance",
                "amount": str(cash.get("quota", "")),
                "list_price": str(cash.get("list_price", "")),
                "package_type": PACKAGE_TYPE.get(kind, "video"),
            }
        )
    status = str(task["task_status"])
    return {
        "id": task["task_id"],
        "status": NEW_STATUS.get(status, status),
        "message": task.get("task_status_msg") or "",
        "create_time": task["created_at"],
        "update_time": task["updated_at"],
        "external_id": (task.get("task_info") or {}).get("external_task_id") or "",
        "outputs": outputs,
        "billing": billing,
    }


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``, key = Base64 after ``whsec_``.

    Contract: docs/kling-api.md#webhook-signature.
    """
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def callback_request(payload: dict[str, Any], secret: str | None) -> tuple[bytes, dict[str, str]]:
    """The exact body bytes and headers of one callback POST (signed only when a secret is set)."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    if secret:
        msg_id = f"msg_{uuid.uuid4().hex}"  # unique per request: receivers de-duplicate by it
        timestamp = int(time.time())
        headers.update(
            {
                "webhook-id": msg_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": signature(secret, msg_id, timestamp, body),
            }
        )
    return body, headers
