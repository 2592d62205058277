"""Request models of Kling's new-design video endpoints: text/image-to-video, omni video, motion control.

Bodies follow docs/kling-api.md#new-design: ``prompt`` or ``contents[]``, ``settings{}``, ``options{}``.
``to_payload()`` writes the model as ``model_name`` and the two ids at the top level, as every
payload of this provider does; ``TaskKind.submit_route`` moves them into the path and ``options{}``.
Settings the user did not give are not sent: Kling applies its defaults. Per-model rules live in
``new_video_rules.py``; a path model not listed there gets its family's generic rules.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, Field, field_validator, model_validator

from airflow_provider_kling.api.designs import (
    DEFAULT_MOTION_MODEL,
    DEFAULT_OMNI_MODEL,
    LEGACY_PREFIX,
    path_model_problem,
)
from airflow_provider_kling.api.new_video_items import (
    Frame,
    FrameArg,
    NewElement,
    NewVoice,
    VideoArg,
    blank_to_none,
    contents,
    list_of,
    list_of_urls,
    parsed,
    whole_seconds,
)
from airflow_provider_kling.api.new_video_rules import NewModelRules, choices, rules_for
from airflow_provider_kling.api.requests import ForwardCompatibleRequest, OptionalText, RuleViolations
from airflow_provider_kling.api.shot_prompt import shot_prompt_problems
from airflow_provider_kling.api.video import WatermarkInfo

# Top-level body keys the provider writes: extra_body may not set them (that would bypass the rules).
BODY_KEYS = {
    "model_name": "the model_name argument",
    "prompt": "the prompt argument",
    "contents": "the operator's content arguments",
    "settings": "extra_settings",
    "options": "watermark_info, external_task_id, callback_url",
}
SETTINGS_KEYS = ("resolution", "audio", "aspect_ratio", "duration", "multi_shot", "character_orientation")


class _NewVideoRequest(ForwardCompatibleRequest):
    """What every new-design video request shares: model, prompt, settings, options, extras."""

    family: ClassVar[str]
    prompt_required: ClassVar[bool] = False

    model_name: Annotated[str, Field(min_length=1)]
    prompt: OptionalText = None
    resolution: Literal["720p", "1080p", "4k"] | None = None
    audio: Literal["native", "original", "off"] | None = None
    aspect_ratio: Literal["16:9", "9:16", "1:1"] | None = None
    duration: Annotated[Annotated[int, Field(strict=True, ge=1)] | None, BeforeValidator(whole_seconds)] = (
        None
    )
    multi_shot: bool | None = None
    watermark_info: Annotated[WatermarkInfo | None, BeforeValidator(parsed)] = None
    extra_settings: Annotated[dict[str, Any] | None, BeforeValidator(parsed)] = Field(
        default=None, description="Settings newer than this provider, merged into settings{}."
    )

    @field_validator("resolution", "audio", "aspect_ratio", "multi_shot", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return blank_to_none(value)

    @field_validator("model_name")
    @classmethod
    def _one_path_segment(cls, value: str) -> str:
        problem = path_model_problem(value)
        if problem:
            raise ValueError(problem)
        if value.startswith(LEGACY_PREFIX):
            raise ValueError(
                f"{value!r} is a legacy-design name (model_name in the body); the new design "
                "names its models like kling-3.0, kling-3.0-omni, kling-o1 (in the path)"
            )
        return value

    @property
    def rules(self) -> NewModelRules:
        return rules_for(self.family, self.model_name)[0]

    @property
    def model_label(self) -> str:
        if rules_for(self.family, self.model_name)[1]:
            return self.model_name
        return f"{self.model_name} (not in this provider's table: {self.family}'s generic rules)"

    @model_validator(mode="after")
    def _check_new_rules(self) -> _NewVideoRequest:
        problems = self._extras_problems() + self._settings_problems() + self._content_problems()
        problems += self._id_problems()
        if problems:
            raise RuleViolations(problems)
        return self

    # ---------------------------------------------------------------- rules

    def _extras_problems(self) -> list[str]:
        problems = [
            f"extra_body.{key}: {key} is set by the provider (use {instead})"
            for key, instead in BODY_KEYS.items()
            if key in (self.extra_body or {})
        ]
        for key in SETTINGS_KEYS:
            if key in (self.extra_settings or {}):
                problems.append(
                    f"extra_settings.{key}: {key} is set by the provider (use the {key} argument)"
                )
        try:
            json.dumps(self.extra_settings, allow_nan=False)
        except (TypeError, ValueError) as exc:
            problems.append(f"extra_settings: must be valid JSON ({exc})")
        return problems

    def _settings_problems(self) -> list[str]:
        rules, model, problems = self.rules, self.model_label, []
        if self.prompt is None and self.prompt_required:
            problems.append("prompt: is required")
        if self.prompt is not None and len(self.prompt) > rules.prompt_max:
            problems.append(
                f"prompt: {model} takes at most {rules.prompt_max} characters, not {len(self.prompt)}"
            )
        if rules.shot_prompts and self.multi_shot is not False:  # off: Kling reads it as plain text
            problems += shot_prompt_problems(self.prompt, self.duration)
        if self.resolution is not None and self.resolution not in rules.resolutions:
            problems.append(
                f"resolution: {model} takes {choices(rules.resolutions)}, not {self.resolution!r}"
            )
        if self.audio is not None and self.audio not in rules.audios:
            has = f"takes {choices(rules.audios)}" if rules.audios else "has no audio setting"
            problems.append(f"audio: {model} {has}, not {self.audio!r}")
        if self.aspect_ratio is not None and not rules.aspect_ratio:
            problems.append(f"aspect_ratio: {model} has no aspect_ratio setting (the first frame sets it)")
        if self.duration is not None and not rules.durations:
            problems.append(f"duration: {model} has no duration (the output follows the usable motion)")
        elif self.duration is not None and self.duration not in rules.durations:
            problems.append(
                f"duration: {model} takes {choices(rules.durations)} seconds, not {self.duration}"
            )
        if self.multi_shot is not None and not rules.multi_shot:
            problems.append(f"multi_shot: {model} has no multi_shot setting")
        if rules.native_needs_1080p and self.audio == "native" and self.resolution != "1080p":
            problems.append(f"resolution: {model} makes native audio in 1080p only (set resolution='1080p')")
        return problems

    def _content_problems(self) -> list[str]:
        return []

    def _items(self) -> list[tuple[str, Any]]:
        """``(field, item)`` of every content item that has an ``id``."""
        return []

    def _id_problems(self) -> list[str]:
        seen: dict[str, str] = {}
        problems = []
        for field, item in self._items():
            if item.id is None:
                continue
            if item.id in seen:
                problems.append(
                    f"{field}.id: {item.id!r} is already the id of {seen[item.id]} (ids are unique)"
                )
            seen.setdefault(item.id, field)
        return problems

    def _first_last_problems(self, first: Frame | None, last: Frame | None) -> list[str]:
        rules, model, problems = self.rules, self.model_label, []
        if last is not None and first is None:
            problems.append("last_frame: needs a first_frame (a last frame alone is not supported)")
        if last is not None and not rules.last_frame:
            problems.append(f"last_frame: {model} takes a first frame only (no last frame yet)")
        if first and last and rules.first_last_needs_1080p and self.resolution != "1080p":
            problems.append(f"resolution: {model} makes first+last frame videos in 1080p only")
        return problems

    def _element_problems(self, elements: list[NewElement] | None, field: str = "elements") -> list[str]:
        if not elements:
            return []
        rules, model = self.rules, self.model_label
        if rules.elements == 0:
            return [f"{field}: {model} takes no elements"]
        if len(elements) > rules.elements:
            return [f"{field}: {model} takes at most {rules.elements}, not {len(elements)}"]
        return []

    # ---------------------------------------------------------------- payload

    def _input(self) -> dict[str, Any]:
        """``{"prompt": ...}`` or ``{"contents": [...]}``."""
        raise NotImplementedError

    def _settings(self) -> dict[str, Any]:
        names = ("resolution", "audio", "aspect_ratio", "duration", "multi_shot")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    def to_payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"model_name": self.model_name, **self._input()}
        settings = {**(self.extra_settings or {}), **self._settings()}
        if settings:
            body["settings"] = settings
        if self.watermark_info is not None:
            body["options"] = {"watermark_info": self.watermark_info.model_dump(mode="json")}
        for key in ("external_task_id", "callback_url"):
            if getattr(self, key) is not None:
                body[key] = getattr(self, key)
        return {**(self.extra_body or {}), **body}


class NewTextToVideoRequest(_NewVideoRequest):
    """``POST /text-to-video/{model}``: a prompt and settings."""

    family: ClassVar[str] = "text-to-video"
    prompt_required: ClassVar[bool] = True

    def _input(self) -> dict[str, Any]:
        return {"prompt": self.prompt}


class NewImageToVideoRequest(_NewVideoRequest):
    """``POST /image-to-video/{model}``: ``contents[]`` of prompt, first/last frame, elements, voices."""

    family: ClassVar[str] = "image-to-video"

    first_frame: FrameArg = None
    last_frame: FrameArg = None
    elements: Annotated[list[NewElement] | None, BeforeValidator(list_of)] = None
    voices: Annotated[list[NewVoice] | None, BeforeValidator(list_of)] = None

    def _items(self) -> list[tuple[str, Any]]:
        items: list[tuple[str, Any]] = [("first_frame", self.first_frame), ("last_frame", self.last_frame)]
        items += [(f"elements.{i}", e) for i, e in enumerate(self.elements or [])]
        items += [(f"voices.{i}", v) for i, v in enumerate(self.voices or [])]
        return [(field, item) for field, item in items if item is not None]

    def _content_problems(self) -> list[str]:
        rules, model = self.rules, self.model_label
        problems = []
        if self.first_frame is None:
            problems.append("first_frame: image-to-video needs a first frame")
        problems += self._first_last_problems(self.first_frame, self.last_frame)
        problems += self._element_problems(self.elements)
        if self.voices:
            if rules.voices == 0:
                problems.append(f"voices: {model} takes no voices (image-to-video kling-2.6 does)")
            elif len(self.voices) > rules.voices:
                problems.append(f"voices: {model} takes at most {rules.voices}, not {len(self.voices)}")
            if self.audio in (None, "off"):
                problems.append("audio: a voice needs audio='native' (audio is off by default)")
        return problems

    def _input(self) -> dict[str, Any]:
        items: list[tuple[str, BaseModel | None]] = [
            ("first_frame", self.first_frame),
            ("last_frame", self.last_frame),
        ]
        items += [("element", e) for e in self.elements or []]
        items += [("voice", v) for v in self.voices or []]
        return {"contents": contents(self.prompt, *items)}


class OmniVideoRequest(_NewVideoRequest):
    """``POST /omni-video/{model}``: frames, reference images, a feature or base video, elements."""

    family: ClassVar[str] = "omni-video"

    model_name: Annotated[str, Field(min_length=1)] = DEFAULT_OMNI_MODEL
    first_frame: FrameArg = None
    last_frame: FrameArg = None
    reference_images: Annotated[list[Frame] | None, BeforeValidator(list_of_urls)] = None
    feature_video: VideoArg = None
    base_video: VideoArg = None
    elements: Annotated[list[NewElement] | None, BeforeValidator(list_of)] = None

    def _items(self) -> list[tuple[str, Any]]:
        items: list[tuple[str, Any]] = [("first_frame", self.first_frame), ("last_frame", self.last_frame)]
        items += [(f"reference_images.{i}", r) for i, r in enumerate(self.reference_images or [])]
        items += [("feature_video", self.feature_video), ("base_video", self.base_video)]
        items += [(f"elements.{i}", e) for i, e in enumerate(self.elements or [])]
        return [(field, item) for field, item in items if item is not None]

    def _content_problems(self) -> list[str]:
        rules, model = self.rules, self.model_label
        problems = self._first_last_problems(self.first_frame, self.last_frame)
        video = self.feature_video or self.base_video
        if self.feature_video is not None and self.base_video is not None:
            problems.append("feature_video / base_video: at most one video per task")
        images = len(self.reference_images or [])
        limit = 4 if video is not None else 7
        if images > limit:
            problems.append(
                f"reference_images: at most {limit} {'with' if video else 'without'} a reference video, "
                f"not {images}"
            )
        problems += self._element_problems(self.elements)
        if self.feature_video is not None and self.audio not in (None, "off"):
            problems.append(f"audio: a feature_video reference needs audio 'off', not {self.audio!r}")
        if self.base_video is not None:
            if self.first_frame is not None or self.last_frame is not None:
                problems.append("first_frame / last_frame: not with a base_video (editing keeps its frames)")
            if self.multi_shot:
                problems.append("multi_shot: not with a base_video (an edit is one shot)")
            if self.audio == "native":
                problems.append("audio: a base_video edit takes 'original' or 'off', not 'native'")
        if self.first_frame is None and video is None and self.aspect_ratio is None:
            problems.append("aspect_ratio: is required when there is no first_frame and no reference video")
        if not (self.prompt or self._items()):
            problems.append("prompt: is required (or give frames, references or a video)")
        alone = self.first_frame is not None and len(self._items()) == 1
        alone_durations = rules.first_frame_alone_durations if alone else ()
        if alone_durations and self.duration is not None and self.duration not in alone_durations:
            problems.append(
                f"duration: {model} with a first frame alone takes "
                f"{choices(alone_durations)} seconds, not {self.duration}"
            )
        return problems

    def _input(self) -> dict[str, Any]:
        items: list[tuple[str, BaseModel | None]] = [
            ("first_frame", self.first_frame),
            ("last_frame", self.last_frame),
        ]
        items += [("refer_image", r) for r in self.reference_images or []]
        items += [("feature_video", self.feature_video), ("base_video", self.base_video)]
        items += [("element", e) for e in self.elements or []]
        return {"contents": contents(self.prompt, *items)}


class MotionControlRequest(_NewVideoRequest):
    """``POST /motion-control/{model}``: a character image moved by a motion video."""

    family: ClassVar[str] = "motion-control"

    model_name: Annotated[str, Field(min_length=1)] = DEFAULT_MOTION_MODEL
    image: FrameArg = None
    video: VideoArg = None
    character_orientation: Literal["image", "video"] | None = None
    element: Annotated[NewElement | None, BeforeValidator(parsed)] = None

    @field_validator("character_orientation", mode="before")
    @classmethod
    def _blank_orientation(cls, value: Any) -> Any:
        return blank_to_none(value)

    def _items(self) -> list[tuple[str, Any]]:
        items = [("image", self.image), ("video", self.video), ("element", self.element)]
        return [(field, item) for field, item in items if item is not None]

    def _content_problems(self) -> list[str]:
        problems = []
        if self.image is None:
            problems.append("image: motion control needs the character image")
        if self.video is None:
            problems.append("video: motion control needs the motion video")
        if self.character_orientation is None:
            problems.append("character_orientation: is required ('image' or 'video')")
        problems += self._element_problems([self.element] if self.element else None, "element")
        if self.element is not None and self.character_orientation == "image":
            problems.append(
                "character_orientation: with an element the orientation follows the video ('video')"
            )
        return problems

    def _settings(self) -> dict[str, Any]:
        settings = super()._settings()
        if self.character_orientation is not None:
            settings["character_orientation"] = self.character_orientation
        return settings

    def _input(self) -> dict[str, Any]:
        return {
            "contents": contents(
                self.prompt, ("image", self.image), ("video", self.video), ("element", self.element)
            )
        }
