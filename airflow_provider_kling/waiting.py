"""Waiting for Kling tasks: one state machine for blocking operators, sensors and triggers.

``TaskPoller`` batches every wait on one event loop that shares a connection, task kind and
poll interval: each round it reads Kling's list endpoint (500 tasks per call) once for all of
them, and queries single tasks only for ids the list did not show and for tasks that just
finished (to get their full result).  A triggerer with 1,000 waits therefore sends a handful
of requests per interval over a few keep-alive connections, instead of 1,000.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import random
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_kling.capacity import CapacityGate
from airflow_provider_kling.exceptions import (
    KlingAPIError,
    KlingConcurrencyLimitError,
    KlingError,
    KlingRateLimitError,
    KlingTaskFailedError,
    KlingTaskTimeoutError,
    KlingWaitAbortedError,
    KlingWaitError,
    fails_without_retry,
    is_not_found,
)
from airflow_provider_kling.models import KlingTask, TaskStatus
from airflow_provider_kling.task_kinds import TaskKind, get_kind

if TYPE_CHECKING:
    from airflow_provider_kling.hooks.kling import KlingHook

# Below this many waiters a round queries tasks one by one (cheaper than a 500-row page).
LIST_BATCH_THRESHOLD = 4
LIST_PAGE_SIZE = 500  # the API's maximum
MAX_LIST_PAGES = 20
SINGLE_QUERY_CONCURRENCY = 16
# After the server refused a list call as invalid (400/404), query one by one for this long.
LIST_REFUSAL_PAUSE_SECONDS = 600.0
# Consecutive failed rounds tolerated (each already retried by the hook) before giving up.
MAX_CONSECUTIVE_ERRORS = 5
# A progress line this often even when the status does not change.
HEARTBEAT_SECONDS = 60.0

# A task in these holds one of the account's parallel-task slots (KLING_API.md §6).
RUNNING_STATUSES = (TaskStatus.SUBMITTED.value, TaskStatus.PROCESSING.value)


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


def jittered(interval: float) -> float:
    """Spread waits over the last 10% of the interval so thousands of them do not poll in
    lock-step, and never wait longer than the interval (detection stays within it)."""
    return interval * random.uniform(0.9, 1.0)


MAX_SLOWDOWN = 8.0


def _is_throttle(outcome: object) -> bool:
    """Kling's "slow down" answers: rate limit (1302) and parallel-task limit (1303)."""
    return isinstance(outcome, (KlingRateLimitError, KlingConcurrencyLimitError))


def _has_result(task: KlingTask) -> bool:
    """Whether a finished task carries what its waiter needs: its files, or why it failed."""
    if task.task_status is TaskStatus.FAILED:
        return bool(task.task_status_msg)
    return bool(task.task_result.videos or task.task_result.audios)


@dataclass
class WaitProgress:
    """Remembers what the user has been told; produces one log line per status change."""

    kind: str
    ident: str
    last_status: str | None = None
    started: float = field(default_factory=time.monotonic)
    last_logged: float = field(default_factory=time.monotonic)

    def observe(self, task: KlingTask) -> str | None:
        now = time.monotonic()
        status = task.task_status.value
        if status != self.last_status:
            before = self.last_status
            self.last_status = status
            self.last_logged = now
            change = f"{before} -> {status}" if before else status
            return f"Kling {self.kind} task {task.task_id}: {change} (waited {now - self.started:.0f}s)"
        if now - self.last_logged >= HEARTBEAT_SECONDS:
            self.last_logged = now
            return f"Kling {self.kind} task {task.task_id}: still {status} (waited {now - self.started:.0f}s)"
        return None


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


class PollError(enum.Enum):
    """What one failed status check means for a wait."""

    UNKNOWN_ID = "unknown id"  # Kling does not know the id (yet)
    THROTTLED = "throttled"  # 1302/1303: Kling asks to slow down; not a failed check
    FAILED = "failed"  # counts against MAX_CONSECUTIVE_ERRORS
    FATAL = "fatal"  # Kling refused the check for good (auth, account, ...): stop now


def classify_poll_error(error: BaseException) -> PollError:
    if is_not_found(error):
        return PollError.UNKNOWN_ID
    if _is_throttle(error):
        return PollError.THROTTLED
    if isinstance(error, KlingAPIError) and not error.transient:
        return PollError.FATAL
    return PollError.FAILED


