"""Waiting for Kling tasks: one state machine for blocking operators, sensors and triggers.

``TaskPoller`` batches every legacy-design wait on one event loop that shares a connection, task kind and
poll interval: each round it reads Kling's list endpoint (500 tasks per call) once for all of
them, and queries single tasks only for ids the list did not show and for tasks that just
finished (to get their full result).  A triggerer with 1,000 waits therefore sends a handful
of requests per interval over a few keep-alive connections, instead of 1,000. New-design
waits go to ``tasks_poller.TasksPoller`` (batched ``GET /tasks``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from airflow_provider_kling.api.kinds import TaskKind, get_kind
from airflow_provider_kling.api.tasks import KlingTask, TaskStatus, parse_task, raw_status, raw_task_ids
from airflow_provider_kling.exceptions import (
    KlingAuthError,
    KlingError,
    KlingResponseError,
    is_not_found,
)
from airflow_provider_kling.execution.capacity import CapacityGate
from airflow_provider_kling.execution.events import WaitOutcome
from airflow_provider_kling.execution.poll_errors import PollErrors, is_throttle
from airflow_provider_kling.execution.poll_timing import (  # MAX_SLOWDOWN: 0.1.0 path .waiting
    FINISHED,
    MAX_SLOWDOWN,  # noqa: F401
    Waiter,
    answered,
    any_wakes,
    expire,
    forget_waiter,
    jittered,
    next_slowdown,
    register,
    settle,
)
from airflow_provider_kling.execution.progress import WaitProgress
from airflow_provider_kling.execution.tasks_poller import TasksPoller
from airflow_provider_kling.hooks.shared import arenewed_after_refusal, renewed
from airflow_provider_kling.utils.background import start_background
from airflow_provider_kling.utils.loop_registry import LoopRegistry

if TYPE_CHECKING:
    from airflow_provider_kling.hooks.kling import KlingHook

# Below this many waiters a round queries tasks one by one (cheaper than a 500-row page).
LIST_BATCH_THRESHOLD = 4
LIST_PAGE_SIZE = 500  # the API's maximum
MAX_LIST_PAGES = 20
SINGLE_QUERY_CONCURRENCY = 16
# After the server refused a list call as invalid (400/404), query one by one for this long.
LIST_REFUSAL_PAUSE_SECONDS = 600.0

# A task in these holds one of the account's parallel-task slots (docs/kling-api.md#concurrency).
RUNNING_STATUSES = (TaskStatus.SUBMITTED.value, TaskStatus.PROCESSING.value)


def _has_result(task: KlingTask) -> bool:
    """Whether a finished task carries what its waiter needs: its files, or why it failed."""
    if task.task_status is TaskStatus.FAILED:
        return bool(task.task_status_msg)
    return bool(task.task_result.videos or task.task_result.audios or task.task_result.images)


class TaskPoller:
    """Polls Kling on behalf of every waiter with the same (connection, kind, interval) on a loop.

    A round reads the list once; an entry whose waiters already know its status is not even
    parsed, and those waiters are not woken: a wait costs a dict look-up per round until its
    task changes (or its 60 s progress heartbeat is due).
    """

    def __init__(self, hook: KlingHook, task_kind: TaskKind, interval: float) -> None:
        self.hook = hook
        self.task_kind = task_kind
        self.interval = interval
        self._waiters: dict[str, list[Waiter]] = {}
        self._runner: asyncio.Task[None] | None = None
        self._list_refused_until = 0.0  # monotonic time
        # Grows (x2, up to MAX_SLOWDOWN) while Kling answers 1302/1303, back to 1 after a clean
        # round: thousands of waits must not keep a rate-limited account saturated.
        self.slowdown = 1.0
        self.rounds = 0
        self._delivered: set[str] = set()  # ids whose waiters got their task in the current round
        self.wakeups = 0  # waiters woken with a task (not an error): one per change or heartbeat

    @classmethod
    def shared(cls, hook: KlingHook, task_kind: str | TaskKind, interval: float) -> TaskPoller:
        k = get_kind(task_kind)
        key = (hook.kling_conn_id, k.name, float(interval))
        poller = _pollers.get_or_create(key, lambda: cls(hook, k, interval))
        # Pollers live as long as the loop (a triggerer's: days). Rounds use the newest wait's hook
        # (triggers share one per connection, renewed every CONNECTION_TTL_SECONDS; see _run).
        poller.hook = hook
        return poller

    async def next_snapshot(
        self,
        ident: str,
        *,
        timeout: float | None = None,
        known: str | None = None,
        wake_at: float = 0.0,
    ) -> KlingTask:
        """The task as seen by the first round that finds it changed.

        A round answers when the task's status is not ``known`` (``None``: every round answers),
        or monotonic time passed ``wake_at``; a failed check reaches the waiter every round.
        Raises ``asyncio.TimeoutError`` when no round answered within ``timeout`` seconds. A
        timer on the future, not ``asyncio.wait_for``: no extra Task per wait.
        """
        return await answered(self, ident, self.watch(ident, known, wake_at), timeout)

    def watch(self, ident: str, known: str | None = None, wake_at: float = 0.0) -> Waiter:
        """Register a wait for the next round that finds ``ident`` changed (see ``next_snapshot``).

        The caller awaits ``waiter.future`` and must ``unwatch`` afterwards. No coroutine of its own:
        thousands of sleeping waits on a triggerer cost one future and one small object each.
        """
        waiter = Waiter(asyncio.get_running_loop().create_future(), known, wake_at)
        register(self._waiters, ident, waiter)
        if self._runner is None or self._runner.done():
            self._runner = start_background(self._run(), name=f"kling-poller-{self.task_kind.name}")
        return waiter

    def unwatch(self, ident: str, waiter: Waiter) -> None:
        forget_waiter(self._waiters, ident, waiter)

    async def _run(self) -> None:
        # Ends after an interval without waiters; the next wait starts a new runner.
        while True:
            await asyncio.sleep(jittered(self.interval * self.slowdown))
            if not self._waiters:
                return
            self.rounds += 1
            self.hook = renewed(self.hook)
            idents = list(self._waiters)
            self._delivered = set()  # ids whose waiters got their task this round
            try:
                results = await self._poll(idents)
                if any(isinstance(r, KlingAuthError) for r in results.values()):
                    # The key may have been rotated: retry once if the connection changed since.
                    fresh = await arenewed_after_refusal(self.hook)
                    if fresh is not None:
                        self.hook = fresh
                        results = await self._poll(idents)
            except Exception as exc:  # an unexpected error must fail these waits, not hang them
                results = dict.fromkeys((i for i in idents if i not in self._delivered), exc)
            self.slowdown = next_slowdown(self.slowdown, results)
            self._deliver(results)
            del results, idents  # do not hold a round's tasks while sleeping

    def _deliver(self, results: dict[str, KlingTask | BaseException]) -> None:
        """Hand each id's waiters their task or error now (their futures resolve; they run next)."""
        batch = {i: ws for i in results if (ws := self._waiters.get(i))}
        self._delivered.update(i for i in batch if isinstance(results[i], KlingTask))
        self.wakeups += settle(batch, results)  # counts only the waits given a task now

    async def _poll(self, idents: Iterable[str]) -> dict[str, KlingTask | BaseException]:
        """The task (or error) of each id whose waiters must wake; unchanged ones are left out."""
        now = time.monotonic()
        wanted = set(idents)
        results: dict[str, KlingTask | BaseException] = {}
        if len(wanted) >= LIST_BATCH_THRESHOLD and now >= self._list_refused_until:
            await self._poll_list(wanted, now, results)
        remaining = [i for i in wanted if i not in results]
        if remaining:
            semaphore = asyncio.Semaphore(SINGLE_QUERY_CONCURRENCY)

            async def one(ident: str) -> None:
                async with semaphore:
                    try:
                        task = await self.hook.aget_task(self.task_kind, ident)
                    except Exception as exc:
                        results[ident] = exc
                        return
                    if task.is_terminal or any_wakes(self._waiters.get(ident), task.task_status.value, now):
                        results[ident] = task

            await asyncio.gather(*(one(i) for i in remaining))
        return results

    async def _poll_list(
        self, wanted: set[str], now: float, results: dict[str, KlingTask | BaseException]
    ) -> None:
        """Read the list pages; leaves in ``wanted`` only the ids to query one by one.

        Ids found unchanged are removed without parsing their entries; finished entries without
        their result (thin list entries of some servers) stay in ``wanted`` to be re-read.
        Pages are read, newest first, while at least ``LIST_BATCH_THRESHOLD`` ids are still
        missing: waits on older tasks (a triggerer starting thousands of waits, an account busy
        with newer tasks) are found a page deeper instead of costing one request each.
        """
        missing = set(wanted)
        found: set[str] = set()
        params: dict[str, Any] = {"pageSize": LIST_PAGE_SIZE}
        for page in range(1, MAX_LIST_PAGES + 1):
            try:
                params["pageNum"] = page
                entries = await self.hook.arequest("GET", self.task_kind.path, params=dict(params))
                if not isinstance(entries, list):
                    raise KlingResponseError(
                        f"Kling's task list has no list in 'data' (got {type(entries).__name__})"
                    )
            except KlingError as exc:
                if is_throttle(exc):
                    # Querying one by one would only add load: skip this round for all of them.
                    results.update(dict.fromkeys(missing, exc))
                    wanted.difference_update(found)
                    return
                # A 400/404-style refusal (no list route, or a smaller page limit) will not change
                # soon: do not pay a failed list call every round (a misrouted proxy may recover).
                refused = is_not_found(exc)
                if refused:
                    self._list_refused_until = time.monotonic() + LIST_REFUSAL_PAUSE_SECONDS
                self.hook.log.warning(
                    "Listing Kling %s tasks failed (%s); querying one by one%s",
                    self.task_kind.name,
                    exc,
                    f" for {LIST_REFUSAL_PAUSE_SECONDS:.0f}s" if refused else "",
                )
                break
            ready: dict[str, KlingTask | BaseException] = {}
            for entry in entries:
                task_id, external = raw_task_ids(entry)
                ident = task_id if task_id in missing else external if external in missing else None
                if ident is None:
                    continue
                missing.discard(ident)
                status = raw_status(entry)
                if status in FINISHED or any_wakes(self._waiters.get(ident), status, now):
                    try:
                        task = parse_task(entry, "task list entry")
                    except KlingError:
                        continue  # unreadable here: re-read on its own below
                    # A list entry is used as is unless it is finished but thin (no files, no
                    # failure reason): some servers send thin list entries; only then is it re-read.
                    if not task.is_terminal or _has_result(task):
                        ready[ident] = task
                        found.add(ident)
                else:
                    found.add(ident)  # unchanged: nothing to parse, nobody to wake
            # Each page's tasks go to their waiters at once: they run (and drop them) while the
            # next page is read, so a round where thousands finish never holds them all parsed.
            self._deliver(ready)
            del ready
            if len(missing) < LIST_BATCH_THRESHOLD or len(entries) < LIST_PAGE_SIZE:
                break
        wanted.difference_update(found)


