"""When polls happen, and what a round hands its waiters: jitter, throttle slow-down, expiry, results."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, TypeVar

from airflow_provider_kling.api.tasks import KlingTask
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


class HasFuture(Protocol):
    future: asyncio.Future[KlingTask]


def next_slowdown(slowdown: float, results: Mapping[str, object]) -> float:
    """x2 (up to MAX_SLOWDOWN) while Kling answers 1302/1303, back to 1 after a clean round."""
    throttled = any(is_throttle(r) for r in results.values())
    return min(MAX_SLOWDOWN, slowdown * 2) if throttled else 1.0


def settle(
    batch: Mapping[str, Iterable[HasFuture]], results: Mapping[str, KlingTask | BaseException]
) -> None:
    """Give every waiter of a round its task, or the error its id got (a missing answer is one too)."""
    for ident, waiters in batch.items():
        outcome = results.get(ident)
        for waiter in waiters:
            if waiter.future.done():
                continue
            if isinstance(outcome, KlingTask):
                waiter.future.set_result(outcome)
            else:
                waiter.future.set_exception(outcome or KlingError(f"no answer for task {ident}"))


W = TypeVar("W")


def forget_waiter(waiters: dict[str, list[W]], ident: str, waiter: W) -> None:
    """Drop one wait's registration; the id goes once its last waiter does (both pollers)."""
    registered = waiters.get(ident)
    if registered is not None:
        if waiter in registered:
            registered.remove(waiter)
        if not registered:
            del waiters[ident]
