"""Submitting a paid Kling task at most once per Airflow task, from a worker or the triggerer.

The ``external_task_id`` is derived per (DAG, run, task, map index), not per try, so every try
(and a trigger that submits on the triggerer's side) first looks for the task an earlier one
created and re-attaches to it. Only a *failed* earlier task is replaced, under ``<id>-2``,
``<id>-3``, ...
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_kling.api.kinds import get_kind
from airflow_provider_kling.exceptions import (
    KlingConcurrencyLimitError,
    KlingPermanentError,
    KlingRateLimitError,
)
from airflow_provider_kling.execution.account_view import VIEW_PAGE_SIZE
from airflow_provider_kling.execution.capacity import CapacityGate, submit_when_capacity
from airflow_provider_kling.execution.rate_limits import outlast_rate_limits

if TYPE_CHECKING:
    from airflow_provider_kling.api.tasks import KlingTask
    from airflow_provider_kling.hooks.kling import KlingHook

# A failed Kling task is resubmitted under "<id>-2", "<id>-3", ... up to this many times.
MAX_RESUBMISSIONS = 20
EXTERNAL_ID_MAX_CHARS = 128  # Kling's limit; a resubmission suffix must fit inside it
DEFAULT_POLL_SECONDS = 10.0  # the triggers' default poll interval


def derive_external_task_id(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """Deterministic per (DAG, run, task, map index) and *not* per try, so a retry re-attaches."""
    digest = hashlib.sha256(f"{dag_id}\x1f{run_id}\x1f{task_id}\x1f{map_index}".encode()).hexdigest()
    return f"airflow-{digest[:32]}"


@dataclass(frozen=True)
class CapacityRefusal:
    """Kling refused a submit with 1303 (or 1302 past the hook's retries): what to submit later.

    :param payload: The request body, ``external_task_id`` included.
    :param refusal: Kling's answer; ``None`` when nothing was tried: the submit is handed to the
        triggerer's line (``[kling] submit_on_triggerer``).
    :param resolved: ``payload``'s ``external_task_id`` is the one to submit under (the ``-2``,
        ``-3`` chain was walked); ``False`` when the look-up itself was refused.
    """

    payload: dict[str, Any]
    refusal: KlingConcurrencyLimitError | KlingRateLimitError | None
    resolved: bool

    @property
    def account_full(self) -> bool:
        """1303: the account runs its maximum of parallel tasks (else a 1302 rate limit)."""
        return isinstance(self.refusal, KlingConcurrencyLimitError)

    @property
    def external_task_id(self) -> str:
        return str(self.payload["external_task_id"])


async def find_reusable(
    hook: KlingHook, task_kind: str, external_id: str, log: logging.Logger | Any
) -> tuple[KlingTask | None, str]:
    """``(task, id)`` of an earlier try's task that did not fail, else ``(None, id to submit under)``."""
    from airflow_provider_kling.api.tasks import TaskStatus

    for attempt in range(1, MAX_RESUBMISSIONS + 1):
        suffix = "" if attempt == 1 else f"-{attempt}"
        candidate = external_id[: EXTERNAL_ID_MAX_CHARS - len(suffix)] + suffix
        existing = await hook.afind_by_external_id(task_kind, candidate)
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


async def submit_exact(hook: KlingHook, task_kind: str, payload: dict[str, Any]) -> KlingTask:
    """The task of exactly ``payload['external_task_id']`` in whatever state, else submit it.

    For a submit that waited in line: the id was chosen before it queued, so a task found under
    it now (a restarted or twin trigger submitted it, even one that has failed since) is this
    try's own, never a reason to pay for the next ``-2``.
    """
    existing = await hook.afind_by_external_id(task_kind, str(payload["external_task_id"]))
    if existing is not None:
        return existing
    return await hook.asubmit_task(task_kind, payload, retry_concurrency=False)


async def submit_in_line(
    hook: KlingHook,
    task_kind: str,
    payload: dict[str, Any],
    *,
    resolved: bool,
    gate: CapacityGate,
    deadline: float,
    waiting_since: float,
    log: logging.Logger | Any,
    what: str,
    known_full: bool,
    first_in_line: bool = False,
    last_refusal: KlingConcurrencyLimitError | None = None,
    poll_interval: float = DEFAULT_POLL_SECONDS,
) -> KlingTask:
    """Re-attach, or submit once the account has room (``execution.capacity.submit_when_capacity``).

    ``resolved``: ``payload`` already carries the id to submit under (the worker walked the
    ``-2``, ``-3`` chain); else the chain is walked here first (the worker's look-up was rate
    limited). ``poll_interval``: how soon the loop that watches a task notices it end (the gate
    leaves a slot freed elsewhere to that loop for about that long).
    """
    kind = get_kind(task_kind)
    if kind.design == "legacy" and kind.pack == "video":  # one slot per task; a page list to read
        gate.watch_account(kind.name, lambda: hook.alist_tasks(kind, 1, VIEW_PAGE_SIZE), poll_interval)
    if resolved:
        existing = await outlast_rate_limits(
            lambda: hook.afind_by_external_id(task_kind, str(payload["external_task_id"])),
            deadline=deadline,
            log=log,
            what=what,
        )
    else:
        existing, candidate = await outlast_rate_limits(
            lambda: find_reusable(hook, task_kind, str(payload["external_task_id"]), log),
            deadline=deadline,
            log=log,
            what=what,
        )
        payload = {**payload, "external_task_id": candidate}
    if existing is not None:
        log.info("%s: Kling already has task %s for it; not submitting", what, existing.task_id)
        return existing
    return await submit_when_capacity(
        gate,
        lambda: submit_exact(hook, task_kind, payload),
        deadline=deadline,
        waiting_since=waiting_since,
        log=log,
        what=what,
        known_full=known_full,
        first_in_line=first_in_line,
        last_refusal=last_refusal,
        slots=get_kind(task_kind).slots(payload),  # an image task holds n slots
    )


async def submit_or_reattach(
    hook: KlingHook,
    task_kind: str,
    payload: dict[str, Any],
    log: logging.Logger | Any,
    *,
    hand_over: bool = False,
) -> KlingTask | CapacityRefusal:
    """Re-attach to the task an earlier try created; submit only if there is none (or it failed).

    ``payload`` carries the derived ``external_task_id``. A ``CapacityRefusal`` when Kling
    refused with 1303 (or 1302 past the hook's retries): nothing was created; with
    ``hand_over`` one without a refusal instead of a submit (the triggerer submits).
    """
    payload = dict(payload)
    external_id = str(payload["external_task_id"])
    try:
        existing, candidate = await find_reusable(hook, task_kind, external_id, log)
    except (KlingConcurrencyLimitError, KlingRateLimitError) as exc:
        return CapacityRefusal(payload, exc, resolved=False)
    if existing is not None:
        return existing
    payload["external_task_id"] = candidate
    if hand_over:
        return CapacityRefusal(payload, None, resolved=True)
    try:
        return await hook.asubmit_task(task_kind, payload, retry_concurrency=False)
    except (KlingConcurrencyLimitError, KlingRateLimitError) as exc:
        return CapacityRefusal(payload, exc, resolved=True)
