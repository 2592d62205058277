"""Submitting a paid Kling task at most once per Airflow task, from a worker or the triggerer.

The ``external_task_id`` is derived per (DAG, run, task, map index), not per try, so every try
(and a trigger that submits on the triggerer's side) first looks for the task an earlier one
created and re-attaches to it. Only a *failed* earlier task is replaced, under ``<id>-2``,
``<id>-3``, ...
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_kling.exceptions import KlingPermanentError

if TYPE_CHECKING:
    from airflow_provider_kling.hooks.kling import KlingHook
    from airflow_provider_kling.models import KlingTask

# A failed Kling task is resubmitted under "<id>-2", "<id>-3", ... up to this many times.
MAX_RESUBMISSIONS = 20
EXTERNAL_ID_MAX_CHARS = 128  # Kling's limit; a resubmission suffix must fit inside it


async def find_reusable(
    hook: KlingHook, kind: str, external_id: str, log: logging.Logger | Any
) -> tuple[KlingTask | None, str]:
    """``(task, id)`` of an earlier try's task that did not fail, else ``(None, id to submit under)``."""
    from airflow_provider_kling.models import TaskStatus

    for attempt in range(1, MAX_RESUBMISSIONS + 1):
        suffix = "" if attempt == 1 else f"-{attempt}"
        candidate = external_id[: EXTERNAL_ID_MAX_CHARS - len(suffix)] + suffix
        existing = await hook.afind_task(kind, candidate)
        if existing is None:
            return None, candidate
        if existing.task_status is not TaskStatus.FAILED:
            log.info(
                "Re-attaching to Kling task %s created by an earlier try (external_task_id %s)",
                existing.task_id,
                candidate,
            )
            return existing, candidate
        log.info(
            "Earlier Kling task %s failed (%s); submitting a new one",
            existing.task_id,
            existing.task_status_msg or "no reason given",
        )
    # Permanent: a retry would find the same failed tasks under the same ids.
    raise KlingPermanentError(
        f"Kling task failed {MAX_RESUBMISSIONS} times under external_task_id {external_id}"
    )


async def submit_or_reattach(
    hook: KlingHook, kind: str, payload: dict[str, Any], log: logging.Logger | Any
) -> KlingTask:
    """Re-attach to the task of ``payload['external_task_id']`` (or its latest replacement), or
    submit it. A 1303 (or a 1302 the hook's retries did not outlast) is raised to the caller,
    which waits for capacity (``capacity.submit_when_capacity``)."""
    existing, candidate = await find_reusable(hook, kind, str(payload["external_task_id"]), log)
    if existing is not None:
        return existing
    return await hook.asubmit_task(kind, {**payload, "external_task_id": candidate}, retry_concurrency=False)
