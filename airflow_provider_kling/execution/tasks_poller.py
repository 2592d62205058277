"""New-design waits: one poller per connection and event loop reads ``GET /tasks`` in batches.

Every new-design family (text-to-video, image-to-video, omni-video, motion-control) is read back
through the same ``GET /tasks?task_ids=a,b,...``, so all new-design waits of a connection on a
loop (a triggerer's: thousands) share one ``TasksPoller`` whatever their family and poll
interval: each round sends one request per batch of ids (``hooks.new_design.id_batches``), plus
one batched ``external_task_ids=`` look-up for the ids the first did not return (a sensor may
wait on an external id), instead of one request per wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from airflow_provider_kling.api.tasks import KlingTask
from airflow_provider_kling.exceptions import KlingAuthError, KlingError, KlingInvalidRequestError
from airflow_provider_kling.execution.poll_timing import (
    expire,
    forget_waiter,
    jittered,
    next_slowdown,
    settle,
)
from airflow_provider_kling.hooks.shared import arenewed_after_refusal, renewed
from airflow_provider_kling.utils.background import start_background
from airflow_provider_kling.utils.loop_registry import LoopRegistry

if TYPE_CHECKING:
    from airflow_provider_kling.hooks.kling import KlingHook


class _Waiter:
    """One wait's seat: woken when its task changed, a heartbeat is due, or on an error."""

    __slots__ = ("future", "interval", "known", "since", "wake_at")

    def __init__(
        self,
        future: asyncio.Future[KlingTask],
        interval: float,
        since: float,
        known: str | None,
        wake_at: float,
    ) -> None:
        self.future = future
        self.interval = interval
        self.since = since  # loop time it began waiting for a round
        self.known = known  # the status the waiter has seen; None: every due round wakes it
        self.wake_at = wake_at  # monotonic time from which an unchanged task wakes it too


class TasksPoller:
    """Polls ``GET /tasks`` on behalf of every new-design wait of one connection on a loop.

    Rounds follow the shortest poll interval among the current waits; a wait with a longer
    interval rides along on the first round at least ``interval - round interval`` after it
    began waiting, so it is answered within its own interval and is not polled more often.
    """

    def __init__(self, hook: KlingHook) -> None:
        self.hook = hook
        self._waiters: dict[str, list[_Waiter]] = {}
        self._runner: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._tick: float | None = None  # the interval the runner sleeps now
        self.slowdown = 1.0  # x2 (up to MAX_SLOWDOWN) while Kling answers 1302/1303, else 1
        self.rounds = 0

    @classmethod
    def shared(cls, hook: KlingHook) -> TasksPoller:
        poller = _pollers.get_or_create(hook.kling_conn_id, lambda: cls(hook))
        poller.hook = hook  # the newest wait's hook: a rotated key reaches new waits
        return poller

    async def next_snapshot(
        self,
        ident: str,
        *,
        interval: float,
        timeout: float | None = None,
        known: str | None = None,
        wake_at: float = 0.0,
    ) -> KlingTask:
        """The task as seen by the first round due for a wait polling every ``interval`` seconds
        that finds it changed: status not ``known`` (``None``: any), or monotonic ``wake_at`` passed.

        Raises ``asyncio.TimeoutError`` when no round answered within ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop.create_future(), float(interval), loop.time(), known, wake_at)
        self._waiters.setdefault(ident, []).append(waiter)
        if self._runner is None or self._runner.done():
            self._runner = start_background(self._run(), name="kling-tasks-poller")
        elif self._tick is not None and waiter.interval < self._tick:
            self._wake.set()  # a faster wait: the runner restarts its sleep on the shorter interval
        timer = None if timeout is None else loop.call_later(timeout, expire, waiter.future)
        try:
            return await waiter.future
        finally:
            if timer is not None:
                timer.cancel()
            forget_waiter(self._waiters, ident, waiter)

    def _shortest_interval(self) -> float | None:
        return min((w.interval for ws in self._waiters.values() for w in ws), default=None)

    async def _run(self) -> None:
        # Ends after a round interval without waiters; the next wait starts a new runner.
        loop = asyncio.get_running_loop()
        tick = self._shortest_interval() or 0.0
        while True:
            self._tick = tick
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), jittered(tick * self.slowdown))
                tick = self._shortest_interval() or tick  # woken by a faster wait
                continue
            except asyncio.TimeoutError:
                pass
            if not self._waiters:
                self._tick = None
                return
            now = loop.time()
            batch = {
                ident: due
                for ident, ws in self._waiters.items()
                if (due := [w for w in ws if now - w.since >= (w.interval - tick) * self.slowdown])
            }
            if batch:
                await self._round(batch)
            tick = self._shortest_interval() or tick

    async def _round(self, batch: dict[str, list[_Waiter]]) -> None:
        self.rounds += 1
        self.hook = renewed(self.hook)  # a shared hook past its expiry: read the connection again
        try:
            results = await self._poll(batch.keys())
            if any(isinstance(r, KlingAuthError) for r in results.values()):
                # The key may have been rotated: retry once if the connection changed since.
                fresh = await arenewed_after_refusal(self.hook)
                if fresh is not None:
                    self.hook = fresh
                    results = await self._poll(batch.keys())
        except Exception as exc:  # an unexpected error must fail these waits, not hang them
            results = dict.fromkeys(batch, exc)
        self.slowdown = next_slowdown(self.slowdown, results)
        now, loop_now = time.monotonic(), asyncio.get_running_loop().time()
        woken: dict[str, list[_Waiter]] = {}
        for ident, waiters in batch.items():
            task = results.get(ident)
            status = task.task_status.value if isinstance(task, KlingTask) and not task.is_terminal else None
            for w in waiters:
                if status is not None and w.known == status and now < w.wake_at:
                    w.since = loop_now  # unchanged: it sleeps on until a round sees a change
                else:
                    woken.setdefault(ident, []).append(w)
        settle(woken, results)

    async def _poll(self, idents: Iterable[str]) -> dict[str, KlingTask | BaseException]:
        """Each id's task, or the not-found error a legacy ``GET …/{id}`` gives for an unknown one."""
        wanted = list(idents)
        try:
            found: dict[str, KlingTask | BaseException] = dict(await self.hook.aget_tasks(wanted))
        except KlingError as exc:
            return dict.fromkeys(wanted, exc)
        for ident in wanted:
            if ident not in found:
                found[ident] = KlingInvalidRequestError(
                    f"Kling does not know task {ident!r}: GET /tasks answered without it "
                    "(neither as task id nor as external_task_id)"
                )
        return found


# The new-design poller of each connection on each event loop.
_pollers: LoopRegistry[str, TasksPoller] = LoopRegistry()
