"""TextToSpeechOperator, LipSyncOperator and AvatarOperator over HTTP against the emulator."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_kling.exceptions import (
    KlingBudgetError,
    KlingCapacityTimeoutError,
    KlingTaskFailedError,
    KlingValidationError,
)
from airflow_provider_kling.execution.face_sessions import FACE_SESSION_KEY
from airflow_provider_kling.operators.speech import AvatarOperator, LipSyncOperator, TextToSpeechOperator
from airflow_provider_kling.operators.video import TextToVideoOperator
from kling_emulator.server import EmulatorServer
from kling_emulator.state import DEFAULT_SECRET_KEY
from tests.hooks.test_speech_hook import IDENTIFY, SAMPLE_VIDEO, TTS, by_route
from tests.operators.test_operator import RecordingTI, run_deferred
from tests.sensors.test_sensor_reschedule import StateStore as _StateStore

LIP_SYNC = "POST /v1/videos/advanced-lip-sync"
AVATAR = "POST /v1/videos/avatar/image2video"
SCRIPT = "Good evening. The harbour lights are on, and the night ferry is running late."  # 77 chars: 5.1 s
SHORT_SCRIPT = "Good evening from the harbour, and welcome."  # 43 chars: 2.9 s


def speak(emulator: EmulatorServer, text: str = SHORT_SCRIPT, **kwargs: Any) -> dict[str, Any]:
    op = TextToSpeechOperator(
        task_id="tts", text=text, voice_id="oversea_male1", voice_language="en", **kwargs
    )
    return op.execute({"ti": RecordingTI(task_id="tts")})


def no_secret_in(emulator: EmulatorServer, *values: Any) -> None:
    text = json.dumps(values, default=str)
    assert DEFAULT_SECRET_KEY not in text
    for authorization in emulator.emulator.stats.authorizations:  # the JWTs the hook sent
        assert authorization.split()[-1] not in text


@dataclass
class StateStore(_StateStore):
    """Airflow 3.3's task state store, with its ``retention`` (kept here to check it)."""

    retention: dict[str, timedelta] = field(default_factory=dict)

    def set(self, key: str, value: Any, *, retention: timedelta | None = None) -> None:
        super().set(key, value)
        if retention is not None:
            self.retention[key] = retention


# ------------------------------------------------------------------ text-to-speech


def test_tts_returns_the_normalised_result_with_the_audio(kling_conn: EmulatorServer) -> None:
    ti = RecordingTI(task_id="tts")
    op = TextToSpeechOperator(task_id="tts", text=SHORT_SCRIPT, voice_id="oversea_male1", voice_language="en")
    result = op.execute({"ti": ti})
    assert set(result) >= {"task_id", "kling_task_id", "status", "audios", "videos", "images", "credits"}
    assert result["status"] == "succeed" and result["videos"] == [] and result["credits"] == 0.05
    [audio] = result["audios"]
    assert audio["id"] and audio["url"].startswith(kling_conn.url) and audio["duration"] == "2.900"
    assert ti.xcom == {"kling_task_id": result["task_id"]}
    assert kling_conn.emulator.store.tasks[result["task_id"]].request == {
        "text": SHORT_SCRIPT,
        "voice_id": "oversea_male1",
        "voice_language": "en",
    }
    no_secret_in(kling_conn, result, ti.xcom)


def test_tts_checks_its_input_before_anything_is_sent(kling_conn: EmulatorServer) -> None:
    with pytest.raises(
        KlingValidationError, match=r"Invalid TextToSpeechRequest: text: String should have at most"
    ):
        speak(kling_conn, text="x" * 1001)
    with pytest.raises(KlingValidationError, match="voice_speed: Input should be less than or equal to 2"):
        speak(kling_conn, voice_speed=2.5)
    with pytest.raises(KlingValidationError, match="voice_language: Input should be 'zh' or 'en'"):
        TextToSpeechOperator(task_id="t", text="hi", voice_id="v", voice_language="de").execute(
            {"ti": RecordingTI()}
        )
    assert kling_conn.emulator.stats.requests == 0


def test_tts_failed_answer_fails_the_task_with_klings_message(kling_conn: EmulatorServer) -> None:
    with pytest.raises(KlingTaskFailedError, match="Emulated failure"):
        speak(kling_conn, text="[fail] " + SHORT_SCRIPT)
    assert by_route(kling_conn)[TTS] == 1


def test_tts_every_try_calls_once(kling_conn: EmulatorServer) -> None:
    first, second = speak(kling_conn), speak(kling_conn)  # no external_task_id: nothing to re-attach to
    assert first["task_id"] != second["task_id"] and by_route(kling_conn)[TTS] == 2


