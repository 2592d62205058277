"""Speech request rules (KLING_API §9.1, §10, §11): TTS, identify-face, advanced lip-sync, avatar."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from airflow_provider_kling.api.kinds import get_kind
from airflow_provider_kling.api.speech import (
    AdvancedLipSyncRequest,
    AvatarRequest,
    FaceChoice,
    IdentifyFaceRequest,
    TextToSpeechRequest,
    check_face_window,
    parse_face_session,
    parse_voices,
    seconds_to_ms,
)
from airflow_provider_kling.api.tasks import parse_task
from airflow_provider_kling.exceptions import KlingValidationError
from tests.conftest import load_fixture

AUDIO = "https://cdn.example/voice.mp3"


def tts(**fields: Any) -> dict[str, Any]:
    fields.setdefault("text", "Hello there")
    fields.setdefault("voice_id", "oversea_male1")
    return TextToSpeechRequest.build(**fields).to_payload()


class TestTextToSpeech:
    def test_body_has_the_four_fields_and_no_task_ids(self) -> None:
        assert tts(voice_language="en", voice_speed=1.2) == {
            "text": "Hello there",
            "voice_id": "oversea_male1",
            "voice_language": "en",
            "voice_speed": 1.2,
        }
        assert tts()["voice_language"] == "zh"  # the contract's default
        assert "voice_speed" not in tts()  # Kling's default 1.0 applies

    def test_text_at_most_1000_characters_and_required(self) -> None:
        assert tts(text="字" * 1000)["text"] == "字" * 1000
        with pytest.raises(KlingValidationError, match="text: String should have at most 1000 characters"):
            tts(text="x" * 1001)
        with pytest.raises(KlingValidationError, match="text: is required"):
            tts(text="   ")
        with pytest.raises(KlingValidationError, match="voice_id: is required"):
            tts(voice_id="")

    @pytest.mark.parametrize("language", ["fr", "EN", "zh-CN"])
    def test_voice_language_zh_or_en(self, language: str) -> None:
        with pytest.raises(KlingValidationError, match="voice_language: Input should be 'zh' or 'en'"):
            tts(voice_language=language)

    @pytest.mark.parametrize(("given", "sent"), [(0.8, 0.8), ("2.0", 2.0), (1, 1.0), ("", None)])
    def test_voice_speed_in_range(self, given: Any, sent: float | None) -> None:
        assert tts(voice_speed=given).get("voice_speed") == sent

    @pytest.mark.parametrize(
        ("given", "rule"),
        [(0.7, "greater than or equal to 0.8"), (2.1, "less than or equal to 2"), (1.25, "one decimal")],
    )
    def test_voice_speed_rules(self, given: Any, rule: str) -> None:
        with pytest.raises(KlingValidationError, match=f"voice_speed: .*{rule}"):
            tts(voice_speed=given)

    def test_no_external_task_id_or_callback(self) -> None:
        with pytest.raises(KlingValidationError, match="external_task_id: TextToSpeechRequest takes no"):
            tts(external_task_id="mine")
        with pytest.raises(KlingValidationError, match="callback_url: TextToSpeechRequest takes no"):
            tts(callback_url="https://hooks.example/x")

    def test_the_documented_answer_reads_into_the_normalised_result(self) -> None:
        task = parse_task(load_fixture("tts-create-answer.json")["data"])
        [audio] = task.to_xcom()["audios"]
        assert audio["id"] == "847487393472614444" and audio["duration"] == "3.276"
        assert audio["url"].endswith("output.mp3") and task.to_xcom()["credits"] == 0.05


class TestIdentifyFace:
    def test_exactly_one_video_says_which_was_wrong(self) -> None:
        assert IdentifyFaceRequest.build(video_id="v1").to_payload() == {"video_id": "v1"}
        with pytest.raises(KlingValidationError, match=r"video_id: .*not both \(both were given\)"):
            IdentifyFaceRequest.build(video_id="v1", video_url="https://cdn.example/a.mp4")
        with pytest.raises(KlingValidationError, match=r"neither was given"):
            IdentifyFaceRequest.build(video_id="", video_url=None)
        with pytest.raises(KlingValidationError, match="video_url: must be an http"):
            IdentifyFaceRequest.build(video_url="ftp://cdn.example/a.mp4")

    def test_the_documented_answer(self) -> None:
        session = parse_face_session(load_fixture("identify-face-answer.json")["data"])
        assert session.session_id == "850508686686064678"
        face = session.choose(None)
        assert (face.face_id, face.start_time, face.end_time) == ("0", 0, 5200)

    def test_default_face_is_the_one_on_screen_longest(self) -> None:
        session = parse_face_session(
            {
                "session_id": "s",
                "face_data": [
                    {"face_id": "0", "start_time": 0, "end_time": 2000},
                    {"face_id": "1", "start_time": 1000, "end_time": 9000},
                    {"face_id": "2", "start_time": 0, "end_time": 8000},
                ],
            }
        )
        assert session.choose(None).face_id == "1"
        assert session.choose("  ").face_id == "1"  # a face_id template rendered empty
        assert session.choose("2").face_id == "2"
        with pytest.raises(KlingValidationError, match=r"face_id: no face '7' in the video"):
            session.choose("7")

    def test_no_face_found_fails_clearly(self) -> None:
        with pytest.raises(KlingValidationError, match="face_id: Kling found no face in the video"):
            parse_face_session({"session_id": "s", "face_data": []}).choose(None)


def choice(**fields: Any) -> dict[str, Any]:
    fields.setdefault("face_id", "0")
    if "sound_file" not in fields:
        fields.setdefault("audio_id", "a1")
    fields.setdefault("sound_start_time", 0)
    fields.setdefault("sound_end_time", 3000)
    fields.setdefault("sound_insert_time", 1000)
    return fields


def lip_sync(**fields: Any) -> dict[str, Any]:
    return AdvancedLipSyncRequest.build(session_id="s1", face_choose=[choice(**fields)]).to_payload()


class TestAdvancedLipSync:
    def test_official_example_body(self) -> None:
        body = load_fixture("advanced-lip-sync-submit-request.json")
        expected = {k: v for k, v in body.items() if v != ""}
        assert AdvancedLipSyncRequest.build(**body).to_payload() == expected

    def test_audio_id_xor_sound_file(self) -> None:
        assert lip_sync()["face_choose"][0]["audio_id"] == "a1"
        with pytest.raises(KlingValidationError, match=r"face_choose\.0\.audio_id: .*both were given"):
            lip_sync(audio_id="a1", sound_file=AUDIO)
        with pytest.raises(KlingValidationError, match=r"face_choose\.0\.audio_id: .*neither was given"):
            lip_sync(audio_id="")

    def test_times_are_required_whole_ms_and_keep_2_s_of_audio(self) -> None:
        assert lip_sync(sound_end_time=2000)["face_choose"][0]["sound_end_time"] == 2000
        with pytest.raises(KlingValidationError, match=r"sound_end_time: must be at least 2000 ms after"):
            lip_sync(sound_start_time=500, sound_end_time=2499)
        with pytest.raises(KlingValidationError, match=r"sound_end_time: .* at most 60 s"):
            lip_sync(sound_end_time=60_001)
        with pytest.raises(KlingValidationError, match=r"sound_insert_time: is required"):
            lip_sync(sound_insert_time=None)
        with pytest.raises(KlingValidationError, match=r"sound_start_time: Input should be greater than"):
            lip_sync(sound_start_time=-1)
        with pytest.raises(KlingValidationError, match=r"sound_end_time: Input should be a valid integer"):
            lip_sync(sound_end_time=2500.5)

    @pytest.mark.parametrize("name", ["sound_volume", "original_audio_volume"])
    def test_volumes_from_0_to_2(self, name: str) -> None:
        assert lip_sync(**{name: 0})["face_choose"][0][name] == 0
        assert lip_sync(**{name: "2"})["face_choose"][0][name] == 2
        with pytest.raises(KlingValidationError, match=rf"{name}: Input should be less than or equal to 2"):
            lip_sync(**{name: 2.1})
        with pytest.raises(
            KlingValidationError, match=rf"{name}: Input should be greater than or equal to 0"
        ):
            lip_sync(**{name: -0.1})

    def test_one_face_only(self) -> None:
        with pytest.raises(KlingValidationError, match="face_choose: List should have at most 1 item"):
            AdvancedLipSyncRequest.build(session_id="s1", face_choose=[choice(), choice(face_id="1")])

    def test_sound_file_url_or_base64_of_at_most_5_mb(self) -> None:
        small = base64.b64encode(b"ID3" + b"\0" * 100).decode()
        assert lip_sync(sound_file=small)["face_choose"][0]["sound_file"] == small
        big = base64.b64encode(b"\0" * (5 * 1024 * 1024 + 3)).decode()
        with pytest.raises(KlingValidationError, match=r"sound_file: a Base64 .* at most 5 MB"):
            lip_sync(sound_file=big)
        with pytest.raises(KlingValidationError, match=r"sound_file: .*not valid Base64"):
            lip_sync(sound_file="not base64!")
        with pytest.raises(KlingValidationError, match=r"sound_file: send raw Base64 or a URL"):
            lip_sync(sound_file="data:audio/mp3;base64," + small)

    @pytest.mark.parametrize(("insert", "overlap"), [(0, 3000), (3200, 2000), (3201, 1999), (6000, 0)])
    def test_the_audio_overlaps_the_face_by_2_s(self, insert: int, overlap: int) -> None:
        face = parse_face_session(load_fixture("identify-face-answer.json")["data"]).choose(None)  # 0-5200 ms
        picked = FaceChoice(**choice(sound_insert_time=insert))
        if overlap >= 2000:
            check_face_window(face, picked)
            return
        with pytest.raises(KlingValidationError, match=rf"sound_insert_time: .*overlap {overlap} ms"):
            check_face_window(face, picked)

    def test_audio_duration_in_seconds(self) -> None:
        assert seconds_to_ms("3.276", "audio_duration") == 3276
        assert seconds_to_ms("", "audio_duration") is None
        with pytest.raises(KlingValidationError, match="audio_duration: must be a number of seconds"):
            seconds_to_ms("long", "audio_duration")


class TestAvatar:
    def test_official_example_body(self) -> None:
        body = load_fixture("avatar-submit-request.json")
        expected = {k: v for k, v in body.items() if v != ""}
        assert AvatarRequest.build(**body).to_payload() == expected

    def test_rules(self) -> None:
        base = {"image": "https://cdn.example/face.png", "audio_id": "a1"}
        assert AvatarRequest.build(**base).to_payload()["mode"] == "std"
        with pytest.raises(KlingValidationError, match="image: is required"):
            AvatarRequest.build(audio_id="a1")
        with pytest.raises(KlingValidationError, match=r"audio_id: .*both were given"):
            AvatarRequest.build(**base, sound_file=AUDIO)
        with pytest.raises(KlingValidationError, match=r"audio_id: .*neither was given"):
            AvatarRequest.build(image=base["image"])
        with pytest.raises(KlingValidationError, match="prompt: String should have at most 2500"):
            AvatarRequest.build(**base, prompt="x" * 2501)
        with pytest.raises(KlingValidationError, match="mode: Input should be 'std' or 'pro'"):
            AvatarRequest.build(**base, mode="hd")
        big = base64.b64encode(b"\0" * (10 * 1024 * 1024 + 3)).decode()
        with pytest.raises(
            KlingValidationError, match="image: a Base64 jpg/png image must decode to at most 10"
        ):
            AvatarRequest.build(**{**base, "image": big})


def test_kinds_are_registered_with_their_paths() -> None:
    assert get_kind("tts").path == "/v1/audio/tts"
    assert get_kind("advanced-lip-sync").path == "/v1/videos/advanced-lip-sync"
    assert get_kind("avatar").path == "/v1/videos/avatar/image2video"
    assert get_kind("avatar").request_model is AvatarRequest


def test_preset_voices_answer() -> None:
    data = [
        {
            "task_id": "1",
            "task_result": {"voices": [{"voice_id": "v1", "voice_name": "A", "owned_by": "kling"}]},
        },
        {"task_id": "2", "task_result": {"voices": [{"voice_id": "v2"}]}},
    ]
    assert [v.voice_id for v in parse_voices(data)] == ["v1", "v2"]
