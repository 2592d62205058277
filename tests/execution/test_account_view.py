"""A closed gate reads Kling's list to find slots freed by tasks other processes watch (two triggerers).

Against the emulator as a real HTTP server: the "other triggerer" is a second hook (or a second
event loop in a thread) submitting into the same account; nothing of ours is mocked.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from airflow_provider_kling.api.audio import VideoToAudioRequest
from airflow_provider_kling.exceptions import KlingCapacityTimeoutError
from airflow_provider_kling.execution.capacity import CapacityGate, submit_when_capacity
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.hooks.transport import close_shared_session
from airflow_provider_kling.triggers.submit import KlingSubmitTrigger
from kling_emulator.server import EmulatorServer
from tests.operators.test_operator import SAMPLE_VIDEO

T = TypeVar("T")
KIND = "video-to-audio"
STALE = 3 * 0.5 + 5 + 0.2  # a read older than 3 read intervals (0.5 s at least) + 5 s is no view


def _configure(server: EmulatorServer, *, limit: int, seconds: float) -> None:
    config = server.emulator.config
    config.max_concurrent_tasks = limit
    config.submitted_seconds = 0.1
    config.processing_seconds = seconds


def _occupy(n: int) -> list[str]:
    """Tasks submitted by someone this loop does not watch (another triggerer, the web app)."""
    hook = KlingHook()
    return [hook.submit_video_to_audio(VideoToAudioRequest(video_id=SAMPLE_VIDEO)).task_id for _ in range(n)]


def _run(scenario: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, closing the shared HTTP session before the loop ends (as sync hook calls do)."""

    async def closing() -> T:
        try:
            return await scenario
        finally:
            await close_shared_session()

    return asyncio.run(closing())


def _refusals(server: EmulatorServer) -> int:
    return int(server.emulator.stats.limit_refusals.get(1303, 0))


def _watching_gate(poll_interval: float) -> CapacityGate:
    gate = CapacityGate(probe_min_seconds=60, probe_max_seconds=60)  # no probe within these tests
    hook = KlingHook()
    gate.watch_account(KIND, lambda: hook.alist_tasks(KIND, 1, 100), poll_interval)
    return gate


def test_a_slot_freed_by_a_task_watched_elsewhere_is_found_in_the_list_not_by_a_refused_probe(
    kling_conn: EmulatorServer,
) -> None:
    _configure(kling_conn, limit=1, seconds=0.8)
    (occupier,) = _occupy(1)

    async def scenario() -> tuple[bool, bool]:
        gate = _watching_gate(poll_interval=0.2)
        gate.close()  # a caller met 1303: the account is full
        probe = await gate.turn(timeout=30)  # without the list: the next probe comes in 30-60 s
        return probe, (await KlingHook().aget_task(KIND, occupier)).is_terminal

    probe, occupier_ended = _run(scenario())
    assert probe is False  # a turn the list vouched for, not a probe
    assert occupier_ended  # the turn came once the list showed the slot free, not before
    assert _refusals(kling_conn) == 0


def test_the_loop_that_saw_its_task_end_refills_the_slot_before_the_grace(kling_conn: EmulatorServer) -> None:
    _configure(kling_conn, limit=1, seconds=0.5)
    (occupier,) = _occupy(1)

    async def scenario() -> float:
        gate = _watching_gate(poll_interval=25.0)  # others' slots: a grace of 26-39 s
        gate.close()
        turn = asyncio.create_task(gate.turn(timeout=60))
        hook = KlingHook()
        while not (await hook.aget_task(KIND, occupier)).is_terminal:
            await asyncio.sleep(0.05)
        ended = time.monotonic()
        gate.slot_freed()  # what this loop's poller does when a task it watched ends
        await turn
        return time.monotonic() - ended

    assert _run(scenario()) < 20  # well before the grace: only a hang takes that long
    assert _refusals(kling_conn) == 0


