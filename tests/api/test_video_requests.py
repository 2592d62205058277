"""Video request rules: every field, the per-model rules, forward compatibility.

Contract: docs/kling-api.md#video-requests and docs/kling-api.md#video-models.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_kling.api.video import ImageToVideoRequest, TextToVideoRequest
from airflow_provider_kling.exceptions import KlingValidationError
from tests.conftest import load_fixture

IMAGE = "https://cdn.example/first.png"
TAIL = "https://cdn.example/last.png"


def t2v(**fields: Any) -> dict[str, Any]:
    fields.setdefault("prompt", "a lighthouse at dusk")
    return TextToVideoRequest.build(**fields).to_payload()


def i2v(**fields: Any) -> dict[str, Any]:
    return ImageToVideoRequest.build(**fields).to_payload()


def refused(match: str, build: Any = t2v, **fields: Any) -> str:
    with pytest.raises(KlingValidationError, match=match) as info:
        build(**fields)
    return str(info.value)


class TestTheIssuesFailures:
    """Each of these was refused before any request in issue 12."""

    def test_the_official_kling_v3_request_goes_out_unchanged(self) -> None:
        body = load_fixture("t2v-v3-submit-request.json")
        assert TextToVideoRequest.build(**body).to_payload() == body  # duration "8", sound, watermark

    def test_kling_v3_takes_3_to_15_seconds(self) -> None:
        assert [t2v(model_name="kling-v3", duration=d)["duration"] for d in ("3", 8, "15")] == [
            "3",
            "8",
            "15",
        ]
        refused(r"duration: Input should be '3', '4'", model_name="kling-v3", duration="16")
        refused(r"duration: Input should be", model_name="kling-v3", duration="2")

    def test_new_fields_are_sent(self) -> None:
        payload = t2v(
            model_name="kling-v3",
            negative_prompt="blurry",
            cfg_scale=0.3,
            sound="on",
            mode="4k",
            watermark_info={"enabled": True},
            camera_control={"type": "simple", "config": {"zoom": -4}},
        )
        assert payload["negative_prompt"] == "blurry" and payload["cfg_scale"] == 0.3
        assert payload["sound"] == "on" and payload["mode"] == "4k"
        assert payload["watermark_info"] == {"enabled": True}
        assert payload["camera_control"] == {
            "type": "simple",
            "config": {"horizontal": 0, "vertical": 0, "pan": 0, "tilt": 0, "roll": 0, "zoom": -4},
        }

    def test_image_to_video_with_only_a_last_frame(self) -> None:
        assert i2v(image_tail=TAIL, model_name="kling-v3") == {"image_tail": TAIL, "model_name": "kling-v3"}


class TestPerModelRules:
    @pytest.mark.parametrize("model", ["kling-v1", "kling-v1-6", "kling-v2-master", "kling-v2-5-turbo", None])
    def test_models_before_kling_v3_take_5_or_10_seconds(self, model: str | None) -> None:
        assert t2v(model_name=model, duration="10")["duration"] == "10"
        refused(
            r"duration: kling-v\S+( \(the default model\))? takes '5' / '10', not '7'",
            model_name=model,
            duration="7",
        )

    def test_kling_v2_6_takes_5_or_10_seconds(self) -> None:
        assert t2v(model_name="kling-v2-6", duration=10)["duration"] == "10"
        refused(r"duration: kling-v2-6 takes '5' / '10', not '8'", model_name="kling-v2-6", duration="8")

    def test_kling_v2_6_makes_sound_in_pro_only(self) -> None:
        assert t2v(model_name="kling-v2-6", sound="on", mode="pro")["sound"] == "on"
        assert t2v(model_name="kling-v2-6", sound="off")["sound"] == "off"
        refused(r"sound: kling-v2-6 makes sound in mode 'pro' only", model_name="kling-v2-6", sound="on")
        refused(r"sound: kling-v2-6 makes sound", model_name="kling-v2-6", sound="on", mode="std")

    @pytest.mark.parametrize("model", ["kling-v2-6", "kling-v1-6", None])
    def test_4k_is_kling_v3_only(self, model: str | None) -> None:
        refused(
            r"mode: kling-v\S+( \(the default model\))? takes 'std' / 'pro', not '4k'",
            model_name=model,
            mode="4k",
        )

    def test_sound_needs_kling_v2_6_or_newer(self) -> None:
        refused(r"sound: kling-v1-6 makes silent videos only", model_name="kling-v1-6", sound="on")
        refused(r"sound: kling-v1 \(the default model\) makes silent videos only", sound="on")
        assert t2v(model_name="kling-v1-6", sound="off")["sound"] == "off"

    @pytest.mark.parametrize("model", ["kling-v2-master", "kling-v2-1", "kling-v2-5-turbo", "kling-v2-6"])
    def test_kling_v2_models_do_not_take_cfg_scale(self, model: str) -> None:
        refused(rf"cfg_scale: {model} does not support cfg_scale", model_name=model, cfg_scale=0.5)

    def test_kling_v2_6_first_and_last_frame_is_pro_and_silent(self) -> None:
        ok = i2v(model_name="kling-v2-6", image=IMAGE, image_tail=TAIL, mode="pro")
        assert ok["image_tail"] == TAIL
        refused(
            r"image_tail: kling-v2-6 makes first\+last frame videos in mode 'pro' without sound",
            i2v,
            model_name="kling-v2-6",
            image=IMAGE,
            image_tail=TAIL,
        )

    def test_kling_v2_6_voice_control_is_pro_only(self) -> None:
        voices = [{"voice_id": "v1"}]
        assert i2v(model_name="kling-v2-6", image=IMAGE, sound="on", mode="pro", voice_list=voices)[
            "voice_list"
        ]
        refused(
            r"voice_list: kling-v2-6 supports voice control in mode 'pro' only",
            i2v,
            model_name="kling-v2-6",
            image=IMAGE,
            sound="on",
            mode="std",
            voice_list=voices,
        )

    def test_an_unknown_model_gets_the_generic_rules_only(self) -> None:
        payload = t2v(model_name="kling-v4-preview", duration="7", mode="4k", sound="on", cfg_scale=0.5)
        assert payload["model_name"] == "kling-v4-preview" and payload["duration"] == "7"
        refused(r"duration: Input should be", model_name="kling-v4-preview", duration="20")
        refused(r"mode: Input should be 'std', 'pro' or '4k'", model_name="kling-v4-preview", mode="8k")


class TestCameraControl:
    @pytest.mark.parametrize("preset", ["down_back", "forward_up", "right_turn_forward", "left_turn_forward"])
    def test_presets_take_no_config(self, preset: str) -> None:
        assert t2v(camera_control={"type": preset})["camera_control"] == {"type": preset}
        refused(
            rf"camera_control: config is only allowed with type 'simple', not '{preset}'",
            camera_control={"type": preset, "config": {"pan": 1}},
        )

    def test_simple_needs_exactly_one_axis_in_range(self) -> None:
        refused(r"camera_control: type 'simple' needs a config", camera_control={"type": "simple"})
        refused(
            r"camera_control.config: exactly one of .* must be non-zero \(got \['pan', 'zoom'\]\)",
            camera_control={"type": "simple", "config": {"pan": 1, "zoom": 2}},
        )
        refused(r"must be non-zero \(got none\)", camera_control={"type": "simple", "config": {}})
        refused(
            r"camera_control.config.tilt: Input should be less than or equal to 10",
            camera_control={"type": "simple", "config": {"tilt": 11}},
        )
        refused(
            r"camera_control.config.spin: Extra inputs",
            camera_control={"type": "simple", "config": {"spin": 1}},
        )

    def test_unknown_type_is_refused(self) -> None:
        refused(r"camera_control.type: Input should be 'simple'", camera_control={"type": "orbit"})

    def test_a_rendered_template_is_parsed(self) -> None:
        payload = t2v(camera_control="{'type': 'simple', 'config': {'roll': 3}}")  # Jinja's repr of a dict
        assert payload["camera_control"]["config"]["roll"] == 3


class TestMultiShot:
    SHOTS = [
        {"index": 1, "prompt": "wide shot", "duration": "2"},
        {"index": 2, "prompt": "close-up", "duration": 3},
    ]

    def test_customize_shots_replace_the_prompt_and_add_up_to_the_duration(self) -> None:
        payload = TextToVideoRequest.build(
            model_name="kling-v3",
            multi_shot=True,
            shot_type="customize",
            multi_prompt=self.SHOTS,
            duration="5",
        ).to_payload()
        assert "prompt" not in payload
        assert [s["duration"] for s in payload["multi_prompt"]] == ["2", "3"]
        refused(
            r"multi_prompt: the shots' durations add up to 5 s, not the duration 8 s",
            model_name="kling-v3",
            multi_shot=True,
            shot_type="customize",
            multi_prompt=self.SHOTS,
            duration="8",
        )

    def test_intelligence_splits_the_prompt(self) -> None:
        assert (
            t2v(model_name="kling-v3", multi_shot=True, shot_type="intelligence")["shot_type"]
            == "intelligence"
        )
        refused(
            r"multi_prompt: only with shot_type 'customize'",
            model_name="kling-v3",
            multi_shot=True,
            shot_type="intelligence",
            multi_prompt=self.SHOTS,
        )

    def test_shot_rules(self) -> None:
        refused(r"shot_type: multi_shot=True needs shot_type", model_name="kling-v3", multi_shot=True)
        refused(
            r"multi_prompt: shot_type 'customize' needs 1-6 shots",
            model_name="kling-v3",
            multi_shot=True,
            shot_type="customize",
        )
        refused(r"shot_type / multi_prompt: only with multi_shot=True", shot_type="customize")
        seven = [{"prompt": "s", "duration": "1"}] * 7
        refused(
            r"multi_prompt: List should have at most 6 items",
            model_name="kling-v3",
            multi_shot=True,
            shot_type="customize",
            multi_prompt=seven,
            duration="7",
        )
        refused(
            r"multi_prompt.0.prompt: String should have at most 512 characters",
            model_name="kling-v3",
            multi_shot=True,
            shot_type="customize",
            multi_prompt=[{"prompt": "x" * 513, "duration": "5"}],
        )
        refused(
            r"multi_prompt.0.duration: String should match pattern",
            model_name="kling-v3",
            multi_shot=True,
            shot_type="customize",
            multi_prompt=[{"prompt": "x", "duration": "0"}, {"prompt": "y", "duration": "5"}],
        )

    def test_prompt_is_required_otherwise(self) -> None:
        refused(r"prompt: is required \(unless multi_shot with shot_type 'customize'\)", prompt=None)
        refused(
            r"prompt: is required",
            prompt="",
            model_name="kling-v3",
            multi_shot=True,
            shot_type="intelligence",
        )

    @pytest.mark.parametrize("model", ["kling-v2-6", "kling-v1-6", None])
    def test_multi_shot_is_kling_v3_only(self, model: str | None) -> None:
        shots = dict(multi_shot=True, shot_type="intelligence", prompt="p")
        assert i2v(model_name="kling-v3", image=IMAGE, image_tail=TAIL, **shots)["multi_shot"] is True
        refused(
            r"multi_shot: kling-v\S+( \(the default model\))? does not support multi_shot",
            model_name=model,
            **shots,
        )
        assert t2v(model_name="kling-v4-preview", **shots)["multi_shot"] is True  # unknown: Kling decides


class TestElementsAndVoices:
    def test_limits_and_exclusion(self) -> None:
        elements = [{"element_id": 7}, {"element_id": "829562094"}]  # sent as given: number or text
        assert i2v(image=IMAGE, element_list=elements)["element_list"] == elements
        refused(
            r"element_list: List should have at most 3 items",
            i2v,
            image=IMAGE,
            element_list=[{"element_id": str(i)} for i in range(4)],
        )
        refused(
            r"voice_list: List should have at most 2 items",
            i2v,
            image=IMAGE,
            sound="on",
            model_name="kling-v3",
            voice_list=[{"voice_id": str(i)} for i in range(3)],
        )
        refused(
            r"element_list / voice_list: give one or the other",
            i2v,
            image=IMAGE,
            sound="on",
            model_name="kling-v3",
            element_list=[{"element_id": "1"}],
            voice_list=[{"voice_id": "2"}],
        )

    def test_a_voice_needs_sound(self) -> None:
        refused(
            r"voice_list: needs sound='on'",
            i2v,
            image=IMAGE,
            model_name="kling-v3",
            voice_list=[{"voice_id": "v"}],
        )


class TestImageToVideo:
    def test_needs_an_image_or_a_tail(self) -> None:
        refused(r"image / image_tail: give at least one of the two", i2v, prompt="p")
        refused(r"image / image_tail: give at least one", i2v, image="", image_tail=" ")

    def test_tail_masks_and_camera_exclude_each_other(self) -> None:
        mask = [{"mask": "https://cdn.example/m.png", "trajectories": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]}]
        camera = {"type": "down_back"}
        assert i2v(image=IMAGE, dynamic_masks=mask)["dynamic_masks"] == mask
        assert i2v(image=IMAGE, camera_control=camera)["camera_control"] == camera
        refused(
            r"image_tail / camera_control: image_tail, masks and camera_control exclude each other",
            i2v,
            image=IMAGE,
            image_tail=TAIL,
            camera_control=camera,
        )
        refused(
            r"static_mask/dynamic_masks / camera_control: ",
            i2v,
            image=IMAGE,
            static_mask="https://cdn.example/s.png",
            camera_control=camera,
        )
        refused(
            r"image_tail / static_mask/dynamic_masks: ", i2v, image=IMAGE, image_tail=TAIL, dynamic_masks=mask
        )

    def test_mask_rules(self) -> None:
        refused(
            r"dynamic_masks.0.trajectories: List should have at least 2 items",
            i2v,
            image=IMAGE,
            dynamic_masks=[{"mask": "m", "trajectories": [{"x": 1, "y": 1}]}],
        )
        long_path = [{"x": i, "y": i} for i in range(78)]
        refused(
            r"dynamic_masks.0.trajectories: at most 77 points for a 5 s video",
            i2v,
            image=IMAGE,
            dynamic_masks=[{"mask": "m", "trajectories": long_path}],
        )
        refused(
            r"dynamic_masks: List should have at most 6 items",
            i2v,
            image=IMAGE,
            dynamic_masks=[{"mask": "m", "trajectories": long_path[:2]}] * 7,
        )

    def test_images_are_urls_or_raw_base64(self) -> None:
        assert i2v(image="iVBORw0KGgo=")["image"] == "iVBORw0KGgo="
        refused(
            r"image: send raw Base64 or a URL, without a 'data:...;base64,' prefix",
            i2v,
            image="data:image/png;base64,iVBORw0KGgo=",
        )
        refused(
            r"image_tail: a Base64 image must decode to at most 10 MB", i2v, image_tail="A" * (14 * 1024**2)
        )

    def test_aspect_ratio_is_text_to_video_only(self) -> None:
        assert t2v(aspect_ratio="9:16")["aspect_ratio"] == "9:16"
        refused(r"aspect_ratio: Extra inputs are not permitted", i2v, image=IMAGE, aspect_ratio="9:16")


class TestWatermarkAndGenericRanges:
    def test_watermark_info_is_enabled_only(self) -> None:
        assert t2v(watermark_info='{"enabled": false}')["watermark_info"] == {"enabled": False}
        refused(
            r"watermark_info.text: Extra inputs are not permitted",
            watermark_info={"enabled": True, "text": "x"},
        )
        refused(r"watermark_info.enabled: Field required", watermark_info={})

    @pytest.mark.parametrize("value", [-0.1, 1.1, "nan"])
    def test_cfg_scale_is_0_to_1(self, value: Any) -> None:
        refused(r"cfg_scale: Input should be", cfg_scale=value)

    def test_texts_are_at_most_2500_characters(self) -> None:
        refused(r"prompt: String should have at most 2500 characters", prompt="x" * 2501)
        refused(r"negative_prompt: String should have at most 2500 characters", negative_prompt="x" * 2501)

    def test_sound_is_on_or_off(self) -> None:
        refused(r"sound: Input should be 'on' or 'off'", sound="loud")

    def test_every_broken_rule_is_named_at_once(self) -> None:
        message = refused(r"duration", model_name="kling-v2-6", duration="8", sound="on", cfg_scale=0.5)
        assert "sound: kling-v2-6" in message and "cfg_scale: kling-v2-6" in message


class TestExtraBody:
    def test_carries_parameters_newer_than_the_provider(self) -> None:
        payload = t2v(model_name="kling-v3", extra_body={"resolution_hint": "2k", "seed": 7})
        assert (
            payload["resolution_hint"] == "2k"
            and payload["seed"] == 7
            and payload["model_name"] == "kling-v3"
        )

    def test_a_rendered_json_text_is_parsed(self) -> None:
        assert t2v(extra_body='{"seed": 3, "tags": ["a"]}')["tags"] == ["a"]
        assert "extra_body" not in t2v(extra_body="")

    @pytest.mark.parametrize("key", ["duration", "prompt", "external_task_id", "callback_url", "model_name"])
    def test_cannot_override_the_providers_fields(self, key: str) -> None:
        refused(
            rf"extra_body.{key}: {key} is set by the provider \(use the {key} argument\)",
            extra_body={key: "x"},
        )

    def test_must_be_a_json_object(self) -> None:
        refused(
            r"extra_body: must be JSON \(or a Python literal\); the rendered text is neither",
            extra_body="{seed: }",
        )
        refused(r"extra_body: Input should be a valid dictionary", extra_body="[1, 2]")
        refused(r"extra_body: must be valid JSON", extra_body={"seed": float("nan")})
        refused(r"extra_body: must be valid JSON", extra_body={"when": object()})

    def test_image_fields_are_the_providers_too(self) -> None:
        refused(
            r"extra_body.image_tail: image_tail is set by the provider",
            i2v,
            image=IMAGE,
            extra_body={"image_tail": TAIL},
        )
