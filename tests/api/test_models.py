"""Request validation (each contract rule) and tolerant response parsing."""

from __future__ import annotations

import pytest

from airflow_provider_kling.api.audio import VideoToAudioRequest
from airflow_provider_kling.api.tasks import KlingTask, TaskStatus, parse_task, parse_task_list
from airflow_provider_kling.api.video import TextToVideoRequest
from airflow_provider_kling.exceptions import KlingResponseError, KlingValidationError
from tests.conftest import load_fixture


def build(**fields: object) -> VideoToAudioRequest:
    return VideoToAudioRequest.build(**fields)  # type: ignore[return-value]


class TestVideoToAudioRequest:
    def test_seed_example_sends_only_given_fields(self) -> None:
        seed = {
            "video_id": "825406034503692376",
            "video_url": "",
            "sound_effect_prompt": "Human voice sounds that match the video.",
            "bgm_prompt": "",
            "asmr_mode": False,
            "external_task_id": "",
            "callback_url": "",
        }
        assert build(**seed).to_payload() == {
            "video_id": "825406034503692376",
            "sound_effect_prompt": "Human voice sounds that match the video.",
            "asmr_mode": False,
        }

    def test_all_seven_fields_are_sent(self) -> None:
        payload = build(
            video_url="https://cdn.example/v.mp4",
            sound_effect_prompt="rain",
            bgm_prompt="piano",
            asmr_mode=True,
            external_task_id="ext-1",
            callback_url="https://hooks.example/kling",
        ).to_payload()
        assert payload == {
            "video_url": "https://cdn.example/v.mp4",
            "sound_effect_prompt": "rain",
            "bgm_prompt": "piano",
            "asmr_mode": True,
            "external_task_id": "ext-1",
            "callback_url": "https://hooks.example/kling",
        }

    @pytest.mark.parametrize(
        "fields",
        [{}, {"video_id": "", "video_url": ""}, {"video_id": "1", "video_url": "https://x.example/v.mp4"}],
        ids=["neither", "both-empty", "both"],
    )
    def test_exactly_one_video(self, fields: dict) -> None:
        with pytest.raises(KlingValidationError, match="exactly one of video_id or video_url"):
            build(**fields)

    @pytest.mark.parametrize(
        ("fields", "said"),
        [
            ({}, "neither was given"),
            ({"video_id": " ", "video_url": ""}, "neither was given (an empty string counts as unset)"),
            ({"video_id": "1", "video_url": "https://x.example/v.mp4"}, "both were given"),
        ],
        ids=["neither", "both-blank", "both"],
    )
    def test_the_video_error_names_both_fields_and_says_which_case(
        self, fields: dict[str, str], said: str
    ) -> None:
        with pytest.raises(KlingValidationError) as info:
            build(**fields)
        message = str(info.value)
        assert f"Invalid VideoToAudioRequest: video_id, video_url: {said}" in message
        assert "request:" not in message

    @pytest.mark.parametrize("url", ["ftp://x.example/v.mp4", "file:///etc/passwd", "not a url", "https://"])
    def test_video_url_must_be_http(self, url: str) -> None:
        with pytest.raises(KlingValidationError, match=r"video_url: must be an http:// or https:// URL"):
            build(video_url=url)

    @pytest.mark.parametrize("field", ["sound_effect_prompt", "bgm_prompt"])
    def test_prompts_at_most_200_characters(self, field: str) -> None:
        assert build(video_id="1", **{field: "x" * 200}).to_payload()[field] == "x" * 200
        with pytest.raises(
            KlingValidationError, match=rf"{field}: String should have at most 200 characters"
        ):
            build(video_id="1", **{field: "x" * 201})

    def test_prompt_limit_counts_characters_not_bytes(self) -> None:
        assert len(build(video_id="1", bgm_prompt="雨" * 200).to_payload()["bgm_prompt"]) == 200

    def test_asmr_mode_defaults_false_and_accepts_rendered_text(self) -> None:
        assert build(video_id="1").asmr_mode is False
        assert build(video_id="1", asmr_mode="True").asmr_mode is True
        assert build(video_id="1", asmr_mode="false").asmr_mode is False
        with pytest.raises(KlingValidationError, match="asmr_mode"):
            build(video_id="1", asmr_mode="maybe")

    def test_callback_url_must_be_http(self) -> None:
        with pytest.raises(KlingValidationError, match="callback_url: must be an http"):
            build(video_id="1", callback_url="javascript:alert(1)")

    def test_unknown_field_is_refused(self) -> None:
        with pytest.raises(KlingValidationError, match="video: Extra inputs are not permitted"):
            build(video_id="1", video="x")

    def test_error_names_every_broken_rule(self) -> None:
        with pytest.raises(KlingValidationError) as info:
            build(video_url="ftp://x", bgm_prompt="y" * 300)
        assert "video_url" in str(info.value) and "bgm_prompt" in str(info.value)


