"""Waiting for a free Kling parallel-task slot (1303): the gate, and operators against the emulator.

A busy account is normal: a submit over the limit waits in line (on the triggerer when
deferrable) instead of failing, and pays once. The Airflow-level proof (a 24-prompt fan-out on a
real scheduler/triggerer) is tests/real_airflow/test_backpressure.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_kling.api.audio import VideoToAudioRequest
from airflow_provider_kling.exceptions import KlingCapacityTimeoutError
from airflow_provider_kling.execution.capacity import CapacityGate
from airflow_provider_kling.execution.events import SUBMITTED_ON_TRIGGERER_KEY, WaitStatus
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator
from airflow_provider_kling.triggers.submit import KlingSubmitTrigger
from kling_emulator.server import EmulatorServer
from kling_emulator.state import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
from tests.conftest import first_event, use_kling_default
from tests.operators.test_operator import SAMPLE_VIDEO, RecordingTI

# ---------------------------------------------------------------------------- the gate itself


async def _queued(gate: CapacityGate, n: int, **kwargs: Any) -> list[asyncio.Task[bool]]:
    turns = [asyncio.create_task(gate.turn(timeout=5, **kwargs)) for _ in range(n)]
    await asyncio.sleep(0.01)  # let them all enter the queue, in order
    return turns


def test_open_gate_lets_submits_through_at_once() -> None:
    async def scenario() -> bool:
        return await CapacityGate().turn(timeout=1)

    assert asyncio.run(scenario()) is False  # a turn, and not a probe


def test_closed_gate_hands_out_one_turn_per_freed_slot_in_arrival_order() -> None:
    async def scenario() -> list[list[bool]]:
        gate = CapacityGate(probe_min_seconds=30)  # no probe during this test
        gate.refused()
        turns = await _queued(gate, 3)
        seen = [[t.done() for t in turns]]
        gate.slot_freed()
        await asyncio.sleep(0.01)
        seen.append([t.done() for t in turns])
        gate.slot_freed()
        gate.slot_freed()
        await asyncio.sleep(0.01)
        seen.append([t.done() for t in turns])
        return seen

    nothing, first, all_three = asyncio.run(scenario())
    assert nothing == [False, False, False]
    assert first == [True, False, False]
    assert all_three == [True, True, True]


def test_a_refused_caller_keeps_its_place_at_the_head() -> None:
    async def scenario() -> list[int]:
        gate = CapacityGate(probe_min_seconds=30)
        gate.refused()
        order: list[int] = []

        async def caller(n: int, front: bool = False) -> None:
            await gate.turn(timeout=5, front=front)
            order.append(n)

        waiting = [asyncio.create_task(caller(n)) for n in (1, 2)]
        await asyncio.sleep(0.01)
        waiting.append(asyncio.create_task(caller(0, front=True)))  # was refused just now
        await asyncio.sleep(0.01)
        for _ in range(3):
            gate.slot_freed()
            await asyncio.sleep(0.01)
        await asyncio.gather(*waiting)
        return order

    assert asyncio.run(scenario()) == [0, 1, 2]


def test_probe_finds_capacity_freed_elsewhere_then_the_line_moves_one_by_one() -> None:
    async def scenario() -> tuple[list[bool], list[list[bool]], bool, float]:
        gate = CapacityGate(probe_min_seconds=0.1, probe_max_seconds=0.4)
        gate.refused()
        started = time.monotonic()
        turns = await _queued(gate, 3)
        kinds = [await turns[0]]  # nothing freed a slot: the probe timer gives the head a turn
        waited = time.monotonic() - started
        seen = [[t.done() for t in turns]]
        gate.accepted(probe=True)  # it got through: the next one tries at once, alone
        await asyncio.sleep(0.01)
        seen.append([t.done() for t in turns])
        kinds.append(await turns[1])
        gate.accepted(probe=True)
        await asyncio.sleep(0.01)
        seen.append([t.done() for t in turns])
        kinds.append(await turns[2])
        gate.accepted(probe=True)  # the line is empty: the gate opens
        return kinds, seen, gate.closed, waited

    kinds, seen, closed, waited = asyncio.run(scenario())
    assert kinds == [True, True, True]
    assert seen == [[True, False, False], [True, True, False], [True, True, True]]
    assert closed is False
    assert waited >= 0.05  # uniform(min/2, min): not at once


def test_arrivals_that_know_the_account_is_full_queue_instead_of_trying() -> None:
    async def scenario() -> tuple[bool, bool]:
        gate = CapacityGate(probe_min_seconds=30)
        gate.close()  # e.g. a trigger deferred after its worker met 1303
        turn = asyncio.create_task(gate.turn(timeout=5))
        await asyncio.sleep(0.01)
        return turn.done(), gate.closed

    assert asyncio.run(scenario()) == (False, True)


def test_probe_delay_grows_while_the_account_stays_full() -> None:
    async def scenario() -> list[float]:
        gate = CapacityGate(probe_min_seconds=0.05, probe_max_seconds=0.2)
        gate.refused()
        gaps = []
        for _ in range(4):
            started = time.monotonic()
            assert await gate.turn(timeout=5, front=True) is True
            gaps.append(time.monotonic() - started)
            gate.refused(probe=True)  # the probe met 1303: still full
        return gaps

    gaps = asyncio.run(scenario())
    # Delays are drawn from [d/2, d] with d = 0.05, 0.1, 0.2, 0.2 (capped).
    assert gaps[0] < 0.1
    assert gaps[2] >= 0.09 and gaps[3] >= 0.09


def test_a_caller_that_gives_up_passes_its_turn_on() -> None:
    async def scenario() -> tuple[bool, bool]:
        gate = CapacityGate(probe_min_seconds=30)
        gate.refused()
        impatient = asyncio.create_task(gate.turn(timeout=0.05))
        await asyncio.sleep(0.01)
        patient = asyncio.create_task(gate.turn(timeout=5))
        with pytest.raises(asyncio.TimeoutError):
            await impatient
        gate.slot_freed()
        await asyncio.sleep(0.01)
        return patient.done(), gate.waiting == 0

    assert asyncio.run(scenario()) == (True, True)


# ---------------------------------------------------------------------------- operators, emulator


def occupy_the_only_slot(server: EmulatorServer, *, seconds: float) -> str:
    """Set the account's limit to 1 and fill it with a task that runs ``seconds``."""
    server.emulator.config.max_concurrent_tasks = 1
    server.emulator.config.submitted_seconds = 0.1
    server.emulator.config.processing_seconds = seconds
    hook = KlingHook()
    task = hook.submit_video_to_audio(VideoToAudioRequest(video_id=SAMPLE_VIDEO))
    return task.task_id


