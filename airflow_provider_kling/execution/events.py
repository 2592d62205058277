"""How a wait ends, as one typed value: the TriggerEvent payload and what the task returns or raises."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_kling.api.tasks import KlingTask, TaskStatus
from airflow_provider_kling.exceptions import (
    KlingAPIError,
    KlingError,
    KlingTaskFailedError,
    KlingTaskTimeoutError,
    KlingWaitAbortedError,
    KlingWaitError,
)

if TYPE_CHECKING:
    pass


class WaitStatus(str, enum.Enum):
    """How a wait ended (the ``status`` of its TriggerEvent payload)."""

    SUCCESS = "success"
    FAILED = "failed"  # the Kling task failed
    TIMEOUT = "timeout"
    ERROR = "error"  # polling gave up


EVENT_SUCCESS = WaitStatus.SUCCESS.value
EVENT_FAILED = WaitStatus.FAILED.value
EVENT_TIMEOUT = WaitStatus.TIMEOUT.value
EVENT_ERROR = WaitStatus.ERROR.value


@dataclass(frozen=True)
class WaitOutcome:
    """How one wait ended, the same for a blocking wait, a poke and a trigger.

    ``to_event()`` is the TriggerEvent payload (JSON, no secrets), ``from_event()`` reads it
    back (also events written before this type existed), and ``result()`` is what the task
    returns or raises.

    :param task: ``success``/``failed``: the task's XCom dict; otherwise ``{"task_id", "status"}``.
    :param message: Kling's failure reason, or why the wait stopped.
    :param transient: ``error`` only: whether an Airflow retry (which re-attaches) may succeed.
    :param code: ``error`` only: Kling's code of the last polling error, if it answered one.
    """

    status: WaitStatus
    task: Mapping[str, Any]
    message: str = ""
    transient: bool = False
    code: int | None = None
    http_status: int | None = None
    request_id: str | None = None

    @classmethod
    def finished(cls, task: KlingTask) -> WaitOutcome:
        """A task that reached ``succeed`` or ``failed`` (Kling's reason kept as is)."""
        if task.task_status is TaskStatus.SUCCEED:
            return cls(WaitStatus.SUCCESS, task.to_xcom())
        return cls(WaitStatus.FAILED, task.to_xcom(), task.task_status_msg or "")

    @classmethod
    def timed_out(cls, ident: str, last_status: str | None) -> WaitOutcome:
        return cls(
            WaitStatus.TIMEOUT,
            {"task_id": ident, "status": last_status},
            f"deadline passed; Kling task {ident} was {last_status or 'unknown'}",
        )

    @classmethod
    def gave_up(cls, ident: str, error: BaseException, *, transient: bool) -> WaitOutcome:
        """Polling stopped on ``error``; only its non-secret parts are kept (str, code, request_id)."""
        api = error if isinstance(error, KlingAPIError) else None
        return cls(
            WaitStatus.ERROR,
            {"task_id": ident},
            str(error),
            transient=transient,
            code=api.code if api else None,
            http_status=api.http_status if api else None,
            request_id=api.request_id if api else None,
        )

    @property
    def task_id(self) -> str | None:
        value = self.task.get("task_id")
        return None if value is None else str(value)

    def to_event(self) -> dict[str, Any]:
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
        return event

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> WaitOutcome:
        try:
            status = WaitStatus(event.get("status"))
        except ValueError:
            status = WaitStatus.ERROR  # an event this version cannot read fails the wait, retryably
            return cls(status, dict(event.get("task") or {}), f"unexpected event {event!r}", transient=True)
        code, http_status = event.get("code"), event.get("http_status")
        return cls(
            status,
            dict(event.get("task") or {}),
            str(event.get("message") or ""),
            transient=bool(event.get("transient")),
            code=int(code) if code is not None else None,
            http_status=int(http_status) if http_status is not None else None,
            request_id=event.get("request_id"),
        )

    def result(
        self,
        *,
        task_id_hint: str | None,
        timeout: float,
        timeout_error: type[KlingTaskTimeoutError] = KlingTaskTimeoutError,
    ) -> dict[str, Any]:
        """The task's XCom dict on success; otherwise raise the matching typed error."""
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
        task_id = self.task_id or self.task.get("external_task_id") or task_id_hint or "unknown"
        if self.status is WaitStatus.SUCCESS:
            return None
        if self.status is WaitStatus.FAILED:
            return KlingTaskFailedError(task_id, self.message)
        if self.status is WaitStatus.TIMEOUT:
            return timeout_error(task_id, timeout, self.task.get("status"))
        error = KlingWaitError if self.transient else KlingWaitAbortedError
        return error(
            f"Waiting for Kling task {task_id} failed: {self.message}",
            code=self.code,
            http_status=self.http_status,
            request_id=self.request_id,
        )