def test_two_triggerers_sharing_the_account_submit_each_task_once_with_under_one_refusal_per_task(
    kling_conn: EmulatorServer,
) -> None:
    """Two event loops in two threads (two triggerers), 8 deferred submits each, a limit of 2."""
    _configure(kling_conn, limit=2, seconds=0.6)
    per_loop = 8
    _occupy(2)  # both slots busy when the submits arrive (each was refused once on a worker)

    def triggerer(name: str, out: dict[str, list[dict[str, Any]]]) -> None:
        async def run_all() -> list[dict[str, Any]]:
            triggers = [
                KlingSubmitTrigger(
                    task_kind=KIND,
                    payload={"video_id": SAMPLE_VIDEO, "external_task_id": f"{name}-{i}"},
                    poll_interval=0.2,
                    deadline=time.time() + 120,
                )
                for i in range(per_loop)
            ]

            async def one(trigger: KlingSubmitTrigger) -> dict[str, Any]:
                async for event in trigger.run():
                    return dict(event.payload)
                raise AssertionError("no event")

            return await asyncio.gather(*(one(t) for t in triggers))

        out[name] = asyncio.run(run_all())

    events: dict[str, list[dict[str, Any]]] = {}
    threads = [threading.Thread(target=triggerer, args=(n, events)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(events) == ["a", "b"]
    assert [e["status"] for e in events["a"] + events["b"]] == ["success"] * 2 * per_loop
    stats = kling_conn.emulator.stats
    assert stats.submits == 2 + 2 * per_loop  # the occupiers and each submit once
    assert stats.peak_running == 2
    # Each gate's first probe confirms the limit; after that slots are taken from the list, where
    # two loops collide only when both read between a task's end and its watcher's refill.
    assert _refusals(kling_conn) < 2 * per_loop


def test_a_burst_of_submits_handed_to_the_triggerer_goes_one_at_a_time_until_the_limit_shows(
    kling_conn: EmulatorServer,
) -> None:
    """Ten submits arrive together at an open gate (account_full False: nobody met 1303 yet)."""
    _configure(kling_conn, limit=2, seconds=0.5)
    n = 10

    async def triggerer() -> list[dict[str, Any]]:
        triggers = [
            KlingSubmitTrigger(
                task_kind=KIND,
                payload={"video_id": SAMPLE_VIDEO, "external_task_id": f"burst-{i}"},
                poll_interval=0.2,
                deadline=time.time() + 120,
                account_full=False,
            )
            for i in range(n)
        ]

        async def one(trigger: KlingSubmitTrigger) -> dict[str, Any]:
            async for event in trigger.run():
                return dict(event.payload)
            raise AssertionError("no event")

        return await asyncio.gather(*(one(t) for t in triggers))

    events = asyncio.run(triggerer())
    assert [e["status"] for e in events] == ["success"] * n
    assert kling_conn.emulator.stats.submits == n
    assert kling_conn.emulator.stats.peak_running == 2
    # All ten at once would meet 8 refusals; one at a time until a 1303 confirms the limit, then
    # by the list: a couple.
    assert _refusals(kling_conn) <= 3


def test_submit_on_triggerer_defers_before_any_submit_and_the_trigger_pays_once(
    kling_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    from tests.conftest import first_event
    from tests.execution.test_capacity import v2a
    from tests.operators.test_operator import RecordingTI

    monkeypatch.setenv("AIRFLOW__KLING__SUBMIT_ON_TRIGGERER", "True")
    op = v2a(deferrable=True, timeout=60)
    ti = RecordingTI()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"ti": ti})
    trigger = deferred.value.trigger
    assert isinstance(trigger, KlingSubmitTrigger)
    kwargs = trigger.serialize()[1]
    assert kwargs["account_full"] is False and kwargs["resolved"] is True
    assert kling_conn.emulator.stats.submits == 0  # the worker only looked the id up
    result = op.execute_complete({"ti": ti}, first_event(KlingSubmitTrigger(**kwargs)))
    assert result["status"] == "succeed" and result["external_task_id"] == kwargs["external_task_id"]
    assert ti.xcom["kling_task_id"] == result["task_id"]
    assert kling_conn.emulator.stats.submits == 1 and _refusals(kling_conn) == 0
    # A retry of the task re-attaches on the worker (to the finished task): no hand-over, no second task.
    assert v2a(deferrable=True, timeout=60).execute({"ti": RecordingTI()})["task_id"] == result["task_id"]
    assert kling_conn.emulator.stats.submits == 1


def test_a_refusal_after_many_submits_through_an_open_gate_learns_no_limit_from_an_old_read(
    kling_conn: EmulatorServer,
) -> None:
    """A read while 2 tasks ran, then 40 submits while the gate was open (nobody reads), then a 1303."""
    config = kling_conn.emulator.config
    _configure(kling_conn, limit=2, seconds=0.3)
    _occupy(2)

    async def scenario() -> tuple[int, bool, int, int]:
        gate = _watching_gate(poll_interval=0.2)
        view = gate.view
        assert view is not None
        assert await view.read() and view.running == 2  # the gate's last read: 2 running
        config.max_concurrent_tasks = None
        await asyncio.sleep(STALE)  # the occupiers end, the read grows old
        hook = KlingHook()
        log = logging.getLogger(__name__)

        async def submit(i: int, deadline: float) -> Any:
            payload = {"video_id": SAMPLE_VIDEO, "external_task_id": f"open-{i}"}
            return await submit_when_capacity(
                gate,
                lambda: hook.asubmit_task(KIND, payload, retry_concurrency=False),
                deadline=deadline,
                waiting_since=time.time(),
                log=log,
                what=f"open-{i}",
            )

        for i in range(40):  # the gate is open: each goes at once, none is read back
            await submit(i, time.time() + 30)
        await asyncio.sleep(STALE)  # as old as the read: the list would show them (all ended)
        config.max_concurrent_tasks = 0  # now slots are held by what this loop cannot see
        with pytest.raises(KlingCapacityTimeoutError):
            await submit(40, time.time() + 0.3)
        return view.limit, view.confirmed, len(view._own), _refusals(kling_conn)

    limit, confirmed, own, refusals = _run(scenario())
    assert refusals >= 1  # the refusal the view learned from
    assert limit == 2 and not confirmed  # not 2 + 40 stale submits confirmed as Kling's limit
    assert own == 0  # the 40 old submits are forgotten, not kept for ever


def test_a_limit_learned_too_low_is_probed_again_so_queued_submits_get_through(
    kling_conn: EmulatorServer,
) -> None:
    """A 1303 while a task the list does not show (another kind) held a slot: the limit is set at 1.
    That task ends: the account has room although the list still shows 1 running."""
    _configure(kling_conn, limit=2, seconds=60)
    hook = KlingHook()
    hidden = hook.submit_task("text2video", {"prompt": "a cat", "model_name": "kling-v1"}).task_id
    _occupy(1)  # the view sees this one (for a minute)

    async def scenario() -> tuple[Any, float]:
        gate = CapacityGate(probe_min_seconds=0.2, probe_max_seconds=0.4)
        gate.watch_account(KIND, lambda: hook.alist_tasks(KIND, 1, 100), 0.2)
        view = gate.view
        assert view is not None
        payload = {"video_id": SAMPLE_VIDEO, "external_task_id": "queued-0"}
        started = time.time()
        submit = asyncio.create_task(
            submit_when_capacity(
                gate,
                lambda: hook.asubmit_task(KIND, payload, retry_concurrency=False),
                deadline=started + 20,
                waiting_since=started,
                log=logging.getLogger(__name__),
                what="queued-0",
            )
        )
        while not view.confirmed:  # the first try met 1303 with no view; a probe met it with one
            await asyncio.wait_for(asyncio.sleep(0.05), 10)
            assert time.time() - started < 10 and not submit.done()
        assert view.limit == 1
        kling_conn.emulator.store.tasks[hidden].created -= 120  # the hidden task ends now
        ended = time.time()
        task = await submit
        return task, time.time() - ended

    task, waited = _run(scenario())
    assert task.task_status.value in ("submitted", "processing")
    assert waited < 15  # a few probe delays, not the deadline (KlingCapacityTimeoutError before the fix)
    assert kling_conn.emulator.stats.submits == 3


def test_a_limit_learned_too_low_is_probed_again_while_the_list_keeps_handing_out_turns(
    kling_conn: EmulatorServer,
) -> None:
    """The line never stalls for probe_max_seconds (a turn every second or two at the learned limit
    of 2), so only the slow probe (``slow_probe_seconds``) finds the third slot."""
    _configure(kling_conn, limit=3, seconds=1.0)
    hook = KlingHook()
    hidden = hook.submit_task("text2video", {"prompt": "a cat", "model_name": "kling-v1"}).task_id
    kling_conn.emulator.store.tasks[hidden].created += 60  # a task the view does not count holds a slot
    for ident in _occupy(2):  # the account is full: the first submit meets 1303, a probe confirms 2
        kling_conn.emulator.store.tasks[ident].created += 1

    async def scenario() -> tuple[int, int]:
        gate = CapacityGate(probe_min_seconds=0.2, probe_max_seconds=5.0, slow_probe_seconds=3.0)
        gate.watch_account(KIND, lambda: hook.alist_tasks(KIND, 1, 100), 0.2)
        view = gate.view
        assert view is not None
        started = time.time()

        async def one(i: int) -> None:
            payload = {"video_id": SAMPLE_VIDEO, "external_task_id": f"queued-{i}"}
            await submit_when_capacity(
                gate,
                lambda: hook.asubmit_task(KIND, payload, retry_concurrency=False),
                deadline=started + 60,
                waiting_since=started,
                log=logging.getLogger(__name__),
                what=f"queued-{i}",
            )

        jobs = [asyncio.create_task(one(i)) for i in range(12)]
        while not view.confirmed:
            await asyncio.wait_for(asyncio.sleep(0.05), 10)
            assert time.time() - started < 10
        learned = view.limit
        kling_conn.emulator.store.tasks[hidden].created -= 120  # it ends: the account has room for 3
        await asyncio.gather(*jobs)
        return learned, view.limit

    learned, limit = _run(scenario())
    assert learned == 2  # learned while the hidden task held the third slot
    assert limit == 3  # a slow probe found the slot again while the line was still moving
