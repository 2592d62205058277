"""Request rules of the legacy text2video / image2video endpoints, per model.

Contract: docs/kling-api.md#video-requests (fields) and docs/kling-api.md#video-models (per model).

Only what the contract states is enforced; where it calls support "unverified" (e.g.
``negative_prompt`` or ``camera_control`` on kling-v2-6 / kling-v3) the field is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kling_emulator.errors import KlingAPIFailure
from kling_emulator.field_checks import (
    array,
    boolean,
    choice,
    given,
    invalid,
    number,
    obj,
    text,
)
from kling_emulator.images import ImageProblem, check_image

# Enums of the legacy video bodies (docs/kling-api.md#video-requests).
FIVE_OR_TEN = ("5", "10")
THREE_TO_FIFTEEN = tuple(str(n) for n in range(3, 16))
CAMERA_TYPES = ("simple", "down_back", "forward_up", "right_turn_forward", "left_turn_forward")
CAMERA_AXES = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")
DEFAULT_MODEL = "kling-v1"


# What one model accepts (docs/kling-api.md#video-models).
@dataclass(frozen=True)
class VideoModel:
    durations: tuple[str, ...] = FIVE_OR_TEN
    modes: tuple[str, ...] = ("std", "pro")
    sound: bool = False  # "V2.6+ only"
    cfg_scale: bool = True  # "kling-v2.x models do not support"
    multi_shot: bool = False
    pro_for_sound: bool = False  # kling-v2-6: 720P (std) is silent only; voices and first+last frame 1080P


# The documented model_name values (docs/kling-api.md#video-requests) and their rules
# (docs/kling-api.md#video-models).
_V1 = VideoModel()
_V2 = VideoModel(cfg_scale=False)
MODELS: dict[str, VideoModel] = {
    "kling-v1": _V1,
    "kling-v1-5": _V1,
    "kling-v1-6": _V1,
    "kling-v2-master": _V2,
    "kling-v2-1": _V2,
    "kling-v2-1-master": _V2,
    "kling-v2-5-turbo": _V2,
    "kling-v2-6": VideoModel(sound=True, cfg_scale=False, pro_for_sound=True),
    "kling-v3": VideoModel(THREE_TO_FIFTEEN, ("std", "pro", "4k"), sound=True, multi_shot=True),
}
# A model configured as ``extra_models`` (newer than this table): the generic rules only.
GENERIC = VideoModel(THREE_TO_FIFTEEN, ("std", "pro", "4k"), sound=True, multi_shot=True)


def model_for(body: dict[str, Any], extra_models: set[str] | list[str]) -> tuple[str, VideoModel]:
    name = text(body, "model_name") or DEFAULT_MODEL
    if name in MODELS:
        return name, MODELS[name]
    if name in extra_models:
        return name, GENERIC
    raise KlingAPIFailure(1203, f"model_name {name!r} does not exist")


def validate_video(kind: str, body: dict[str, Any], extra_models: set[str] | list[str]) -> float:
    """Check a text2video / image2video body; return the video's length in seconds."""
    name, model = model_for(body, extra_models)
    duration = _duration(body, name, model)
    mode = choice(body, "mode", model.modes, default="std")
    sound = choice(body, "sound", ("on", "off"), default="off")
    if sound == "on" and not model.sound:
        raise invalid(f"sound 'on' is not supported by {name} (Kling 2.6 and newer only)")
    if sound == "on" and model.pro_for_sound and mode != "pro":
        raise invalid(f"sound 'on' with {name} needs mode 'pro' (720P std is silent only)")
    customize = _multi_shot(body, name, model, duration)
    text(body, "prompt", 2500, required=kind == "text2video" and not customize)
    text(body, "negative_prompt", 2500)
    if given(body, "cfg_scale"):
        if not model.cfg_scale:
            raise invalid(f"cfg_scale is not supported by {name} (kling-v2.x models)")
        number(body["cfg_scale"], "cfg_scale", 0.0, 1.0)
    _camera_control(body)
    _watermark_info(body)
    _elements_and_voices(body, name, model, mode, sound)
    if kind == "text2video":
        choice(body, "aspect_ratio", ("16:9", "9:16", "1:1"))
    else:
        _frames_and_masks(body, name, model, mode, sound)
    return float(duration)


def _duration(body: dict[str, Any], name: str, model: VideoModel) -> str:
    value = body.get("duration")
    if value is None or value == "":
        value = "5"
    if not isinstance(value, str):
        raise invalid(f'duration must be a string, e.g. "5" (got {value!r})')
    if value not in model.durations:
        allowed = " or ".join(model.durations) if len(model.durations) < 3 else "3 to 15"
        raise invalid(f"duration must be {allowed} seconds for {name} (got {value!r})")
    return value


