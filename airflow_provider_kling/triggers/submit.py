"""KlingSubmitTrigger: submit once the Kling account has a free parallel-task slot, then wait.

An operator whose submit met 1303 (the account already runs its maximum of parallel tasks)
defers to this trigger instead of failing, retrying in a herd or holding a worker slot. On the
triggerer, every such submit of one connection waits in one FIFO line (``execution.capacity.CapacityGate``)
that moves when a watched Kling task ends, so refusals stay near one per Kling task.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_kling._moved import module_getattr
from airflow_provider_kling.api.kinds import get_kind
from airflow_provider_kling.exceptions import (
    KlingAuthError,
    KlingCapacityTimeoutError,
    KlingError,
    fails_without_retry,
)
from airflow_provider_kling.execution.capacity import CapacityGate
from airflow_provider_kling.execution.events import WaitOutcome
from airflow_provider_kling.execution.idempotency import submit_in_line
from airflow_provider_kling.execution.polling import wait_for_task
from airflow_provider_kling.execution.progress import WaitProgress
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.hooks.shared import arenewed_after_refusal, shared_hook
from airflow_provider_kling.hooks.transport import shared_session_scope

if TYPE_CHECKING:
    from airflow_provider_kling.api.tasks import KlingTask

# The XCom key under which an operator leaves a request too big to keep in the trigger's kwargs.
REQUEST_XCOM_KEY = "kling_request"
# A request up to this many bytes of JSON stays inline in the kwargs; a bigger one goes to XCom.
# With the other kwargs (a few hundred bytes) a trigger row stays under about 4 KB, whatever the request.
INLINE_REQUEST_MAX_BYTES = 2 * 1024


class KlingSubmitTrigger(BaseTrigger):
    """
    Submit a Kling task when the account has capacity, then (``wait=True``) wait for it to end.

    Serialized kwargs (stored in Airflow's metadata DB) are small, non-secret values only: the
    connection id, the task kind, the ``external_task_id`` (it makes the submit at-most-once: a
    restarted or duplicated trigger looks that id up before it submits), the poll interval, an
    absolute ``deadline`` and when the wait for capacity began. The validated request body is
    inline when it is small (``INLINE_REQUEST_MAX_BYTES``); a bigger one (a Base64 image may be
    10 MB) is read on the triggerer from the XCom ``request_xcom`` names; the event then says
    so (``request_in_xcom``) and the resumed task deletes that XCom.

    :param task_kind: Task kind, e.g. ``text2video``.
    :param payload: The validated request body (inline), or ``None`` when it is in XCom.
    :param kling_conn_id: Connection of type ``kling``.
    :param poll_interval: Seconds between polls once the task is submitted.
    :param deadline: Epoch seconds; past it the trigger fires ``capacity_timeout`` or ``timeout``.
    :param waiting_since: Epoch seconds of the first 1303, for the messages.
    :param wait: Wait for the task to end (else fire as soon as it is submitted).
    :param account_full: The operator met 1303 (queue behind the account's limit); ``False``
        for a 1302 the hook's retries did not outlast (just try again, patiently).
    :param resolved: ``external_task_id`` is the one to submit under: a task found under it, in
        any state, is this try's own (``False``: the worker's look-up was rate limited, so the
        ``-2``, ``-3`` chain is walked here first).
    :param external_task_id: The id the task is submitted under (default: the payload's).
    :param request_xcom: Where the request body is when ``payload`` is ``None``: ``dag_id``,
        ``run_id``, ``task_id``, ``map_index`` and ``key`` of the XCom the operator pushed.
    :param kind: Old name of ``task_kind`` (trigger rows stored by 0.1.0 and earlier).
    """

    def __init__(
        self,
        task_kind: str | None = None,
        payload: dict[str, Any] | None = None,
        kling_conn_id: str = KlingHook.default_conn_name,
        poll_interval: float = 10.0,
        deadline: float | None = None,
        waiting_since: float | None = None,
        wait: bool = True,
        account_full: bool = True,
        resolved: bool = True,
        external_task_id: str | None = None,
        request_xcom: dict[str, Any] | None = None,
        *,
        kind: str | None = None,
    ) -> None:
        super().__init__()
        # A deferred task survives an upgrade: its trigger row may hold the old kwarg name.
        self.task_kind = task_kind or kind or ""
        get_kind(self.task_kind)
        external_id = external_task_id or (payload or {}).get("external_task_id")
        if not external_id:
            raise ValueError("a deferred submit needs its external_task_id (at-most-once)")
        if payload is None and not request_xcom:
            raise ValueError("a deferred submit needs its payload, inline or in XCom (request_xcom)")
        self._external_task_id = str(external_id)
        self.payload = None if payload is None else {**payload, "external_task_id": self._external_task_id}
        self.request_xcom = dict(request_xcom) if request_xcom else None
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
                "task_kind": self.task_kind,
                "payload": self.payload,
                "external_task_id": self.external_task_id,
                "request_xcom": self.request_xcom,
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
        return self._external_task_id

    async def request_payload(self) -> dict[str, Any]:
        """The request body: inline, or read from XCom through the task SDK (Airflow 3.1+)."""
        if self.payload is not None:
            return self.payload
        from airflow.sdk.execution_time.xcom import XCom

        ref = self.request_xcom or {}
        # The sync call runs in a thread: the triggerer's comms bridge it to the event loop.
        value = await asyncio.to_thread(
            XCom.get_one,
            key=str(ref.get("key") or REQUEST_XCOM_KEY),
            dag_id=ref.get("dag_id"),
            task_id=ref.get("task_id"),
            run_id=str(ref.get("run_id")),
            map_index=ref.get("map_index"),
        )
        if not isinstance(value, dict):
            raise KlingError(f"the request body of {self.external_task_id} is not in XCom {ref!r}")
        return {**value, "external_task_id": self.external_task_id}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        async with shared_session_scope():
            # The loop's shared hook: the poller it may become the hook of renews it like any wait's.
            outcome = await self._submit_and_wait(shared_hook(self.kling_conn_id))
        if self.payload is None:
            # Whatever the outcome, nothing reads that XCom again: the task deletes it on resume.
            outcome = dataclasses.replace(outcome, request_in_xcom=True)
        yield TriggerEvent(outcome.to_event())

    async def _submit_and_wait(self, hook: KlingHook) -> WaitOutcome:
        what = f"Kling {self.task_kind} task (external_task_id {self.external_task_id})"
        try:
            payload = await self.request_payload()
            try:
                task = await self._submit_in_line(hook, payload, what)
            except KlingAuthError:
                # The shared hook may predate a key rotation: retry once if the connection changed.
                fresh = await arenewed_after_refusal(hook)
                if fresh is None:
                    raise
                hook = fresh
                task = await self._submit_in_line(hook, payload, what)
        except KlingCapacityTimeoutError as exc:
            return WaitOutcome.capacity_timed_out(self.external_task_id, exc)
        except KlingError as exc:
            # Airflow's rule: a retry may help unless the error fails without retry (1201, ...).
            transient = not fails_without_retry(exc)
            return WaitOutcome.gave_up(
                self.external_task_id, exc, transient=transient, id_key="external_task_id"
            )
        self.log.info(
            "%s: Kling task %s, after waiting %.0fs for a free slot",
            what,
            task.task_id,
            time.time() - self.waiting_since,
        )
        if task.is_terminal:
            return WaitOutcome.finished(task).on_triggerer()
        if not self.wait:
            return WaitOutcome.submitted(task)
        progress = WaitProgress(self.task_kind, task.task_id, last_status=task.task_status.value)
        outcome = await wait_for_task(
            hook,
            self.task_kind,
            task.task_id,
            poll_interval=self.poll_interval,
            deadline=self.deadline,
            progress=progress,
            log=self.log,
        )
        return outcome.on_triggerer()

    async def _submit_in_line(self, hook: KlingHook, payload: dict[str, Any], what: str) -> KlingTask:
        # A restarted (or twin) trigger finds the task its predecessor submitted.
        return await submit_in_line(
            hook,
            self.task_kind,
            payload,
            resolved=self.resolved,
            gate=CapacityGate.for_kind(self.kling_conn_id, get_kind(self.task_kind)),
            deadline=self.deadline if self.deadline is not None else float("inf"),
            waiting_since=self.waiting_since,
            log=self.log,
            what=what,
            known_full=self.account_full,
            poll_interval=self.poll_interval,
        )

    async def on_kill(self) -> None:
        self.log.warning(
            "Stopped waiting to submit %s; if it was already submitted, Kling has no cancel endpoint "
            "and the task keeps running (and is billed) on Kling's side",
            self.external_task_id,
        )


# 0.1.0 names that moved elsewhere: still importable from here, with a DeprecationWarning.
__getattr__ = module_getattr("triggers.submit")
