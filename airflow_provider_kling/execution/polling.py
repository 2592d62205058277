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
import math
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_kling.api.kinds import TaskKind, get_kind
from airflow_provider_kling.api.tasks import KlingTask, TaskStatus
from airflow_provider_kling.exceptions import (
    KlingError,
    is_not_found,
)
from airflow_provider_kling.execution.capacity import CapacityGate
from airflow_provider_kling.execution.events import WaitOutcome
from airflow_provider_kling.execution.poll_errors import PollErrors, is_throttle
from airflow_provider_kling.execution.poll_timing import (  # MAX_SLOWDOWN: 0.1.0 path .waiting
    MAX_SLOWDOWN,  # noqa: F401
    expire,
    jittered,
    next_slowdown,
    settle,
)
from airflow_provider_kling.execution.progress import WaitProgress
from airflow_provider_kling.execution.tasks_poller import TasksPoller
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


@dataclass
class _Waiter:
    ident: str
    future: asyncio.Future[KlingTask]


class TaskPoller:
    """Polls Kling on behalf of every waiter with the same (connection, kind, interval) on a loop."""

    def __init__(self, hook: KlingHook, task_kind: TaskKind, interval: float) -> None:
        self.hook = hook
        self.task_kind = task_kind
        self.interval = interval
        self._waiters: dict[str, list[_Waiter]] = {}
        self._runner: asyncio.Task[None] | None = None
        self._list_refused_until = 0.0  # monotonic time
        # Grows (x2, up to MAX_SLOWDOWN) while Kling answers 1302/1303, back to 1 after a clean
        # round: thousands of waits must not keep a rate-limited account saturated.
        self.slowdown = 1.0

    @classmethod
    def shared(cls, hook: KlingHook, task_kind: str | TaskKind, interval: float) -> TaskPoller:
        k = get_kind(task_kind)
        key = (hook.kling_conn_id, k.name, float(interval))
        poller = _pollers.get_or_create(key, lambda: cls(hook, k, interval))
        # Pollers live as long as the loop (a triggerer's: days). Rounds use the newest wait's hook,
        # which loads the connection afresh: a rotated key reaches new waits without a restart.
        poller.hook = hook
        return poller

    async def next_snapshot(self, ident: str, *, timeout: float | None = None) -> KlingTask:
        """The task as seen by the next polling round.

        Raises ``asyncio.TimeoutError`` when no round answered within ``timeout`` seconds (a
        round may take long while the hook retries). A timer on the future, not
        ``asyncio.wait_for``: no extra Task per wait per round.
        """
        loop = asyncio.get_running_loop()
        waiter = _Waiter(ident, loop.create_future())
        self._waiters.setdefault(ident, []).append(waiter)
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run(), name=f"kling-poller-{self.task_kind.name}")
        timer = None if timeout is None else loop.call_later(timeout, expire, waiter.future)
        try:
            return await waiter.future
        finally:
            if timer is not None:
                timer.cancel()
            waiters = self._waiters.get(ident)
            if waiters is not None:
                if waiter in waiters:
                    waiters.remove(waiter)
                if not waiters:
                    del self._waiters[ident]

    async def _run(self) -> None:
        # Ends after an interval without waiters; the next wait starts a new runner.
        while True:
            await asyncio.sleep(jittered(self.interval * self.slowdown))
            batch = {ident: list(ws) for ident, ws in self._waiters.items()}
            if not batch:
                return
            try:
                results = await self._poll(batch.keys())
            except Exception as exc:  # an unexpected error must fail these waits, not hang them
                results = dict.fromkeys(batch, exc)
            self.slowdown = next_slowdown(self.slowdown, results)
            settle(batch, results)

    async def _poll(self, idents: Iterable[str]) -> dict[str, KlingTask | BaseException]:
        wanted = set(idents)
        results: dict[str, KlingTask | BaseException] = {}
        if len(wanted) >= LIST_BATCH_THRESHOLD and time.monotonic() >= self._list_refused_until:
            await self._poll_list(wanted, results)
        remaining = [i for i in wanted if i not in results]
        if remaining:
            semaphore = asyncio.Semaphore(SINGLE_QUERY_CONCURRENCY)

            async def one(ident: str) -> None:
                async with semaphore:
                    try:
                        results[ident] = await self.hook.aget_task(self.task_kind, ident)
                    except Exception as exc:
                        results[ident] = exc

            await asyncio.gather(*(one(i) for i in remaining))
        return results

    async def _poll_list(self, wanted: set[str], results: dict[str, KlingTask | BaseException]) -> None:
        pages = min(MAX_LIST_PAGES, math.ceil(len(wanted) / LIST_PAGE_SIZE) + 1)
        missing = set(wanted)
        for page in range(1, pages + 1):
            try:
                tasks = await self.hook.alist_tasks(self.task_kind, page, LIST_PAGE_SIZE)
            except KlingError as exc:
                if is_throttle(exc):
                    # Querying one by one would only add load: skip this round for all of them.
                    results.update(dict.fromkeys(missing, exc))
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
                return
            for task in tasks:
                ident = task.task_id if task.task_id in missing else task.external_task_id
                if ident is None or ident not in missing:
                    continue
                missing.discard(ident)
                # A list entry is used as is unless it is finished but thin (no files, no failure
                # reason): some servers send thin list entries; only then is the task re-read.
                if not task.is_terminal or _has_result(task):
                    results[ident] = task
            if not missing or len(tasks) < LIST_PAGE_SIZE:
                return


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
    if k.design == "new":  # every new-design family of the connection: one batched GET /tasks poller
        tasks_poller = TasksPoller.shared(hook)

        def snapshot(timeout: float | None) -> Awaitable[KlingTask]:
            return tasks_poller.next_snapshot(ident, interval=poll_interval, timeout=timeout)
    else:
        poller = TaskPoller.shared(hook, k, poll_interval)

        def snapshot(timeout: float | None) -> Awaitable[KlingTask]:
            return poller.next_snapshot(ident, timeout=timeout)

    errors = PollErrors(ident, wait_for_unknown=wait_for_unknown)
    while True:
        remaining = None if deadline is None else deadline - time.time()
        if remaining is not None and remaining <= 0:
            return WaitOutcome.timed_out(ident, progress.last_status)
        try:
            task = await snapshot(remaining)
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
