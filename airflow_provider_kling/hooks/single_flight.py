"""A small in-process cache whose concurrent misses for one key make one call (single flight).

Callers may sit on different event loops and threads of one process: the sync hook methods run
their coroutine on a private loop, a triggerer runs many on one. The shared state is therefore
guarded by a ``threading.Lock`` (held only for dictionary updates, never across an ``await``),
and waiters await a ``concurrent.futures.Future`` that the caller doing the work completes.
A failure is handed to everyone who waited for that call and is not cached.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class _CallerGone(Exception):
    """The caller doing the work was cancelled: a waiter makes the call itself."""


class SingleFlightCache(Generic[T]):
    """Reuse an answer younger than ``max_age`` seconds; otherwise one ``fetch`` per key at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[Hashable, tuple[float, T]] = {}
        self._calls: dict[Hashable, concurrent.futures.Future[T]] = {}

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()

    async def get(self, key: Hashable, max_age: float, fetch: Callable[[], Awaitable[T]]) -> T:
        while True:
            with self._lock:
                answer = self._answers.get(key)
                if answer is not None and time.monotonic() - answer[0] < max_age:
                    return answer[1]
                call = self._calls.get(key)
                mine = call is None
                if call is None:
                    call = self._calls[key] = concurrent.futures.Future()
            if not mine:
                try:
                    # shield: a waiter that is cancelled must not cancel the call others wait for.
                    return await asyncio.shield(asyncio.wrap_future(call))
                except _CallerGone:
                    continue
            return await self._fetch(key, call, fetch)

    async def _fetch(
        self, key: Hashable, call: concurrent.futures.Future[T], fetch: Callable[[], Awaitable[T]]
    ) -> T:
        try:
            value = await fetch()
        except Exception as exc:
            self._forget(key)
            call.set_exception(exc)
            raise
        except BaseException:  # cancelled: the waiters start their own call
            self._forget(key)
            call.set_exception(_CallerGone())
            raise
        with self._lock:
            self._answers[key] = (time.monotonic(), value)
            del self._calls[key]
        call.set_result(value)
        return value

    def _forget(self, key: Hashable) -> None:
        with self._lock:
            self._calls.pop(key, None)
