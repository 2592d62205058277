"""Outlasting Kling's rate limit (1302): a busy account is no reason to fail a task."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_kling.exceptions import KlingRateLimitError

if TYPE_CHECKING:
    import logging

T = TypeVar("T")

RATE_LIMIT_MIN_SECONDS = 2.0
RATE_LIMIT_MAX_SECONDS = 60.0


async def outlast_rate_limits(
    call: Callable[[], Awaitable[T]], *, deadline: float, log: logging.Logger | Any, what: str
) -> T:
    """``call()``, again after a growing pause while it fails with 1302, until ``deadline``.

    The hook already retries a 1302 a few times; a busy account can outlast that, and a rate
    limit is no reason to fail a task (it created nothing). Past the deadline the 1302 is raised.
    """
    pause = RATE_LIMIT_MIN_SECONDS
    while True:
        try:
            return await call()
        except KlingRateLimitError as exc:
            wait = random.uniform(pause / 2, pause)
            if time.time() + wait >= deadline:
                raise
            log.info("%s: Kling asks to slow down (%s); trying again in %.0fs", what, exc, wait)
            await asyncio.sleep(wait)
            pause = min(RATE_LIMIT_MAX_SECONDS, pause * 2)