def refusals(server: EmulatorServer) -> int:
    return int(server.emulator.stats.limit_refusals.get(1303, 0))


def v2a(**kwargs: Any) -> VideoToAudioOperator:
    return VideoToAudioOperator(task_id="v2a", video_id=SAMPLE_VIDEO, poll_interval=0.1, **kwargs)


def test_blocking_operator_waits_for_a_free_slot_and_pays_once(kling_conn: EmulatorServer) -> None:
    occupy_the_only_slot(kling_conn, seconds=1.0)
    ti = RecordingTI()
    result = v2a(deferrable=False, timeout=60).execute({"ti": ti})
    assert result["status"] == "succeed"
    assert ti.xcom["kling_task_id"] == result["task_id"]
    stats = kling_conn.emulator.stats
    assert stats.submits == 2  # the occupier and ours, nothing twice
    assert stats.peak_running == 1
    # Probes with a doubling delay (1-2 s, 2-4 s, ...) while one 1.1 s task runs: a few, not a herd.
    assert 1 <= refusals(kling_conn) <= 3


def test_deferrable_operator_waits_for_capacity_on_the_triggerer(kling_conn: EmulatorServer) -> None:
    occupy_the_only_slot(kling_conn, seconds=1.0)
    op = v2a(deferrable=True, timeout=60, bgm_prompt="piano")
    ti = RecordingTI()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"ti": ti})
    trigger = deferred.value.trigger
    assert isinstance(trigger, KlingSubmitTrigger)  # a deferral to wait for capacity happened
    assert refusals(kling_conn) == 1 and kling_conn.emulator.stats.submits == 1
    kwargs = trigger.serialize()[1]
    assert set(kwargs) == {
        "task_kind",
        "payload",
        "external_task_id",
        "request_xcom",
        "kling_conn_id",
        "poll_interval",
        "deadline",
        "waiting_since",
        "wait",
        "account_full",
        "resolved",
    }
    assert kwargs["account_full"] is True and kwargs["resolved"] is True
    assert kwargs["payload"]["bgm_prompt"] == "piano"
    serialized = json.dumps(kwargs)
    assert DEFAULT_SECRET_KEY not in serialized and DEFAULT_ACCESS_KEY not in serialized
    assert "Bearer" not in serialized and "eyJ" not in serialized  # no key, no JWT
    external_id = kwargs["external_task_id"]
    assert kwargs["payload"]["external_task_id"] == external_id and kwargs["request_xcom"] is None
    assert external_id.startswith("airflow-")

    event = first_event(KlingSubmitTrigger(**kwargs))  # as a triggerer rebuilds it from the kwargs
    assert event["status"] == "success" and event[SUBMITTED_ON_TRIGGERER_KEY] is True
    result = op.execute_complete({"ti": ti}, event)
    assert result["external_task_id"] == external_id
    assert ti.xcom["kling_task_id"] == result["task_id"]
    assert kling_conn.emulator.stats.submits == 2


