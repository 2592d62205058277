"""The emulator's TTS, voices, identify-face, advanced lip-sync and avatar (KLING_API §9-§11), over HTTP."""

from __future__ import annotations

import base64
import io
import json
import wave
from typing import Any

import av
import numpy as np
import pytest
import requests

from kling_emulator import persist
from kling_emulator.server import EmulatorServer
from kling_emulator.state import SAMPLE_VIDEO_ID, SAMPLE_VIDEO_SECONDS
from tests.conftest import fast_config, load_fixture
from tests.emulator.test_emulator_contract import finished, get, png, post, refused
from tests.emulator.test_emulator_media import media_info

TTS, VOICES, FACE = "/v1/audio/tts", "/v1/general/presets-voices", "/v1/videos/identify-face"
LIP, AVATAR, T2V = "/v1/videos/advanced-lip-sync", "/v1/videos/avatar/image2video", "/v1/videos/text2video"
PORTRAIT = "https://cdn.example/portrait.png"
DAY = 86_400


def tts(emulator: EmulatorServer, text: str, **extra: Any) -> dict[str, Any]:
    response = post(
        emulator, TTS, {"text": text, "voice_id": "oversea_male1", "voice_language": "en", **extra}
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def wav_base64(seconds: float, rate: int = 8000) -> str:
    """Raw Base64 of an 8-bit mono WAV lasting ``seconds``."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(rate)
        out.writeframes(bytes([128]) * round(seconds * rate))
    return base64.b64encode(buf.getvalue()).decode()


def loudness(url: str, window: float = 0.05) -> tuple[np.ndarray, float]:
    """RMS of the file's audio per ``window`` seconds, and the window length."""
    with av.open(io.BytesIO(requests.get(url, timeout=30).content), mode="r") as container:
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
        rate = container.streams.audio[0].rate
    size = round(rate * window)
    chunks = samples[: len(samples) // size * size].reshape(-1, size)
    return np.sqrt((chunks.astype(np.float64) ** 2).mean(axis=1)), window


def units_used(emulator: EmulatorServer) -> float:
    packs = get(emulator, "/account/costs?start_time=0&end_time=99999999999999").json()["data"]
    return sum(p["total_quantity"] - p["remaining_quantity"] for p in packs["resource_pack_subscribe_infos"])


# ------------------------------------------------------------------ TTS (§9.1)


def test_tts_answers_the_finished_audio_at_once_in_the_fixture_shape(emulator: EmulatorServer) -> None:
    data = tts(emulator, "Hello from the emulator.")
    expected = load_fixture("tts-create-answer.json")["data"]
    assert set(data) == set(expected)
    assert data["task_status"] == "succeed" and data["final_unit_deduction"] == "0.05"
    [audio] = data["task_result"]["audios"]
    assert set(audio) == {"id", "url", "duration"} and audio["url"].endswith(".mp3")


@pytest.mark.parametrize(
    ("chars", "speed", "seconds"),
    [(75, None, 5.0), (75, 2.0, 2.5), (60, 0.8, 5.0), (5, None, 1.0), (90, 3.0, 3.0), (24, 0.1, 2.0)],
)
def test_tts_speech_lasts_as_long_as_the_text_and_the_rounded_speed_imply(
    emulator: EmulatorServer, chars: int, speed: float | None, seconds: float
) -> None:
    extra = {} if speed is None else {"voice_speed": speed}
    [audio] = tts(emulator, "a" * chars, **extra)["task_result"]["audios"]
    assert float(audio["duration"]) == seconds
    assert media_info(audio["url"]) == {"audio": pytest.approx(seconds, abs=0.06)}


def test_tts_audio_sounds_like_speech_with_syllables_and_pauses(emulator: EmulatorServer) -> None:
    [audio] = tts(emulator, "b" * 60)["task_result"]["audios"]
    rms, _ = loudness(audio["url"])
    loud, quiet = (rms > 0.05).mean(), (rms < 0.01).mean()
    assert loud > 0.3 and quiet > 0.1, (loud, quiet)  # talking, not a steady tone nor silence


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"text": None}, ["text", "required"]),
        ({"text": "   "}, ["text", "blank"]),
        ({"text": "x" * 1001}, ["text", "1000"]),
        ({"voice_id": None}, ["voice_id", "required"]),
        ({"voice_language": "fr"}, ["voice_language", "zh, en"]),
        ({"voice_speed": "fast"}, ["voice_speed", "0.8"]),
        ({"voice_speed": True}, ["voice_speed"]),
        ({"external_task_id": "tts-1"}, ["external_task_id", "not a field"]),
        ({"callback_url": "https://hooks.example/k"}, ["callback_url", "not a field"]),
    ],
)
def test_tts_refuses_what_the_contract_forbids(
    emulator: EmulatorServer, change: dict[str, Any], words: list[str]
) -> None:
    body = {"text": "Hi there", "voice_id": "uk_boy1", "voice_language": "en", **change}
    refused(post(emulator, TTS, {k: v for k, v in body.items() if v is not None}), *words)


