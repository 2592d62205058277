"""One verdict on failed status checks, whether a sensor pokes or a trigger waits; the event round trip."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from airflow_provider_kling import exceptions as exc
from airflow_provider_kling.api.audio import VideoToAudioRequest
from airflow_provider_kling.execution.events import WaitOutcome, WaitStatus
from airflow_provider_kling.execution.poll_errors import MAX_CONSECUTIVE_ERRORS
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.sensors.kling import KlingTaskSensor
from airflow_provider_kling.triggers.kling import KlingTaskTrigger
from kling_emulator.server import EmulatorServer
from kling_emulator.state import Fault
from tests.conftest import first_event, use_kling_default

SAMPLE = VideoToAudioRequest.build(video_id="825406034503692376", sound_effect_prompt="rain")
PATHS = ["poke", "trigger"]


def wait(path: str, task_id: str) -> dict[str, Any] | exc.KlingError:
    """Wait for a task as a poking sensor or as a deferred one does; the result or the raised error."""
    sensor = KlingTaskSensor(task_id="wait", kling_task_id=task_id, poke_interval=0.05, timeout=60)
    try:
        if path == "trigger":
            trigger = KlingTaskTrigger(kling_task_id=task_id, poll_interval=0.05, wait_for_unknown=True)
            return sensor.execute_complete({}, first_event(trigger))
        for _ in range(400):  # bounded; the emulator's task finishes in half a second
            done = sensor.poke({})
            if done.is_done:
                return done.xcom_value
            time.sleep(0.02)
        raise AssertionError("the poke never finished")
    except exc.KlingError as error:
        return error


@pytest.fixture
def one_request_per_check(kling_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    use_kling_default(monkeypatch, kling_conn.url, max_retries=0)


@pytest.mark.parametrize("code", [1302, 1303])
@pytest.mark.parametrize("path", PATHS)
def test_slow_down_answers_do_not_use_up_the_error_budget(
    path: str, code: int, kling_conn: EmulatorServer, one_request_per_check: None
) -> None:
    task = KlingHook().submit_task("video-to-audio", SAMPLE)
    kling_conn.config.inject(Fault("error", code=code, method="GET", times=MAX_CONSECUTIVE_ERRORS + 2))
    result = wait(path, task.task_id)
    assert isinstance(result, dict) and result["status"] == "succeed", result
    assert not kling_conn.config.faults  # every 1302/1303 was really answered


@pytest.mark.parametrize("path", PATHS)
def test_repeated_server_errors_end_the_wait_retryably(
    path: str, kling_conn: EmulatorServer, one_request_per_check: None
) -> None:
    task = KlingHook().submit_task("video-to-audio", SAMPLE)
    kling_conn.config.inject(Fault("error", code=5000, method="GET", times=MAX_CONSECUTIVE_ERRORS))
    error = wait(path, task.task_id)
    assert type(error) is exc.KlingWaitError, error
    assert (error.code, error.http_status) == (5000, 500)
    assert f"Waiting for Kling task {task.task_id} failed" in str(error)
    assert not exc.fails_without_retry(error)  # an Airflow retry re-attaches and may succeed


@pytest.mark.parametrize("path", PATHS)
def test_an_auth_refusal_ends_the_wait_at_once_without_retries(
    path: str, kling_conn: EmulatorServer, one_request_per_check: None
) -> None:
    task = KlingHook().submit_task("video-to-audio", SAMPLE)
    before = kling_conn.emulator.stats.requests
    kling_conn.config.inject(Fault("error", code=1004, method="GET", times=2))  # survives the one re-sign
    error = wait(path, task.task_id)
    assert type(error) is exc.KlingWaitAbortedError, error
    assert (error.code, error.http_status) == (1004, 401) and error.request_id
    assert exc.fails_without_retry(error)
    assert kling_conn.emulator.stats.requests - before == 2  # one check: the request and its re-sign


def test_the_event_round_trip_keeps_the_outcome_and_reads_old_events() -> None:
    error = exc.api_error("Account in arrears", code=1101, http_status=429, request_id="r-1")
    outcome = WaitOutcome.gave_up("123", error, transient=False)
    event = outcome.to_event()
    assert json.loads(json.dumps(event)) == event  # what the triggerer stores
    assert event == {
        "status": "error",
        "task": {"task_id": "123", "kling_task_id": "123"},
        "message": str(error),
        "transient": False,
        "code": 1101,
        "http_status": 429,
        "request_id": "r-1",
    }
    assert WaitOutcome.from_event(event) == outcome
    # An event written by the previous release (no code fields) still reads.
    old = {"status": "error", "task": {"task_id": "9"}, "message": "boom", "transient": True}
    assert WaitOutcome.from_event(old) == WaitOutcome(WaitStatus.ERROR, {"task_id": "9"}, "boom", True)
    unknown = WaitOutcome.from_event({"status": "exploded"})
    assert unknown.status is WaitStatus.ERROR and unknown.transient
    # A submit that failed on the triggerer (KlingSubmitTrigger) names its external_task_id.
    refused = {
        "status": "error",
        "task": {"external_task_id": "airflow-x"},
        "message": "1201",
        "transient": False,
    }
    error = WaitOutcome.from_event(refused).error(task_id_hint=None, timeout=1)
    assert isinstance(error, exc.KlingWaitAbortedError)
    assert str(error) == "Submitting Kling task (external_task_id airflow-x) failed: 1201"


def test_timeouts_are_retried_for_operators_but_not_for_sensors() -> None:
    outcome = WaitOutcome.timed_out("7", "processing")
    with pytest.raises(exc.KlingTaskTimeoutError) as operator_timeout:
        outcome.result(task_id_hint=None, timeout=5)
    assert not exc.fails_without_retry(operator_timeout.value)  # a retry waits for the same task again
    sensor = KlingTaskSensor(task_id="wait", kling_task_id="7", timeout=5)
    with pytest.raises(exc.KlingSensorTimeoutError) as sensor_timeout:
        sensor.execute_complete({}, outcome.to_event())
    assert exc.fails_without_retry(sensor_timeout.value)  # as a poking sensor's AirflowSensorTimeout