@dataclass
class PollErrors:
    """Failed status checks of one wait: the one error budget of pokes and triggers alike.

    ``wait_for_unknown``: an id Kling does not know (yet) is waited for, as a sensor does,
    instead of counting as a failed check.
    """

    ident: str
    wait_for_unknown: bool = False
    in_a_row: int = 0
    told_unknown: bool = False

    def succeeded(self) -> None:
        self.in_a_row = 0

    def record(self, error: BaseException, log: logging.Logger | Any) -> WaitOutcome | None:
        """``None``: keep waiting. Otherwise the wait gives up with this outcome."""
        kind = classify_poll_error(error)
        if kind is PollError.UNKNOWN_ID and self.wait_for_unknown:
            self.in_a_row = 0
            if not self.told_unknown:
                log.info("Kling does not know task %s yet", self.ident)
                self.told_unknown = True
            return None
        if kind is PollError.THROTTLED:
            # Kling asks us to slow down (the batched poller does); the deadline still bounds the wait.
            log.info("Kling asks to slow down (%s); polling task %s less often", error, self.ident)
            return None
        self.in_a_row += 1
        if kind is PollError.FATAL:
            # A generic API error (unknown code) stops the wait, but an Airflow retry may still help.
            return WaitOutcome.gave_up(self.ident, error, transient=not fails_without_retry(error))
        if self.in_a_row >= MAX_CONSECUTIVE_ERRORS:
            # Network-ish trouble: an Airflow retry re-attaches and may well succeed.
            return WaitOutcome.gave_up(self.ident, error, transient=True)
        log.warning(
            "Checking Kling task %s failed (%d/%d): %s",
            self.ident,
            self.in_a_row,
            MAX_CONSECUTIVE_ERRORS,
            error,
        )
        return None


def _expire(future: asyncio.Future[KlingTask]) -> None:
    if not future.done():
        future.set_exception(asyncio.TimeoutError())


@dataclass
class _Waiter:
    ident: str
    future: asyncio.Future[KlingTask]


class TaskPoller:
    """Polls Kling on behalf of every waiter with the same (connection, kind, interval) on a loop."""

    _registry: weakref.WeakKeyDictionary[
        asyncio.AbstractEventLoop, dict[tuple[str, str, float], TaskPoller]
    ] = weakref.WeakKeyDictionary()

    def __init__(self, hook: KlingHook, kind: TaskKind, interval: float) -> None:
        self.hook = hook
        self.kind = kind
        self.interval = interval
        self._waiters: dict[str, list[_Waiter]] = {}
        self._runner: asyncio.Task[None] | None = None
        self._list_refused_until = 0.0  # monotonic time
        # Grows (x2, up to MAX_SLOWDOWN) while Kling answers 1302/1303, back to 1 after a clean
        # round: thousands of waits must not keep a rate-limited account saturated.
        self.slowdown = 1.0

    @classmethod
    def shared(cls, hook: KlingHook, kind: str | TaskKind, interval: float) -> TaskPoller:
        k = get_kind(kind)
        loop = asyncio.get_running_loop()
        pollers = cls._registry.setdefault(loop, {})
        key = (hook.kling_conn_id, k.name, float(interval))
        poller = pollers.get(key)
        if poller is None:
            poller = pollers[key] = cls(hook, k, interval)
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
            self._runner = loop.create_task(self._run(), name=f"kling-poller-{self.kind.name}")
        timer = None if timeout is None else loop.call_later(timeout, _expire, waiter.future)
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
            throttled = any(_is_throttle(r) for r in results.values())
            self.slowdown = min(MAX_SLOWDOWN, self.slowdown * 2) if throttled else 1.0
            for ident, waiters in batch.items():
                outcome = results.get(ident)
                for waiter in waiters:
                    if waiter.future.done():
                        continue
                    if isinstance(outcome, KlingTask):
                        waiter.future.set_result(outcome)
                    else:
                        waiter.future.set_exception(outcome or KlingError(f"no answer for task {ident}"))

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
                        results[ident] = await self.hook.aget_task(self.kind, ident)
                    except Exception as exc:
                        results[ident] = exc

            await asyncio.gather(*(one(i) for i in remaining))
        return results

    async def _poll_list(self, wanted: set[str], results: dict[str, KlingTask | BaseException]) -> None:
        pages = min(MAX_LIST_PAGES, math.ceil(len(wanted) / LIST_PAGE_SIZE) + 1)
        missing = set(wanted)
        for page in range(1, pages + 1):
            try:
                tasks = await self.hook.alist_tasks(self.kind, page, LIST_PAGE_SIZE)
            except KlingError as exc:
                if _is_throttle(exc):
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
                    self.kind.name,
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


async def wait_for_task(
    hook: KlingHook,
    kind: str | TaskKind,
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
    poller = TaskPoller.shared(hook, kind, poll_interval)
    errors = PollErrors(ident, wait_for_unknown=wait_for_unknown)
    while True:
        remaining = None if deadline is None else deadline - time.time()
        if remaining is not None and remaining <= 0:
            return WaitOutcome.timed_out(ident, progress.last_status)
        try:
            task = await poller.next_snapshot(ident, timeout=remaining)
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
            if was_running:  # its parallel-task slot is free now: a queued submit may go
                CapacityGate.shared(hook.kling_conn_id).slot_freed()
            return WaitOutcome.finished(task)
