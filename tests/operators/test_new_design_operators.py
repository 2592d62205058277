"""Video operators on Kling's new API design, over real HTTP against the emulator.

The design follows the RENDERED model name; arguments the chosen design lacks fail before any
request; each family's body reaches its ``/{family}/{model}`` path; the XCom result has the
keys of a legacy one (docs/kling-api.md#api-designs, #new-design).
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.operators.video import (
    ImageToVideoOperator,
    MotionControlOperator,
    OmniVideoOperator,
    TextToVideoOperator,
)
from kling_emulator.server import EmulatorServer
from tests.conftest import conn_json
from tests.operators.test_operator import RecordingTI, run_deferred

IMG = "https://cdn.example/first.png"
LAST = "https://cdn.example/last.png"
VID = "https://cdn.example/clip.mp4"
LEGACY_KEYS = {
    "task_id",
    "kling_task_id",
    "external_task_id",
    "status",
    "status_message",
    "api_design",
    "videos",
    "audios",
    "images",
    "created_at",
    "updated_at",
    "credits",
    "balance_deduction",
    "parent_video",
}


def run(op: Any) -> dict[str, Any]:
    return op.execute({"ti": RecordingTI(task_id=op.task_id)})


def sent(server: EmulatorServer, result: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = server.emulator.store.tasks[result["task_id"]].request
    return body


def routes(server: EmulatorServer) -> dict[str, int]:
    return {k: v for k, v in server.emulator.stats.by_route.items() if k.startswith("POST")}


def fast(**kwargs: Any) -> dict[str, Any]:
    return {"poll_interval": 0.1, "deferrable": False, **kwargs}


# ---------------------------------------------------------------------------- routing by rendered name


@pytest.mark.parametrize(
    ("model", "route", "kind"),
    [
        ("kling-3.0-turbo", "POST /text-to-video/{model}", "text-to-video"),
        ("kling-2.6", "POST /text-to-video/{model}", "text-to-video"),
        ("kling-v3", "POST /v1/videos/text2video", "text2video"),
    ],
)
def test_the_rendered_model_name_picks_the_design(
    kling_key_conn: EmulatorServer, model: str, route: str, kind: str
) -> None:
    op = TextToVideoOperator(task_id="t2v", prompt="a kite", model_name="{{ params.model }}", **fast())
    assert op.task_kind == "text2video"  # nothing decided at parse time
    op.render_template_fields({"params": {"model": model}})
    result = run(op)
    assert op.task_kind == kind
    assert routes(kling_key_conn) == {route: 1}
    assert result["api_design"] == ("legacy" if kind == "text2video" else "new")
    assert result["status"] == "succeed" and result["videos"][0]["url"]
    assert set(result) == LEGACY_KEYS


def test_no_model_stays_legacy(kling_key_conn: EmulatorServer) -> None:
    result = run(TextToVideoOperator(task_id="t2v", prompt="a kite", **fast()))
    assert routes(kling_key_conn) == {"POST /v1/videos/text2video": 1}
    assert result["api_design"] == "legacy" and "model_name" not in sent(kling_key_conn, result)


def test_turbo_body_on_the_wire(kling_key_conn: EmulatorServer) -> None:
    op = TextToVideoOperator(
        task_id="t2v",
        prompt="{{ params.what }}",
        model_name="kling-3.0-turbo",
        duration="{{ params.seconds }}",  # renders to text: sent as an int
        resolution="1080p",
        aspect_ratio="9:16",
        watermark_info={"enabled": True},
        external_task_id="turbo-1",
        **fast(),
    )
    op.render_template_fields({"params": {"what": "a kite", "seconds": 8}})
    result = run(op)
    assert sent(kling_key_conn, result) == {
        "prompt": "a kite",
        "settings": {"resolution": "1080p", "aspect_ratio": "9:16", "duration": 8},
        "options": {"watermark_info": {"enabled": True}, "external_task_id": "turbo-1"},
    }
    assert result["external_task_id"] == "turbo-1"
    assert result["videos"][0]["duration"] == "8.0" and result["videos"][0]["watermark_url"]


def test_extra_settings_and_extra_body_reach_the_wire(kling_key_conn: EmulatorServer) -> None:
    op = TextToVideoOperator(
        task_id="t2v",
        prompt="a kite",
        model_name="kling-3.0",
        duration=6,
        extra_settings='{"future_knob": 1}',  # rendered JSON
        extra_body={"future_top": {"a": 1}},
        **fast(),
    )
    body = sent(kling_key_conn, run(op))
    assert body["settings"] == {"future_knob": 1, "duration": 6}  # merged into settings{}
    assert body["future_top"] == {"a": 1}  # at the top, next to the provider's keys
    assert body["prompt"] == "a kite"


# ---------------------------------------------------------------------------- design mismatches


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"mode": "pro"}, "mode"),
        ({"negative_prompt": "blur"}, "negative_prompt"),
        ({"cfg_scale": 0.5}, "cfg_scale"),
        ({"sound": "on"}, "sound"),
        ({"camera_control": {"type": "forward_up"}}, "camera_control"),
        ({"shot_type": "intelligence"}, "shot_type"),
    ],
)
def test_a_legacy_argument_with_a_new_design_model_fails_before_sending(
    kling_key_conn: EmulatorServer, arguments: dict[str, Any], field: str
) -> None:
    op = TextToVideoOperator(
        task_id="t2v", prompt="a kite", model_name="{{ params.m }}", **arguments, **fast()
    )
    op.render_template_fields({"params": {"m": "kling-3.0"}})
    with pytest.raises(KlingValidationError, match=f"{field}: only the legacy design") as error:
        run(op)
    assert "kling-3.0 uses the new design" in str(error.value)
    assert kling_key_conn.emulator.stats.requests == 0


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"resolution": "1080p"}, "resolution"),
        ({"audio": "native"}, "audio"),
        ({"extra_settings": {"a": 1}}, "extra_settings"),
    ],
)
def test_a_new_design_argument_with_a_legacy_model_fails_before_sending(
    kling_key_conn: EmulatorServer, arguments: dict[str, Any], field: str
) -> None:
    op = ImageToVideoOperator(task_id="i2v", image=IMG, model_name="kling-v3", **arguments, **fast())
    with pytest.raises(KlingValidationError, match=f"{field}: only the new design") as error:
        run(op)
    assert "kling-v3 uses the legacy design" in str(error.value)
    assert kling_key_conn.emulator.stats.requests == 0


def test_the_default_model_is_legacy_so_new_arguments_fail(kling_key_conn: EmulatorServer) -> None:
    op = TextToVideoOperator(task_id="t2v", prompt="a kite", resolution="1080p", **fast())
    with pytest.raises(
        KlingValidationError, match=r"resolution: only the new design.*default model kling-v1"
    ):
        run(op)


@pytest.mark.parametrize(
    ("operator", "arguments", "field"),
    [
        (
            TextToVideoOperator,
            {"prompt": "p", "element_list": [{"element_id": "e", "id": "x"}]},
            "element_list",
        ),
        (TextToVideoOperator, {"prompt": "p", "voice_list": [{"voice_id": "v", "id": "x"}]}, "voice_list"),
        (ImageToVideoOperator, {"image": IMG, "static_mask": IMG}, "static_mask"),
        (ImageToVideoOperator, {"image": IMG, "dynamic_masks": [{"mask": IMG}]}, "dynamic_masks"),
    ],
)
def test_an_argument_the_new_family_lacks_is_never_dropped_silently(
    kling_key_conn: EmulatorServer, operator: Any, arguments: dict[str, Any], field: str
) -> None:
    op = operator(task_id="op", model_name="kling-3.0", **arguments, **fast())
    with pytest.raises(KlingValidationError, match=f"{field}: ") as error:
        run(op)
    assert "new design" in str(error.value)
    assert "legacy design" in str(error.value)  # names the design that has the field
    assert kling_key_conn.emulator.stats.requests == 0


def test_a_model_rule_fails_before_sending(kling_key_conn: EmulatorServer) -> None:
    op = TextToVideoOperator(
        task_id="t2v", prompt="p", model_name="kling-3.0-turbo", audio="native", **fast()
    )
    with pytest.raises(KlingValidationError, match=r"audio: kling-3\.0-turbo has no audio setting"):
        run(op)
    assert kling_key_conn.emulator.stats.requests == 0


def test_a_jwt_connection_with_a_new_design_model_fails_before_sending(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KLING_DEFAULT", conn_json(emulator.url))  # access key + secret key
    op = TextToVideoOperator(task_id="t2v", prompt="p", model_name="kling-3.0-turbo", **fast())
    with pytest.raises(KlingValidationError, match="API key only"):
        run(op)
    assert emulator.emulator.stats.requests == 0
    # The same connection and operator class still run a legacy model.
    assert (
        run(TextToVideoOperator(task_id="t2v", prompt="p", model_name="kling-v3", **fast()))["status"]
        == "succeed"
    )


# ---------------------------------------------------------------------------- each family on the wire


def test_image_to_video_maps_image_and_image_tail_to_frames(kling_key_conn: EmulatorServer) -> None:
    op = ImageToVideoOperator(
        task_id="i2v",
        prompt="@hero turns",
        image=IMG,
        image_tail=LAST,
        model_name="kling-3.0",
        element_list=[{"element_id": "e-1", "id": "hero"}],
        duration=6,
        resolution="1080p",
        audio="native",
        multi_shot=False,
        **fast(),
    )
    result = run(op)
    assert routes(kling_key_conn) == {"POST /image-to-video/{model}": 1}
    assert sent(kling_key_conn, result) == {
        "contents": [
            {"type": "prompt", "text": "@hero turns"},
            {"type": "first_frame", "url": IMG},
            {"type": "last_frame", "url": LAST},
            {"type": "element", "element_id": "e-1", "id": "hero"},
        ],
        "settings": {"resolution": "1080p", "audio": "native", "duration": 6, "multi_shot": False},
        "options": {"external_task_id": result["external_task_id"]},
    }
    assert result["api_design"] == "new" and result["videos"][0]["duration"] == "6.0"


def test_image_to_video_errors_name_the_operator_arguments(kling_key_conn: EmulatorServer) -> None:
    def error_of(**arguments: Any) -> str:
        op = ImageToVideoOperator(task_id="i2v", model_name="kling-3.0", **arguments, **fast())
        with pytest.raises(KlingValidationError) as error:
            run(op)
        return str(error.value)

    text = error_of(image_tail=LAST)
    assert "image (first_frame): image-to-video needs a first frame" in text
    assert "image_tail (last_frame): needs a first_frame" in text
    # The new design needs an id per element (the prompt's @id).
    assert "element_list (elements).0.id: Field required" in error_of(
        image=IMG, element_list=[{"element_id": "e"}]
    )
    assert kling_key_conn.emulator.stats.requests == 0


def test_image_to_video_legacy_model_keeps_image_and_string_duration(kling_key_conn: EmulatorServer) -> None:
    result = run(
        ImageToVideoOperator(task_id="i2v", image=IMG, model_name="kling-v2-6", duration=5, **fast())
    )
    assert routes(kling_key_conn) == {"POST /v1/videos/image2video": 1}
    body = sent(kling_key_conn, result)
    assert body["image"] == IMG and body["duration"] == "5" and body["model_name"] == "kling-v2-6"


def test_omni_edit_of_a_base_video(kling_key_conn: EmulatorServer) -> None:
    op = OmniVideoOperator(
        task_id="omni",
        prompt="make @clip rainy",
        base_video={"url": VID, "id": "clip"},
        audio="original",
        resolution="1080p",
        **fast(),
    )
    result = run(op)
    assert routes(kling_key_conn) == {"POST /omni-video/{model}": 1}
    assert sent(kling_key_conn, result) == {
        "contents": [
            {"type": "prompt", "text": "make @clip rainy"},
            {"type": "base_video", "url": VID, "id": "clip"},
        ],
        "settings": {"resolution": "1080p", "audio": "original"},
        "options": {"external_task_id": result["external_task_id"]},
    }
    assert set(result) == LEGACY_KEYS and result["status"] == "succeed"


def test_omni_rules_fail_before_sending(kling_key_conn: EmulatorServer) -> None:
    op = OmniVideoOperator(
        task_id="omni", prompt="p", base_video=VID, multi_shot=True, audio="native", **fast()
    )
    with pytest.raises(KlingValidationError) as error:
        run(op)
    assert "multi_shot: not with a base_video" in str(error.value)
    assert "audio: a base_video edit takes 'original' or 'off'" in str(error.value)
    assert kling_key_conn.emulator.stats.requests == 0


def test_omni_o1_from_reference_images(kling_key_conn: EmulatorServer) -> None:
    op = OmniVideoOperator(
        task_id="omni",
        prompt="{{ params.p }}",
        model_name="kling-o1",
        reference_images="{{ params.refs }}",  # a rendered list
        aspect_ratio="1:1",
        duration=7,
        **fast(),
    )
    op.render_template_fields({"params": {"p": "a still life", "refs": [IMG, LAST]}})
    result = run(op)
    assert kling_key_conn.emulator.stats.by_route["POST /omni-video/{model}"] == 1
    body = sent(kling_key_conn, result)
    assert body["contents"][1:] == [{"type": "refer_image", "url": IMG}, {"type": "refer_image", "url": LAST}]
    assert body["settings"] == {"aspect_ratio": "1:1", "duration": 7}


def test_motion_control(kling_key_conn: EmulatorServer) -> None:
    op = MotionControlOperator(
        task_id="motion",
        image=IMG,
        video=VID,
        character_orientation="video",
        element={"element_id": "e-2", "id": "me"},
        resolution="1080p",
        **fast(),
    )
    result = run(op)
    assert routes(kling_key_conn) == {"POST /motion-control/{model}": 1}
    assert sent(kling_key_conn, result)["contents"] == [
        {"type": "image", "url": IMG},
        {"type": "video", "url": VID},
        {"type": "element", "element_id": "e-2", "id": "me"},
    ]
    assert sent(kling_key_conn, result)["settings"] == {
        "resolution": "1080p",
        "character_orientation": "video",
    }
    assert result["status"] == "succeed" and result["api_design"] == "new"


def test_motion_control_needs_orientation_before_sending(kling_key_conn: EmulatorServer) -> None:
    with pytest.raises(KlingValidationError, match="character_orientation: is required"):
        run(MotionControlOperator(task_id="motion", image=IMG, video=VID, **fast()))
    assert kling_key_conn.emulator.stats.requests == 0


# ---------------------------------------------------------------------------- deferrable


def test_deferrable_new_design_run_waits_on_the_new_kind(kling_key_conn: EmulatorServer) -> None:
    op = TextToVideoOperator(
        task_id="t2v", prompt="a kite", model_name="kling-3.0-turbo", poll_interval=0.1, deferrable=True
    )
    ti = RecordingTI(task_id="t2v")
    event, trigger = run_deferred(op, {"ti": ti})
    assert trigger.serialize()[1]["kind"] == "text-to-video"  # stored under 0.1.0's key
    result = op.execute_complete({"ti": ti}, event)
    assert result["status"] == "succeed" and result["api_design"] == "new"
    assert ti.xcom["kling_task_id"] == result["task_id"]
    assert kling_key_conn.emulator.stats.by_route["GET /tasks"] >= 1
    assert "GET /v1/videos/text2video/{ident}" not in kling_key_conn.emulator.stats.by_route