def test_tts_takes_1000_characters_and_chinese(emulator: EmulatorServer) -> None:
    assert tts(emulator, "y" * 1000)["task_status"] == "succeed"
    assert tts(emulator, "你好世界", voice_language="zh")["task_status"] == "succeed"


def test_tts_with_the_fail_marker_answers_failed_at_once_and_costs_nothing(emulator: EmulatorServer) -> None:
    before = units_used(emulator)
    data = tts(emulator, "Say this [fail] please")
    assert data["task_status"] == "failed" and data["task_status_msg"]
    assert "final_unit_deduction" not in data and not data.get("task_result", {}).get("audios")
    assert units_used(emulator) == pytest.approx(before)


def test_tts_costs_005_units_and_holds_no_parallel_slot(emulator: EmulatorServer) -> None:
    emulator.config.max_concurrent_tasks = 1
    emulator.config.processing_seconds = 30
    assert post(emulator, T2V, {"prompt": "A kite"}).json()["code"] == 0  # the one slot is taken
    before = units_used(emulator)
    assert tts(emulator, "Still fine")["task_status"] == "succeed"
    assert units_used(emulator) == pytest.approx(before + 0.05)


# ------------------------------------------------------------ voices (§9.2)


def test_preset_voices_are_listed_by_page_with_a_playable_trial(emulator: EmulatorServer) -> None:
    first = get(emulator, f"{VOICES}?pageNum=1&pageSize=3").json()["data"]
    [entry] = first
    assert entry["task_status"] == "succeed"
    voices = entry["task_result"]["voices"]
    assert len(voices) == 3
    assert all(set(v) == {"voice_id", "voice_name", "trial_url", "owned_by"} for v in voices)
    assert {v["owned_by"] for v in voices} == {"kling"}
    assert media_info(voices[0]["trial_url"]) == {"audio": pytest.approx(3.0, abs=0.06)}
    rest = get(emulator, f"{VOICES}?pageNum=3&pageSize=3").json()["data"][0]["task_result"]["voices"]
    assert len(rest) == 1 and rest[0]["voice_id"] not in {v["voice_id"] for v in voices}
    refused(get(emulator, f"{VOICES}?pageSize=1001"), "pageSize")


# ----------------------------------------------------- identify-face (§10.1)


def video(emulator: EmulatorServer, prompt: str, seconds: str = "5") -> str:
    task = post(emulator, T2V, {"prompt": prompt, "duration": seconds}).json()["data"]
    done = finished(emulator, T2V, task["task_id"])
    video_id: str = done["task_result"]["videos"][0]["id"]
    return video_id


def identify(emulator: EmulatorServer, **source: str) -> dict[str, Any]:
    response = post(emulator, FACE, source)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def test_identify_face_answers_a_session_and_faces_at_once_in_the_fixture_shape(
    emulator: EmulatorServer,
) -> None:
    before = units_used(emulator)
    data = identify(emulator, video_id=SAMPLE_VIDEO_ID)
    assert set(data) == set(load_fixture("identify-face-answer.json")["data"])
    assert data["final_unit_deduction"] == "0.05"
    [face] = data["face_data"]
    assert (face["face_id"], face["start_time"], face["end_time"]) == ("0", 0, SAMPLE_VIDEO_SECONDS * 1000)
    assert requests.get(face["face_image"], timeout=10).content.startswith(b"\x89PNG")
    assert units_used(emulator) == pytest.approx(before + 0.05)


def test_a_landscape_video_has_no_face_and_two_people_two(emulator: EmulatorServer) -> None:
    assert identify(emulator, video_id=video(emulator, "A calm landscape at dawn"))["face_data"] == []
    faces = identify(emulator, video_id=video(emulator, "Two people talking", "10"))["face_data"]
    assert [(f["start_time"], f["end_time"]) for f in faces] == [(0, 4000), (3000, 10000)]


