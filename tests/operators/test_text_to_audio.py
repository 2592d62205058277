"""TextToAudioRequest rules (docs/kling-api.md#text-to-audio) and TextToAudioOperator against the emulator."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_kling.api.audio import TextToAudioRequest
from airflow_provider_kling.exceptions import KlingTaskFailedError, KlingValidationError
from airflow_provider_kling.operators.text_to_audio import TextToAudioOperator
from kling_emulator.server import EmulatorServer
from tests.conftest import load_fixture
from tests.operators.test_operator import RecordingTI, run_deferred


def payload(**fields: Any) -> dict[str, Any]:
    return TextToAudioRequest.build(**fields).to_payload()


class TestTextToAudioRequest:
    def test_official_example_body(self) -> None:
        body = load_fixture("t2a-submit-request.json")
        expected = {k: v for k, v in body.items() if v != ""}  # "" means "not given": not sent
        assert payload(**body) == expected

    def test_prompt_is_required_and_at_most_200_characters(self) -> None:
        assert payload(prompt="雨" * 200, duration=3)["prompt"] == "雨" * 200
        with pytest.raises(KlingValidationError, match="prompt: is required"):
            payload(prompt="  ", duration=3)
        with pytest.raises(KlingValidationError, match="prompt: String should have at most 200 characters"):
            payload(prompt="x" * 201, duration=3)

    @pytest.mark.parametrize(("given", "sent"), [(3, 3.0), ("6.5", 6.5), (10.0, 10.0), ("9.9", 9.9)])
    def test_duration_from_3_to_10_seconds(self, given: Any, sent: float) -> None:
        assert payload(prompt="rain", duration=given)["duration"] == sent

    @pytest.mark.parametrize(
        ("given", "rule"),
        [
            (2.9, "greater than or equal to 3"),
            (10.1, "less than or equal to 10"),
            ("inf", "finite number"),
            (6.55, "at most one decimal place"),
            ("six", "valid number"),
            (None, "is required"),
        ],
    )
    def test_duration_rules(self, given: Any, rule: str) -> None:
        with pytest.raises(KlingValidationError, match=f"duration: .*{rule}"):
            payload(prompt="rain", duration=given)

    def test_extra_body(self) -> None:
        assert payload(prompt="rain", duration=4, extra_body={"loop": True})["loop"] is True
        with pytest.raises(
            KlingValidationError, match=r"extra_body\.duration: duration is set by the provider"
        ):
            payload(prompt="rain", duration=4, extra_body={"duration": 8})


def t2a(**kwargs: Any) -> TextToAudioOperator:
    kwargs.setdefault("prompt", "Gentle rain on a tin roof")
    kwargs.setdefault("duration", 6.5)
    return TextToAudioOperator(task_id="t2a", poll_interval=0.1, **kwargs)


def test_blocking_run_returns_audio_only(kling_conn: EmulatorServer) -> None:
    ti = RecordingTI(task_id="t2a")
    result = t2a(deferrable=False).execute({"ti": ti})
    assert result["status"] == "succeed" and result["videos"] == []
    [audio] = result["audios"]
    assert audio["duration_mp3"] == "6.5" and audio["url_wav"].startswith(kling_conn.url)
    assert ti.xcom["kling_task_id"] == result["task_id"]
    stored = kling_conn.emulator.store.tasks[result["task_id"]]
    assert stored.kind == "text-to-audio"
    assert stored.request == {
        "prompt": "Gentle rain on a tin roof",
        "duration": 6.5,
        "external_task_id": result["external_task_id"],
    }
    assert result["external_task_id"].startswith("airflow-")  # derived from dag/run/task/map index


def test_deferrable_run(kling_conn: EmulatorServer) -> None:
    op = t2a(deferrable=True)
    event, trigger = run_deferred(op, {"ti": RecordingTI(task_id="t2a")})
    assert trigger.task_kind == "text-to-audio" and trigger.serialize()[1]["kind"] == "text-to-audio"
    result = op.execute_complete({}, event)
    assert result["status"] == "succeed" and result["audios"]


def test_retry_reattaches_and_a_failed_task_is_resubmitted(kling_conn: EmulatorServer) -> None:
    first = t2a(deferrable=False).execute({"ti": RecordingTI(task_id="t2a")})
    again = t2a(deferrable=False).execute({"ti": RecordingTI(task_id="t2a")})
    assert first["task_id"] == again["task_id"] and kling_conn.emulator.stats.submits == 1
    with pytest.raises(KlingTaskFailedError, match="Emulated failure"):
        t2a(prompt="[fail] thunder", deferrable=False).execute(
            {"ti": RecordingTI(task_id="t2a", run_id="r2")}
        )
    kling_conn.config.fail_marker = "[never]"
    retried = t2a(prompt="[fail] thunder", deferrable=False).execute(
        {"ti": RecordingTI(task_id="t2a", run_id="r2")}
    )
    assert retried["external_task_id"].endswith("-2") and retried["status"] == "succeed"


def test_invalid_input_sends_nothing(kling_conn: EmulatorServer) -> None:
    with pytest.raises(KlingValidationError, match=r"duration: .*at most one decimal place"):
        t2a(duration="4.25").execute({"ti": RecordingTI(task_id="t2a")})
    with pytest.raises(KlingValidationError, match="prompt: is required"):
        TextToAudioOperator(task_id="t2a", duration=4).execute({"ti": RecordingTI(task_id="t2a")})
    assert kling_conn.emulator.stats.requests == 0


def test_templated_fields(kling_conn: EmulatorServer) -> None:
    op = t2a(prompt="{{ params.what }}", duration="{{ params.seconds }}", deferrable=False)
    op.render_template_fields({"params": {"what": "Harbour bells", "seconds": 4.5}})
    result = op.execute({"ti": RecordingTI(task_id="t2a")})
    assert kling_conn.emulator.store.tasks[result["task_id"]].request["prompt"] == "Harbour bells"
    assert result["audios"][0]["duration_wav"] == "4.5"
