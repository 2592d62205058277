"""Background tasks that outlive the wait that started them, started without its context."""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def start_background(coro: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
    """Run ``coro`` as a task of the running loop in a fresh ``contextvars.Context``.

    A poller's runner serves every wait on the loop: it must not log (or otherwise act) under the
    context (e.g. the trigger's log binding) of whichever wait happened to start it. Python 3.10
    cannot choose the context of a task: there it inherits the caller's, as before.
    """
    loop = asyncio.get_running_loop()
    if sys.version_info >= (3, 11):
        return loop.create_task(coro, name=name, context=contextvars.Context())
    return loop.create_task(coro, name=name)  # pragma: no cover - Python 3.10
