"""The ``response_check`` a user would give the stock ``HttpEventTrigger`` to wait for a Kling task.

Kept tiny on purpose: ``HttpEventTrigger`` re-imports (``importlib.reload``) this module on
every poll of every trigger, so a bigger module would only make the baseline look worse.
"""

from __future__ import annotations

from typing import Any


async def kling_task_done(response: Any) -> bool:
    """True once the queried Kling task is ``succeed`` or ``failed``."""
    return kling_task_done_sync(response)


def kling_task_done_sync(response: Any) -> bool:
    """The same check for ``HttpSensor`` (sync)."""
    body = response.json()
    return (body.get("data") or {}).get("task_status") in ("succeed", "failed")


async def kling_new_task_done(response: Any) -> bool:
    """True once the new-design task queried by ``GET /tasks?task_ids=<id>`` is ``succeeded`` or
    ``failed`` (KLING_API §8.4/§8.5: ``data[]`` of task objects with ``status``)."""
    tasks = response.json().get("data") or []
    return bool(tasks) and tasks[0].get("status") in ("succeeded", "failed")
