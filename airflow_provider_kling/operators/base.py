"""Shared machinery of every "submit a Kling task, then wait for it" operator."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_kling import DEFAULT_CONN_ID, config
from airflow_provider_kling._moved import module_getattr
from airflow_provider_kling.api.kinds import get_kind
from airflow_provider_kling.exceptions import (
    KlingCapacityTimeoutError,
    KlingConcurrencyLimitError,
    KlingError,
    KlingValidationError,
)
from airflow_provider_kling.links.kling import KlingResultLink

# The hook, models and waiting machinery are imported inside the methods that use them:
# this module is imported on every DAG parse, they are needed only when a task runs.
if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_kling.api.requests import KlingRequest
    from airflow_provider_kling.api.tasks import KlingTask
    from airflow_provider_kling.execution.events import WaitOutcome
    from airflow_provider_kling.execution.idempotency import CapacityRefusal
    from airflow_provider_kling.hooks.kling import KlingHook

BUDGET_CHECK_ERROR_POLICIES = ("fail", "skip")


class KlingSubmitTaskOperator(BaseOperator):
    """
    Base for operators that submit one Kling task and (by default) wait for its result.

    Subclasses set ``task_kind`` (which names the request model, see ``api/kinds.py``) and
    ``request_fields`` (operator attributes that make up the request body). The rest is shared:
    validation before any request, at-most-once submission, blocking or deferrable waiting,
    the XCom result, and the budget floor checked before a submit:

    :param min_remaining_units: Do not submit when the online resource packs hold fewer units
        than this (the task fails without retries). Default ``[kling] min_remaining_units``;
        unset means no check, 0 turns it off. Kling's remaining figures lag by up to 12 h.
    :param on_budget_check_error: When the packs cannot be read: ``"fail"`` (default) fails the
        task with that error, so Airflow retries apply to a transient one; ``"skip"`` logs a
        warning and submits without the check.
    """

    # Not a ClassVar: an operator that routes by model (operators/video.py) sets it per task at execute.
    task_kind: str
    request_fields: ClassVar[tuple[str, ...]]

    template_fields: Sequence[str] = ("external_task_id", "callback_url")
    ui_color = "#e8f0ff"
    operator_extra_links = (KlingResultLink(),)

    def __init__(
        self,
        *,
        kling_conn_id: str = DEFAULT_CONN_ID,
        external_task_id: str | None = None,
        callback_url: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        poll_interval: float | None = None,
        timeout: float = 3600.0,
        min_remaining_units: float | None = None,
        on_budget_check_error: str = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if on_budget_check_error not in BUDGET_CHECK_ERROR_POLICIES:
            raise KlingValidationError(
                f"Invalid {type(self).__name__}: on_budget_check_error: must be one of "
                f"{BUDGET_CHECK_ERROR_POLICIES}, got {on_budget_check_error!r}"
            )
        if min_remaining_units is not None:
            config.budget_floor(min_remaining_units, type(self).__name__)  # a bad value fails at parse time
        self.min_remaining_units = min_remaining_units
        self.on_budget_check_error = on_budget_check_error
        self.kling_conn_id = kling_conn_id
        self.external_task_id = external_task_id
        self.callback_url = callback_url
        self.wait_for_completion = wait_for_completion
        # Config read here, not as a default argument: that would freeze it at module import.
        self.deferrable = config.default_deferrable() if deferrable is None else deferrable
        self.poll_interval = config.poll_interval() if poll_interval is None else poll_interval
        self.timeout = timeout
        self.kling_task_id: str | None = None

    @cached_property
    def hook(self) -> KlingHook:
        from airflow_provider_kling.hooks.kling import KlingHook

        return KlingHook(self.kling_conn_id)

    def build_request(self) -> KlingRequest:
        """Validate the (rendered) arguments; raises KlingValidationError naming field and rule."""
        self.check_wait_arguments()
        fields = self.request_arguments()
        return get_kind(self.task_kind).request_model.build(
            **fields, external_task_id=self.external_task_id, callback_url=self.callback_url
        )

    def request_arguments(self) -> dict[str, Any]:
        """The request model's fields from the (rendered) operator attributes."""
        return {name: getattr(self, name) for name in self.request_fields}

    def check_wait_arguments(self) -> None:
        for name in ("poll_interval", "timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise KlingValidationError(
                    f"Invalid {type(self).__name__}: {name}: must be a positive number of seconds, "
                    f"got {value!r}"
                )

    # ------------------------------------------------------------------ execute

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_kling.api.tasks import KlingTask
        from airflow_provider_kling.execution.events import WaitOutcome
        from airflow_provider_kling.execution.polling import wait_for_task
        from airflow_provider_kling.execution.progress import WaitProgress

        request = self.build_request()  # before any connection lookup or request
        self.hook.require_api_key(get_kind(self.task_kind))  # new design: before the budget check sends
        external_id = request.external_task_id or self._default_external_id(context)
        self._check_budget(context, external_id)
        deadline = time.time() + self.timeout
        submitted = self.hook.run_sync(lambda: self._submit_or_reattach(request, external_id))
        if isinstance(submitted, KlingTask):
            task = submitted
        else:  # Kling is at capacity: defer, or block until submitted
            task = self._wait_for_capacity(context, submitted, deadline)
        self.kling_task_id = task.task_id
        self.log.info(
            "Kling %s task %s (external_task_id %s) is %s",
            self.task_kind,
            task.task_id,
            task.external_task_id or external_id,
            task.task_status.value,
        )
        if self.do_xcom_push:
            context["ti"].xcom_push(key="kling_task_id", value=task.task_id)
        if not self.wait_for_completion:
            return task.to_xcom()
        if task.is_terminal:  # never defer for a task that is already done
            return self._finish(WaitOutcome.finished(task))
        if self.deferrable:
            from airflow_provider_kling.triggers.kling import KlingTaskTrigger

            self.defer(
                trigger=KlingTaskTrigger(
                    kling_task_id=task.task_id,
                    task_kind=self.task_kind,
                    kling_conn_id=self.kling_conn_id,
                    poll_interval=self.poll_interval,
                    deadline=deadline,
                    last_status=task.task_status.value,
                ),
                method_name="execute_complete",
                # Airflow's own guard, a little after ours so our clearer message wins.
                timeout=timedelta(seconds=self.timeout + 60),
            )
        progress = WaitProgress(self.task_kind, task.task_id, last_status=task.task_status.value)
        outcome = self.hook.run_sync(
            lambda: wait_for_task(
                self.hook,
                self.task_kind,
                task.task_id,
                poll_interval=self.poll_interval,
                deadline=deadline,
                progress=progress,
                log=self.log,
            )
        )
        return self._finish(outcome)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired (a wait, or a submit that waited for capacity)."""
        from airflow_provider_kling.execution.events import WaitOutcome

        outcome = WaitOutcome.from_event(event)
        if outcome.request_in_xcom:
            self._delete_request_xcom(context)
        if outcome.submitted_on_triggerer and outcome.kling_task_id:
            # Submitted by the trigger: tell the user (and XCom) the id now, as execute() does.
            self.kling_task_id = outcome.kling_task_id
            self.log.info(
                "Kling %s task %s (external_task_id %s) was submitted on the triggerer",
                self.task_kind,
                self.kling_task_id,
                outcome.task.get("external_task_id"),
            )
            if self.do_xcom_push:
                context["ti"].xcom_push(key="kling_task_id", value=self.kling_task_id)
        return self._finish(outcome)

    def _wait_for_capacity(self, context: Context, busy: CapacityRefusal, deadline: float) -> KlingTask:
        """The account runs its maximum of parallel tasks (or rate-limits us): wait, then submit.

        Deferrable: the wait and the submit happen on the triggerer, in one line with every other
        waiting submit of the connection (no worker slot, no Airflow retry used). Blocking: here,
        probing with a growing backoff. Either way up to ``timeout``, then a clear error.
        """
        from airflow_provider_kling.execution.capacity import CapacityGate
        from airflow_provider_kling.execution.idempotency import submit_in_line

        external_id, account_full, now = busy.external_task_id, busy.account_full, time.time()
        reason = "account is at its parallel-task limit" if account_full else "asks to slow down"
        self.log.info(
            "Kling %s (%s): %s task (external_task_id %s) waits for a free slot %s, up to %.0fs",
            reason if busy.refusal else "submits on the triggerer",
            busy.refusal or "[kling] submit_on_triggerer: one line with every submit of the connection",
            self.task_kind,
            external_id,
            "on the triggerer (no worker slot held)" if self.deferrable else "in this worker",
            deadline - now,
        )
        what = f"Kling {self.task_kind} task (external_task_id {external_id})"
        last_refusal = busy.refusal if isinstance(busy.refusal, KlingConcurrencyLimitError) else None
        if deadline <= now:  # the first submit's own retries used up the timeout
            raise KlingCapacityTimeoutError.after(what, 0.0, last_refusal)
        if self.deferrable:
            from airflow_provider_kling.triggers.submit import KlingSubmitTrigger

            payload, request_xcom = self._request_for_trigger(context, busy.payload)
            self.defer(
                trigger=KlingSubmitTrigger(
                    task_kind=self.task_kind,
                    payload=payload,
                    external_task_id=external_id,
                    request_xcom=request_xcom,
                    kling_conn_id=self.kling_conn_id,
                    poll_interval=self.poll_interval,
                    deadline=deadline,
                    waiting_since=now,
                    wait=self.wait_for_completion,
                    account_full=account_full,
                    resolved=busy.resolved,
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=deadline - now + 60),
            )
        return self.hook.run_sync(
            lambda: submit_in_line(
                self.hook,
                self.task_kind,
                busy.payload,
                resolved=busy.resolved,
                gate=CapacityGate.for_kind(self.kling_conn_id, get_kind(self.task_kind)),
                deadline=deadline,
                waiting_since=now,
                log=self.log,
                what=what,
                known_full=account_full,
                first_in_line=True,
                last_refusal=last_refusal,
                poll_interval=self.poll_interval,
            )
        )

    def on_kill(self) -> None:
        if self.kling_task_id:
            self.log.warning(
                "Kling has no cancel endpoint: task %s keeps running (and is billed) on Kling's side",
                self.kling_task_id,
            )

    # ------------------------------------------------------------------ helpers

    def _check_budget(self, context: Context, external_id: str) -> None:
        """Refuse to submit when the online packs hold fewer units than ``min_remaining_units``."""
        from airflow_provider_kling.api.account import check_floor

        floor = config.budget_floor(self.min_remaining_units, type(self).__name__)
        if floor is None:
            return
        try:
            packs = self.hook.get_resource_packs()
        except KlingError as exc:
            if self.on_budget_check_error == "skip":
                self.log.warning(
                    "Budget check skipped (on_budget_check_error='skip'): the resource packs could "
                    "not be read (%s); submitting without it",
                    exc,
                )
                return
            self.log.error(
                "Budget check failed: the resource packs could not be read, so nothing is submitted "
                "(on_budget_check_error='fail'; 'skip' would submit without the check)"
            )
            raise
        try:
            remaining = check_floor(packs, floor)
        except KlingError:
            # An earlier try's task is already paid for: collect it rather than refuse.
            existing = self.hook.find_by_external_id(self.task_kind, external_id)
            if existing is None or existing.task_status.value == "failed":
                raise
            self.log.warning("Below the budget floor, but re-attaching to Kling task %s", existing.task_id)
            return
        self.log.info(
            "Budget check passed: %.10g units remain in online resource packs (min_remaining_units=%.10g)",
            remaining,
            floor,
        )

    def _default_external_id(self, context: Context) -> str:
        from airflow_provider_kling.execution.idempotency import derive_external_task_id

        ti = context["ti"]
        return derive_external_task_id(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1))

    async def _submit_or_reattach(
        self, request: KlingRequest, external_id: str
    ) -> KlingTask | CapacityRefusal:
        from airflow_provider_kling.execution.idempotency import submit_or_reattach

        payload = {**request.to_payload(), "external_task_id": external_id}
        hand_over = self.deferrable and self.wait_for_completion and config.submit_on_triggerer()
        return await submit_or_reattach(self.hook, self.task_kind, payload, self.log, hand_over=hand_over)

    def _request_for_trigger(
        self, context: Context, payload: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """``(inline payload, None)`` when small; else ``(None, where in XCom)``: kwargs stay small."""
        from airflow_provider_kling.triggers.submit import INLINE_REQUEST_MAX_BYTES, REQUEST_XCOM_KEY

        if len(json.dumps(payload).encode()) <= INLINE_REQUEST_MAX_BYTES:
            return payload, None
        ti = context["ti"]
        ti.xcom_push(key=REQUEST_XCOM_KEY, value=payload)
        where = {"dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id}
        return None, {**where, "map_index": getattr(ti, "map_index", -1), "key": REQUEST_XCOM_KEY}

    def _delete_request_xcom(self, context: Context) -> None:
        """Delete the request body the trigger read from XCom (up to ~14 MB in the metadata DB).

        Nothing reads it again (a retry pushes it anew), and Airflow would keep it until the task
        next starts a try. A failure here is logged, never raised: the task's result matters more.
        """
        from airflow.sdk.execution_time.xcom import XCom

        from airflow_provider_kling.triggers.submit import REQUEST_XCOM_KEY

        ti = context["ti"]
        try:
            XCom.delete(
                key=REQUEST_XCOM_KEY,
                dag_id=ti.dag_id,
                task_id=ti.task_id,
                run_id=ti.run_id,
                map_index=getattr(ti, "map_index", -1),
            )
        except Exception as exc:  # cleanup only: whatever went wrong, the result stands
            self.log.warning(
                "Could not delete the request body from XCom %r (%s); Airflow clears it when the task "
                "next starts a try",
                REQUEST_XCOM_KEY,
                exc,
            )
            return
        self.log.info("Deleted the request body from XCom %r: the trigger has used it", REQUEST_XCOM_KEY)

    def _finish(self, outcome: WaitOutcome) -> dict[str, Any]:
        from airflow_provider_kling.execution.events import WaitStatus

        result = outcome.result(task_id_hint=self.kling_task_id, timeout=self.timeout)
        if outcome.status is WaitStatus.SUBMITTED:  # not waited for (wait_for_completion=False)
            return result
        from airflow_provider_kling.execution.reporting import describe_cost, describe_outputs

        self.log.info("Kling task %s succeeded: %s", result.get("task_id"), describe_outputs(result))
        self.log.info("Kling task %s cost %s", result.get("task_id"), describe_cost(result))
        return result


# 0.1.0 names that moved elsewhere: still importable from here, with a DeprecationWarning.
__getattr__ = module_getattr("operators.base")