def test_identify_face_reads_a_video_url_and_its_real_length(emulator: EmulatorServer) -> None:
    [face] = identify(emulator, video_url=f"{emulator.url}/samples/sample-8s.mp4")["face_data"]
    assert face["end_time"] == 8000
    assert identify(emulator, video_url=f"{emulator.url}/samples/sample-8s.mp4?landscape")["face_data"] == []


def test_identify_face_refuses_bad_sources(emulator: EmulatorServer) -> None:
    refused(post(emulator, FACE, {}), "video_id or video_url")
    refused(
        post(emulator, FACE, {"video_id": SAMPLE_VIDEO_ID, "video_url": "https://x.example/a.mp4"}), "both"
    )
    refused(post(emulator, FACE, {"video_id": "123"}), "video_id 123 not found")
    refused(post(emulator, FACE, {"video_url": f"{emulator.url}/samples/sample-1.5s.mp4"}), "2 to 60")
    emulator.config.processing_seconds = 30
    running = post(emulator, T2V, {"prompt": "A kite"}).json()["data"]["task_id"]
    [pending] = emulator.emulator.store.tasks[running].video_ids  # not in any answer until it succeeds
    refused(post(emulator, FACE, {"video_id": pending}), "not a finished video")


# ---------------------------------------------------- advanced lip-sync (§10.2)


def lip_body(session: str, **face: Any) -> dict[str, Any]:
    choice = {
        "face_id": "0",
        "sound_start_time": 0,
        "sound_end_time": 3000,
        "sound_insert_time": 1000,
        **face,
    }
    return {"session_id": session, "face_choose": [{k: v for k, v in choice.items() if v is not None}]}


def test_lip_sync_video_keeps_the_source_length_and_speaks_where_the_audio_was_put(
    emulator: EmulatorServer,
) -> None:
    session = identify(emulator, video_id=SAMPLE_VIDEO_ID)["session_id"]
    audio = tts(emulator, "c" * 60)["task_result"]["audios"][0]  # 4 s
    body = lip_body(session, audio_id=audio["id"], sound_end_time=2500, sound_insert_time=2000)
    body["external_task_id"] = "lip-1"
    task = post(emulator, LIP, body).json()["data"]
    # The documented query path takes the task id only (docs/kling-api.md#lip-sync).
    assert get(emulator, f"{LIP}/lip-1").json()["code"] == 1203
    done = finished(emulator, LIP, task["task_id"])
    assert done["task_id"] == task["task_id"] and done["final_unit_deduction"] == "0.51"
    parent = done["task_info"]["parent_video"]
    assert parent["id"] == SAMPLE_VIDEO_ID and parent["duration"] == "5.1"
    [result] = done["task_result"]["videos"]
    assert result["duration"] == "5.1"
    info = media_info(result["url"])
    assert info == {"video": pytest.approx(5.1, abs=0.05), "audio": pytest.approx(5.1, abs=0.1)}
    rms, window = loudness(result["url"])
    speaking = np.flatnonzero(rms > 0.02) * window
    assert speaking.min() == pytest.approx(2.0, abs=0.15) and speaking.max() == pytest.approx(4.5, abs=0.15)
    assert [t["task_id"] for t in get(emulator, LIP).json()["data"]] == [task["task_id"]]


def test_lip_sync_takes_a_sound_file_url_or_base64(emulator: EmulatorServer) -> None:
    session = identify(emulator, video_id=SAMPLE_VIDEO_ID)["session_id"]
    for sound in (f"{emulator.url}/samples/sample-3s.mp3", wav_base64(4.0)):
        response = post(
            emulator, LIP, lip_body(session, sound_file=sound, sound_volume=2, original_audio_volume=0)
        )
        assert response.json()["code"] == 0, response.text


@pytest.fixture
def sessions(emulator: EmulatorServer) -> dict[str, str]:
    """Sessions (one face over 5.1 s; none; two faces over 10 s) and a 4 s TTS audio id."""
    return {
        "one": identify(emulator, video_id=SAMPLE_VIDEO_ID)["session_id"],
        "none": identify(emulator, video_id=video(emulator, "An empty landscape"))["session_id"],
        "two": identify(emulator, video_id=video(emulator, "Two people at a desk", "10"))["session_id"],
        "audio": tts(emulator, "d" * 60)["task_result"]["audios"][0]["id"],
    }