# The poller of each (connection, kind, interval) on each event loop.
_pollers: LoopRegistry[tuple[str, str, float], TaskPoller] = LoopRegistry()


async def wait_for_task(
    hook: KlingHook,
    task_kind: str | TaskKind,
    ident: str,
    *,
    poll_interval: float,
    deadline: float | None,
    progress: WaitProgress,
    log: logging.Logger | Any,
    wait_for_unknown: bool = False,
) -> WaitOutcome:
    """Poll until the task finishes or ``deadline`` (epoch seconds) passes.

    ``wait_for_unknown``: an id Kling does not know (yet) is waited for, as a sensor's poke does,
    instead of counting as a failed round.
    """
    k = get_kind(task_kind)
    loop = asyncio.get_running_loop()
    errors = PollErrors(ident, wait_for_unknown=wait_for_unknown)
    # New design: one batched GET /tasks poller per connection, whatever the family and interval.
    poller = TasksPoller.shared(hook) if k.design == "new" else TaskPoller.shared(hook, k, poll_interval)
    while True:
        remaining = None if deadline is None else deadline - time.time()
        if remaining is not None and remaining <= 0:
            return WaitOutcome.timed_out(ident, progress.last_status)
        # Sleep until the poller sees this task change (or the heartbeat is due); after a failed
        # check wake on the next round whatever it reads, so a clean round resets the error count.
        known = None if errors.in_a_row else progress.last_status
        wake_at = progress.next_heartbeat
        try:  # inline, not a coroutine: no extra frame per sleeping wait
            if isinstance(poller, TasksPoller):
                waiter = poller.watch(ident, known, wake_at, interval=poll_interval)
            else:
                waiter = poller.watch(ident, known, wake_at)
            timer = None if remaining is None else loop.call_later(remaining, expire, waiter.future)
            try:
                task = await waiter.future
            finally:
                if timer is not None:
                    timer.cancel()
                poller.unwatch(ident, waiter)
                del waiter, timer
        except asyncio.TimeoutError:
            continue
        except KlingError as exc:
            gave_up = errors.record(exc, log)
            if gave_up is not None:
                return gave_up
            continue
        errors.succeeded()
        was_running = progress.last_status in RUNNING_STATUSES
        line = progress.observe(task)
        if line:
            log.info(line)
        if task.is_terminal:
            if was_running:  # its parallel-task slots are free now: a queued submit may go
                kind = get_kind(task_kind)
                gate = CapacityGate.for_kind(hook.kling_conn_id, kind)
                gate.slot_freed(kind.freed_slots(len(task.task_result.images)))
            return WaitOutcome.finished(task)
        del task, line  # a sleeping wait holds no task object (thousands of them on a triggerer)
