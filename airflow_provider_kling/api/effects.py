"""Request model of Kling's video effects: ``POST /v1/videos/effects`` (docs/kling-api.md#video-effects).

``effect_scene`` is free text: Kling adds and retires scenes through its changelog, so the
provider does not keep a list; Kling refuses an unknown one. A single-image scene takes
``image``, a dual-image scene ``images`` (exactly two: left, then right).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from airflow_provider_kling.api.image_input import check_image_input
from airflow_provider_kling.api.requests import (
    ForwardCompatibleRequest,
    OptionalText,
    RuleViolations,
    parse_rendered_json,
)

SCENE_MAX_CHARS = 128


class EffectsRequest(ForwardCompatibleRequest):
    """``effect_scene`` plus ``input.image`` xor ``input.images`` (two); ``input.duration`` if given."""

    effect_scene: OptionalText = None
    image: OptionalText = Field(default=None, exclude=True)
    images: list[str] | None = Field(default=None, exclude=True)
    # Older bodies (CN copy 2026-02) require input.duration "5"/"10"; the 2026-09 EN table has none.
    duration: Literal["5", "10"] | None = Field(default=None, exclude=True)

    @field_validator("image")
    @classmethod
    def _image_is_url_or_base64(cls, value: str | None) -> str | None:
        return check_image_input(value)

    @field_validator("images", mode="before")
    @classmethod
    def _rendered_images(cls, value: Any) -> Any:
        value = parse_rendered_json(value)
        return None if value in ((), []) else value

    @field_validator("images")
    @classmethod
    def _each_image(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        problems = []
        for i, item in enumerate(value):
            try:
                if check_image_input(item.strip() or None) is None:
                    problems.append(f"images.{i}: must not be empty")
            except ValueError as exc:
                problems.append(f"images.{i}: {exc}")
        if problems:
            raise RuleViolations(problems)
        return [item.strip() for item in value]

    @field_validator("duration", mode="before")
    @classmethod
    def _duration_as_text(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @model_validator(mode="after")
    def _check_rules(self) -> EffectsRequest:
        problems = []
        scene = self.effect_scene
        if scene is None:
            problems.append("effect_scene: is required (a scene name such as 'hug_pro')")
        elif len(scene) > SCENE_MAX_CHARS or any(c.isspace() for c in scene):
            problems.append(
                f"effect_scene: a scene name is one word of at most {SCENE_MAX_CHARS} characters "
                f"(snake_case, e.g. 'hug_pro'), got {scene[:40]!r}"
            )
        if self.image is not None and self.images is not None:
            problems.append("image / images: give image (single-image scene) or images (dual), not both")
        elif self.image is None and self.images is None:
            problems.append("image / images: give image (single-image scene) or images (dual-image scene)")
        elif self.images is not None and len(self.images) != 2:
            problems.append(f"images: a dual-image scene takes exactly 2 images, got {len(self.images)}")
        extra_input = (self.extra_body or {}).get("input")
        if extra_input is not None and not isinstance(extra_input, dict):
            problems.append("extra_body.input: must be a JSON object (merged into the request's input)")
        elif extra_input:
            problems += [
                f"extra_body.input.{key}: {key} is set by the provider (use the {key} argument)"
                for key in sorted(set(extra_input) & {"image", "images", "duration"})
            ]
        if problems:
            raise RuleViolations(problems)
        return self

    def to_payload(self) -> dict[str, Any]:
        payload = super().to_payload()
        # extra_body.input (e.g. an older body's model_name or mode) is merged, not replaced.
        scene_input: dict[str, Any] = dict((self.extra_body or {}).get("input") or {})
        if self.image is not None:
            scene_input["image"] = self.image
        if self.images is not None:
            scene_input["images"] = list(self.images)
        if self.duration is not None:
            scene_input["duration"] = self.duration
        payload["input"] = scene_input
        return payload