@pytest.mark.parametrize(
    ("session", "face", "words"),
    [
        ("unknown", {}, ["session_id", "not found or expired"]),
        ("none", {}, ["face_id '0' is not a face"]),
        ("one", {"face_id": "1"}, ["face_id '1'"]),
        ("one", {"audio_id": None}, ["Exactly one", "audio_id", "sound_file"]),
        ("one", {"sound_file": "https://x.example/a.mp3"}, ["Exactly one"]),
        ("one", {"audio_id": "999"}, ["audio_id 999 not found"]),
        ("one", {"audio_id": None, "sound_file": "S1.5"}, ["sound_file", "2 to 60"]),
        ("one", {"audio_id": None, "sound_file": "W61"}, ["sound_file", "2 to 60"]),
        ("one", {"audio_id": None, "sound_file": base64.b64encode(b"no audio").decode()}, ["sound_file"]),
        ("one", {"audio_id": None, "sound_file": "BIG"}, ["sound_file", "5 MB"]),
        ("one", {"sound_end_time": 4500}, ["sound_end_time", "past the end"]),
        ("one", {"sound_start_time": 1500}, ["at least 2 s of audio"]),
        ("one", {"sound_insert_time": 2500}, ["inside the video"]),
        ("one", {"sound_insert_time": None}, ["sound_insert_time", "required"]),
        ("one", {"sound_start_time": -1}, ["sound_start_time"]),
        ("one", {"sound_end_time": 2000.5}, ["sound_end_time"]),
        ("one", {"sound_volume": 2.5}, ["sound_volume"]),
        ("one", {"original_audio_volume": -0.1}, ["original_audio_volume"]),
        ("two", {"sound_insert_time": 3000}, ["overlap face 0", "(0-4000 ms)", "1000 ms"]),
        ("two", {"face_id": "1", "sound_insert_time": 0}, ["overlap face 1", "0 ms"]),
    ],
)
def test_lip_sync_refuses_what_the_contract_forbids(
    emulator: EmulatorServer, sessions: dict[str, str], session: str, face: dict[str, Any], words: list[str]
) -> None:
    sound = face.get("sound_file")
    if sound == "S1.5":
        face = {**face, "sound_file": f"{emulator.url}/samples/sample-1.5s.mp3"}
    elif sound == "W61":
        face = {**face, "sound_file": wav_base64(61.0)}
    elif sound == "BIG":
        face = {**face, "sound_file": base64.b64encode(b"RIFF" + bytes(5 * 1024**2)).decode()}
    body = lip_body(sessions.get(session, "404"), **{"audio_id": sessions["audio"], **face})
    refused(post(emulator, LIP, body), *words)


def test_lip_sync_accepts_exactly_two_seconds_of_overlap(
    emulator: EmulatorServer, sessions: dict[str, str]
) -> None:
    body = lip_body(
        sessions["two"], audio_id=sessions["audio"], sound_insert_time=2000
    )  # 2000-5000 vs 0-4000
    assert post(emulator, LIP, body).json()["code"] == 0


def test_lip_sync_refuses_more_than_one_face_and_old_sessions_and_audio(
    emulator: EmulatorServer, sessions: dict[str, str]
) -> None:
    body = lip_body(sessions["two"], audio_id=sessions["audio"], sound_insert_time=2000)
    body["face_choose"].append({**body["face_choose"][0], "face_id": "1"})
    refused(post(emulator, LIP, body), "only one person")
    store = emulator.emulator.store
    [tts_task] = [t for t in store.tasks.values() if sessions["audio"] in t.audio_ids]
    tts_task.created -= 31 * DAY
    refused(post(emulator, LIP, lip_body(sessions["one"], audio_id=sessions["audio"])), "within 30 days")
    store.tasks[sessions["one"]].created -= DAY + 1
    fresh = tts(emulator, "e" * 60)["task_result"]["audios"][0]["id"]
    refused(post(emulator, LIP, lip_body(sessions["one"], audio_id=fresh)), "expired", "24 hours")


# ------------------------------------------------------------------ avatar (§11)


