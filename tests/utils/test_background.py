"""Background tasks (poller runners) start without the context of the wait that started them."""

from __future__ import annotations

import asyncio
import contextvars
import sys

import pytest

from airflow_provider_kling.utils.background import start_background

_bound: contextvars.ContextVar[str] = contextvars.ContextVar("bound", default="none")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Python 3.10 cannot choose a task's context")
def test_a_background_task_does_not_inherit_the_starting_context() -> None:
    async def read() -> str:
        return _bound.get()

    async def main() -> tuple[str, str]:
        _bound.set("trigger-1")  # e.g. the log binding of the trigger whose wait starts a runner
        inherited = await asyncio.get_running_loop().create_task(read())
        return inherited, await start_background(read(), name="runner")

    inherited, fresh = asyncio.run(main())
    assert inherited == "trigger-1"  # what a plain create_task would give the runner
    assert fresh == "none"


def test_a_background_task_is_named() -> None:
    async def main() -> str:
        task = start_background(asyncio.sleep(0), name="kling-poller-x")
        await task
        return task.get_name()

    assert asyncio.run(main()) == "kling-poller-x"