def test_restarted_submit_trigger_reattaches_instead_of_paying_twice(kling_conn: EmulatorServer) -> None:
    occupy_the_only_slot(kling_conn, seconds=0.5)
    op = v2a(deferrable=True, timeout=60)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"ti": RecordingTI()})
    kwargs = deferred.value.trigger.serialize()[1]
    first = first_event(KlingSubmitTrigger(**kwargs))
    # The triggerer died after the submit and another one runs the same trigger again.
    again = first_event(KlingSubmitTrigger(**kwargs))
    assert again["task"]["task_id"] == first["task"]["task_id"]
    assert kling_conn.emulator.stats.submits == 2


def test_capacity_timeout_names_the_limit_and_spends_nothing(kling_conn: EmulatorServer) -> None:
    occupy_the_only_slot(kling_conn, seconds=30)
    with pytest.raises(KlingCapacityTimeoutError) as error:
        v2a(deferrable=False, timeout=1.5).execute({"ti": RecordingTI()})
    text = str(error.value)
    assert "parallel-task limit" in text and "1303" in text and "Nothing was submitted" in text
    assert "waiting 1s" in text or "waiting 2s" in text
    assert kling_conn.emulator.stats.submits == 1  # only the occupier


def test_deferred_capacity_timeout_event_fails_with_the_same_message(kling_conn: EmulatorServer) -> None:
    occupy_the_only_slot(kling_conn, seconds=30)
    op = v2a(deferrable=True, timeout=1.5)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"ti": RecordingTI()})
    event = first_event(deferred.value.trigger)
    assert event["status"] == WaitStatus.CAPACITY_TIMEOUT.value
    with pytest.raises(KlingCapacityTimeoutError, match="parallel-task limit"):
        op.execute_complete({"ti": RecordingTI()}, event)
    assert kling_conn.emulator.stats.submits == 1