def test_avatar_video_lasts_as_long_as_its_audio_and_speaks_throughout(emulator: EmulatorServer) -> None:
    audio = tts(emulator, "f" * 45)["task_result"]["audios"][0]  # 3 s
    body = {"image": png(400, 600), "audio_id": audio["id"], "prompt": "Smiles", "mode": "pro"}
    task = post(emulator, AVATAR, body).json()["data"]
    done = finished(emulator, AVATAR, task["task_id"])
    assert done["final_unit_deduction"] == "2.4"  # 0.8 units/s in pro
    [result] = done["task_result"]["videos"]
    assert result["duration"] == "3.0"
    assert media_info(result["url"]) == {
        "video": pytest.approx(3.0, abs=0.05),
        "audio": pytest.approx(3.0, abs=0.1),
    }
    rms, _ = loudness(result["url"])
    assert (rms > 0.05).mean() > 0.3
    fixture = load_fixture("avatar-submit-request.json")
    fixture["sound_file"] = f"{emulator.url}/samples/sample-5s.mp3"
    assert post(emulator, AVATAR, fixture).json()["code"] == 0


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"image": None}, ["image", "required"]),
        ({"image": png(200, 200)}, ["image", "300 px"]),
        ({"image": "data:image/png;base64,AAAA"}, ["image", "data:"]),
        ({"sound_file": None}, ["Exactly one", "audio_id", "sound_file"]),
        ({"sound_file": "W301"}, ["sound_file", "2 to 300"]),
        ({"sound_file": "W1.9"}, ["sound_file", "2 to 300"]),
        ({"prompt": "p" * 2501}, ["prompt", "2500"]),
        ({"mode": "hd"}, ["mode", "std, pro"]),
        ({"watermark_info": {"enabled": "yes"}}, ["watermark_info"]),
        ({"callback_url": "ftp://x"}, ["callback_url"]),
    ],
)
def test_avatar_refuses_what_the_contract_forbids(
    emulator: EmulatorServer, change: dict[str, Any], words: list[str]
) -> None:
    body = {"image": PORTRAIT, "sound_file": wav_base64(3.0), **change}
    if body["sound_file"] in ("W301", "W1.9"):
        body["sound_file"] = wav_base64(float(body["sound_file"][1:]), rate=4000)
    refused(post(emulator, AVATAR, {k: v for k, v in body.items() if v is not None}), *words)


def test_avatar_takes_300_seconds_of_audio(emulator: EmulatorServer) -> None:
    body = {"image": PORTRAIT, "sound_file": wav_base64(300.0, rate=4000), "external_task_id": "av-300"}
    assert post(emulator, AVATAR, body).json()["code"] == 0
    # Found by its external_task_id; the 300 s video is not fetched (slow to render, proves nothing more).
    assert get(emulator, f"{AVATAR}/av-300").json()["data"]["task_info"]["external_task_id"] == "av-300"


def test_a_restored_emulator_keeps_tts_audio_and_face_sessions(emulator: EmulatorServer) -> None:
    """``--state-file``: the saved tasks (persist.dump/restore) include TTS audio and sessions."""
    audio = tts(emulator, "g" * 45)["task_result"]["audios"][0]
    session = identify(emulator, video_id=SAMPLE_VIDEO_ID)["session_id"]
    saved = json.loads(json.dumps(persist.dump(emulator.emulator)))
    with EmulatorServer(fast_config()) as restarted:
        persist.restore(restarted.emulator, saved)
        assert media_info(audio["url"].replace(emulator.url, restarted.url)) == {
            "audio": pytest.approx(3.0, abs=0.06)
        }
        response = post(restarted, LIP, lip_body(session, audio_id=audio["id"]))
        assert response.json()["code"] == 0, response.text


def test_lip_sync_and_avatar_fail_on_the_fail_marker(emulator: EmulatorServer) -> None:
    session = identify(emulator, video_id=SAMPLE_VIDEO_ID)["session_id"]
    body = {**lip_body(session, sound_file=wav_base64(3.0)), "external_task_id": "lip [fail]"}
    answer = post(emulator, LIP, body).json()
    assert answer["code"] == 0
    done = finished(emulator, LIP, answer["data"]["task_id"])
    assert done["task_status"] == "failed" and done["task_status_msg"] and not done["task_result"]
    avatar = {"image": PORTRAIT, "sound_file": wav_base64(3.0), "prompt": "Wave [fail]"}
    task_id = post(emulator, AVATAR, avatar).json()["data"]["task_id"]
    assert finished(emulator, AVATAR, task_id)["task_status"] == "failed"
