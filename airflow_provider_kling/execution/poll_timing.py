"""When polls happen: jittered intervals, the throttle slow-down cap and a wait's expiry timer."""

from __future__ import annotations

import asyncio
import random
from typing import Any

MAX_SLOWDOWN = 8.0


def jittered(interval: float) -> float:
    """Spread waits over the last 10% of the interval so thousands of them do not poll in
    lock-step, and never wait longer than the interval (detection stays within it)."""
    return interval * random.uniform(0.9, 1.0)


def expire(future: asyncio.Future[Any]) -> None:
    """A wait's timer: fail its future with ``asyncio.TimeoutError`` unless a round answered it."""
    if not future.done():
        future.set_exception(asyncio.TimeoutError())
