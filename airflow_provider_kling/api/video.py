"""Request models of the legacy video endpoints (``/v1/videos/text2video``, ``/image2video``).

Field rules follow docs/kling-api.md#video-requests. Rules that the docs give per model live in
``MODEL_RULES``; a model name not listed there gets only the generic rules, so a model
released after this provider works as soon as Kling accepts it (Kling decides).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from airflow_provider_kling.api.requests import (
    ForwardCompatibleRequest,
    LongText,
    OptionalText,
    RuleViolations,
    parse_rendered_json,
)

DEFAULT_MODEL = "kling-v1"  # what Kling uses when model_name is not sent
DURATIONS = tuple(str(s) for s in range(3, 16))  # "3".."15": the generic enum
LEGACY_DURATIONS = ("5", "10")
IMAGE_MAX_BYTES = 10 * 1024**2
MAX_MASKS = 6
MAX_SHOTS = 6
SHOT_PROMPT_MAX_CHARS = 512


@dataclass(frozen=True)
class ModelRules:
    """What the docs say one model accepts (docs/kling-api.md#video-models, from the capability map)."""

    durations: tuple[str, ...] = LEGACY_DURATIONS
    modes: tuple[str, ...] = ("std", "pro")
    sound: bool = False  # sound="on" supported (V2.6+)
    sound_needs_pro: bool = False  # kling-v2-6: 720P (std) is silent only
    cfg_scale: bool = True  # "kling-v2.x models do not support" cfg_scale
    tail_needs_pro_silent: bool = False  # kling-v2-6: first+last frame (both) is 1080P silent only
    voice_needs_pro: bool = False  # kling-v2-6: voice control is 1080P only
    multi_shot: bool = False  # the capability map lists multi-shot for kling-v3


_V1 = ModelRules()
_V2 = ModelRules(cfg_scale=False)
MODEL_RULES: dict[str, ModelRules] = {
    "kling-v1": _V1,
    "kling-v1-5": _V1,
    "kling-v1-6": _V1,
    "kling-v2-master": _V2,
    "kling-v2-1": _V2,
    "kling-v2-1-master": _V2,
    "kling-v2-5-turbo": _V2,
    "kling-v2-6": ModelRules(
        sound=True,
        sound_needs_pro=True,
        cfg_scale=False,
        tail_needs_pro_silent=True,
        voice_needs_pro=True,
    ),
    "kling-v3": ModelRules(durations=DURATIONS, modes=("std", "pro", "4k"), sound=True, multi_shot=True),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


def _as_text(value: Any) -> Any:
    """Kling documents durations as strings: a rendered or literal number becomes its text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    return value


Axis = Annotated[float, Field(ge=-10, le=10)]


class CameraConfig(_Strict):
    """Six axes in [-10, 10]; exactly one is non-zero. All six are sent (zeros included)."""

    horizontal: Axis = 0
    vertical: Axis = 0
    pan: Axis = 0
    tilt: Axis = 0
    roll: Axis = 0
    zoom: Axis = 0

    @model_validator(mode="after")
    def _exactly_one_axis(self) -> CameraConfig:
        moving = [name for name, value in self.model_dump().items() if value != 0]
        if len(moving) != 1:
            raise ValueError(
                "exactly one of horizontal, vertical, pan, tilt, roll, zoom must be non-zero "
                f"(got {moving or 'none'})"
            )
        return self


class CameraControl(_Strict):
    """``type`` ``simple`` takes a ``config``; the preset movements take none."""

    type: Literal["simple", "down_back", "forward_up", "right_turn_forward", "left_turn_forward"]
    config: CameraConfig | None = None

    @model_validator(mode="after")
    def _config_only_with_simple(self) -> CameraControl:
        if self.type == "simple" and self.config is None:
            raise ValueError("type 'simple' needs a config with one non-zero axis")
        if self.type != "simple" and self.config is not None:
            raise ValueError(f"config is only allowed with type 'simple', not {self.type!r}")
        return self


class WatermarkInfo(_Strict):
    """Only ``enabled``: Kling does not support a custom watermark."""

    enabled: bool


class Shot(_Strict):
    """One shot of a ``multi_prompt``: its prompt and whole seconds (>= 1)."""

    index: Annotated[int, Field(ge=1, le=MAX_SHOTS)] | None = None
    prompt: Annotated[str, Field(min_length=1, max_length=SHOT_PROMPT_MAX_CHARS)]
    duration: Annotated[str, Field(pattern=r"^[1-9][0-9]*$")]

    @field_validator("duration", mode="before")
    @classmethod
    def _duration_as_text(cls, value: Any) -> Any:
        return _as_text(value)


class Element(_Strict):
    """An element (subject) id as Kling issued it: a number or text, sent as given."""

    element_id: Annotated[int, Field(ge=0)] | Annotated[str, Field(min_length=1)]


class Voice(_Strict):
    voice_id: Annotated[str, Field(min_length=1)]


class Point(_Strict):
    x: int
    y: int


class DynamicMask(_Strict):
    """A motion-brush area and the path it moves along (at least 2 points)."""

    mask: Annotated[str, Field(min_length=1)]
    trajectories: Annotated[list[Point], Field(min_length=2)]


class _VideoRequest(ForwardCompatibleRequest):
    """Fields shared by text2video and image2video."""

    prompt: LongText = None
    negative_prompt: LongText = None
    model_name: OptionalText = None
    mode: Literal["std", "pro", "4k"] | None = None
    duration: Literal[DURATIONS] | None = None  # type: ignore[valid-type]
    cfg_scale: Annotated[float | None, Field(ge=0, le=1)] = None
    sound: Literal["on", "off"] | None = None
    camera_control: CameraControl | None = None
    multi_shot: bool | None = None
    shot_type: Literal["customize", "intelligence"] | None = None
    multi_prompt: Annotated[list[Shot], Field(min_length=1, max_length=MAX_SHOTS)] | None = None
    element_list: Annotated[list[Element], Field(max_length=3)] | None = None
    voice_list: Annotated[list[Voice], Field(max_length=2)] | None = None
    watermark_info: WatermarkInfo | None = None

    @field_validator("duration", mode="before")
    @classmethod
    def _duration_as_text(cls, value: Any) -> Any:
        return None if value is None or value == "" else _as_text(value)

    @field_validator(
        "camera_control", "multi_prompt", "element_list", "voice_list", "watermark_info", mode="before"
    )
    @classmethod
    def _rendered_structure(cls, value: Any) -> Any:
        return parse_rendered_json(value)

    @field_validator("mode", "sound", "shot_type", mode="before")
    @classmethod
    def _blank_choice(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("multi_shot", "cfg_scale", mode="before")
    @classmethod
    def _blank_value(cls, value: Any) -> Any:
        return None if value == "" else value

    @property
    def rules(self) -> ModelRules | None:
        return MODEL_RULES.get(self.model_name or DEFAULT_MODEL)

    @model_validator(mode="after")
    def _check_video_rules(self) -> _VideoRequest:
        problems = self._generic_problems() + self._model_problems()
        if problems:
            raise RuleViolations(problems)
        return self

    def _prompt_required(self) -> bool:
        """text2video: unless the shots of a customized multi_shot carry the prompts."""
        return not (self.multi_shot and self.shot_type == "customize")

    def _generic_problems(self) -> list[str]:
        problems = []
        if self.prompt is None and self._prompt_required():
            problems.append("prompt: is required (unless multi_shot with shot_type 'customize')")
        if self.multi_shot:
            problems += self._multi_shot_problems()
        elif self.shot_type is not None or self.multi_prompt is not None:
            problems.append("shot_type / multi_prompt: only with multi_shot=True")
        if self.element_list and self.voice_list:
            problems.append("element_list / voice_list: give one or the other, not both")
        if self.voice_list and self.sound != "on":
            problems.append("voice_list: needs sound='on'")
        return problems

    def _multi_shot_problems(self) -> list[str]:
        if self.shot_type is None:
            return ["shot_type: multi_shot=True needs shot_type 'customize' or 'intelligence'"]
        if self.shot_type == "intelligence":
            return ["multi_prompt: only with shot_type 'customize'"] if self.multi_prompt else []
        if not self.multi_prompt:
            return ["multi_prompt: shot_type 'customize' needs 1-6 shots"]
        total = sum(int(shot.duration) for shot in self.multi_prompt)
        duration = int(self.duration or "5")
        if total != duration:
            return [f"multi_prompt: the shots' durations add up to {total} s, not the duration {duration} s"]
        return []

    def _model_problems(self) -> list[str]:
        rules = self.rules
        if rules is None:  # a model this provider does not know: Kling decides
            return []
        model = self.model_name or f"{DEFAULT_MODEL} (the default model)"
        problems = []
        if self.duration is not None and self.duration not in rules.durations:
            problems.append(f"duration: {model} takes {_choices(rules.durations)}, not {self.duration!r}")
        if self.mode is not None and self.mode not in rules.modes:
            problems.append(
                f"mode: {model} takes {_choices(rules.modes)}, not {self.mode!r} (4k is kling-v3 only)"
            )
        if self.sound == "on" and not rules.sound:
            problems.append(f"sound: {model} makes silent videos only (sound='on' needs kling-v2-6 or newer)")
        if self.sound == "on" and rules.sound_needs_pro and self.mode != "pro":
            problems.append(f"sound: {model} makes sound in mode 'pro' only (std is silent)")
        if self.cfg_scale is not None and not rules.cfg_scale:
            problems.append(f"cfg_scale: {model} does not support cfg_scale (kling-v2.x models)")
        if self.multi_shot and not rules.multi_shot:
            problems.append(f"multi_shot: {model} does not support multi_shot (kling-v3 does)")
        if self.voice_list and rules.voice_needs_pro and self.mode != "pro":
            problems.append(f"voice_list: {model} supports voice control in mode 'pro' only")
        return problems


class TextToVideoRequest(_VideoRequest):
    """``POST /v1/videos/text2video``."""

    aspect_ratio: Literal["16:9", "9:16", "1:1"] | None = None

    @field_validator("aspect_ratio", mode="before")
    @classmethod
    def _blank_ratio(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


def _check_image(value: str | None) -> str | None:
    if value is None:
        return None
    if value.startswith("data:"):
        raise ValueError("send raw Base64 or a URL, without a 'data:...;base64,' prefix")
    if not value.startswith(("http://", "https://")) and len(value) * 3 // 4 > IMAGE_MAX_BYTES:
        raise ValueError("a Base64 image must decode to at most 10 MB")
    return value


class ImageToVideoRequest(_VideoRequest):
    """``POST /v1/videos/image2video``: ``image`` and/or ``image_tail`` (URL or raw Base64)."""

    image: OptionalText = None
    image_tail: OptionalText = None
    static_mask: OptionalText = None
    dynamic_masks: Annotated[list[DynamicMask], Field(min_length=1, max_length=MAX_MASKS)] | None = None

    @field_validator("image", "image_tail", "static_mask")
    @classmethod
    def _image_is_url_or_base64(cls, value: str | None) -> str | None:
        return _check_image(value)

    @field_validator("dynamic_masks", mode="before")
    @classmethod
    def _rendered_masks(cls, value: Any) -> Any:
        return parse_rendered_json(value)

    def _prompt_required(self) -> bool:
        return False  # the image carries the content; the prompt is optional here

    def _generic_problems(self) -> list[str]:
        problems = super()._generic_problems()
        if self.image is None and self.image_tail is None:
            problems.append("image / image_tail: give at least one of the two")
        used = [
            name
            for name, given in (
                ("image_tail", self.image_tail is not None),
                ("static_mask/dynamic_masks", self.static_mask is not None or self.dynamic_masks is not None),
                ("camera_control", self.camera_control is not None),
            )
            if given
        ]
        if len(used) > 1:
            problems.append(f"{' / '.join(used)}: image_tail, masks and camera_control exclude each other")
        if self.dynamic_masks and (self.duration or "5") == "5":
            for i, mask in enumerate(self.dynamic_masks):
                if len(mask.trajectories) > 77:
                    problems.append(f"dynamic_masks.{i}.trajectories: at most 77 points for a 5 s video")
        return problems

    def _model_problems(self) -> list[str]:
        problems = super()._model_problems()
        rules = self.rules
        if rules is None or self.image is None or self.image_tail is None:
            return problems
        model = self.model_name or f"{DEFAULT_MODEL} (the default model)"
        if rules.tail_needs_pro_silent and (self.mode != "pro" or self.sound == "on"):
            problems.append(
                f"image_tail: {model} makes first+last frame videos in mode 'pro' without sound only"
            )
        return problems


def _choices(values: tuple[str, ...]) -> str:
    if values == DURATIONS:
        return '"3".."15"'
    return " / ".join(repr(v) for v in values)
