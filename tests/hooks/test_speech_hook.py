"""KlingHook's speech calls over HTTP against the emulator: TTS, identify-face, preset voices."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from airflow_provider_kling.api.speech import TextToSpeechRequest
from airflow_provider_kling.exceptions import (
    KlingConcurrencyLimitError,
    KlingServerError,
    KlingSyncAnswerPendingError,
    KlingTaskFailedError,
    KlingValidationError,
)
from airflow_provider_kling.hooks.kling import KlingHook
from kling_emulator.server import EmulatorServer
from kling_emulator.state import Fault
from tests.conftest import use_kling_default

TTS = "POST /v1/audio/tts"
IDENTIFY = "POST /v1/videos/identify-face"
SAMPLE_VIDEO = "825406034503692376"  # a 5.1 s video the emulator knows, one face throughout


def by_route(emulator: EmulatorServer) -> dict[str, int]:
    """The emulator's API request counts per route, read as a user would: ``GET /_emulator/stats``."""
    with urllib.request.urlopen(f"{emulator.url}/_emulator/stats") as answer:
        stats: dict[str, Any] = json.load(answer)
    return {route: n for route, n in stats["by_route"].items() if "/_emulator/" not in route}


def speech(**fields: Any) -> TextToSpeechRequest:
    fields.setdefault("text", "Good evening, and welcome to the harbour report.")
    fields.setdefault("voice_id", "oversea_male1")
    fields.setdefault("voice_language", "en")
    request = TextToSpeechRequest.build(**fields)
    assert isinstance(request, TextToSpeechRequest)
    return request


def test_tts_answers_the_finished_audio_in_one_call(kling_conn: EmulatorServer) -> None:
    task = KlingHook().synthesize_speech(speech())
    result = task.to_xcom()
    assert result["status"] == "succeed" and result["api_design"] == "legacy"
    [audio] = result["audios"]
    assert audio["url"].startswith(kling_conn.url) and audio["url"].endswith(".mp3")
    assert float(audio["duration"]) > 2 and audio["id"]
    assert result["credits"] == 0.05 and result["external_task_id"] is None
    assert by_route(kling_conn)[TTS] == 1
    assert kling_conn.emulator.store.tasks[result["task_id"]].request == speech().to_payload()


def test_a_failed_answer_ends_with_klings_message_without_a_second_call(kling_conn: EmulatorServer) -> None:
    with pytest.raises(KlingTaskFailedError, match="Emulated failure"):
        KlingHook().synthesize_speech(speech(text="[fail] this will not be read"))
    assert by_route(kling_conn)[TTS] == 1


@pytest.mark.parametrize("status", ["submitted", "processing"])
def test_an_unfinished_answer_is_a_retryable_failure_with_nothing_polled(
    kling_conn: EmulatorServer, status: str
) -> None:
    answer = {"code": 0, "message": "SUCCEED", "data": {"task_id": "77", "task_status": status}}
    kling_conn.config.inject(Fault("body", body=json.dumps(answer), http_status=200, method="POST"))
    with pytest.raises(KlingSyncAnswerPendingError, match=f"task 77 still '{status}'") as raised:
        KlingHook().synthesize_speech(speech())
    assert raised.value.transient
    assert sum(by_route(kling_conn).values()) == 1  # no query, no list: nothing to poll


def test_an_unknown_outcome_is_not_repeated_but_a_refusal_is(
    kling_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_kling_default(monkeypatch, kling_conn.url, retry_min_wait=0.01, retry_max_wait=0.02)
    kling_conn.config.inject(Fault("error", code=5000, method="POST", after=True))
    with pytest.raises(KlingServerError):  # it may have been made (and paid): no second call
        KlingHook().synthesize_speech(speech())
    assert by_route(kling_conn)[TTS] == 1
    kling_conn.config.inject(Fault("error", code=1303, method="POST", times=2))
    assert KlingHook().synthesize_speech(speech()).task_status.value == "succeed"
    assert by_route(kling_conn)[TTS] == 4  # two refusals (nothing made), then the call


def test_a_refusal_past_the_retries_is_raised(
    kling_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_kling_default(monkeypatch, kling_conn.url, max_retries=0)
    kling_conn.config.inject(Fault("error", code=1303, method="POST"))
    with pytest.raises(KlingConcurrencyLimitError):
        KlingHook().identify_face(video_id=SAMPLE_VIDEO)


def test_identify_face_returns_the_session_and_faces(kling_conn: EmulatorServer) -> None:
    session = KlingHook().identify_face(video_id=SAMPLE_VIDEO)
    assert session.session_id and session.final_unit_deduction == "0.05"
    [face] = session.face_data
    assert (face.face_id, face.start_time, face.end_time) == ("0", 0, 5100)
    assert face.face_image and face.face_image.startswith(kling_conn.url)
    assert by_route(kling_conn)[IDENTIFY] == 1


def test_identify_face_checks_its_input_before_sending(kling_conn: EmulatorServer) -> None:
    with pytest.raises(KlingValidationError, match="both were given"):
        KlingHook().identify_face(video_id=SAMPLE_VIDEO, video_url="https://cdn.example/a.mp4")
    with pytest.raises(KlingValidationError, match="neither was given"):
        KlingHook().identify_face()
    assert kling_conn.emulator.stats.requests == 0


def test_preset_voices(kling_conn: EmulatorServer) -> None:
    voices = KlingHook().list_voices()
    assert "oversea_male1" in [v.voice_id for v in voices]
    assert all(v.owned_by == "kling" and v.trial_url for v in voices)
    assert by_route(kling_conn)["GET /v1/general/presets-voices"] == 1
    assert [v.voice_id for v in KlingHook().list_voices(page_num=2, page_size=2)] == [
        v.voice_id for v in voices[2:4]
    ]


def test_a_lip_sync_task_is_found_by_external_id_through_its_list(kling_conn: EmulatorServer) -> None:
    """Kling queries lip-sync by task id only: a re-attach by external id reads the list instead."""
    hook = KlingHook()
    session = hook.identify_face(video_id=SAMPLE_VIDEO)
    audio = hook.synthesize_speech(speech()).to_xcom()["audios"][0]
    face = session.choose(None)
    payload = {
        "session_id": session.session_id,
        "face_choose": [
            {
                "face_id": face.face_id,
                "audio_id": audio["id"],
                "sound_start_time": 0,
                "sound_end_time": 2000,
                "sound_insert_time": face.start_time,
            }
        ],
        "external_task_id": "lip-reattach",
    }
    created = hook.submit_task("advanced-lip-sync", payload)
    found = hook.find_task("advanced-lip-sync", "lip-reattach")
    assert found is not None and found.task_id == created.task_id
    routes = by_route(kling_conn)
    assert routes["GET /v1/videos/advanced-lip-sync/{ident}"] >= 1  # the direct look-up missed
    assert routes["GET /v1/videos/advanced-lip-sync"] >= 1  # the list found it
    assert hook.find_task("advanced-lip-sync", "never-submitted") is None
