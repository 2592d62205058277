"""When polls happen, and what a round hands its waiters: jitter, throttle slow-down, expiry, results."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, TypeVar

from airflow_provider_kling.api.tasks import KlingTask, TaskStatus
from airflow_provider_kling.exceptions import KlingError
from airflow_provider_kling.execution.poll_errors import is_throttle

MAX_SLOWDOWN = 8.0


def jittered(interval: float) -> float:
    """Spread waits over the last 10% of the interval so thousands of them do not poll in
    lock-step, and never wait longer than the interval (detection stays within it)."""
    return interval * random.uniform(0.9, 1.0)


def expire(future: asyncio.Future[Any]) -> None:
    """A wait's timer: fail its future with ``asyncio.TimeoutError`` unless a round answered it."""
    if not future.done():
        future.set_exception(asyncio.TimeoutError())


def resolve(future: asyncio.Future[bool], value: bool) -> None:
    """End a poller's sleep (``value``: woken early) unless it ended already."""
    if not future.done():
        future.set_result(value)


class HasFuture(Protocol):
    future: asyncio.Future[KlingTask]


class Waiter:
    """One wait's seat in a poller's rounds: woken when its task changed, a heartbeat is due, or on
    an error. No coroutine of its own: a sleeping wait costs this small object and its future."""

    __slots__ = ("future", "interval", "known", "since", "wake_at")

    def __init__(
        self,
        future: asyncio.Future[KlingTask],
        known: str | None,
        wake_at: float,
        interval: float = 0.0,
        since: float = 0.0,
    ) -> None:
        self.future = future
        self.known = known  # the status the waiter has seen; None: every round that reads it wakes it
        self.wake_at = wake_at  # monotonic time from which an unchanged task wakes it too
        self.interval = interval  # its poll interval, where a poller mixes intervals (new design)
        self.since = since  # loop time it began waiting for a round (idem)


# Raw statuses (as ``raw_status`` reads them) of a finished task: it always wakes its waiters.
FINISHED = frozenset(s.value for s in TaskStatus if s.is_terminal)


def wakes(waiter: Waiter, status: object, now: float) -> bool:
    """Whether a round that read ``status`` (raw, unparsed) at monotonic ``now`` wakes ``waiter``."""
    return waiter.known is None or waiter.known != status or now >= waiter.wake_at


def any_wakes(waiters: list[Waiter] | None, status: object, now: float) -> bool:
    """Whether a round that read ``status`` must wake any of ``waiters`` (near-zero work if not)."""
    if not waiters:
        return False
    return any(wakes(w, status, now) for w in waiters)


def register(waiters: dict[str, list[Waiter]], ident: str, waiter: Waiter) -> None:
    """Add one wait's registration (both pollers)."""
    registered = waiters.get(ident)
    if registered is None:
        waiters[ident] = [waiter]
    else:
        registered.append(waiter)


def next_slowdown(slowdown: float, results: Mapping[str, object]) -> float:
    """x2 (up to MAX_SLOWDOWN) while Kling answers 1302/1303, back to 1 after a clean round."""
    throttled = any(is_throttle(r) for r in results.values())
    return min(MAX_SLOWDOWN, slowdown * 2) if throttled else 1.0


def settle(batch: Mapping[str, Iterable[HasFuture]], results: Mapping[str, KlingTask | BaseException]) -> int:
    """Give every waiter of a round its task, or the error its id got (a missing answer is one too).

    Returns how many waiters were given a task (wake-ups; an error is none).
    """
    woken = 0
    for ident, waiters in batch.items():
        outcome = results.get(ident)
        for waiter in waiters:
            if waiter.future.done():
                continue
            if isinstance(outcome, KlingTask):
                waiter.future.set_result(outcome)
                woken += 1
            else:
                waiter.future.set_exception(outcome or KlingError(f"no answer for task {ident}"))
    return woken


class Watcher(Protocol):
    def unwatch(self, ident: str, waiter: Waiter) -> None: ...


async def answered(poller: Watcher, ident: str, waiter: Waiter, timeout: float | None) -> KlingTask:
    """The task a round hands a ``watch``-ed waiter (``asyncio.TimeoutError`` after ``timeout``
    seconds); unregisters it. A timer on the future, not ``asyncio.wait_for``: no Task per wait."""
    timer = None if timeout is None else asyncio.get_running_loop().call_later(timeout, expire, waiter.future)
    try:
        return await waiter.future
    finally:
        if timer is not None:
            timer.cancel()
        poller.unwatch(ident, waiter)


W = TypeVar("W")


def forget_waiter(waiters: dict[str, list[W]], ident: str, waiter: W) -> bool:
    """Drop one wait's registration; the id goes once its last waiter does (both pollers).

    Returns whether it was registered.
    """
    registered = waiters.get(ident)
    if registered is None:
        return False
    found = waiter in registered
    if found:
        registered.remove(waiter)
    if not registered:
        del waiters[ident]
    return found
