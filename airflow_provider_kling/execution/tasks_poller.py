"""New-design waits: one poller per connection and event loop reads ``GET /tasks`` in batches.

Every new-design family (text-to-video, image-to-video, omni-video, motion-control) is read back
through the same ``GET /tasks?task_ids=a,b,...``, so all new-design waits of a connection on a
loop (a triggerer's: thousands) share one ``TasksPoller`` whatever their family and poll
interval: each round sends one request per batch of ids (``hooks.new_design.id_batches``), plus
one batched ``external_task_ids=`` look-up for the ids the first did not return (a sensor may
wait on an external id), instead of one request per wait.

Waits are as thin as legacy ones (``polling.TaskPoller``): a wait registers a small ``Waiter``
(no coroutine, no Task), a round parses only the entries whose raw status changed for a due
wait (or whose heartbeat is due, or that finished), wakes only those waits, and hands each
``GET /tasks`` answer over before the next batch is read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from airflow_provider_kling.api.tasks import KlingTask, parse_task, raw_status
from airflow_provider_kling.exceptions import KlingAuthError, KlingError, KlingInvalidRequestError
from airflow_provider_kling.execution.poll_timing import (
    FINISHED,
    Waiter,
    answered,
    forget_waiter,
    jittered,
    next_slowdown,
    register,
    resolve,
    settle,
    wakes,
)
from airflow_provider_kling.hooks.shared import arenewed_after_refusal, renewed
from airflow_provider_kling.utils.background import start_background
from airflow_provider_kling.utils.loop_registry import LoopRegistry

if TYPE_CHECKING:
    from airflow_provider_kling.hooks.kling import KlingHook


class TasksPoller:
    """Polls ``GET /tasks`` on behalf of every new-design wait of one connection on a loop.

    Rounds follow the shortest poll interval among the current waits; a wait with a longer
    interval rides along on the first round at least ``interval - round interval`` after it
    began waiting, so it is answered within its own interval and is not polled more often.
    """

    def __init__(self, hook: KlingHook) -> None:
        self.hook = hook
        self._waiters: dict[str, list[Waiter]] = {}
        self._intervals: dict[float, int] = {}  # poll interval -> waits using it
        self._due: dict[str, list[Waiter]] = {}  # the current round's waiters, by id
        self._runner: asyncio.Task[None] | None = None
        self._sleep: asyncio.Future[bool] | None = None  # the runner's sleep between rounds
        self._tick: float | None = None  # the interval the runner sleeps now
        self.slowdown = 1.0  # x2 (up to MAX_SLOWDOWN) while Kling answers 1302/1303, else 1
        self.rounds = 0
        self.wakeups = 0  # waiters woken with a task (not an error): one per change or heartbeat

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
        return await answered(self, ident, self.watch(ident, known, wake_at, interval=interval), timeout)

    def watch(self, ident: str, known: str | None, wake_at: float, *, interval: float) -> Waiter:
        """Register a wait for the first due round that finds ``ident`` changed (see
        ``next_snapshot``); the caller awaits ``waiter.future`` and must ``unwatch`` afterwards."""
        loop = asyncio.get_running_loop()
        waiter = Waiter(loop.create_future(), known, wake_at, float(interval), loop.time())
        register(self._waiters, ident, waiter)
        self._intervals[waiter.interval] = self._intervals.get(waiter.interval, 0) + 1
        if self._runner is None or self._runner.done():
            self._runner = start_background(self._run(), name="kling-tasks-poller")
        elif self._tick is not None and waiter.interval < self._tick and self._sleep is not None:
            resolve(self._sleep, True)  # a faster wait: the runner restarts its sleep on the shorter interval
        return waiter

    def unwatch(self, ident: str, waiter: Waiter) -> None:
        if forget_waiter(self._waiters, ident, waiter):
            left = self._intervals.get(waiter.interval, 0) - 1
            if left > 0:
                self._intervals[waiter.interval] = left
            else:
                self._intervals.pop(waiter.interval, None)

    def _shortest_interval(self) -> float | None:
        return min(self._intervals, default=None)

    async def _run(self) -> None:
        # Ends after a round interval without waiters; the next wait starts a new runner.
        loop = asyncio.get_running_loop()
        tick = self._shortest_interval() or 0.0
        while True:
            self._tick = tick
            self._sleep = sleep = loop.create_future()  # a future and a timer: no Task per round
            timer = loop.call_later(jittered(tick * self.slowdown), resolve, sleep, False)
            try:
                woken_early = await sleep
            finally:
                timer.cancel()
                self._sleep = None
            if woken_early:
                tick = self._shortest_interval() or tick  # woken by a faster wait
                continue
            if not self._waiters:
                self._tick = None
                return
            if len(self._intervals) == 1 and tick in self._intervals:  # the usual case: all are due
                batch = dict(self._waiters)
            else:
                now = loop.time()
                batch = {
                    ident: due
                    for ident, ws in self._waiters.items()
                    if (due := [w for w in ws if now - w.since >= (w.interval - tick) * self.slowdown])
                }
            if batch:
                await self._round(batch)
            del batch  # do not hold a round's waiters while sleeping
            tick = self._shortest_interval() or tick

    async def _round(self, batch: dict[str, list[Waiter]]) -> None:
        self.rounds += 1
        self.hook = renewed(self.hook)  # a shared hook past its expiry: read the connection again
        self._due = batch
        try:
            results = await self._poll(batch.keys())
            refused = [i for i, r in results.items() if isinstance(r, KlingAuthError)]
            if refused:
                # The key may have been rotated: retry once if the connection changed since.
                fresh = await arenewed_after_refusal(self.hook)
                if fresh is not None:
                    self.hook = fresh
                    results = {i: r for i, r in results.items() if i not in refused}
                    results.update(await self._poll(refused))
        except Exception as exc:  # an unexpected error must fail these waits, not hang them
            results = dict.fromkeys(batch, exc)
        finally:
            self._due = {}
        self.slowdown = next_slowdown(self.slowdown, results)
        settle({i: batch[i] for i in results if i in batch}, results)

    async def _poll(self, idents: Iterable[str]) -> dict[str, KlingTask | BaseException]:
        """The error of each id whose check failed, or that Kling does not know (the not-found error
        of a legacy ``GET …/{id}``); each answer's changed tasks go to their waits as it is read."""
        wanted = list(idents)
        seen: set[str] = set()
        failures: dict[str, KlingTask | BaseException] = {}
        now, loop_now = time.monotonic(), asyncio.get_running_loop().time()
        try:
            async for entries in self.hook.aiter_task_entries(wanted):
                ready: dict[str, KlingTask | BaseException] = {}
                woken: dict[str, list[Waiter]] = {}
                for ident, entry in entries:
                    seen.add(ident)
                    self._read(ident, entry, now, loop_now, ready, woken)
                # These waits run (and drop their task) while the next batch is read.
                self.wakeups += settle(woken, ready)
                del ready, woken
        except Exception as exc:  # a failed check, or an unexpected error: it must fail, not hang,
            return {i: exc for i in wanted if i not in seen}  # the waits not yet handed their task
        for ident in wanted:
            if ident not in seen:
                failures[ident] = KlingInvalidRequestError(
                    f"Kling does not know task {ident!r}: GET /tasks answered without it "
                    "(neither as task id nor as external_task_id)"
                )
        return failures

    def _read(
        self,
        ident: str,
        entry: dict[str, Any],
        now: float,
        loop_now: float,
        ready: dict[str, KlingTask | BaseException],
        woken: dict[str, list[Waiter]],
    ) -> None:
        """Sort one raw entry's due waiters into woken (entry parsed once) and sleeping on (not parsed)."""
        due = self._due.get(ident) or ()
        status = raw_status(entry)
        finished = status in FINISHED
        wake = [w for w in due if finished or wakes(w, status, now)]
        for w in due:
            w.since = loop_now  # polled now: a slower wait's next due round counts from here
        if not wake:
            return  # unchanged for every due wait: nothing to parse, nobody to wake
        try:
            ready[ident] = parse_task(entry, "task list entry")
        except KlingError as exc:
            ready[ident] = exc  # unreadable: its waits count a failed check
        woken[ident] = wake


# The new-design poller of each connection on each event loop.
_pollers: LoopRegistry[str, TasksPoller] = LoopRegistry()