def test_tts_budget_floor_sends_no_paid_call(kling_conn: EmulatorServer) -> None:
    with pytest.raises(KlingBudgetError, match="Budget floor not met"):
        speak(kling_conn, min_remaining_units=10**9)
    assert TTS not in by_route(kling_conn)


def test_tts_templated_fields(kling_conn: EmulatorServer) -> None:
    op = TextToSpeechOperator(
        task_id="tts",
        text="{{ params.script }}",
        voice_id="{{ params.voice }}",
        voice_speed="{{ params.speed }}",
    )
    op.render_template_fields({"params": {"script": SCRIPT, "voice": "genshin_kirara", "speed": 1.5}})
    result = op.execute({"ti": RecordingTI(task_id="tts")})
    request = kling_conn.emulator.store.tasks[result["task_id"]].request
    assert request == {
        "text": SCRIPT,
        "voice_id": "genshin_kirara",
        "voice_language": "zh",
        "voice_speed": 1.5,
    }


# ------------------------------------------------------------------ lip-sync


def lip_sync(**kwargs: Any) -> LipSyncOperator:
    kwargs.setdefault("video_id", SAMPLE_VIDEO)
    return LipSyncOperator(task_id="lips", poll_interval=0.1, **kwargs)


def test_lip_sync_with_tts_audio_defaults_to_the_whole_audio_at_the_face(kling_conn: EmulatorServer) -> None:
    audio = speak(kling_conn)["audios"][0]
    ti = RecordingTI(task_id="lips")
    result = lip_sync(audio_id=audio["id"], audio_duration=audio["duration"], deferrable=False).execute(
        {"ti": ti}
    )
    assert result["status"] == "succeed" and result["parent_video"]["id"] == SAMPLE_VIDEO
    [video] = result["videos"]
    assert video["url"].startswith(kling_conn.url) and video["duration"] == "5.1"
    stored = kling_conn.emulator.store.tasks[result["task_id"]].request
    [face] = stored["face_choose"]
    assert face == {
        "face_id": "0",
        "audio_id": audio["id"],
        "sound_start_time": 0,
        "sound_end_time": 2900,
        "sound_insert_time": 0,
    }
    assert stored["external_task_id"] == result["external_task_id"].removesuffix("-2")
    assert by_route(kling_conn)[IDENTIFY] == 1 and ti.xcom["kling_task_id"] == result["task_id"]
    no_secret_in(kling_conn, result, ti.xcom)


def test_lip_sync_deferrable(kling_conn: EmulatorServer) -> None:
    audio = speak(kling_conn)["audios"][0]
    op = lip_sync(audio_id=audio["id"], sound_end_time=2500, sound_volume=1.5, deferrable=True)
    event, trigger = run_deferred(op, {"ti": RecordingTI(task_id="lips")})
    assert trigger.task_kind == "advanced-lip-sync"
    no_secret_in(kling_conn, trigger.serialize())
    result = op.execute_complete({}, event)
    assert result["status"] == "succeed" and result["videos"]


def test_no_face_found_fails_before_the_paid_lip_sync(kling_conn: EmulatorServer) -> None:
    op = lip_sync(
        video_id=None,
        video_url=f"{kling_conn.url}/samples/sample-5.0s.mp4?scene=landscape",
        sound_file=f"{kling_conn.url}/samples/sample-3s.mp3",
        sound_end_time=3000,
        deferrable=False,
    )
    with pytest.raises(KlingValidationError, match="face_id: Kling found no face in the video"):
        op.execute({"ti": RecordingTI(task_id="lips")})
    routes = by_route(kling_conn)
    assert routes[IDENTIFY] == 1 and LIP_SYNC not in routes


def test_audio_outside_the_face_window_fails_before_the_paid_lip_sync(kling_conn: EmulatorServer) -> None:
    audio = speak(kling_conn, text=SCRIPT)["audios"][0]  # 5.1 s
    op = lip_sync(audio_id=audio["id"], sound_end_time=3000, sound_insert_time=3500, deferrable=False)
    with pytest.raises(
        KlingValidationError, match=r"sound_insert_time: .* overlap 1600 ms, Kling needs >= 2000"
    ):
        op.execute({"ti": RecordingTI(task_id="lips")})
    assert LIP_SYNC not in by_route(kling_conn)


