"""VideoToAudioOperator, KlingTaskSensor and KlingTaskTrigger against the emulator."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_kling.api.audio import VideoToAudioRequest
from airflow_provider_kling.exceptions import (
    KlingTaskFailedError,
    KlingTaskTimeoutError,
    KlingValidationError,
)
from airflow_provider_kling.execution.poll_errors import MAX_CONSECUTIVE_ERRORS
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator
from airflow_provider_kling.sensors.kling import KlingTaskSensor
from airflow_provider_kling.triggers.kling import KlingTaskTrigger
from kling_emulator.server import EmulatorServer
from tests.conftest import first_event, next_event

SAMPLE_VIDEO = "825406034503692376"


@dataclass
class RecordingTI:
    """The slice of a TaskInstance the operator uses (ids for the external id, xcom_push)."""

    dag_id: str = "dag"
    run_id: str = "run-1"
    task_id: str = "v2a"
    map_index: int = -1
    xcom: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def run_deferred(op: Any, context: dict) -> tuple[dict, KlingTaskTrigger]:
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert deferred.value.method_name == "execute_complete"
    return first_event(trigger), trigger


def v2a(**kwargs: Any) -> VideoToAudioOperator:
    kwargs.setdefault("video_id", SAMPLE_VIDEO)
    return VideoToAudioOperator(task_id="v2a", poll_interval=0.1, **kwargs)


def test_blocking_run_returns_audio(kling_conn: EmulatorServer) -> None:
    ti = RecordingTI()
    result = v2a(sound_effect_prompt="rain", deferrable=False).execute({"ti": ti})
    assert result["status"] == "succeed"
    assert result["audios"][0]["url_mp3"].startswith(kling_conn.url)
    assert result["videos"][0]["duration"] == "5.1"
    assert ti.xcom["kling_task_id"] == result["task_id"]
    stored = kling_conn.emulator.store.tasks[result["task_id"]]
    assert stored.request == {
        "video_id": SAMPLE_VIDEO,
        "sound_effect_prompt": "rain",
        "asmr_mode": False,
        "external_task_id": result["external_task_id"],
    }


def test_deferrable_run(kling_conn: EmulatorServer) -> None:
    op = v2a(bgm_prompt="piano", deferrable=True)
    ti = RecordingTI()
    event, trigger = run_deferred(op, {"ti": ti})
    kwargs = trigger.serialize()[1]
    assert set(kwargs) == {
        "task_id",  # Kling's id and the task kind under 0.1.0's keys until 1.0 (rolling upgrades)
        "kind",
        "kling_conn_id",
        "poll_interval",
        "deadline",
        "last_status",
        "wait_for_unknown",
    }
    result = op.execute_complete({"ti": ti}, event)
    assert result["status"] == "succeed" and result["audios"]


def test_failed_kling_task_fails_with_its_message(kling_conn: EmulatorServer) -> None:
    with pytest.raises(KlingTaskFailedError, match="Emulated failure"):
        v2a(sound_effect_prompt="[fail] please", deferrable=False).execute({"ti": RecordingTI()})
    op = v2a(sound_effect_prompt="[fail] please", deferrable=True)
    event, _ = run_deferred(op, {"ti": RecordingTI(run_id="run-2")})
    with pytest.raises(KlingTaskFailedError, match="Emulated failure"):
        op.execute_complete({}, event)


def test_timeout_names_the_task_id(kling_conn: EmulatorServer) -> None:
    kling_conn.config.processing_seconds = 30
    with pytest.raises(KlingTaskTimeoutError, match=r"look it up by task id \d+") as info:
        v2a(deferrable=False, timeout=0.5).execute({"ti": RecordingTI()})
    assert info.value.task_id in kling_conn.emulator.store.tasks


def test_invalid_input_sends_nothing(kling_conn: EmulatorServer) -> None:
    with pytest.raises(KlingValidationError, match="bgm_prompt: String should have at most 200"):
        v2a(bgm_prompt="x" * 201).execute({"ti": RecordingTI()})
    assert kling_conn.emulator.stats.requests == 0


def test_retry_of_the_airflow_task_reattaches(kling_conn: EmulatorServer) -> None:
    first = v2a(deferrable=False).execute({"ti": RecordingTI()})
    second = v2a(deferrable=False).execute({"ti": RecordingTI()})  # same dag/run/task: a retry
    assert first["task_id"] == second["task_id"]
    assert kling_conn.emulator.stats.submits == 1


def test_no_wait_returns_right_after_submit(kling_conn: EmulatorServer) -> None:
    result = v2a(wait_for_completion=False).execute({"ti": RecordingTI()})
    assert result["status"] == "submitted" and result["audios"] == []


class TestSensor:
    def submit(self, server: EmulatorServer, prompt: str = "rain") -> dict:
        return v2a(wait_for_completion=False, sound_effect_prompt=prompt).execute(
            {"ti": RecordingTI(run_id=prompt)}
        )

    def test_poke_mode(self, kling_conn: EmulatorServer) -> None:
        submitted = self.submit(kling_conn)
        sensor = KlingTaskSensor(task_id="wait", kling_task_id=submitted["task_id"], poke_interval=0.1)
        assert sensor.poke({}).is_done is False
        kling_conn.config.submitted_seconds = kling_conn.config.processing_seconds = 0
        done = sensor.poke({})
        assert done.is_done and done.xcom_value["audios"][0]["id"]

    def test_poke_by_external_id_and_failure(self, kling_conn: EmulatorServer) -> None:
        submitted = self.submit(kling_conn, "[fail]")
        kling_conn.config.submitted_seconds = kling_conn.config.processing_seconds = 0
        sensor = KlingTaskSensor(task_id="wait", external_task_id=submitted["external_task_id"])
        with pytest.raises(KlingTaskFailedError, match="Emulated failure"):
            sensor.poke({})

    def test_deferrable(self, kling_conn: EmulatorServer) -> None:
        submitted = self.submit(kling_conn)
        sensor = KlingTaskSensor(
            task_id="wait", kling_task_id=submitted["task_id"], deferrable=True, poke_interval=0.1
        )
        event, _ = run_deferred(sensor, {})
        assert sensor.execute_complete({}, event)["status"] == "succeed"


def test_deferred_sensor_waits_for_a_task_not_submitted_yet(kling_conn: EmulatorServer) -> None:
    """As in poke mode, an id Kling does not know yet is waited for, not failed after a few rounds."""
    external_id = "submitted-later"
    sensor = KlingTaskSensor(
        task_id="wait", external_task_id=external_id, deferrable=True, poke_interval=0.05
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    stats = kling_conn.emulator.stats
    query = "GET /v1/audio/video-to-audio/{ident}"

    async def submit_after_many_unknown_rounds() -> None:
        while stats.by_route[query] < MAX_CONSECUTIVE_ERRORS + 2:
            await asyncio.sleep(0.02)
        request = VideoToAudioRequest.build(video_id=SAMPLE_VIDEO, external_task_id=external_id)
        await KlingHook().asubmit_task("video-to-audio", request)

    async def main() -> dict:
        submit = asyncio.ensure_future(submit_after_many_unknown_rounds())
        try:
            return await next_event(trigger)
        finally:
            submit.cancel()  # done already, unless the trigger gave up before the submit

    event = asyncio.run(main())
    assert sensor.execute_complete({}, event)["external_task_id"] == external_id


def test_trigger_roundtrip_and_restart(kling_conn: EmulatorServer) -> None:
    """A trigger re-created from its serialized kwargs (triggerer restart) finishes the wait."""
    submitted = v2a(wait_for_completion=False).execute({"ti": RecordingTI()})
    trigger = KlingTaskTrigger(kling_task_id=submitted["task_id"], poll_interval=0.1, deadline=None)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_kling.triggers.kling.KlingTaskTrigger"
    restored = KlingTaskTrigger(**kwargs)
    assert first_event(restored)["status"] == "success"
