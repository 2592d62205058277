"""The XCom result is one shape for both API designs and every task family."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_kling.api.tasks import parse_task, parse_task_list, raw_status, raw_task_ids
from tests.conftest import load_fixture

RESULT_KEYS = {
    "task_id", "kling_task_id", "external_task_id", "status", "status_message", "api_design",
    "videos", "audios", "images", "created_at", "updated_at", "credits", "balance_deduction",
    "parent_video",
}  # fmt: skip
AUDIO_KEYS = {"id", "url", "duration", "url_mp3", "url_wav", "duration_mp3", "duration_wav"}
IMAGE_KEYS = {"index", "url", "watermark_url", "group_id"}


def new_task(**overrides: Any) -> dict[str, Any]:
    task: dict[str, Any] = {"id": "9001", "status": "succeeded", "create_time": 1, "update_time": 2}
    return {**task, **overrides}


def test_a_new_design_task_reads_into_the_legacy_result_shape() -> None:
    first, second = parse_task_list(load_fixture("new-tasks-query-succeeded.json")["data"])
    legacy = parse_task(load_fixture("v2a-query-succeed.json")["data"]).to_xcom()
    for task in (first, second):
        result = task.to_xcom()
        assert set(result) == set(legacy) == RESULT_KEYS
        assert result["status"] == "succeed" and result["api_design"] == "new"
        assert result["videos"][0]["url"].endswith(".mp4") and result["videos"][0]["duration"] == "5.0"
    assert legacy["api_design"] == "legacy"
    assert second.to_xcom()["external_task_id"] == "pipeline-2026-11-26-t2v-2"
    assert first.to_xcom()["credits"] == 4.0 and first.to_xcom()["balance_deduction"] is None
    # One cash entry is passed through as Kling wrote it, not re-formatted.
    assert second.to_xcom()["balance_deduction"] == {"quota": "0.70", "list_price": "0.70"}
    assert second.to_xcom()["credits"] is None


def test_billing_entries_add_up_per_charge_type() -> None:
    billing = [
        {"charge_type": "unit", "amount": "4", "package_type": "video"},
        {"charge_type": "unit", "amount": "1.5", "package_type": "audio"},
        {"charge_type": "cash", "amount": "0.25", "list_price": "0.5", "currency": "USD"},
        {"charge_type": "cash", "amount": "0.25", "list_price": "0.5", "currency": "USD"},
    ]
    result = parse_task(new_task(billing=billing)).to_xcom()
    assert result["credits"] == 5.5
    assert result["balance_deduction"] == {"quota": "0.5", "list_price": "1"}


def test_new_design_audio_and_image_outputs_use_the_legacy_keys() -> None:
    outputs = [
        {"type": "audio", "id": "a1", "mp3_url": "https://x/a.mp3", "wav_url": "https://x/a.wav",
         "mp3_duration": "5.1", "wav_duration": "5.1"},
        {"type": "image", "url": "https://x/0.png", "group_id": "g"},
        {"type": "image", "url": "https://x/1.png"},
        {"type": "voice", "id": "v1", "name": "ignored"},
    ]  # fmt: skip
    result = parse_task(new_task(outputs=outputs)).to_xcom()
    [audio] = result["audios"]
    assert set(audio) == AUDIO_KEYS
    assert audio["url_mp3"] == audio["url"] == "https://x/a.mp3" and audio["duration_wav"] == "5.1"
    assert [set(i) for i in result["images"]] == [IMAGE_KEYS, IMAGE_KEYS]
    assert [(i["index"], i["url"]) for i in result["images"]] == [
        (0, "https://x/0.png"),
        (1, "https://x/1.png"),
    ]
    assert result["images"][0]["group_id"] == "g" and result["videos"] == []


def test_a_tts_answer_gives_one_url_and_duration() -> None:
    result = parse_task(load_fixture("tts-create-answer.json")["data"]).to_xcom()
    [audio] = result["audios"]
    assert set(audio) == AUDIO_KEYS
    assert audio["url"].endswith(".mp3") and audio["duration"] == "3.276" and audio["url_mp3"] is None
    assert result["credits"] == 0.05


def test_legacy_audio_entries_gain_url_and_duration_from_their_files() -> None:
    [audio] = parse_task(load_fixture("v2a-query-succeed.json")["data"]).to_xcom()["audios"]
    assert audio["url"] == audio["url_mp3"] and audio["duration"] == audio["duration_mp3"]


def test_image_results_keep_kling_index() -> None:
    result = parse_task(load_fixture("image-generation-query-succeed.json")["data"]).to_xcom()
    assert [i["index"] for i in result["images"]] == [0, 1]
    assert all(set(i) == IMAGE_KEYS and i["url"].endswith(".png") for i in result["images"])


@pytest.mark.parametrize("status", ["submitted", "processing", "failed"])
def test_new_design_statuses(status: str) -> None:
    task = parse_task(new_task(status=status, message="why" if status == "failed" else ""))
    assert task.task_status.value == status and task.is_terminal == (status == "failed")


def test_the_new_format_callback_parses_with_the_same_model() -> None:
    result = parse_task(load_fixture("callback-new.json")).to_xcom()
    assert result["external_task_id"] == "pipeline-2026-11-26-t2v" and result["credits"] == 5.0


def test_a_new_design_task_without_id_names_the_field() -> None:
    with pytest.raises(Exception, match="task_id"):
        parse_task({"id": "", "status": "succeeded"})


@pytest.mark.parametrize("fixture", ["new-tasks-query-succeeded.json", "v2a-list.json"])
def test_raw_status_and_ids_read_entries_of_both_designs_as_parsing_does(fixture: str) -> None:
    """Pollers skip parsing unchanged entries by their raw status and ids: these must agree with the model."""
    entries = load_fixture(fixture)["data"]
    assert entries
    for entry in entries:
        task = parse_task(entry)
        assert raw_status(entry) == task.task_status.value
        assert raw_task_ids(entry) == (task.task_id, task.external_task_id)
    for status, expected in (("processing", "processing"), ("succeeded", "succeed"), ("failed", "failed")):
        entry = new_task(status=status)
        assert raw_status(entry) == expected == parse_task(entry).task_status.value
    assert raw_task_ids(new_task(id=9002, external_id="mine")) == ("9002", "mine")
    assert raw_task_ids(["not", "a", "task"]) == (None, None)
