"""Request models of Kling's image endpoints: ``/v1/images/generations`` and ``/v1/images/omni-image``.

Field rules follow docs/kling-api.md#image-generation and #omni-image. ``model_name`` is always sent: an empty
one calls Kling's V1 model. Rules the docs give per model apply to the models named
here; another model name gets the generic rules only (Kling decides).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from airflow_provider_kling.api.image_input import check_image_input
from airflow_provider_kling.api.requests import (
    ForwardCompatibleRequest,
    LongText,
    OptionalText,
    RuleViolations,
    parse_rendered_json,
)
from airflow_provider_kling.api.video import WatermarkInfo

IMAGE_GENERATION_MODEL = "kling-v3"  # the 2026-09 EN default
OMNI_IMAGE_MODEL = "kling-image-o1"
# Models whose page documents image_fidelity / human_fidelity ("kling-v2-1 only").
FIDELITY_MODELS = ("kling-v2-1",)
KNOWN_GENERATION_MODELS = ("kling-v2-1", "kling-v3")
# The image capability map: 4k and series only for 3.0 Omni.
OMNI_4K_MODELS = ("kling-v3-omni",)
OMNI_SERIES_MODELS = ("kling-v3-omni",)
KNOWN_OMNI_MODELS = ("kling-image-o1", "kling-v3-omni")
ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9")
MAX_REFERENCES = 10  # elements + reference images together

ImageCount = Annotated[int, Field(ge=1, le=9, strict=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class ListImage(_Strict):
    """One reference image of an omni-image ``image_list``: URL or raw Base64."""

    image: str

    @field_validator("image")
    @classmethod
    def _image_is_url_or_base64(cls, value: str) -> str:
        checked = check_image_input(value or None)
        if checked is None:
            raise ValueError("must not be empty")
        return checked


class ImageElement(_Strict):
    """An element id: a long (``element_list[{element_id}]``: an array of long)."""

    element_id: Annotated[int, Field(ge=0)]


def _blank(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


class _ImageRequest(ForwardCompatibleRequest):
    """What both image endpoints share: prompt, model, count, ratio, resolution, elements."""

    prompt: LongText = None
    model_name: OptionalText = None
    n: ImageCount | None = None
    element_list: list[ImageElement] | None = None
    watermark_info: WatermarkInfo | None = None

    @field_validator("element_list", "watermark_info", mode="before")
    @classmethod
    def _rendered_structure(cls, value: Any) -> Any:
        return parse_rendered_json(value)

    @field_validator("n", mode="before")
    @classmethod
    def _blank_count(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be a whole number from 1 to 9")
        return _blank(value)

    def _references(self) -> int:
        return 0

    def _shared_problems(self) -> list[str]:
        problems = []
        if self.prompt is None:
            problems.append("prompt: is required (<= 2500 characters)")
        refs = len(self.element_list or []) + self._references()
        if refs > MAX_REFERENCES:
            problems.append(
                f"element_list: elements and reference images together must be <= {MAX_REFERENCES}, "
                f"got {refs}"
            )
        return problems


class ImageGenerationRequest(_ImageRequest):
    """``POST /v1/images/generations``: text-to-image, or with a reference ``image``."""

    negative_prompt: LongText = None
    image: OptionalText = None
    image_reference: Literal["subject", "face"] | None = None
    image_fidelity: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    human_fidelity: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    resolution: Literal["1k", "2k"] | None = None
    aspect_ratio: Literal[ASPECT_RATIOS] | None = None  # type: ignore[valid-type]

    @field_validator("model_name", mode="after")
    @classmethod
    def _always_a_model(cls, value: str | None) -> str:
        return value or IMAGE_GENERATION_MODEL

    @field_validator("image")
    @classmethod
    def _image_is_url_or_base64(cls, value: str | None) -> str | None:
        return check_image_input(value)

    @field_validator(
        "image_reference", "resolution", "aspect_ratio", "image_fidelity", "human_fidelity", mode="before"
    )
    @classmethod
    def _blank_choice(cls, value: Any) -> Any:
        return _blank(value)

    def _references(self) -> int:
        return 1 if self.image is not None else 0

    @model_validator(mode="after")
    def _check_rules(self) -> ImageGenerationRequest:
        problems = self._shared_problems()
        if self.negative_prompt is not None and self.image is not None:
            problems.append("negative_prompt: not supported when image is set")
        if self.image_reference is not None and self.image is None:
            problems.append("image_reference: needs an image")
        if self.image_fidelity is not None and self.image is None:
            problems.append("image_fidelity: needs an image (it is the reference image's weight)")
        if self.human_fidelity is not None and self.image_reference != "subject":
            problems.append("human_fidelity: only with image_reference 'subject'")
        model = self.model_name
        if model in KNOWN_GENERATION_MODELS and model not in FIDELITY_MODELS:
            for name in ("image_fidelity", "human_fidelity"):
                if getattr(self, name) is not None:
                    problems.append(f"{name}: {model} does not take it (kling-v2-1 only)")
        if problems:
            raise RuleViolations(problems)
        return self


class OmniImageRequest(_ImageRequest):
    """``POST /v1/images/omni-image``: images referenced in the prompt as ``<<<image_1>>>``."""

    image_list: list[ListImage] | None = None
    resolution: Literal["1k", "2k", "4k"] | None = None
    result_type: Literal["single", "series"] | None = None
    series_amount: Annotated[int, Field(ge=2, le=9)] | Literal["auto"] | None = None
    aspect_ratio: Literal[("auto", *ASPECT_RATIOS)] | None = None  # type: ignore[valid-type]

    @field_validator("model_name", mode="after")
    @classmethod
    def _always_a_model(cls, value: str | None) -> str:
        return value or OMNI_IMAGE_MODEL

    @field_validator("image_list", mode="before")
    @classmethod
    def _rendered_list(cls, value: Any) -> Any:
        return parse_rendered_json(value)

    @field_validator("resolution", "result_type", "aspect_ratio", "series_amount", mode="before")
    @classmethod
    def _blank_choice(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return _blank(value)

    def _references(self) -> int:
        return len(self.image_list or [])

    @model_validator(mode="after")
    def _check_rules(self) -> OmniImageRequest:
        problems = self._shared_problems()
        series = self.result_type == "series"
        if series and self.n is not None:
            problems.append("n: not used for result_type 'series' (use series_amount)")
        if not series and self.series_amount is not None:
            problems.append("series_amount: only with result_type 'series'")
        model = self.model_name
        if model in KNOWN_OMNI_MODELS:
            if self.resolution == "4k" and model not in OMNI_4K_MODELS:
                problems.append(f"resolution: {model} takes '1k' / '2k'; 4k is kling-v3-omni only")
            if series and model not in OMNI_SERIES_MODELS:
                problems.append(f"result_type: {model} makes single images; series is kling-v3-omni only")
            if model == "kling-v3-omni" and not self.image_list and self.aspect_ratio in (None, "auto"):
                problems.append(
                    "aspect_ratio: kling-v3-omni text-to-image (no image_list) needs a ratio such as "
                    "'16:9' (not 'auto', Kling's default)"
                )
        if problems:
            raise RuleViolations(problems)
        return self
