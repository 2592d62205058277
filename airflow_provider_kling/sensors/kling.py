"""KlingTaskSensor: wait for a Kling task submitted elsewhere (poke, reschedule or deferrable)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_kling import DEFAULT_CONN_ID, config
from airflow_provider_kling.api.kinds import get_kind
from airflow_provider_kling.exceptions import KlingError, KlingValidationError

# Hook, models and waiting code are imported where used: this module is imported on every
# DAG parse, they are needed only when the sensor runs.
if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_kling.execution.events import WaitOutcome
    from airflow_provider_kling.execution.poll_errors import PollErrors
    from airflow_provider_kling.execution.progress import WaitProgress
    from airflow_provider_kling.hooks.kling import KlingHook


# The task state store key under which a sensor in reschedule mode keeps its failed-check count.
POLL_ERRORS_KEY = "kling_sensor_poll_errors"


def _try_number(context: Context) -> int | None:
    ti = context.get("ti")
    return getattr(ti, "try_number", None)


class KlingTaskSensor(BaseSensorOperator):
    """
    Succeed when a Kling task reaches ``succeed``; fail with Kling's message when it ``failed``.

    The sensor's XCom value is the task dict (ids, status, ``videos``, ``audios``), the same
    shape the submit operators return.

    While Kling does not know the id yet (a task about to be submitted elsewhere), the sensor
    keeps waiting.

    :param kling_task_id: Kling ``task_id`` to wait for (templated).
    :param external_task_id: Or your ``external_task_id`` (templated).
    :param task_kind: ``video-to-audio`` (default), ``text2video``, ``image2video``, ``text-to-audio``;
        new design (read through ``GET /tasks``, API-key connection only): ``text-to-video``,
        ``image-to-video``, ``omni-video``, ``motion-control``.
    :param kling_conn_id: Connection of type ``kling``.
    :param deferrable: Wait on the triggerer instead of a worker slot (default from
        ``[operators] default_deferrable``, read when the sensor is built).
    :param poke_interval: Seconds between checks, also when deferred (default
        ``[kling] poll_interval``, 10).
    :param timeout: Seconds to wait before failing, without retries as every Airflow sensor
        (default 3600).

    Failed checks are judged as in a deferred wait: 1302/1303 only slow down, auth/account
    errors fail at once, other errors fail the sensor after 5 in a row. In ``mode="reschedule"``
    the count carries from one poke to the next in Airflow's task state store (Airflow 3.3+), so
    the rule holds there exactly as in poke mode; the sensor deletes that count when it ends.

    On Airflow 3.1/3.2 (no task state store) a rescheduled poke that meets a failed check checks
    again in place, ``poke_interval`` apart, until a good check, the 5th failure or the sensor's
    ``timeout``: the scheduler does not reschedule between failed checks, so the sensor holds its
    worker slot for up to 5 checks. Once ``timeout`` has passed the poke ends and the sensor fails
    with Airflow's sensor timeout (``soft_fail`` skips it), as in any other poke.
    """

    template_fields: Sequence[str] = ("kling_task_id", "external_task_id")
    ui_color = "#e8f0ff"

    def __init__(
        self,
        *,
        kling_task_id: str | None = None,
        external_task_id: str | None = None,
        task_kind: str = "video-to-audio",
        kling_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("poke_interval") is None:
            kwargs["poke_interval"] = config.poll_interval()
        kwargs.setdefault("timeout", 3600.0)
        super().__init__(**kwargs)
        get_kind(task_kind)
        self.kling_task_id = kling_task_id
        self.external_task_id = external_task_id
        self.task_kind = task_kind
        self.kling_conn_id = kling_conn_id
        # Read here, not as a default argument: that would freeze it at module import.
        self.deferrable = config.default_deferrable() if deferrable is None else deferrable
        self._progress: WaitProgress | None = None
        self._poll_errors: PollErrors | None = None
        self._first_poke_at: float | None = None  # epoch seconds, this process's first poke

    @cached_property
    def hook(self) -> KlingHook:
        from airflow_provider_kling.hooks.kling import KlingHook

        return KlingHook(self.kling_conn_id)

    @property
    def ident(self) -> str:
        ident = self.kling_task_id or self.external_task_id
        if not ident:
            raise KlingValidationError("KlingTaskSensor needs kling_task_id or external_task_id")
        return str(ident)

    def poke(self, context: Context) -> PokeReturnValue:
        from airflow_provider_kling.execution.events import WaitOutcome
        from airflow_provider_kling.execution.progress import WaitProgress

        if self._first_poke_at is None:
            self._first_poke_at = time.time()
            # A configuration no retry fixes (a JWT connection for a new-design task) ends at once.
            self.hook.require_api_key(get_kind(self.task_kind))
        store = self._budget_store(context)
        errors = self._load_poll_errors(context, store)
        before = errors.state()
        while True:
            try:
                task = self.hook.get_task(self.task_kind, self.ident)
                break
            except KlingError as exc:
                # The same verdict as a deferred wait (PollErrors): slow-downs and unknown ids are
                # not failed checks, a few failed checks in a row (each already retried) are not fatal.
                gave_up = errors.record(exc, self.log)
                if gave_up is not None:
                    if store is not None:
                        store.delete(POLL_ERRORS_KEY)  # an Airflow retry starts with a full budget
                    error = gave_up.error(task_id_hint=self.ident, timeout=self.timeout)
                    assert error is not None  # an outcome of record() is never a success
                    raise error from exc
                if self.reschedule and store is None and errors.in_a_row:
                    # Rescheduled without a task state store (Airflow < 3.3): nothing would carry the
                    # count to the next poke, so this poke checks again until the verdict is known,
                    # within the sensor's timeout (past it, not done: Airflow raises its timeout).
                    left = self._timeout_left(context)
                    if left > 0:
                        time.sleep(min(self.poke_interval, left))
                        continue
                    self.log.warning("Sensor timeout passed while Kling status checks were failing")
                self._save_poll_errors(context, store, errors, before)
                return PokeReturnValue(is_done=False)
        errors.succeeded()
        if self._progress is None:
            self._progress = WaitProgress(self.task_kind, self.ident)
        line = self._progress.observe(task)
        if line:
            self.log.info(line)
        if not task.is_terminal:
            self._save_poll_errors(context, store, errors, before)
            return PokeReturnValue(is_done=False)
        if store is not None:
            store.delete(POLL_ERRORS_KEY)  # the sensor ends here: leave no state-store row behind
        return PokeReturnValue(is_done=True, xcom_value=self._result(WaitOutcome.finished(task)))

    def _timeout_left(self, context: Context) -> float:
        """Seconds until the sensor's ``timeout``, counted as Airflow counts it in reschedule mode.

        From the first reschedule of this try (Airflow asks the API server), else from this
        process's first poke (the first poke of the try, as Airflow's own clock starts then).
        """
        from datetime import datetime, timezone

        ti = context.get("ti")
        first_reschedule = getattr(ti, "get_first_reschedule_date", None)
        started = first_reschedule(context) if callable(first_reschedule) else None
        if started is not None:
            elapsed = (datetime.now(timezone.utc) - started).total_seconds()
        else:
            elapsed = time.time() - (self._first_poke_at or time.time())
        return float(self.timeout) - elapsed

    # ------------------------------------------------------------------ the error budget

    def _budget_store(self, context: Context) -> Any:
        """Where a rescheduled sensor keeps its error budget between pokes, or ``None``.

        In reschedule mode every poke is a new process with a new sensor instance. Airflow 3.3's
        task state store outlives the reschedules (XCom does not: Airflow clears a task's XCom
        each time it starts, unless it resumes from a deferral). Poke mode keeps it in memory.
        """
        if not self.reschedule or self.deferrable:
            return None
        return context.get("task_state_store")  # a key of Airflow 3.3+ only

    def _load_poll_errors(self, context: Context, store: Any) -> PollErrors:
        from airflow_provider_kling.execution.poll_errors import PollErrors

        if store is None:
            if self._poll_errors is None:
                self._poll_errors = PollErrors(self.ident, wait_for_unknown=True)
            return self._poll_errors
        errors = PollErrors(self.ident, wait_for_unknown=True)
        saved = store.get(POLL_ERRORS_KEY)
        # A count saved by an earlier try is not this try's: each Airflow try has a full budget.
        if isinstance(saved, dict) and saved.get("try") == _try_number(context):
            errors.restore(saved)
        return errors

    def _save_poll_errors(
        self, context: Context, store: Any, errors: PollErrors, before: dict[str, Any]
    ) -> None:
        if store is not None and errors.state() != before:
            store.set(POLL_ERRORS_KEY, {"try": _try_number(context), **errors.state()})

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        done = self.poke(context)  # check first: never defer for a finished task
        if done.is_done:
            return done.xcom_value
        from airflow_provider_kling.triggers.kling import KlingTaskTrigger

        self.defer(
            trigger=KlingTaskTrigger(
                kling_task_id=self.ident,
                task_kind=self.task_kind,
                kling_conn_id=self.kling_conn_id,
                poll_interval=self.poke_interval,
                deadline=time.time() + self.timeout,
                last_status=self._progress.last_status if self._progress else None,
                wait_for_unknown=True,  # as poke mode does
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + 60),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired."""
        from airflow_provider_kling.execution.events import WaitOutcome

        return self._result(WaitOutcome.from_event(event))

    def _result(self, outcome: WaitOutcome) -> dict[str, Any]:
        from airflow_provider_kling.exceptions import KlingSensorTimeoutError

        return outcome.result(
            task_id_hint=self.ident, timeout=self.timeout, timeout_error=KlingSensorTimeoutError
        )
