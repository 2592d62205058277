"""LoopRegistry: one value per (event loop, key), gone with its loop; the three per-loop users share it."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref

import pytest

from airflow_provider_kling.api.audio import VideoToAudioRequest
from airflow_provider_kling.execution.capacity import CapacityGate
from airflow_provider_kling.execution.polling import TaskPoller, wait_for_task
from airflow_provider_kling.execution.polling import _pollers as polling_pollers
from airflow_provider_kling.execution.progress import WaitProgress
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.hooks.transport import close_shared_session, shared_session, shared_session_scope
from airflow_provider_kling.utils.loop_registry import LoopRegistry
from kling_emulator.server import EmulatorServer
from kling_emulator.state import SAMPLE_VIDEO_ID

LOG = logging.getLogger(__name__)


class Box:
    """A value that can be weakly referenced (to see when the registry lets go of it)."""


def test_one_value_per_loop_and_key() -> None:
    registry: LoopRegistry[str, Box] = LoopRegistry()

    async def on_a_loop() -> tuple[Box, Box, Box, Box | None]:
        first = registry.get_or_create("a", Box)
        again = registry.get_or_create("a", Box)
        other = registry.get_or_create("b", Box)
        popped = registry.pop("b")
        assert registry.get("b") is None and popped is other
        return first, again, other, registry.get("a")

    first, again, other, got = asyncio.run(on_a_loop())
    assert first is again is got and other is not first
    second_loop = asyncio.run(on_a_loop())
    assert second_loop[0] is not first  # another loop, another value


def test_values_go_with_their_loop() -> None:
    registry: LoopRegistry[str, Box] = LoopRegistry()
    loop = asyncio.new_event_loop()
    value = weakref.ref(loop.run_until_complete(_create(registry)))
    assert registry.loops() == 1 and value() is not None
    loop.close()
    del loop
    gc.collect()
    assert registry.loops() == 0 and value() is None


async def _create(registry: LoopRegistry[str, Box]) -> Box:
    return registry.get_or_create("k", Box)


def test_outside_a_loop_it_needs_one() -> None:
    with pytest.raises(RuntimeError, match="no running event loop"):
        LoopRegistry[str, Box]().get("k")


def test_pollers_gates_and_sessions_are_shared_per_loop(
    kling_conn: EmulatorServer,
) -> None:
    async def on_a_loop() -> tuple[object, ...]:
        hook, other_hook = KlingHook(), KlingHook()
        poller = TaskPoller.shared(hook, "video-to-audio", 1.0)
        assert TaskPoller.shared(other_hook, "video-to-audio", 1.0) is poller
        assert poller.hook is other_hook  # the newest wait's hook polls
        assert TaskPoller.shared(hook, "video-to-audio", 2.0) is not poller
        assert TaskPoller.shared(hook, "text2video", 1.0) is not poller
        gate = CapacityGate.shared("kling_default")
        assert CapacityGate.shared("kling_default") is gate and CapacityGate.shared("other") is not gate
        async with shared_session_scope():
            session = shared_session()
            async with shared_session_scope():
                assert shared_session() is session
            assert not session.closed  # one user is still inside
            await close_shared_session()  # a sync wrapper's close: the next call opens a new one
            assert session.closed and shared_session() is not session
            session = shared_session()
        assert session.closed  # the last user left
        return poller, gate

    first = asyncio.run(on_a_loop())
    second = asyncio.run(on_a_loop())
    assert all(a is not b for a, b in zip(first, second, strict=True))


def test_values_that_hold_their_loop_still_go_with_it() -> None:
    """A poller's runner task or a session holds its loop: the weak key alone would keep it forever."""
    registry: LoopRegistry[str, Box] = LoopRegistry()

    async def holding() -> weakref.ref[asyncio.AbstractEventLoop]:
        box = registry.get_or_create("k", Box)
        box.loop = asyncio.get_running_loop()  # type: ignore[attr-defined]
        return weakref.ref(box.loop)  # type: ignore[attr-defined]

    loops = [asyncio.run(holding()) for _ in range(5)]
    gc.collect()
    assert registry.loops() == 0
    assert all(loop() is None for loop in loops)  # the closed loops themselves were collected


def test_blocking_waits_in_a_long_process_leave_no_loop_behind(kling_conn: EmulatorServer) -> None:
    """A worker process that runs many sync waits (each on its own private loop) does not grow."""
    hook = KlingHook()
    task = hook.submit_task("video-to-audio", VideoToAudioRequest.build(video_id=SAMPLE_VIDEO_ID))

    def wait() -> str:
        progress = WaitProgress("video-to-audio", task.task_id)
        outcome = hook.run_sync(
            lambda: wait_for_task(
                hook,
                "video-to-audio",
                task.task_id,
                poll_interval=0.1,
                deadline=None,
                progress=progress,
                log=LOG,
            )
        )
        return outcome.status.value

    def closed_loops() -> int:
        gc.collect()
        return sum(
            1 for o in gc.get_objects() if issubclass(type(o), asyncio.AbstractEventLoop) and o.is_closed()
        )

    before = closed_loops()
    assert [wait() for _ in range(4)] == ["success"] * 4
    # The newest closed loop waits for the next loop to register; the earlier three are gone.
    assert closed_loops() - before <= 1
    assert polling_pollers.loops() == 0
