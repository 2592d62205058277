"""KlingSubmitTrigger: submit once the Kling account has a free parallel-task slot, then wait.

An operator whose submit met 1303 (the account already runs its maximum of parallel tasks)
defers to this trigger instead of failing, retrying in a herd or holding a worker slot. On the
triggerer, every such submit of one connection waits in one FIFO line (``capacity.CapacityGate``)
that moves when a watched Kling task ends, so refusals stay near one per Kling task.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_kling.api.kinds import get_kind
from airflow_provider_kling.exceptions import KlingCapacityTimeoutError, KlingError, fails_without_retry
from airflow_provider_kling.execution.capacity import EVENT_CAPACITY_TIMEOUT, CapacityGate
from airflow_provider_kling.execution.events import WaitOutcome
from airflow_provider_kling.execution.idempotency import submit_in_line
from airflow_provider_kling.execution.polling import wait_for_task
from airflow_provider_kling.execution.progress import WaitProgress
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.hooks.transport import shared_session_scope

EVENT_SUBMITTED = "submitted"
# Set on the events of a task this trigger submitted: the operator then reports its id.
SUBMITTED_ON_TRIGGERER = "submitted_on_triggerer"


class KlingSubmitTrigger(BaseTrigger):
    """
    Submit a Kling task when the account has capacity, then (``wait=True``) wait for it to end.

    Serialized kwargs are non-secret values only: the connection id, the task kind, the request
    payload the operator validated (its ``external_task_id`` makes the submit at-most-once: a
    restarted or duplicated trigger looks that id up before it submits), the poll interval, an
    absolute ``deadline`` and when the wait for capacity began.

    :param kind: Task kind, e.g. ``text2video``.
    :param payload: The validated request body, ``external_task_id`` included.
    :param kling_conn_id: Connection of type ``kling``.
    :param poll_interval: Seconds between polls once the task is submitted.
    :param deadline: Epoch seconds; past it the trigger fires ``capacity_timeout`` or ``timeout``.
    :param waiting_since: Epoch seconds of the first 1303, for the messages.
    :param wait: Wait for the task to end (else fire as soon as it is submitted).
    :param account_full: The operator met 1303 (queue behind the account's limit); ``False``
        for a 1302 the hook's retries did not outlast (just try again, patiently).
    :param resolved: The payload's ``external_task_id`` is the one to submit under: a task found
        under it, in any state, is this try's own (``False``: the worker's look-up was rate
        limited, so the ``-2``, ``-3`` chain is walked here first).
    """

    def __init__(
        self,
        kind: str,
        payload: dict[str, Any],
        kling_conn_id: str = KlingHook.default_conn_name,
        poll_interval: float = 10.0,
        deadline: float | None = None,
        waiting_since: float | None = None,
        wait: bool = True,
        account_full: bool = True,
        resolved: bool = True,
    ) -> None:
        super().__init__()
        get_kind(kind)
        if not payload.get("external_task_id"):
            raise ValueError("payload: a deferred submit needs its external_task_id (at-most-once)")
        self.kind = kind
        self.payload = dict(payload)
        self.kling_conn_id = kling_conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.waiting_since = time.time() if waiting_since is None else waiting_since
        self.wait = wait
        self.account_full = account_full
        self.resolved = resolved

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "kind": self.kind,
                "payload": self.payload,
                "kling_conn_id": self.kling_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "waiting_since": self.waiting_since,
                "wait": self.wait,
                "account_full": self.account_full,
                "resolved": self.resolved,
            },
        )

    @property
    def external_task_id(self) -> str:
        return str(self.payload["external_task_id"])

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = KlingHook(self.kling_conn_id)
        what = f"Kling {self.kind} task (external_task_id {self.external_task_id})"
        deadline = self.deadline if self.deadline is not None else float("inf")
        async with shared_session_scope():
            try:
                # A restarted (or twin) trigger finds the task its predecessor submitted.
                task = await submit_in_line(
                    hook,
                    self.kind,
                    self.payload,
                    resolved=self.resolved,
                    gate=CapacityGate.shared(self.kling_conn_id),
                    deadline=deadline,
                    waiting_since=self.waiting_since,
                    log=self.log,
                    what=what,
                    known_full=self.account_full,
                )
                self.log.info(
                    "%s: Kling task %s, after waiting %.0fs for a free slot",
                    what,
                    task.task_id,
                    time.time() - self.waiting_since,
                )
            except KlingCapacityTimeoutError as exc:
                yield TriggerEvent(
                    {
                        "status": EVENT_CAPACITY_TIMEOUT,
                        "task": {"external_task_id": self.external_task_id},
                        "message": str(exc),
                        "waited": exc.waited_seconds,
                    }
                )
                return
            except KlingError as exc:
                # Airflow's rule: a retry may help unless the error fails without retry (1201, ...).
                gave_up = WaitOutcome.gave_up(
                    self.external_task_id, exc, transient=not fails_without_retry(exc)
                )
                yield TriggerEvent(
                    {**gave_up.to_event(), "task": {"external_task_id": self.external_task_id}}
                )
                return
            if task.is_terminal:
                yield TriggerEvent({**WaitOutcome.finished(task).to_event(), SUBMITTED_ON_TRIGGERER: True})
                return
            if not self.wait:
                yield TriggerEvent(
                    {
                        "status": EVENT_SUBMITTED,
                        "task": task.to_xcom(),
                        "message": "",
                        SUBMITTED_ON_TRIGGERER: True,
                    }
                )
                return
            progress = WaitProgress(self.kind, task.task_id, last_status=task.task_status.value)
            outcome = await wait_for_task(
                hook,
                self.kind,
                task.task_id,
                poll_interval=self.poll_interval,
                deadline=self.deadline,
                progress=progress,
                log=self.log,
            )
        yield TriggerEvent({**outcome.to_event(), SUBMITTED_ON_TRIGGERER: True})

    async def on_kill(self) -> None:
        self.log.warning(
            "Stopped waiting to submit %s; if it was already submitted, Kling has no cancel endpoint "
            "and the task keeps running (and is billed) on Kling's side",
            self.external_task_id,
        )
