"""KlingTaskTrigger: waits for a Kling task on the triggerer, freeing the worker slot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_kling.api.kinds import get_kind
from airflow_provider_kling.execution.polling import wait_for_task
from airflow_provider_kling.execution.progress import WaitProgress
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.hooks.shared import shared_hook
from airflow_provider_kling.hooks.transport import shared_session_scope


class KlingTaskTrigger(BaseTrigger):
    """
    Fire one event when a Kling task finishes (``succeed`` / ``failed``), times out or errors.

    Serialized kwargs are only non-secret values: the connection id, the Kling task id, the task
    kind, the poll interval and an absolute ``deadline`` (epoch seconds), so a triggerer
    restart neither leaks a key nor restarts the clock. All triggers on a triggerer share one
    HTTP session and one batched poller per (connection, kind, interval); new-design waits one
    batched ``GET /tasks`` poller per connection.

    :param kling_task_id: Kling ``task_id`` or your ``external_task_id``.
    :param task_kind: Task kind, e.g. ``video-to-audio`` (default), ``text2video``; a new-design
        kind (``text-to-video``, ...) is read with every other new-design wait of the connection
        in one batched ``GET /tasks`` per round.
    :param kling_conn_id: Connection of type ``kling``.
    :param poll_interval: Seconds between polls.
    :param deadline: Epoch seconds after which a ``timeout`` event fires; ``None`` waits forever.
    :param last_status: Status already reported to the user (avoids a repeated log line).
    :param wait_for_unknown: Wait while Kling does not know the id (a sensor waiting for a task
        submitted elsewhere) instead of giving up after a few rounds.
    :param task_id: Old name of ``kling_task_id`` (trigger rows stored by 0.1.0 and earlier).
    :param kind: Old name of ``task_kind`` (trigger rows stored by 0.1.0 and earlier).
    """

    def __init__(
        self,
        kling_task_id: str | None = None,
        task_kind: str | None = None,
        kling_conn_id: str = KlingHook.default_conn_name,
        poll_interval: float = 10.0,
        deadline: float | None = None,
        last_status: str | None = None,
        wait_for_unknown: bool = False,
        *,
        task_id: str | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__()
        # A deferred task survives an upgrade: its trigger row may hold the old kwarg names.
        ident = kling_task_id if kling_task_id is not None else task_id
        if not ident:
            raise ValueError("KlingTaskTrigger needs kling_task_id")
        self.kling_task_id = str(ident)
        self.task_kind = task_kind or kind or "video-to-audio"
        get_kind(self.task_kind)
        self.kling_conn_id = kling_conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.last_status = last_status
        self.wait_for_unknown = wait_for_unknown

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            # Stored under 0.1.0's keys until 1.0: a triggerer still on 0.1.0 (a rolling upgrade,
            # a rollback) resumes a row written by this version. The arguments are the new names.
            {
                "task_id": self.kling_task_id,
                "kind": self.task_kind,
                "kling_conn_id": self.kling_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "last_status": self.last_status,
                "wait_for_unknown": self.wait_for_unknown,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # One hook per connection and loop for every wait (connection read once a minute, JWT shared).
        hook = shared_hook(self.kling_conn_id)
        progress = WaitProgress(self.task_kind, self.kling_task_id, last_status=self.last_status)
        # One logger for the class, not one per trigger: the triggerer routes each line to its
        # trigger's log by context (the trigger id bound to the trigger's own asyncio task).
        log = type(self).logger()
        log.info(
            "Waiting for Kling %s task %s (poll every %.0fs)",
            self.task_kind,
            self.kling_task_id,
            self.poll_interval,
        )
        async with shared_session_scope():
            outcome = await wait_for_task(
                hook,
                self.task_kind,
                self.kling_task_id,
                poll_interval=self.poll_interval,
                deadline=self.deadline,
                progress=progress,
                log=log,
                wait_for_unknown=self.wait_for_unknown,
            )
        yield TriggerEvent(outcome.to_event())

    async def on_kill(self) -> None:
        self.log.warning(
            "Kling has no cancel endpoint: task %s keeps running (and is billed) on Kling's side",
            self.kling_task_id,
        )
