"""The new-design task kinds, and a signed new-format callback read into the same result as a legacy one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_kling.api.kinds import TASK_KINDS, get_kind
from airflow_provider_kling.api.tasks import parse_task
from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.hooks.kling import KlingHook
from kling_emulator.server import EmulatorServer
from tests.api.test_webhooks import SECRET, Receiver
from tests.conftest import conn_json, fast_config, load_fixture

NEW_KINDS = {
    "text-to-video": ("/text-to-video", "NewTextToVideoRequest"),
    "image-to-video": ("/image-to-video", "NewImageToVideoRequest"),
    "omni-video": ("/omni-video", "OmniVideoRequest"),
    "motion-control": ("/motion-control", "MotionControlRequest"),
}


@pytest.mark.parametrize("name", sorted(NEW_KINDS))
def test_new_design_kinds_are_registered_next_to_the_legacy_ones(name: str) -> None:
    kind = get_kind(name)
    assert kind.design == "new" and (kind.path, kind.request_model_name) == NEW_KINDS[name]
    assert kind.request_module == "airflow_provider_kling.api.new_video"
    payload = {
        "model_name": "kling-3.0",
        "prompt": "p",
        "external_task_id": "e",
        "callback_url": "https://cb",
    }
    path, body = kind.submit_route(payload)
    assert path == f"{kind.path}/kling-3.0"
    assert body == {"prompt": "p", "options": {"external_task_id": "e", "callback_url": "https://cb"}}
    with pytest.raises(KlingValidationError, match="GET /tasks"):
        kind.task_path("123")  # no per-family query path in the new design


def test_legacy_kinds_keep_their_names_and_paths() -> None:
    legacy = {k.name: k.path for k in TASK_KINDS.values() if k.design == "legacy"}
    assert (
        legacy.items()
        >= dict(
            {
                "video-to-audio": "/v1/audio/video-to-audio",
                "text2video": "/v1/videos/text2video",
                "image2video": "/v1/videos/image2video",
                "text-to-audio": "/v1/audio/text-to-audio",
            }
        ).items()
    )
    assert get_kind("text2video").task_path("1") == "/v1/videos/text2video/1"


@pytest.fixture
def signing_emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(fast_config(webhook_secret=SECRET)) as server:
        yield server


def test_a_signed_new_format_callback_parses_into_the_same_result_as_a_legacy_one(
    signing_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KLING_DEFAULT", conn_json(signing_emulator.url, mode="key"))
    with Receiver(SECRET) as receiver:
        payload: dict[str, Any] = {
            "model_name": "kling-3.0-turbo",
            "prompt": "A kite over the sea",
            "external_task_id": "callback-new",
            "callback_url": receiver.url,
        }
        task = KlingHook().submit_task("text-to-video", payload)
        receiver.wait_for(2)
    assert receiver.refused == []
    processing, done = receiver.accepted
    assert set(done) == set(load_fixture("callback-new.json"))  # the new format, no envelope
    parsed = parse_task(done, "callback").to_xcom()
    legacy = parse_task(load_fixture("callback-legacy.json"), "callback").to_xcom()
    assert set(parsed) == set(legacy)  # one result, whichever design sent it
    assert parsed["api_design"] == "new" and parsed["status"] == "succeed"
    assert parsed["kling_task_id"] == task.task_id and parsed["external_task_id"] == "callback-new"
    assert parsed["videos"][0]["url"] and parsed["credits"] is not None
    assert parse_task(processing, "callback").task_status.value == "processing"