def test_the_longest_face_by_default_or_the_one_named(kling_conn: EmulatorServer) -> None:
    video = TextToVideoOperator(
        task_id="t2v", prompt="two people talking on a pier", deferrable=False
    ).execute({"ti": RecordingTI(task_id="t2v")})["videos"][0]
    audio = speak(kling_conn)["audios"][0]
    picked = lip_sync(video_id=video["id"], audio_id=audio["id"], sound_end_time=2500, deferrable=False)
    result = picked.execute({"ti": RecordingTI(task_id="lips")})
    face = kling_conn.emulator.store.tasks[result["task_id"]].request["face_choose"][0]
    assert face["face_id"] == "1" and face["sound_insert_time"] > 0  # on screen 30 %-100 %: its start
    named = lip_sync(
        video_id=video["id"], audio_id=audio["id"], sound_end_time=2500, face_id="0", deferrable=False
    )
    result = named.execute({"ti": RecordingTI(task_id="lips", run_id="r2")})
    face = kling_conn.emulator.store.tasks[result["task_id"]].request["face_choose"][0]
    assert (face["face_id"], face["sound_insert_time"]) == ("0", 0)
    with pytest.raises(
        KlingValidationError, match=r"face_id: no face '5' in the video; Kling found \['0', '1'\]"
    ):
        lip_sync(video_id=video["id"], audio_id=audio["id"], sound_end_time=2500, face_id="5").execute(
            {"ti": RecordingTI(task_id="lips", run_id="r3")}
        )


def test_a_retry_reuses_the_identify_session_and_then_the_lip_sync_task(kling_conn: EmulatorServer) -> None:
    audio = speak(kling_conn)["audios"][0]
    store = StateStore()
    context = {"ti": RecordingTI(task_id="lips"), "task_state_store": store}
    kling_conn.config.max_concurrent_tasks = 0  # the account has no free slot: the lip-sync submit waits
    with pytest.raises(KlingCapacityTimeoutError):  # an error Airflow retries
        lip_sync(audio_id=audio["id"], sound_end_time=2500, deferrable=False, timeout=1).execute(context)
    assert by_route(kling_conn)[IDENTIFY] == 1 and store.values[FACE_SESSION_KEY]["video"] == SAMPLE_VIDEO
    assert store.retention[FACE_SESSION_KEY] == timedelta(hours=24)  # the row expires with the session

    kling_conn.config.max_concurrent_tasks = None
    retry = {"ti": RecordingTI(task_id="lips"), "task_state_store": store}
    result = lip_sync(audio_id=audio["id"], sound_end_time=2500, deferrable=False).execute(retry)
    assert result["status"] == "succeed" and by_route(kling_conn)[IDENTIFY] == 1  # the session was re-used
    session = kling_conn.emulator.store.tasks[result["task_id"]].request["session_id"]
    assert FACE_SESSION_KEY not in store.values  # done: no state-store row left behind
    assert session in {
        t.task_id for t in kling_conn.emulator.store.tasks.values() if t.kind == "identify-face"
    }

    again = lip_sync(audio_id=audio["id"], sound_end_time=2500, deferrable=False).execute(
        {"ti": RecordingTI(task_id="lips")}
    )  # no store at all: re-attaches by the derived external_task_id before identifying
    assert again["task_id"] == result["task_id"] and by_route(kling_conn)[IDENTIFY] == 1
    assert [t.kind for t in kling_conn.emulator.store.tasks.values()].count("advanced-lip-sync") == 1


def test_a_session_identified_upstream_is_used_without_paying_again(kling_conn: EmulatorServer) -> None:
    from airflow_provider_kling.hooks.kling import KlingHook

    audio = speak(kling_conn)["audios"][0]
    session = KlingHook().identify_face(video_id=SAMPLE_VIDEO)  # e.g. a branch task that looked first
    assert by_route(kling_conn)[IDENTIFY] == 1
    op = lip_sync(audio_id=audio["id"], sound_end_time=2500, face_session=session.model_dump(mode="json"))
    result = op.execute({"ti": RecordingTI(task_id="lips")})
    assert result["status"] == "succeed" and by_route(kling_conn)[IDENTIFY] == 1  # no second identify
    assert kling_conn.emulator.store.tasks[result["task_id"]].request["session_id"] == session.session_id


def test_a_face_session_that_is_not_an_identify_answer_fails_before_anything_is_sent(
    kling_conn: EmulatorServer,
) -> None:
    op = lip_sync(audio_id="a", sound_end_time=2500, face_session={"faces": []}, deferrable=False)
    with pytest.raises(KlingValidationError, match=r"face_session: not an identify-face answer.*session_id"):
        op.execute({"ti": RecordingTI(task_id="lips")})
    assert by_route(kling_conn) == {}


@pytest.mark.parametrize(("video", "age"), [("other-video", 60.0), (SAMPLE_VIDEO, 23.5 * 3600)])
def test_an_expired_or_other_videos_session_is_not_reused(
    kling_conn: EmulatorServer, video: str, age: float
) -> None:
    audio = speak(kling_conn)["audios"][0]
    saved = {"session_id": "1", "face_data": [], "video": video, "identified_at": time.time() - age}
    store = StateStore({FACE_SESSION_KEY: saved})
    result = lip_sync(audio_id=audio["id"], sound_end_time=2500, deferrable=False).execute(
        {"ti": RecordingTI(task_id="lips"), "task_state_store": store}
    )
    assert result["status"] == "succeed" and by_route(kling_conn)[IDENTIFY] == 1


