"""KlingTaskSensor on a new-design task: poke mode and deferred, by Kling id or external id."""

from __future__ import annotations

import time
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.execution.poll_errors import PollError, classify_poll_error
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.sensors.kling import KlingTaskSensor
from kling_emulator.server import EmulatorServer
from tests.conftest import first_event

TASKS = "GET /tasks"


def submitted(external_task_id: str) -> str:
    payload = {"model_name": "kling-3.0-turbo", "prompt": "A kite", "external_task_id": external_task_id}
    return KlingHook().submit_task("text-to-video", payload).task_id


def test_a_poking_sensor_waits_on_an_external_id_through_get_tasks(kling_key_conn: EmulatorServer) -> None:
    task_id = submitted("sensor-ext")
    sensor = KlingTaskSensor(
        task_id="wait",
        external_task_id="sensor-ext",
        task_kind="text-to-video",
        poke_interval=0.1,
        deferrable=False,
    )
    context: dict[str, Any] = {"ti": None}
    for _ in range(100):  # poke mode, as BaseSensorOperator.execute does, poke_interval apart
        done = sensor.poke(context)
        if done.is_done:
            break
        time.sleep(0.05)
    assert done.is_done
    result = done.xcom_value
    assert result["task_id"] == task_id and result["api_design"] == "new" and result["status"] == "succeed"
    assert result["videos"][0]["url"]
    stats = kling_key_conn.emulator.stats
    assert stats.by_route[TASKS] >= 2 and not any(r.startswith("GET /v1") for r in stats.by_route)


def test_a_deferred_sensor_waits_for_a_task_submitted_later(kling_key_conn: EmulatorServer) -> None:
    sensor = KlingTaskSensor(
        task_id="wait",
        external_task_id="sensor-later",
        task_kind="image-to-video",
        poke_interval=0.1,
        deferrable=True,
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({"ti": None})  # not submitted yet: Kling does not know the id
    payload = {
        "model_name": "kling-3.0-turbo",
        "contents": [{"type": "first_frame", "url": "https://cdn.example/first-frame.png"}],
        "external_task_id": "sensor-later",
    }
    task_id = KlingHook().submit_task("image-to-video", payload).task_id
    event = first_event(deferred.value.trigger)
    assert sensor.execute_complete({"ti": None}, event)["task_id"] == task_id


@pytest.mark.parametrize("deferrable", [False, True])
def test_a_jwt_connection_ends_the_sensor_at_once_without_a_request(
    kling_conn: EmulatorServer, deferrable: bool
) -> None:
    sensor = KlingTaskSensor(
        task_id="wait",
        external_task_id="never-sent",
        task_kind="text-to-video",
        poke_interval=0.1,
        deferrable=deferrable,
    )
    with pytest.raises(KlingValidationError, match="API key"):
        sensor.execute({"ti": None})  # neither defers nor pokes again: no retry can fix it
    assert kling_conn.emulator.stats.requests == 0


def test_a_permanent_error_in_a_status_check_is_fatal() -> None:
    assert classify_poll_error(KlingValidationError("connection: needs an API key")) is PollError.FATAL
