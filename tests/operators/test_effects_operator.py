"""VideoEffectsOperator over real HTTP against the emulator (docs/kling-api.md#video-effects)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.operators.effects import VideoEffectsOperator
from kling_emulator.server import EmulatorServer
from tests.operators.test_operator import RecordingTI, run_deferred
from tests.publishing.test_publish_images import png_bytes

LEFT, RIGHT = "https://cdn.example/left.png", "https://cdn.example/right.png"


def effects(**kwargs: Any) -> VideoEffectsOperator:
    kwargs.setdefault("effect_scene", "hug_pro")
    return VideoEffectsOperator(task_id="fx", poll_interval=0.1, deferrable=False, **kwargs)


def run(op: Any) -> dict[str, Any]:
    return op.execute({"ti": RecordingTI(task_id=op.task_id)})


def test_a_dual_image_scene_sends_input_images_and_returns_a_video(kling_conn: EmulatorServer) -> None:
    result = run(effects(images=[LEFT, RIGHT]))
    assert result["status"] == "succeed"
    [video] = result["videos"]
    assert video["url"].startswith(kling_conn.url) and video["id"]
    sent = kling_conn.emulator.store.tasks[result["task_id"]].request
    assert sent == {
        "effect_scene": "hug_pro",
        "input": {"images": [LEFT, RIGHT]},
        "external_task_id": result["external_task_id"],
    }


def test_a_single_image_scene_with_base64_and_an_older_bodys_duration(kling_conn: EmulatorServer) -> None:
    picture = base64.b64encode(png_bytes(400, 400)).decode()
    result = run(effects(effect_scene="puff_cheeks", image=picture, duration=10))
    sent = kling_conn.emulator.store.tasks[result["task_id"]].request
    assert sent["input"] == {"image": picture, "duration": "10"}
    assert result["status"] == "succeed"


def test_a_scene_unknown_to_the_provider_is_passed_through(kling_conn: EmulatorServer) -> None:
    result = run(effects(effect_scene="magic_world_vlog_9_16", image=LEFT))
    assert (
        kling_conn.emulator.store.tasks[result["task_id"]].request["effect_scene"] == "magic_world_vlog_9_16"
    )


def test_rendered_images_and_extra_input_fields(kling_conn: EmulatorServer) -> None:
    op = effects(images=f'["{LEFT}", "{RIGHT}"]', extra_body={"input": {"mode": "pro"}})
    result = run(op)
    sent = kling_conn.emulator.store.tasks[result["task_id"]].request
    assert sent["input"] == {"mode": "pro", "images": [LEFT, RIGHT]}


def test_deferrable_effects(kling_conn: EmulatorServer) -> None:
    kling_conn.emulator.config.processing_seconds = 0.3
    op = VideoEffectsOperator(
        task_id="fx", effect_scene="hug_pro", image=LEFT, poll_interval=0.1, deferrable=True
    )
    event, _ = run_deferred(op, {"ti": RecordingTI(task_id="fx")})
    result = op.execute_complete({"ti": RecordingTI(task_id="fx")}, event)
    assert result["status"] == "succeed" and len(result["videos"]) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"effect_scene": "", "image": LEFT}, "effect_scene: is required"),
        ({"effect_scene": "hug pro", "image": LEFT}, "effect_scene: a scene name is one word"),
        ({}, "image / images: give image (single-image scene) or images (dual-image scene)"),
        (
            {"image": LEFT, "images": [LEFT, RIGHT]},
            "image / images: give image (single-image scene) or images",
        ),
        ({"images": [LEFT]}, "images: a dual-image scene takes exactly 2 images, got 1"),
        ({"images": [LEFT, RIGHT, LEFT]}, "images: a dual-image scene takes exactly 2 images, got 3"),
        ({"images": [LEFT, "ftp://x/y.png"]}, "images.1: must be an http:// or https:// URL"),
        ({"image": base64.b64encode(png_bytes(100, 400)).decode()}, "image: image is 100x400 px"),
        ({"image": LEFT, "duration": "7"}, "duration: Input should be '5' or '10'"),
        ({"image": LEFT, "extra_body": {"input": {"image": RIGHT}}}, "extra_body.input.image: image is set"),
        (
            {"image": LEFT, "extra_body": {"effect_scene": "x"}},
            "extra_body.effect_scene: effect_scene is set",
        ),
    ],
)
def test_effects_rules_fail_before_any_request(
    kling_conn: EmulatorServer, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(KlingValidationError) as info:
        run(effects(**kwargs))
    assert message in str(info.value)
    assert kling_conn.emulator.stats.requests == 0
