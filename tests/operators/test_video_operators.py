"""TextToVideoOperator / ImageToVideoOperator with the current fields, over real HTTP.

Against the emulator (which speaks the current contract), and against ``kling_capture``, a
loopback stand-in that records the body exactly as it went on the wire: for the official
kling-v3 example body (its callback_url is not loopback, so the emulator must not get it) and
for answers the emulator does not give (parent_video on a text2video task).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.operators.video import ImageToVideoOperator, TextToVideoOperator
from kling_emulator.server import EmulatorServer
from tests.conftest import conn_json, load_fixture
from tests.kling_capture import Capture, capture_server
from tests.operators.test_operator import RecordingTI, run_deferred


@pytest.fixture
def capture(monkeypatch: pytest.MonkeyPatch) -> Iterator[Capture]:
    with capture_server() as server:
        monkeypatch.setenv("AIRFLOW_CONN_KLING_DEFAULT", conn_json(server.url, mode="key"))
        yield server


def run(op: Any, ti: RecordingTI | None = None) -> dict[str, Any]:
    return op.execute({"ti": ti or RecordingTI(task_id=op.task_id)})


def test_current_fields_reach_the_emulator(kling_conn: EmulatorServer) -> None:
    op = TextToVideoOperator(
        task_id="t2v",
        prompt="a lighthouse",
        negative_prompt="blurry",
        model_name="kling-v3",
        mode="pro",
        duration="5",
        sound="on",
        cfg_scale=0.4,
        camera_control={"type": "forward_up"},
        watermark_info={"enabled": True},
        extra_body={"future_knob": {"level": 2}},
        poll_interval=0.1,
        deferrable=False,
    )
    result = run(op)
    assert result["status"] == "succeed" and result["videos"][0]["url"]
    sent = kling_conn.emulator.store.tasks[result["task_id"]].request
    assert sent == {
        "prompt": "a lighthouse",
        "negative_prompt": "blurry",
        "model_name": "kling-v3",
        "mode": "pro",
        "duration": "5",
        "sound": "on",
        "cfg_scale": 0.4,
        "camera_control": {"type": "forward_up"},
        "watermark_info": {"enabled": True},
        "future_knob": {"level": 2},
        "external_task_id": result["external_task_id"],
    }


def test_kling_v3_8_seconds_in_4k_with_a_watermark_on_the_emulator(kling_conn: EmulatorServer) -> None:
    op = TextToVideoOperator(
        task_id="t2v",
        prompt="p",
        model_name="kling-v3",
        duration=8,
        mode="4k",
        watermark_info={"enabled": True},
        poll_interval=0.1,
        deferrable=False,
    )
    result = run(op)
    [video] = result["videos"]
    assert video["duration"] == "8.0"
    assert video["watermark_url"].startswith(kling_conn.url) and video["watermark_url"] != video["url"]
    sent = kling_conn.emulator.store.tasks[result["task_id"]].request
    assert (sent["duration"], sent["mode"]) == ("8", "4k")


def test_image_to_video_with_only_a_last_frame_on_the_emulator(kling_conn: EmulatorServer) -> None:
    op = ImageToVideoOperator(
        task_id="i2v",
        image_tail="https://cdn.example/last.png",
        model_name="kling-v3",
        poll_interval=0.1,
        deferrable=False,
    )
    result = run(op)
    assert result["status"] == "succeed" and result["videos"]
    assert "image" not in kling_conn.emulator.store.tasks[result["task_id"]].request


def test_parent_video_of_a_video_to_audio_task_from_the_emulator(kling_conn: EmulatorServer) -> None:
    from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator
    from tests.operators.test_operator import SAMPLE_VIDEO

    op = VideoToAudioOperator(task_id="v2a", video_id=SAMPLE_VIDEO, poll_interval=0.1, deferrable=False)
    parent = run(op)["parent_video"]
    assert parent["id"] == SAMPLE_VIDEO and parent["url"].startswith("http") and parent["duration"]


def test_the_official_kling_v3_body_goes_on_the_wire_unchanged(capture: Capture) -> None:
    body = load_fixture("t2v-v3-submit-request.json")  # duration "8": the emulator refuses it today
    op = TextToVideoOperator(task_id="t2v", **body)
    result = run(op)
    assert capture.bodies == [body]
    assert result["external_task_id"] == body["external_task_id"]
    assert "watermark_url" not in result["videos"][0]  # watermark disabled: no key


def test_4k_and_watermark_url_in_the_result(capture: Capture) -> None:
    op = TextToVideoOperator(
        task_id="t2v",
        prompt="p",
        model_name="kling-v3",
        mode="4k",
        duration=12,
        watermark_info={"enabled": True},
    )
    result = run(op)
    [sent] = capture.bodies
    assert sent["mode"] == "4k" and sent["duration"] == "12"
    [video] = result["videos"]
    assert video["watermark_url"] == f"https://cdn.example/{result['task_id']}-wm.mp4"
    assert video["url"] != video["watermark_url"]


def test_image_to_video_with_only_a_last_frame(capture: Capture) -> None:
    op = ImageToVideoOperator(task_id="i2v", image_tail="https://cdn.example/last.png", model_name="kling-v3")
    run(op)
    [sent] = capture.bodies
    assert {k: v for k, v in sent.items() if k != "external_task_id"} == {
        "image_tail": "https://cdn.example/last.png",
        "model_name": "kling-v3",
    }


def test_parent_video_reaches_the_xcom_result(capture: Capture) -> None:
    capture.answer_extra = {
        "task_info": {"parent_video": {"id": "p1", "url": "https://cdn.example/p1.mp4", "duration": 5.1}}
    }
    result = run(TextToVideoOperator(task_id="t2v", prompt="p"))
    assert result["parent_video"] == {"id": "p1", "url": "https://cdn.example/p1.mp4", "duration": "5.1"}


def test_parent_video_and_watermark_url_survive_a_deferred_wait(capture: Capture) -> None:
    capture.finish_later = True
    capture.answer_extra = {"task_info": {"parent_video": {"id": "p2", "url": "https://cdn.example/p2.mp4"}}}
    op = TextToVideoOperator(
        task_id="t2v", prompt="p", watermark_info={"enabled": True}, deferrable=True, poll_interval=0.1
    )
    event, _ = run_deferred(op, {"ti": RecordingTI(task_id="t2v")})
    result = op.execute_complete({}, event)
    assert result["status"] == "succeed"
    assert result["parent_video"] == {"id": "p2", "url": "https://cdn.example/p2.mp4", "duration": None}
    assert result["videos"][0]["watermark_url"].endswith("-wm.mp4")


def test_a_retry_reattaches_instead_of_paying_again(capture: Capture) -> None:
    first = run(TextToVideoOperator(task_id="t2v", prompt="p", model_name="kling-v3", duration="8"))
    again = run(TextToVideoOperator(task_id="t2v", prompt="p", model_name="kling-v3", duration="8"))
    assert first["task_id"] == again["task_id"] and len(capture.bodies) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model_name": "kling-v2-6", "duration": "8"}, "duration: kling-v2-6 takes '5' / '10', not '8'"),
        ({"model_name": "kling-v2-6", "sound": "on"}, "sound: kling-v2-6 makes sound in mode 'pro' only"),
        ({"mode": "4k"}, "mode: kling-v1 (the default model) takes 'std' / 'pro', not '4k'"),
        ({"extra_body": {"duration": "8"}}, "extra_body.duration: duration is set by the provider"),
        ({"extra_body": "{not json"}, "extra_body: must be JSON"),
    ],
)
def test_invalid_input_fails_before_any_request(
    kling_conn: EmulatorServer, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(KlingValidationError) as info:
        run(TextToVideoOperator(task_id="t2v", prompt="p", **kwargs))
    assert message in str(info.value)
    assert kling_conn.emulator.stats.requests == 0


def test_image_to_video_exclusions_fail_before_any_request(kling_conn: EmulatorServer) -> None:
    op = ImageToVideoOperator(
        task_id="i2v",
        image="https://cdn.example/a.png",
        image_tail="https://cdn.example/b.png",
        camera_control={"type": "simple", "config": {"pan": 3}},
    )
    with pytest.raises(KlingValidationError, match="image_tail, masks and camera_control exclude each other"):
        run(op)
    assert kling_conn.emulator.stats.requests == 0


def test_templated_structures_and_extra_body_render(capture: Capture) -> None:
    op = TextToVideoOperator(
        task_id="t2v",
        prompt="{{ params.subject }}",
        model_name="kling-v3",
        duration="{{ params.seconds }}",
        camera_control={"type": "simple", "config": {"zoom": "{{ params.zoom }}"}},
        extra_body='{"seed": {{ params.seed }}}',
    )
    for name in ("extra_body", "camera_control", "duration", "sound", "multi_prompt", "watermark_info"):
        assert name in op.template_fields
    op.render_template_fields({"params": {"subject": "a fox", "seconds": 9, "zoom": -2, "seed": 42}})
    run(op)
    [sent] = capture.bodies
    assert sent["prompt"] == "a fox" and sent["duration"] == "9" and sent["seed"] == 42
    assert sent["camera_control"]["config"]["zoom"] == -2


def test_extra_body_and_new_fields_reach_a_submit_deferred_for_capacity(kling_conn: EmulatorServer) -> None:
    """At the account's parallel limit the submit moves to the triggerer as a payload: all of it."""
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_provider_kling.triggers.submit import KlingSubmitTrigger
    from tests.conftest import first_event
    from tests.execution.test_capacity import occupy_the_only_slot

    occupy_the_only_slot(kling_conn, seconds=0.5)
    op = TextToVideoOperator(
        task_id="t2v",
        prompt="p",
        model_name="kling-v3",
        sound="on",
        watermark_info={"enabled": True},
        extra_body={"future_knob": 3},
        deferrable=True,
        poll_interval=0.1,
        timeout=60,
    )
    ti = RecordingTI(task_id="t2v")
    with pytest.raises(TaskDeferred) as deferred:
        run(op, ti)
    trigger = deferred.value.trigger
    assert isinstance(trigger, KlingSubmitTrigger)
    payload = trigger.serialize()[1]["payload"]
    assert payload["future_knob"] == 3 and payload["watermark_info"] == {"enabled": True}
    assert "extra_body" not in payload
    # As a triggerer rebuilds it from its kwargs; it submits once a slot is free, then waits.
    result = op.execute_complete({"ti": ti}, first_event(KlingSubmitTrigger(**trigger.serialize()[1])))
    assert result["status"] == "succeed" and result["videos"]
    assert kling_conn.emulator.store.tasks[result["task_id"]].request["future_knob"] == 3