def test_text_to_video_duration_rule() -> None:
    assert TextToVideoRequest.build(prompt="a cat", duration=5).to_payload()["duration"] == "5"
    with pytest.raises(KlingValidationError, match="duration: kling-v2-6 takes '5' / '10', not '7'"):
        TextToVideoRequest.build(prompt="a cat", model_name="kling-v2-6", duration="7")


class TestResponses:
    def test_succeed_fixture(self) -> None:
        task = parse_task(load_fixture("v2a-query-succeed.json")["data"])
        assert task.task_status is TaskStatus.SUCCEED
        assert task.task_result.audios[0].url_wav.endswith(".wav")  # type: ignore[union-attr]
        assert task.task_info.parent_video is not None
        xcom = task.to_xcom()
        assert xcom["audios"][0]["duration_mp3"] == "5.1"
        assert xcom["videos"][0]["id"] == "856382541251624961"

    def test_parent_video_reaches_the_xcom_result(self) -> None:
        xcom = parse_task(load_fixture("v2a-query-succeed.json")["data"]).to_xcom()
        assert xcom["parent_video"] == {
            "id": "825406034503692376",
            "url": "https://cdn.example/kling/825406034503692376.mp4",
            "duration": "5.1",
        }
        assert parse_task({"task_id": "1", "task_status": "succeed"}).to_xcom()["parent_video"] is None

    @pytest.mark.parametrize("parent", [{}, {"url": "https://x/v.mp4"}, "825406034503692376", []])
    def test_an_unreadable_parent_video_does_not_make_the_task_unreadable(self, parent: object) -> None:
        task = parse_task({"task_id": "1", "task_status": "succeed", "task_info": {"parent_video": parent}})
        assert task.is_terminal and task.to_xcom()["parent_video"] is None

    def test_watermark_url_only_on_watermarked_videos(self) -> None:
        videos = [{"id": "a", "url": "https://x/a.mp4", "watermark_url": "https://x/a-wm.mp4"}, {"id": "b"}]
        xcom = parse_task(
            {"task_id": "1", "task_status": "succeed", "task_result": {"videos": videos}}
        ).to_xcom()
        assert xcom["videos"][0]["watermark_url"] == "https://x/a-wm.mp4"
        assert "watermark_url" not in xcom["videos"][1]

    def test_failed_and_processing_fixtures(self) -> None:
        failed = parse_task(load_fixture("v2a-query-failed.json")["data"])
        assert failed.task_status_msg.startswith("Video duration")  # type: ignore[union-attr]
        assert failed.task_result.audios == []
        assert parse_task(load_fixture("v2a-query-processing.json")["data"]).is_terminal is False

    def test_list_fixture(self) -> None:
        tasks = parse_task_list(load_fixture("v2a-list.json")["data"])
        assert [t.task_status.value for t in tasks] == ["processing", "succeed"]
        assert tasks[1].external_task_id is None  # "" means none

    def test_numbers_where_strings_are_documented(self) -> None:
        task = KlingTask.model_validate(
            {"task_id": 1, "task_status": "succeed", "task_result": {"videos": [{"id": 2, "duration": 8.0}]}}
        )
        assert task.task_id == "1" and task.task_result.videos[0].duration == "8.0"

    def test_timestamps_that_are_not_epoch_numbers_do_not_make_the_task_unreadable(self) -> None:
        task = parse_task(
            {
                "task_id": "1",
                "task_status": "succeed",
                "created_at": "2024-08-04T10:00:00Z",
                "updated_at": "17",
            }
        )
        assert task.is_terminal and task.created_at is None and task.updated_at == 17

    @pytest.mark.parametrize(
        ("data", "missing"),
        [({}, "task_id is missing"), ({"task_id": "1"}, "task_status is missing"), (None, "no task object")],
    )
    def test_thin_body_names_what_is_missing(self, data: object, missing: str) -> None:
        with pytest.raises(KlingResponseError, match=missing):
            parse_task(data)


def test_status_spelling_of_the_newer_format_is_understood() -> None:
    task = KlingTask.model_validate({"task_id": "1", "task_status": "Succeeded"})
    assert task.task_status is TaskStatus.SUCCEED and task.is_terminal
