"""One value per (event loop, key), forgotten with its loop: the per-loop singletons' one store."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LoopRegistry(Generic[K, V]):
    """A value per (event loop, key), weakly keyed by the loop.

    A triggerer's loop lives for days and shares its values (a session, a poller, a gate) among
    every wait on it; a short-lived loop (a sync hook call, ``dag.test()``) takes its values with
    it once it is closed. The weak key alone cannot do that: most values (a poller's runner task,
    a session) hold their loop, so the loop would never be collected; closed loops are dropped
    whenever a new loop registers. Methods without ``loop`` use the running loop.
    """

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[K, V]] = (
            weakref.WeakKeyDictionary()
        )

    def _values(self, loop: asyncio.AbstractEventLoop | None) -> dict[K, V]:
        loop = loop or asyncio.get_running_loop()
        values = self._by_loop.get(loop)
        if values is None:  # a new loop: the only moment the number of loops grows
            self._forget_closed()
            values = self._by_loop[loop] = {}
        return values

    def _forget_closed(self) -> None:
        for loop in [loop for loop in self._by_loop if loop.is_closed()]:
            del self._by_loop[loop]

    def get(self, key: K, *, loop: asyncio.AbstractEventLoop | None = None) -> V | None:
        return self._values(loop).get(key)

    def set(self, key: K, value: V, *, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._values(loop)[key] = value

    def get_or_create(
        self, key: K, create: Callable[[], V], *, loop: asyncio.AbstractEventLoop | None = None
    ) -> V:
        """This loop's value for ``key``; ``create()`` makes (and stores) it the first time."""
        values = self._values(loop)
        if key not in values:
            values[key] = create()
        return values[key]

    def pop(self, key: K, *, loop: asyncio.AbstractEventLoop | None = None) -> V | None:
        """Remove and return this loop's value for ``key`` (``None`` if it had none)."""
        return self._values(loop).pop(key, None)

    def loops(self) -> int:
        """How many live loops hold values (a leak shows as a number that only grows)."""
        self._forget_closed()
        return len(self._by_loop)
