"""The one vocabulary of trigger events: ``WaitStatus`` and the typed ``WaitOutcome`` payload."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_kling.api.tasks import KlingTask, TaskStatus
from airflow_provider_kling.exceptions import (
    KlingAPIError,
    KlingCapacityTimeoutError,
    KlingError,
    KlingTaskFailedError,
    KlingTaskTimeoutError,
    KlingWaitAbortedError,
    KlingWaitError,
)

# The payload key of the flag "this trigger submitted the task" (the operator then reports its id).
SUBMITTED_ON_TRIGGERER_KEY = "submitted_on_triggerer"
# The payload key of the flag "this trigger read the request body from XCom" (the task deletes it).
REQUEST_IN_XCOM_KEY = "request_in_xcom"


class WaitStatus(str, enum.Enum):
    """How a deferral ended: the ``status`` of every TriggerEvent payload this provider fires."""

    SUCCESS = "success"  # the Kling task succeeded
    FAILED = "failed"  # the Kling task failed (Kling's reason in ``message``)
    TIMEOUT = "timeout"  # the deadline passed while the task ran
    ERROR = "error"  # polling (or a deferred submit) gave up
    SUBMITTED = "submitted"  # KlingSubmitTrigger(wait=False): the task is submitted, not waited for
    CAPACITY_TIMEOUT = "capacity_timeout"  # the account stayed full until the deadline: nothing submitted


@dataclass(frozen=True)
class WaitOutcome:
    """How one deferral (or blocking wait, or poke) ended; the typed TriggerEvent payload.

    ``to_event()`` is the payload (JSON, no secrets), ``from_event()`` reads it back (also the
    dicts of versions before this type carried every status), and ``result()`` is what the task
    returns or raises.

    :param task: ``success``/``failed``/``submitted``: the task's XCom dict; otherwise
        ``{"task_id", "kling_task_id", "status"}`` (events of 0.1.0: ``task_id`` only), or
        ``{"external_task_id"}`` when a deferred submit never got an id.
    :param message: Kling's failure reason, or why the wait stopped.
    :param transient: ``error`` only: whether an Airflow retry (which re-attaches) may succeed.
    :param code: ``error`` only: Kling's code of the last error, if it answered one.
    :param http_status: ``error`` only: the HTTP status of that answer.
    :param request_id: ``error`` only: Kling's request id of that answer.
    :param waited: ``capacity_timeout`` only: seconds spent waiting for a free slot.
    :param submitted_on_triggerer: The trigger submitted the task (KlingSubmitTrigger).
    :param request_in_xcom: KlingSubmitTrigger read the request body from XCom (the task deletes
        that XCom when it resumes: nothing reads it again).
    """

    status: WaitStatus
    task: Mapping[str, Any]
    message: str = ""
    transient: bool = False
    code: int | None = None
    http_status: int | None = None
    request_id: str | None = None
    waited: float | None = None
    submitted_on_triggerer: bool = False
    request_in_xcom: bool = False

    @classmethod
    def finished(cls, task: KlingTask) -> WaitOutcome:
        """A task that reached ``succeed`` or ``failed`` (Kling's reason kept as is)."""
        if task.task_status is TaskStatus.SUCCEED:
            return cls(WaitStatus.SUCCESS, task.to_xcom())
        return cls(WaitStatus.FAILED, task.to_xcom(), task.task_status_msg or "")

    @classmethod
    def submitted(cls, task: KlingTask) -> WaitOutcome:
        """Submitted by the trigger, not waited for (the operator's ``wait_for_completion=False``)."""
        return cls(WaitStatus.SUBMITTED, task.to_xcom(), submitted_on_triggerer=True)

    @classmethod
    def timed_out(cls, ident: str, last_status: str | None) -> WaitOutcome:
        return cls(
            WaitStatus.TIMEOUT,
            {"task_id": ident, "kling_task_id": ident, "status": last_status},
            f"deadline passed; Kling task {ident} was {last_status or 'unknown'}",
        )

    @classmethod
    def capacity_timed_out(cls, external_task_id: str, error: KlingCapacityTimeoutError) -> WaitOutcome:
        """The account stayed at its parallel-task limit until the deadline: nothing submitted."""
        return cls(
            WaitStatus.CAPACITY_TIMEOUT,
            {"external_task_id": external_task_id},
            str(error),
            waited=error.waited_seconds,
        )

    @classmethod
    def gave_up(
        cls, ident: str, error: BaseException, *, transient: bool, id_key: str = "task_id"
    ) -> WaitOutcome:
        """Stopped on ``error``; only its non-secret parts are kept (str, code, request_id).

        ``id_key="external_task_id"``: a deferred submit that failed knows only that id.
        """
        api = error if isinstance(error, KlingAPIError) else None
        # The Kling task id under both names, as KlingTask.to_xcom() writes it.
        task = {"task_id": ident, "kling_task_id": ident} if id_key == "task_id" else {id_key: ident}
        return cls(
            WaitStatus.ERROR,
            task,
            str(error),
            transient=transient,
            code=api.code if api else None,
            http_status=api.http_status if api else None,
            request_id=api.request_id if api else None,
        )

    def on_triggerer(self) -> WaitOutcome:
        """The same outcome, marked as the end of a wait for a task the trigger submitted."""
        return dataclasses.replace(self, submitted_on_triggerer=True)

    @property
    def kling_task_id(self) -> str | None:
        # ``task_id`` alone: an event written by 0.1.0.
        value = self.task.get("kling_task_id", self.task.get("task_id"))
        return None if value is None else str(value)

    @property
    def submit_failed(self) -> bool:
        """A deferred submit stopped before Kling gave the task an id (only its external id known)."""
        return self.kling_task_id is None and self.task.get("external_task_id") is not None

    def to_event(self) -> dict[str, Any]:
        """The TriggerEvent payload: the dict shapes of earlier versions, one status each."""
        event: dict[str, Any] = {
            "status": self.status.value,
            "task": dict(self.task),
            "message": self.message,
        }
        if self.status is WaitStatus.ERROR:
            event["transient"] = self.transient
            for name in ("code", "http_status", "request_id"):
                if getattr(self, name) is not None:
                    event[name] = getattr(self, name)
        if self.status is WaitStatus.CAPACITY_TIMEOUT:
            event["waited"] = self.waited or 0.0
        if self.submitted_on_triggerer:
            event[SUBMITTED_ON_TRIGGERER_KEY] = True
        if self.request_in_xcom:
            event[REQUEST_IN_XCOM_KEY] = True
        return event

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> WaitOutcome:
        """Read a payload back, whichever version of this provider wrote it."""
        try:
            status = WaitStatus(event.get("status"))
        except ValueError:  # an event this version cannot read fails the wait, retryably
            return cls(
                WaitStatus.ERROR, dict(event.get("task") or {}), f"unexpected event {event!r}", transient=True
            )
        code, http_status, waited = event.get("code"), event.get("http_status"), event.get("waited")
        if status is WaitStatus.CAPACITY_TIMEOUT and waited is None:
            waited = 0.0
        return cls(
            status,
            dict(event.get("task") or {}),
            str(event.get("message") or ""),
            transient=bool(event.get("transient")),
            code=int(code) if code is not None else None,
            http_status=int(http_status) if http_status is not None else None,
            request_id=event.get("request_id"),
            waited=float(waited) if waited is not None else None,
            submitted_on_triggerer=bool(event.get(SUBMITTED_ON_TRIGGERER_KEY)),
            request_in_xcom=bool(event.get(REQUEST_IN_XCOM_KEY)),
        )

    def result(
        self,
        *,
        task_id_hint: str | None,
        timeout: float,
        timeout_error: type[KlingTaskTimeoutError] = KlingTaskTimeoutError,
    ) -> dict[str, Any]:
        """The task's XCom dict on success (or submit); otherwise raise the matching typed error."""
        error = self.error(task_id_hint=task_id_hint, timeout=timeout, timeout_error=timeout_error)
        if error is not None:
            raise error
        return dict(self.task)

    def error(
        self,
        *,
        task_id_hint: str | None,
        timeout: float,
        timeout_error: type[KlingTaskTimeoutError] = KlingTaskTimeoutError,
    ) -> KlingError | None:
        """The error a task raises for this outcome (see ``exceptions.py`` for which are retried)."""
        # A submit that failed on the triggerer knows only its external_task_id.
        task_id = self.kling_task_id or self.task.get("external_task_id") or task_id_hint or "unknown"
        if self.status in (WaitStatus.SUCCESS, WaitStatus.SUBMITTED):
            return None
        if self.status is WaitStatus.FAILED:
            return KlingTaskFailedError(task_id, self.message)
        if self.status is WaitStatus.TIMEOUT:
            return timeout_error(task_id, timeout, self.task.get("status"))
        if self.status is WaitStatus.CAPACITY_TIMEOUT:
            return KlingCapacityTimeoutError(self.message, waited_seconds=self.waited or 0.0)
        error = KlingWaitError if self.transient else KlingWaitAbortedError
        if self.submit_failed:  # a deferred submit, not a status check, gave up
            what = f"Submitting Kling task (external_task_id {task_id})"
        else:
            what = f"Waiting for Kling task {task_id}"
        return error(
            f"{what} failed: {self.message}",
            code=self.code,
            http_status=self.http_status,
            request_id=self.request_id,
        )
