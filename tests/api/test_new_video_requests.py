"""New-design request models: every rule per path model, the payload, the design routing.

Contract: docs/kling-api.md#api-designs and docs/kling-api.md#new-design. Every refusal names the
field and the rule; every rule has an accepted neighbour, so a rule that refused everything would
fail here too.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_kling.api.designs import design_of, misplaced_arguments, path_model_problem
from airflow_provider_kling.api.kinds import get_kind
from airflow_provider_kling.api.new_video import (
    MotionControlRequest,
    NewImageToVideoRequest,
    NewTextToVideoRequest,
    OmniVideoRequest,
)
from airflow_provider_kling.exceptions import KlingValidationError

IMG = "https://cdn.example/first.png"
LAST = "https://cdn.example/last.png"
VID = "https://cdn.example/clip.mp4"


def t2v(**fields: Any) -> dict[str, Any]:
    fields.setdefault("model_name", "kling-3.0")
    fields.setdefault("prompt", "a kite over the sea")
    return NewTextToVideoRequest.build(**fields).to_payload()


def i2v(**fields: Any) -> dict[str, Any]:
    fields.setdefault("model_name", "kling-3.0")
    fields.setdefault("first_frame", IMG)
    return NewImageToVideoRequest.build(**fields).to_payload()


def omni(**fields: Any) -> dict[str, Any]:
    fields.setdefault("prompt", "the same street at night")
    return OmniVideoRequest.build(**fields).to_payload()


def motion(**fields: Any) -> dict[str, Any]:
    fields.setdefault("image", IMG)
    fields.setdefault("video", VID)
    fields.setdefault("character_orientation", "video")
    return MotionControlRequest.build(**fields).to_payload()


def refused(build: Any, match: str, **fields: Any) -> str:
    with pytest.raises(KlingValidationError, match=match) as info:
        build(**fields)
    return str(info.value)


# ---------------------------------------------------------------------------- routing


@pytest.mark.parametrize(
    ("model", "design"),
    [
        (None, "legacy"),  # Kling's default, kling-v1
        ("", "legacy"),
        ("kling-v1", "legacy"),
        ("kling-v2-6", "legacy"),
        ("kling-v3", "legacy"),
        ("kling-v4-turbo", "legacy"),  # unknown kling-v...: legacy
        ("kling-2.5-turbo", "new"),
        ("kling-2.6", "new"),
        ("kling-3.0", "new"),
        ("kling-3.0-turbo", "new"),
        ("kling-3.0-omni", "new"),
        ("kling-o1", "new"),
        ("kling-3.5", "new"),  # unknown, path style
        ("kling-4.0-turbo", "new"),
        ("some-other-model", "legacy"),  # neither: legacy, Kling decides
    ],
)
def test_the_design_follows_the_model_name(model: str | None, design: str) -> None:
    assert design_of(model) == design


@pytest.mark.parametrize("model", ["kling-3.0/../v1", "kling 3.0", "kling-3.0?x=1", "..", "-x"])
def test_a_path_model_is_one_safe_path_segment(model: str) -> None:
    assert path_model_problem(model)
    message = refused(t2v, "model_name: must be one path segment", model_name=model)
    assert "URL path" in message


@pytest.mark.parametrize("build", [t2v, i2v, omni, motion])
def test_a_legacy_name_is_refused_on_a_new_design_path(build: Any) -> None:
    refused(build, "model_name: 'kling-v3-omni' is a legacy-design name", model_name="kling-v3-omni")


def test_misplaced_arguments_name_the_field_and_the_design_that_has_it() -> None:
    (new,) = misplaced_arguments("new", "kling-3.0", {"mode": "pro", "resolution": "1080p"})
    assert new.startswith("mode: only the legacy design") and "kling-3.0 uses the new design" in new
    (legacy,) = misplaced_arguments("legacy", "kling-v3", {"audio": "native", "sound": "on"})
    assert legacy.startswith("audio: only the new design") and "kling-v3 uses the legacy design" in legacy
    assert misplaced_arguments("new", "kling-3.0", {"mode": "", "cfg_scale": None}) == []


# ---------------------------------------------------------------------------- payload and route


def test_text_to_video_payload_and_route() -> None:
    payload = t2v(
        model_name="kling-3.0-turbo",
        duration="8",  # a rendered template: sent as the int the new design wants
        resolution="1080p",
        aspect_ratio="9:16",
        watermark_info={"enabled": True},
        external_task_id="ext-1",
        callback_url="https://hooks.example/kling",
    )
    assert payload == {
        "model_name": "kling-3.0-turbo",
        "prompt": "a kite over the sea",
        "settings": {"resolution": "1080p", "aspect_ratio": "9:16", "duration": 8},
        "options": {"watermark_info": {"enabled": True}},
        "external_task_id": "ext-1",
        "callback_url": "https://hooks.example/kling",
    }
    path, body = get_kind("text-to-video").submit_route(payload)
    assert path == "/text-to-video/kling-3.0-turbo"
    assert body == {
        "prompt": "a kite over the sea",
        "settings": {"resolution": "1080p", "aspect_ratio": "9:16", "duration": 8},
        "options": {
            "watermark_info": {"enabled": True},
            "external_task_id": "ext-1",
            "callback_url": "https://hooks.example/kling",
        },
    }


def test_only_given_settings_are_sent_kling_applies_its_defaults() -> None:
    assert t2v() == {"model_name": "kling-3.0", "prompt": "a kite over the sea"}


def test_image_to_video_payload_and_route() -> None:
    payload = i2v(
        prompt="@hero waves",
        last_frame={"url": LAST},
        elements='[{"element_id": "e-77", "id": "hero"}]',  # rendered JSON
        audio="native",
        multi_shot=False,
    )
    path, body = get_kind("image-to-video").submit_route(payload)
    assert path == "/image-to-video/kling-3.0"
    assert body == {
        "contents": [
            {"type": "prompt", "text": "@hero waves"},
            {"type": "first_frame", "url": IMG},
            {"type": "last_frame", "url": LAST},
            {"type": "element", "element_id": "e-77", "id": "hero"},
        ],
        "settings": {"audio": "native", "multi_shot": False},
    }


def test_omni_payload_and_route_default_model() -> None:
    payload = omni(
        reference_images=[IMG, {"url": LAST, "id": "style"}],
        feature_video={"url": VID, "id": "move"},
        audio="off",
        duration=10,
    )
    path, body = get_kind("omni-video").submit_route(payload)
    assert path == "/omni-video/kling-3.0-omni"
    assert body["contents"] == [
        {"type": "prompt", "text": "the same street at night"},
        {"type": "refer_image", "url": IMG},
        {"type": "refer_image", "url": LAST, "id": "style"},
        {"type": "feature_video", "url": VID, "id": "move"},
    ]
    assert body["settings"] == {"audio": "off", "duration": 10}


def test_motion_payload_and_route_default_model() -> None:
    payload = motion(prompt="dance", element={"element_id": "e1", "id": "me"}, audio="off")
    path, body = get_kind("motion-control").submit_route(payload)
    assert path == "/motion-control/kling-3.0"
    assert body == {
        "contents": [
            {"type": "prompt", "text": "dance"},
            {"type": "image", "url": IMG},
            {"type": "video", "url": VID},
            {"type": "element", "element_id": "e1", "id": "me"},
        ],
        "settings": {"audio": "off", "character_orientation": "video"},
    }


# ---------------------------------------------------------------------------- extras


def test_extra_settings_and_extra_body_carry_newer_fields() -> None:
    payload = t2v(extra_settings={"camera": "dolly"}, extra_body='{"seed": 7}', duration=5)
    assert payload["settings"] == {"camera": "dolly", "duration": 5}
    assert payload["seed"] == 7
    _, body = get_kind("text-to-video").submit_route(payload)
    assert body["seed"] == 7 and body["settings"]["camera"] == "dolly"


@pytest.mark.parametrize("key", ["resolution", "audio", "aspect_ratio", "duration", "multi_shot"])
def test_extra_settings_cannot_override_a_setting_the_provider_sets(key: str) -> None:
    refused(t2v, f"extra_settings.{key}: {key} is set by the provider", extra_settings={key: 5})


def test_extra_settings_cannot_override_character_orientation() -> None:
    refused(
        motion,
        "extra_settings.character_orientation: character_orientation is set by the provider",
        extra_settings={"character_orientation": "image"},
    )


@pytest.mark.parametrize("key", ["model_name", "prompt", "contents", "settings", "options"])
def test_extra_body_cannot_set_a_body_key_the_provider_writes(key: str) -> None:
    refused(t2v, f"extra_body.{key}: {key} is set by the provider", extra_body={key: {}})


def test_extra_settings_must_be_json() -> None:
    refused(t2v, "extra_settings: must be valid JSON", extra_settings={"x": float("nan")})


# ---------------------------------------------------------------------------- text-to-video


def test_text_to_video_needs_a_prompt() -> None:
    refused(t2v, "prompt: is required", prompt="  ")


@pytest.mark.parametrize(
    ("model", "limit"),
    [("kling-2.5-turbo", 2500), ("kling-2.6", 2500), ("kling-3.0", 3072), ("kling-3.0-turbo", 3072)],
)
def test_prompt_length_per_model(model: str, limit: int) -> None:
    t2v(model_name=model, prompt="x" * limit)
    refused(
        t2v, f"prompt: {model} takes at most {limit} characters", model_name=model, prompt="x" * (limit + 1)
    )


@pytest.mark.parametrize("model", ["kling-2.5-turbo", "kling-2.6", "kling-3.0-turbo"])
def test_4k_is_kling_3_0_only(model: str) -> None:
    t2v(model_name="kling-3.0", resolution="4k")
    t2v(model_name=model, resolution="1080p")
    refused(t2v, f"resolution: {model} takes '720p' / '1080p', not '4k'", model_name=model, resolution="4k")


def test_resolution_is_an_enum() -> None:
    refused(t2v, "resolution: Input should be '720p', '1080p' or '4k'", resolution="8k")


@pytest.mark.parametrize("model", ["kling-2.5-turbo", "kling-3.0-turbo"])
def test_turbo_models_have_no_audio_switch(model: str) -> None:
    refused(t2v, f"audio: {model} has no audio setting, not 'off'", model_name=model, audio="off")


def test_text_to_video_audio_is_native_or_off() -> None:
    t2v(audio="off")
    refused(t2v, "audio: kling-3.0 takes 'native' / 'off', not 'original'", audio="original")


def test_kling_2_6_native_audio_is_1080p_only() -> None:
    t2v(model_name="kling-2.6", audio="native", resolution="1080p")
    t2v(model_name="kling-3.0", audio="native")  # no such coupling documented for 3.0
    refused(
        t2v, "resolution: kling-2.6 makes native audio in 1080p only", model_name="kling-2.6", audio="native"
    )


@pytest.mark.parametrize(("given", "sent"), [(8, 8), ("8", 8), (8.0, 8), (" 15 ", 15), (3, 3)])
def test_duration_is_sent_as_an_int(given: Any, sent: int) -> None:
    assert t2v(duration=given)["settings"]["duration"] == sent


@pytest.mark.parametrize("bad", [True, "8.5", 8.5, "eight", [8]])
def test_duration_must_be_whole_seconds(bad: Any) -> None:
    refused(t2v, "duration: must be a whole number of seconds", duration=bad)


@pytest.mark.parametrize(("model", "bad"), [("kling-2.6", 7), ("kling-2.5-turbo", 15), ("kling-3.0", 16)])
def test_duration_per_model(model: str, bad: int) -> None:
    refused(t2v, f"duration: {model} takes .* seconds, not {bad}", model_name=model, duration=bad)


def test_kling_2_6_takes_5_or_10_seconds() -> None:
    t2v(model_name="kling-2.6", duration=10)
    refused(t2v, "duration: kling-2.6 takes 5 / 10 seconds, not 6", model_name="kling-2.6", duration=6)


@pytest.mark.parametrize("model", ["kling-2.5-turbo", "kling-2.6", "kling-3.0-turbo"])
def test_multi_shot_is_kling_3_0_only(model: str) -> None:
    assert t2v(multi_shot=False)["settings"] == {"multi_shot": False}
    refused(t2v, f"multi_shot: {model} has no multi_shot setting", model_name=model, multi_shot=True)


def test_an_unknown_path_model_gets_the_generic_rules() -> None:
    payload = t2v(model_name="kling-3.5", resolution="4k", audio="native", duration=12, multi_shot=True)
    assert payload["settings"] == {"resolution": "4k", "audio": "native", "duration": 12, "multi_shot": True}
    message = refused(
        t2v, "prompt: kling-3.5 .*generic rules.* at most 3072", model_name="kling-3.5", prompt="x" * 3073
    )
    assert "not in this provider's table" in message


def test_watermark_info_is_enabled_only() -> None:
    refused(
        t2v,
        "watermark_info.url: Extra inputs are not permitted",
        watermark_info={"enabled": True, "url": "x"},
    )


# ---------------------------------------------------------------------------- image-to-video


def test_image_to_video_needs_a_first_frame() -> None:
    refused(i2v, "first_frame: image-to-video needs a first frame", first_frame=None, prompt="p")


def test_a_last_frame_alone_is_not_supported() -> None:
    refused(i2v, "last_frame: needs a first_frame", first_frame=None, last_frame=LAST)


def test_3_0_turbo_takes_a_first_frame_only() -> None:
    i2v(model_name="kling-3.0-turbo", duration=12)
    refused(
        i2v,
        "last_frame: kling-3.0-turbo takes a first frame only",
        model_name="kling-3.0-turbo",
        last_frame=LAST,
    )


@pytest.mark.parametrize("model", ["kling-2.5-turbo", "kling-2.6"])
def test_first_plus_last_frame_is_1080p_only(model: str) -> None:
    i2v(model_name=model, last_frame=LAST, resolution="1080p")
    i2v(model_name="kling-3.0", last_frame=LAST, resolution="720p")
    refused(
        i2v,
        f"resolution: {model} makes first\\+last frame videos in 1080p only",
        model_name=model,
        last_frame=LAST,
    )


@pytest.mark.parametrize("model", ["kling-2.5-turbo", "kling-2.6", "kling-3.0", "kling-3.0-turbo"])
def test_image_to_video_has_no_aspect_ratio(model: str) -> None:
    refused(i2v, f"aspect_ratio: {model} has no aspect_ratio setting", model_name=model, aspect_ratio="1:1")


def test_image_to_video_3_0_prompt_up_to_3072_turbo_2500() -> None:
    i2v(prompt="x" * 3072)
    refused(
        i2v, "prompt: kling-3.0-turbo takes at most 2500", model_name="kling-3.0-turbo", prompt="x" * 2501
    )


def test_elements_up_to_3_on_kling_3_0_none_on_2_6() -> None:
    three = [{"element_id": f"e{i}", "id": f"x{i}"} for i in range(3)]
    i2v(elements=three)
    refused(
        i2v, "elements: kling-3.0 takes at most 3, not 4", elements=[*three, {"element_id": 9, "id": "x9"}]
    )
    refused(i2v, "elements: kling-2.6 takes no elements", model_name="kling-2.6", elements=three[:1])


def test_an_element_needs_its_id() -> None:
    refused(i2v, "elements.0.id: Field required", elements=[{"element_id": "e1"}])


def test_voices_on_kling_2_6_need_native_audio() -> None:
    voices = [{"voice_id": "v1", "id": "a"}, {"voice_id": "v2", "id": "b"}]
    payload = i2v(model_name="kling-2.6", voices=voices, audio="native", resolution="1080p")
    assert payload["contents"][-1] == {"type": "voice", "voice_id": "v2", "id": "b"}
    refused(i2v, "audio: a voice needs audio='native'", model_name="kling-2.6", voices=voices[:1])
    refused(i2v, "voices: kling-3.0 takes no voices", voices=voices[:1], audio="native")
    too_many = [*voices, {"voice_id": "v3", "id": "c"}]
    refused(
        i2v,
        "voices: kling-2.6 takes at most 2, not 3",
        model_name="kling-2.6",
        voices=too_many,
        audio="native",
    )


def test_content_ids_are_unique() -> None:
    refused(
        i2v,
        "elements.0.id: 'x' is already the id of first_frame",
        first_frame={"url": IMG, "id": "x"},
        elements=[{"element_id": "e", "id": "x"}],
    )


def test_frames_are_a_url_or_raw_base64() -> None:
    assert i2v(first_frame="aGVsbG8=")["contents"][0] == {"type": "first_frame", "url": "aGVsbG8="}
    refused(i2v, "first_frame.url: send raw Base64 or a URL", first_frame="data:image/png;base64,aGVsbG8=")


# ---------------------------------------------------------------------------- omni video


def test_omni_reference_images_at_most_7_or_4_with_a_video() -> None:
    images = [f"https://cdn.example/{i}.png" for i in range(8)]
    omni(reference_images=images[:7], aspect_ratio="16:9")
    omni(reference_images=images[:4], feature_video=VID, audio="off")
    refused(omni, "reference_images: at most 7 without a reference video, not 8", reference_images=images)
    refused(
        omni,
        "reference_images: at most 4 with a reference video, not 5",
        reference_images=images[:5],
        base_video=VID,
    )


def test_omni_one_video_at_most() -> None:
    refused(omni, "feature_video / base_video: at most one video", feature_video=VID, base_video=VID)


def test_a_feature_video_means_audio_off() -> None:
    omni(feature_video=VID, audio="off")
    refused(
        omni,
        "audio: a feature_video reference needs audio 'off', not 'original'",
        feature_video=VID,
        audio="original",
    )


def test_a_base_video_edit_rules() -> None:
    omni(base_video=VID, audio="original", multi_shot=False)
    refused(omni, "first_frame / last_frame: not with a base_video", base_video=VID, first_frame=IMG)
    refused(omni, "multi_shot: not with a base_video", base_video=VID, multi_shot=True)
    refused(
        omni,
        "audio: a base_video edit takes 'original' or 'off', not 'native'",
        base_video=VID,
        audio="native",
    )


def test_omni_aspect_ratio_required_without_first_frame_and_video() -> None:
    omni(first_frame=IMG)
    omni(base_video=VID)
    omni(aspect_ratio="1:1")
    refused(omni, "aspect_ratio: is required when there is no first_frame and no reference video")


def test_omni_videos_are_urls_only() -> None:
    refused(omni, "base_video.url: a video is sent as an http\\(s\\) URL only", base_video="AAAA")


def test_omni_needs_something_to_work_from() -> None:
    refused(omni, "prompt: is required", prompt=None, aspect_ratio="16:9")


def test_kling_o1_rules() -> None:
    omni(model_name="kling-o1", first_frame=IMG, duration=10, audio="original", resolution="1080p")
    omni(model_name="kling-o1", first_frame=IMG, last_frame=LAST, duration=7)  # not a first frame alone
    o1 = {"model_name": "kling-o1", "first_frame": IMG}
    refused(omni, "duration: kling-o1 with a first frame alone takes 5 / 10 seconds, not 7", duration=7, **o1)
    refused(
        omni, "duration: kling-o1 takes 3..10 \\(int\\) seconds, not 11", duration=11, last_frame=LAST, **o1
    )
    refused(omni, "audio: kling-o1 takes 'original' / 'off', not 'native'", audio="native", **o1)
    refused(omni, "resolution: kling-o1 takes '720p' / '1080p', not '4k'", resolution="4k", **o1)
    refused(omni, "multi_shot: kling-o1 has no multi_shot setting", multi_shot=True, **o1)


def test_omni_3_0_takes_4k_15_seconds_and_native_audio() -> None:
    payload = omni(first_frame=IMG, resolution="4k", duration=15, audio="native", multi_shot=True)
    assert payload["settings"] == {"resolution": "4k", "audio": "native", "duration": 15, "multi_shot": True}


def test_omni_elements_up_to_3() -> None:
    four = [{"element_id": f"e{i}", "id": f"x{i}"} for i in range(4)]
    omni(first_frame=IMG, elements=four[:3])
    refused(omni, "elements: kling-3.0-omni takes at most 3, not 4", first_frame=IMG, elements=four)


# ---------------------------------------------------------------------------- motion control


def test_motion_needs_image_video_and_orientation() -> None:
    message = refused(
        motion,
        "image: motion control needs the character image",
        image=None,
        video=None,
        character_orientation=None,
    )
    assert "video: motion control needs the motion video" in message
    assert "character_orientation: is required ('image' or 'video')" in message


def test_motion_has_no_duration_and_no_aspect_ratio() -> None:
    refused(motion, "duration: kling-3.0 has no duration", duration=5)
    refused(motion, "aspect_ratio: kling-3.0 has no aspect_ratio setting", aspect_ratio="16:9")


def test_motion_audio_and_resolution() -> None:
    motion(audio="original", resolution="1080p")
    refused(motion, "audio: kling-3.0 takes 'original' / 'off', not 'native'", audio="native")
    refused(motion, "resolution: kling-3.0 takes '720p' / '1080p', not '4k'", resolution="4k")


def test_motion_element_is_kling_3_0_only_and_follows_the_video() -> None:
    element = {"element_id": "e1", "id": "me"}
    motion(element=element)
    refused(motion, "element: kling-2.6 takes no elements", model_name="kling-2.6", element=element)
    refused(
        motion,
        "character_orientation: with an element the orientation follows the video",
        element=element,
        character_orientation="image",
    )


def test_motion_video_is_a_url() -> None:
    refused(motion, "video.url: a video is sent as an http\\(s\\) URL only", video="AAAA")


def test_a_base64_frame_decodes_to_at_most_50_mb() -> None:
    limit = 50 * 1024**2
    ok = "A" * (limit * 4 // 3)  # decodes to exactly 50 MB
    assert i2v(first_frame=ok)["contents"][0]["url"] is not None
    refused(i2v, "first_frame.url: a Base64 image must decode to at most 50 MB", first_frame=ok + "AAAA")


@pytest.mark.parametrize(
    ("build", "model"),
    [(i2v, "kling-3.5"), (omni, "kling-3.5-omni"), (motion, "kling-3.5")],
)
def test_unknown_path_models_of_every_family_pass_with_the_generic_rules(build: Any, model: str) -> None:
    extra = {"aspect_ratio": "16:9"} if build is omni else {}
    payload = build(model_name=model, resolution="1080p", **extra)
    assert payload["model_name"] == model and payload["settings"]["resolution"] == "1080p"
    if build is not motion:
        assert build(model_name=model, resolution="4k", **extra)["settings"]["resolution"] == "4k"


def test_generic_motion_rules_still_refuse_what_no_motion_model_takes() -> None:
    message = refused(
        motion,
        "resolution: kling-3.5 \\(not in this provider's table",
        model_name="kling-3.5",
        resolution="4k",
    )
    assert "motion-control's generic rules" in message
    refused(motion, "duration: kling-3.5 .* has no duration", model_name="kling-3.5", duration=5)


# ---------------------------------------------------------------------------- multi-shot prompts

SHOTS = "shot 1, 3, a kite rises over the sea; shot 2, 2, it dives; shot 3, 5, it lands on the sand"


@pytest.mark.parametrize(
    ("build", "model"),
    [(t2v, "kling-3.0"), (t2v, "kling-3.0-turbo"), (i2v, "kling-3.0"), (omni, "kling-3.0-omni")],
)
def test_a_multi_shot_prompt_whose_seconds_add_up_to_the_duration_is_sent_as_written(
    build: Any, model: str
) -> None:
    extra = {"aspect_ratio": "16:9"} if build is omni else {}
    payload = build(model_name=model, prompt=SHOTS, duration=10, **extra)
    assert SHOTS in str(payload)


@pytest.mark.parametrize(
    ("prompt", "duration", "match"),
    [
        (SHOTS, 12, r"prompt: the shots last 10 s in all, but duration is 12"),
        ("shot 1, 3, a kite; shot 3, 2, a gull", 5, r"prompt: shot 3 is shot 2 of the prompt"),
        (
            "shot 1, 0.5, a kite; shot 2, 4.5, a gull",
            5,
            r"prompt: shot 1 lasts 0.5 s \(each shot lasts at least 1 s\)",
        ),
        ("shot 1, 3, ; shot 2, 2, a gull", 5, r"prompt: shot 1 has no words"),
        (f"shot 1, 5, {'w' * 513}", 5, r"prompt: shot 1 has 513 characters of words \(at most 512\)"),
        (
            "; ".join(f"shot {i}, 2, a frame" for i in range(1, 8)),
            14,
            r"prompt: 7 shots \(a multi-shot prompt takes 1 to 6\)",
        ),
        ("shot 1, 3, a kite; shot two, 2, a gull", 5, r"prompt: the shots last 3 s in all"),  # one shot
    ],
)
def test_a_malformed_multi_shot_prompt_is_refused_naming_the_rule(
    prompt: str, duration: int, match: str
) -> None:
    refused(t2v, match, prompt=prompt, duration=duration)


def test_free_text_and_models_without_the_syntax_are_not_read_as_shots() -> None:
    # Free text that mentions shots is a prompt like any other.
    t2v(prompt="a slow shot 1, then a wide shot of the bay", duration=5)
    t2v(prompt="Shot on film; shot 2 of the series", duration=5)
    for prompt in (
        "Shot 1, 35mm lens, a woman walks along the pier",
        "Shot 1, 24fps, slow pan over the city",
        "Shot 1, 4K, the city at night",
        "Shot 1, 2 cameras pan across the bay",
        "Shot 1, 3 dancers leap; Shot 2, 2 of them fall",
        "shot 1, 10 seconds, a kite",
        "shot 1, 1,000 birds take off",
    ):
        t2v(prompt=prompt, duration=5)
    # With multi_shot off Kling reads the syntax as plain text: nothing to check.
    t2v(prompt="shot 1, 3, a kite; shot 2, 3, a gull", duration=5, multi_shot=False)
    # Words may hold semicolons; a new shot starts only at "; shot <n>,".
    t2v(prompt="shot 1, 3, a kite; it rises; shot 2, 2, it dives", duration=5)
    # kling-2.6 has no multi-shot: the same text goes to Kling as written.
    t2v(model_name="kling-2.6", prompt="shot 1, 3, a kite; shot 2, 9, a gull", duration=5)