def _multi_shot(body: dict[str, Any], name: str, model: VideoModel, duration: str) -> bool:
    """Check multi_shot / shot_type / multi_prompt; True when the shots carry the prompts."""
    shots = array(body, "multi_prompt", 6)
    if not boolean(body, "multi_shot"):
        if shots:
            raise invalid("multi_prompt needs multi_shot true")
        return False
    if not model.multi_shot:
        raise invalid(f"multi_shot is not supported by {name} (kling-v3 only)")
    shot_type = choice(body, "shot_type", ("customize", "intelligence"))
    if shot_type is None:
        raise invalid("shot_type is required with multi_shot (customize or intelligence)")
    if shot_type != "customize":
        return False
    if not shots:
        raise invalid("multi_prompt is required with shot_type 'customize' (1 to 6 shots)")
    total = 0.0
    for i, shot in enumerate(shots):
        where = f"multi_prompt[{i}]"
        if not isinstance(shot, dict):
            raise invalid(f"{where} must be an object with prompt and duration")
        text(shot, "prompt", 512, required=True, where=f"{where}.")
        seconds = shot.get("duration")
        try:
            seconds = float(seconds) if isinstance(seconds, str | int | float) else float("nan")
        except ValueError:
            seconds = float("nan")
        if isinstance(shot.get("duration"), bool) or not seconds >= 1:
            raise invalid(f"{where}.duration must be at least 1 second")
        total += seconds
    if abs(total - float(duration)) > 1e-6:
        raise invalid(f"multi_prompt durations add up to {total:g} s; they must equal duration ({duration})")
    return True


def _camera_control(body: dict[str, Any]) -> None:
    camera = obj(body, "camera_control")
    if camera is None:
        return
    kind = choice(camera, "type", CAMERA_TYPES, where="camera_control.")
    if kind is None:
        raise invalid(f"camera_control.type is required ({', '.join(CAMERA_TYPES)})")
    config = camera.get("config")
    if kind != "simple":
        if config is not None:
            raise invalid("camera_control.config is only allowed with type 'simple'")
        return
    if not isinstance(config, dict):
        raise invalid("camera_control.config is required with type 'simple'")
    unknown = sorted(set(config) - set(CAMERA_AXES))
    if unknown:
        raise invalid(f"camera_control.config has unknown keys {unknown}; allowed: {', '.join(CAMERA_AXES)}")
    moving = [
        axis for axis in CAMERA_AXES if number(config.get(axis, 0), f"camera_control.config.{axis}", -10, 10)
    ]
    if len(moving) != 1:
        raise invalid(f"camera_control.config: exactly one of {', '.join(CAMERA_AXES)} must be non-zero")


def _watermark_info(body: dict[str, Any]) -> None:
    watermark = obj(body, "watermark_info")
    if watermark is None:
        return
    if set(watermark) - {"enabled"}:
        raise invalid("watermark_info supports only 'enabled' (custom watermarks are not supported)")
    if not isinstance(watermark.get("enabled"), bool):
        raise invalid("watermark_info.enabled must be a boolean")


def _elements_and_voices(
    body: dict[str, Any], name: str, model: VideoModel, mode: str | None, sound: str | None
) -> None:
    elements = array(body, "element_list", 3)
    voices = array(body, "voice_list", 2)
    for field, items in (("element_list", elements), ("voice_list", voices)):
        for i, item in enumerate(items or []):
            if not isinstance(item, dict):
                raise invalid(f"{field}[{i}] must be an object")
    if elements and voices:
        raise invalid("element_list and voice_list cannot be used together")
    if voices and sound != "on":
        raise invalid("voice_list needs sound 'on'")
    if voices and model.pro_for_sound and mode != "pro":
        raise invalid(f"voice_list with {name} needs mode 'pro' (voice control is 1080P only)")


def _frames_and_masks(
    body: dict[str, Any], name: str, model: VideoModel, mode: str | None, sound: str | None
) -> None:
    for field in ("image", "image_tail", "static_mask"):
        value = text(body, field)
        if value is not None and not value.startswith(("http://", "https://")):
            try:
                check_image(value)
            except ImageProblem as problem:
                raise invalid(f"{field} {problem}") from None
    if not given(body, "image") and not given(body, "image_tail"):
        raise invalid("image or image_tail is required (at least one of them)")
    masks = array(body, "dynamic_masks", 6)
    for i, mask in enumerate(masks or []):
        if not isinstance(mask, dict) or not given(mask, "mask"):
            raise invalid(f"dynamic_masks[{i}] must be an object with mask and trajectories")
        points = mask.get("trajectories")
        if not isinstance(points, list) or not 2 <= len(points) <= 77:
            raise invalid(f"dynamic_masks[{i}].trajectories must have 2 to 77 points")
        if not all(isinstance(p, dict) and {"x", "y"} <= set(p) for p in points):
            raise invalid(f"dynamic_masks[{i}].trajectories must be points {{x, y}}")
    used = [
        label
        for label, present in (
            ("image_tail", given(body, "image_tail")),
            ("static_mask/dynamic_masks", given(body, "static_mask") or bool(masks)),
            ("camera_control", given(body, "camera_control")),
        )
        if present
    ]
    if len(used) > 1:
        raise invalid(
            f"{' and '.join(used)} cannot be used together (one of image_tail, masks, camera_control)"
        )
    both_frames = given(body, "image") and given(body, "image_tail")
    if model.pro_for_sound and both_frames and (mode != "pro" or sound == "on"):
        raise invalid(f"first and last frame with {name} need mode 'pro' and sound 'off' (1080P silent)")