def test_submits_on_one_triggerer_share_one_line(kling_conn: EmulatorServer) -> None:
    """Twelve deferred submits on one event loop (as on one triggerer) against a limit of 2."""
    config = kling_conn.emulator.config
    config.max_concurrent_tasks = 2
    config.submitted_seconds = 0.1
    config.processing_seconds = 0.5
    n = 12

    async def triggerer() -> list[dict[str, Any]]:
        triggers = [
            KlingSubmitTrigger(
                task_kind="video-to-audio",
                payload={"video_id": SAMPLE_VIDEO, "external_task_id": f"line-{i}"},
                poll_interval=0.1,
                deadline=time.time() + 120,
            )
            for i in range(n)
        ]

        async def run(trigger: KlingSubmitTrigger) -> dict[str, Any]:
            async for event in trigger.run():
                return dict(event.payload)
            raise AssertionError("no event")

        return await asyncio.gather(*(run(t) for t in triggers))

    events = asyncio.run(triggerer())
    assert [e["status"] for e in events] == ["success"] * n
    stats = kling_conn.emulator.stats
    assert stats.submits == n
    assert stats.peak_running == 2
    # Without the shared line each of the 12 would probe on its own, refused at every backoff
    # step; with it the 12 queue behind one probe and then move one per freed slot (2 refusals
    # on a quiet machine; a loaded one sees a few more when a probe fires before a slot frees).
    assert refusals(kling_conn) <= n // 2


@pytest.mark.parametrize("deferrable", [False, True])
def test_a_rate_limit_the_hook_could_not_outlast_waits_instead_of_failing(
    kling_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch, deferrable: bool
) -> None:
    from kling_emulator.state import Fault

    # One hook retry, then three more 1302s on submits: the hook gives up, the wait does not.
    use_kling_default(monkeypatch, kling_conn.url, max_retries=1, retry_min_wait=0.01, retry_max_wait=0.02)
    kling_conn.emulator.config.inject(Fault("error", code=1302, method="POST", times=4))
    op = v2a(deferrable=deferrable, timeout=60)
    ti = RecordingTI()
    if deferrable:
        with pytest.raises(TaskDeferred) as deferred:
            op.execute({"ti": ti})
        assert deferred.value.trigger.serialize()[1]["account_full"] is False  # not a 1303: no line
        result = op.execute_complete({"ti": ti}, first_event(deferred.value.trigger))
    else:
        result = op.execute({"ti": ti})
    assert result["status"] == "succeed"
    assert kling_conn.emulator.stats.submits == 1


def test_a_waiter_cancelled_as_its_turn_comes_does_not_take_it() -> None:
    """A trigger cancelled (task cleared, triggerer stopping) in the very step a slot frees must
    not go on to submit; the slot passes to the next in line."""

    async def scenario() -> tuple[bool, bool]:
        gate = CapacityGate(probe_min_seconds=30)
        gate.refused()
        first, second = await _queued(gate, 2)
        gate.slot_freed()  # grants the first ...
        first.cancel()  # ... which is cancelled in the same step
        with pytest.raises(asyncio.CancelledError):
            await first
        await asyncio.sleep(0.01)
        return first.cancelled(), second.done()

    assert asyncio.run(scenario()) == (True, True)


def test_restarted_trigger_whose_task_failed_reports_it_instead_of_paying_for_the_next_id(
    kling_conn: EmulatorServer,
) -> None:
    occupy_the_only_slot(kling_conn, seconds=0.3)
    op = v2a(deferrable=True, timeout=60, sound_effect_prompt="rain [fail]")  # Kling fails it
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"ti": RecordingTI()})
    kwargs = deferred.value.trigger.serialize()[1]
    first = first_event(KlingSubmitTrigger(**kwargs))
    assert first["status"] == "failed"
    # The triggerer restarts after the task failed and runs the trigger again: the failed task
    # is this try's own result (an Airflow retry may resubmit under -2), not a reason to pay now.
    again = first_event(KlingSubmitTrigger(**kwargs))
    assert again["status"] == "failed" and again["task"]["task_id"] == first["task"]["task_id"]
    assert kling_conn.emulator.stats.submits == 2  # the occupier and ours


def test_a_submit_trigger_past_its_deadline_submits_nothing(kling_conn: EmulatorServer) -> None:
    trigger = KlingSubmitTrigger(
        task_kind="video-to-audio",
        payload={"video_id": SAMPLE_VIDEO, "external_task_id": "late-1"},
        deadline=time.time() - 1,  # re-created after the triggerer was down past the timeout
        account_full=False,
    )
    event = first_event(trigger)
    assert event["status"] == WaitStatus.CAPACITY_TIMEOUT.value
    assert kling_conn.emulator.stats.submits == 0
