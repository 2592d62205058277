"""The one event vocabulary: every status survives the triggerer's JSON, and old events still read."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from airflow_provider_kling import exceptions as exc
from airflow_provider_kling.api.audio import VideoToAudioRequest
from airflow_provider_kling.execution.events import WaitOutcome, WaitStatus
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.triggers.kling import KlingTaskTrigger
from airflow_provider_kling.triggers.submit import KlingSubmitTrigger
from kling_emulator.server import EmulatorServer
from tests.conftest import first_event
from tests.execution.test_capacity import occupy_the_only_slot, v2a
from tests.operators.test_operator import SAMPLE_VIDEO, RecordingTI

TASK = {
    "task_id": "860001",
    "kling_task_id": "860001",
    "external_task_id": "airflow-abc",
    "status": "succeed",
    "status_message": "",
    "videos": [],
    "audios": [{"id": "a1", "url_mp3": "https://cdn/a1.mp3"}],
}
REFUSAL = exc.api_error("Account in arrears", code=1101, http_status=429, request_id="r-1")

# One outcome per status, each with every field that status carries.
OUTCOMES = {
    WaitStatus.SUCCESS: WaitOutcome(WaitStatus.SUCCESS, TASK),
    WaitStatus.FAILED: WaitOutcome(WaitStatus.FAILED, {**TASK, "status": "failed"}, "content refused"),
    WaitStatus.TIMEOUT: WaitOutcome.timed_out("860001", "processing"),
    WaitStatus.ERROR: WaitOutcome.gave_up("860001", REFUSAL, transient=False),
    WaitStatus.SUBMITTED: WaitOutcome(
        WaitStatus.SUBMITTED, {**TASK, "status": "submitted"}, submitted_on_triggerer=True
    ),
    WaitStatus.CAPACITY_TIMEOUT: WaitOutcome.capacity_timed_out(
        "airflow-abc", exc.KlingCapacityTimeoutError.after("Kling text2video task", 61.5, None)
    ),
}


def test_every_status_has_an_example() -> None:
    assert set(OUTCOMES) == set(WaitStatus)


@pytest.mark.parametrize("status", list(WaitStatus))
@pytest.mark.parametrize("on_triggerer", [False, True])
def test_every_status_survives_the_round_trip(status: WaitStatus, on_triggerer: bool) -> None:
    outcome = OUTCOMES[status].on_triggerer() if on_triggerer else OUTCOMES[status]
    payload = outcome.to_event()
    stored = json.loads(json.dumps(payload))  # what the triggerer writes to the metadata DB
    assert stored == payload and stored["status"] == status.value
    assert WaitOutcome.from_event(stored) == outcome


@pytest.mark.parametrize("status", list(WaitStatus))
def test_each_status_maps_to_its_result_or_error(status: WaitStatus) -> None:
    expected: dict[WaitStatus, type[exc.KlingError] | None] = {
        WaitStatus.SUCCESS: None,
        WaitStatus.SUBMITTED: None,
        WaitStatus.FAILED: exc.KlingTaskFailedError,
        WaitStatus.TIMEOUT: exc.KlingTaskTimeoutError,
        WaitStatus.ERROR: exc.KlingWaitAbortedError,
        WaitStatus.CAPACITY_TIMEOUT: exc.KlingCapacityTimeoutError,
    }
    outcome = WaitOutcome.from_event(json.loads(json.dumps(OUTCOMES[status].to_event())))
    error = outcome.error(task_id_hint=None, timeout=60)
    if expected[status] is None:
        assert error is None and outcome.result(task_id_hint=None, timeout=60)["task_id"] == "860001"
    else:
        assert type(error) is expected[status], error
    if status is WaitStatus.CAPACITY_TIMEOUT:
        assert isinstance(error, exc.KlingCapacityTimeoutError) and error.waited_seconds == 61.5
        assert "parallel-task limit" in str(error)
    if status is WaitStatus.ERROR:
        assert isinstance(error, exc.KlingWaitAbortedError)
        assert (error.code, error.http_status, error.request_id) == (1101, 429, "r-1")


# ---------------------------------------------------------------- events written by 0.1.0

OLD_EVENTS: dict[str, dict[str, Any]] = {
    # KlingTaskTrigger
    "success": {"status": "success", "task": TASK, "message": ""},
    "timeout": {
        "status": "timeout",
        "task": {"task_id": "860001", "status": "processing"},
        "message": "deadline passed; Kling task 860001 was processing",
    },
    "error": {"status": "error", "task": {"task_id": "9"}, "message": "boom", "transient": True},
    # KlingSubmitTrigger
    "success on the triggerer": {
        "status": "success",
        "task": TASK,
        "message": "",
        "submitted_on_triggerer": True,
    },
    "submitted": {
        "status": "submitted",
        "task": {**TASK, "status": "submitted"},
        "message": "",
        "submitted_on_triggerer": True,
    },
    "capacity_timeout": {
        "status": "capacity_timeout",
        "task": {"external_task_id": "airflow-abc"},
        "message": "gave up after waiting 61s for a free Kling parallel-task slot",
        "waited": 61.2,
    },
    "submit refused": {
        "status": "error",
        "task": {"external_task_id": "airflow-abc"},
        "message": "1201 bad request",
        "transient": False,
        "code": 1201,
        "http_status": 400,
    },
}


def test_timeout_and_error_events_name_the_kling_task_id_under_both_keys() -> None:
    """As ``KlingTask.to_xcom()`` does: ``task_id`` for 0.1.0 readers, ``kling_task_id`` for the rest."""
    timeout = WaitOutcome.timed_out("860001", "processing").to_event()
    assert timeout["task"] == {"task_id": "860001", "kling_task_id": "860001", "status": "processing"}
    error = WaitOutcome.gave_up("860001", REFUSAL, transient=False).to_event()
    assert error["task"] == {"task_id": "860001", "kling_task_id": "860001"}
    # A deferred submit that failed has no Kling task id: it names only its external_task_id.
    submit = WaitOutcome.gave_up("airflow-abc", REFUSAL, transient=False, id_key="external_task_id")
    assert submit.to_event()["task"] == {"external_task_id": "airflow-abc"}
    assert submit.kling_task_id is None and submit.to_event()["status"] == "error"
    # An event with kling_task_id alone names its task too.
    read = WaitOutcome.from_event({"status": "timeout", "task": {"kling_task_id": "7"}, "message": ""})
    assert read.kling_task_id == "7"


def test_a_failed_check_a_failed_submit_and_a_failed_task_read_differently() -> None:
    messages = {
        name: str(outcome.error(task_id_hint=None, timeout=60))
        for name, outcome in {
            "check": WaitOutcome.gave_up("860001", REFUSAL, transient=False),
            "submit": WaitOutcome.gave_up("airflow-abc", REFUSAL, transient=False, id_key="external_task_id"),
            "task": OUTCOMES[WaitStatus.FAILED],
        }.items()
    }
    assert messages["check"] == f"Waiting for Kling task 860001 failed: {REFUSAL}"
    assert messages["submit"] == f"Submitting Kling task (external_task_id airflow-abc) failed: {REFUSAL}"
    assert "860001" in messages["task"] and "content refused" in messages["task"]
    assert len(set(messages.values())) == 3


def test_the_request_in_xcom_flag_survives_the_round_trip_and_is_absent_otherwise() -> None:
    outcome = dataclasses.replace(OUTCOMES[WaitStatus.SUCCESS].on_triggerer(), request_in_xcom=True)
    event = json.loads(json.dumps(outcome.to_event()))
    assert event["request_in_xcom"] is True and WaitOutcome.from_event(event) == outcome
    assert "request_in_xcom" not in OUTCOMES[WaitStatus.SUCCESS].on_triggerer().to_event()


def test_old_events_read_as_the_same_outcome() -> None:
    read = {name: WaitOutcome.from_event(event) for name, event in OLD_EVENTS.items()}
    assert read["success"] == WaitOutcome(WaitStatus.SUCCESS, TASK)
    assert read["timeout"].status is WaitStatus.TIMEOUT and read["timeout"].kling_task_id == "860001"
    assert read["timeout"].message == WaitOutcome.timed_out("860001", "processing").message
    assert read["error"].kling_task_id == "9" and not read["error"].submit_failed
    assert read["submit refused"].kling_task_id is None and read["submit refused"].submit_failed
    assert read["error"] == WaitOutcome(WaitStatus.ERROR, {"task_id": "9"}, "boom", transient=True)
    assert read["success on the triggerer"] == WaitOutcome(WaitStatus.SUCCESS, TASK).on_triggerer()
    assert read["submitted"].status is WaitStatus.SUBMITTED and read["submitted"].submitted_on_triggerer
    assert read["capacity_timeout"].waited == 61.2
    assert read["submit refused"].code == 1201 and not read["submit refused"].transient
    # Written again, each is the dict it was read from: nothing gained, nothing lost.
    for name, event in OLD_EVENTS.items():
        assert read[name].to_event() == event, name
    unknown = WaitOutcome.from_event({"status": "exploded"})
    assert unknown.status is WaitStatus.ERROR and unknown.transient


def test_an_operator_resumes_from_each_old_event() -> None:
    """A task deferred by 0.1.0 and resumed by this version gets the same result or error."""
    op = v2a(deferrable=True, timeout=60)
    ti = RecordingTI()
    assert op.execute_complete({"ti": ti}, OLD_EVENTS["success"])["task_id"] == "860001"
    assert "kling_task_id" not in ti.xcom  # the worker pushed it before deferring
    assert op.execute_complete({"ti": ti}, OLD_EVENTS["submitted"])["status"] == "submitted"
    assert ti.xcom["kling_task_id"] == "860001"  # submitted on the triggerer: reported now
    with pytest.raises(exc.KlingCapacityTimeoutError) as capacity:
        op.execute_complete({"ti": ti}, OLD_EVENTS["capacity_timeout"])
    assert capacity.value.waited_seconds == 61.2
    with pytest.raises(exc.KlingWaitAbortedError) as refused:
        op.execute_complete({"ti": ti}, OLD_EVENTS["submit refused"])
    expected = "Submitting Kling task (external_task_id airflow-abc) failed: 1201 bad request"
    assert str(refused.value) == expected
    with pytest.raises(exc.KlingWaitError) as polling:
        op.execute_complete({"ti": ti}, OLD_EVENTS["error"])
    assert str(polling.value) == "Waiting for Kling task 9 failed: boom"
    with pytest.raises(exc.KlingTaskTimeoutError):
        op.execute_complete({"ti": ti}, OLD_EVENTS["timeout"])


# ---------------------------------------------------------------- trigger rows written by 0.1.0


def test_a_task_trigger_row_of_the_previous_version_still_runs(kling_conn: EmulatorServer) -> None:
    submitted = KlingHook().submit_task("video-to-audio", VideoToAudioRequest.build(video_id=SAMPLE_VIDEO))
    old_kwargs = {  # KlingTaskTrigger.serialize() of 0.1.0
        "task_id": submitted.task_id,
        "kind": "video-to-audio",
        "kling_conn_id": "kling_default",
        "poll_interval": 0.05,
        "deadline": None,
        "last_status": "submitted",
        "wait_for_unknown": False,
    }
    trigger = KlingTaskTrigger(**old_kwargs)
    assert (trigger.kling_task_id, trigger.task_kind) == (submitted.task_id, "video-to-audio")
    # and it writes the row back in 0.1.0's shape, which a 0.1.0 triggerer resumes (rolling upgrade)
    assert trigger.serialize()[1] == old_kwargs
    event = first_event(trigger)
    assert event["status"] == "success" and event["task"]["task_id"] == submitted.task_id


def test_a_submit_trigger_row_of_the_previous_version_still_submits_once(kling_conn: EmulatorServer) -> None:
    occupy_the_only_slot(kling_conn, seconds=0.5)
    old_kwargs = {  # KlingSubmitTrigger.serialize() of 0.1.0: the whole payload inline
        "kind": "video-to-audio",
        "payload": {"video_id": SAMPLE_VIDEO, "external_task_id": "airflow-old-row"},
        "kling_conn_id": "kling_default",
        "poll_interval": 0.05,
        "deadline": None,
        "waiting_since": 1.0,
        "wait": True,
        "account_full": True,
        "resolved": True,
    }
    trigger = KlingSubmitTrigger(**old_kwargs)
    assert trigger.serialize()[1]["external_task_id"] == "airflow-old-row"
    event = first_event(trigger)
    assert event["status"] == "success" and event["submitted_on_triggerer"] is True
    again = first_event(KlingSubmitTrigger(**old_kwargs))  # a twin re-attaches, pays nothing
    assert again["task"]["task_id"] == event["task"]["task_id"]
    assert kling_conn.emulator.stats.submits == 2  # the occupier and this one
    result = v2a(deferrable=True).execute_complete({"ti": RecordingTI()}, event)
    assert result["external_task_id"] == "airflow-old-row"
    assert result["kling_task_id"] == result["task_id"] == event["task"]["task_id"]