def test_lip_sync_budget_floor_is_checked_before_the_billed_identify(kling_conn: EmulatorServer) -> None:
    op = lip_sync(audio_id="a", sound_end_time=2500, min_remaining_units=10**9, deferrable=False)
    with pytest.raises(KlingBudgetError, match="Budget floor not met"):
        op.execute({"ti": RecordingTI(task_id="lips")})
    assert IDENTIFY not in by_route(kling_conn) and LIP_SYNC not in by_route(kling_conn)


def test_lip_sync_checks_its_input_before_anything_is_sent(kling_conn: EmulatorServer) -> None:
    cases = [
        (
            {"audio_id": "a", "sound_end_time": 3000, "video_url": "https://x.example/v.mp4"},
            "both were given",
        ),
        (
            {"audio_id": "a", "sound_file": "https://x.example/a.mp3", "sound_end_time": 3000},
            "both were given",
        ),
        ({"audio_id": "a"}, "sound_end_time: is required unless audio_duration is given"),
        ({"audio_id": "a", "audio_duration": "1.5"}, "audio_duration: lip-sync takes 2-60 s"),
        ({"audio_id": "a", "audio_duration": "3.0", "sound_end_time": 3500}, "past the audio's end"),
        ({"audio_id": "a", "sound_start_time": 1000, "sound_end_time": 2500}, "at least 2000 ms after"),
        ({"audio_id": "a", "sound_end_time": 3000, "sound_volume": 3}, "sound_volume: Input should be less"),
        ({"audio_id": "a", "sound_end_time": 3000, "timeout": 0}, "timeout: must be a positive number"),
    ]
    for fields, rule in cases:
        with pytest.raises(KlingValidationError, match=rule):
            lip_sync(**fields).execute({"ti": RecordingTI(task_id="lips")})
    assert kling_conn.emulator.stats.requests == 0


# ------------------------------------------------------------------ avatar


def avatar(kling_conn: EmulatorServer, **kwargs: Any) -> AvatarOperator:
    kwargs.setdefault("image", f"{kling_conn.url}/samples/portrait.png")
    return AvatarOperator(task_id="avatar", poll_interval=0.1, **kwargs)


def test_avatar_from_tts_audio(kling_conn: EmulatorServer) -> None:
    audio = speak(kling_conn)["audios"][0]
    ti = RecordingTI(task_id="avatar")
    result = avatar(kling_conn, audio_id=audio["id"], prompt="smiles, then nods", deferrable=False).execute(
        {"ti": ti}
    )
    assert result["status"] == "succeed" and result["videos"][0]["duration"] == "2.9"
    stored = kling_conn.emulator.store.tasks[result["task_id"]].request
    assert stored["mode"] == "std" and stored["audio_id"] == audio["id"]
    assert stored["external_task_id"] == result["external_task_id"]
    no_secret_in(kling_conn, result, ti.xcom)
    again = avatar(kling_conn, audio_id=audio["id"], prompt="smiles, then nods", deferrable=False).execute(
        {"ti": RecordingTI(task_id="avatar")}
    )
    assert again["task_id"] == result["task_id"] and by_route(kling_conn)[AVATAR] == 1  # a retry re-attaches


def test_avatar_deferrable_pro(kling_conn: EmulatorServer) -> None:
    audio = speak(kling_conn)["audios"][0]
    op = avatar(kling_conn, audio_id=audio["id"], mode="pro", deferrable=True)
    event, trigger = run_deferred(op, {"ti": RecordingTI(task_id="avatar")})
    assert trigger.task_kind == "avatar"
    result = op.execute_complete({}, event)
    assert result["status"] == "succeed" and result["credits"] == pytest.approx(2.9 * 0.8)


def test_avatar_checks_its_input_before_anything_is_sent(kling_conn: EmulatorServer) -> None:
    with pytest.raises(KlingValidationError, match="image: is required"):
        AvatarOperator(task_id="a", audio_id="x").execute({"ti": RecordingTI()})
    with pytest.raises(KlingValidationError, match="audio_id: give exactly one of audio_id or sound_file"):
        avatar(kling_conn).execute({"ti": RecordingTI()})
    with pytest.raises(KlingValidationError, match="prompt: String should have at most 2500"):
        avatar(kling_conn, audio_id="x", prompt="p" * 2501).execute({"ti": RecordingTI()})
    with pytest.raises(KlingValidationError, match="mode: Input should be 'std' or 'pro'"):
        avatar(kling_conn, audio_id="x", mode="1080p").execute({"ti": RecordingTI()})
    assert kling_conn.emulator.stats.requests == 0
