"""Request models of Kling's audio endpoints: video-to-audio and text-to-audio."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from airflow_provider_kling.api.requests import (
    ForwardCompatibleRequest,
    HttpUrl,
    KlingRequest,
    OptionalText,
    Prompt,
    RuleViolations,
    _blank_to_none,
    _check_http_url,
)


class VideoToAudioRequest(KlingRequest):
    """``POST /v1/audio/video-to-audio``: exactly one of ``video_id`` / ``video_url``."""

    video_id: OptionalText = Field(default=None, description="Id of a Kling-generated video (3-20 s).")
    video_url: HttpUrl = Field(default=None, description="URL of an MP4/MOV video, <= 100 MB, 3-20 s.")
    sound_effect_prompt: Prompt = None
    bgm_prompt: Prompt = None
    asmr_mode: bool = False

    @field_validator("video_url")
    @classmethod
    def _video_url_is_http(cls, value: str | None) -> str | None:
        return _check_http_url(value)

    @model_validator(mode="after")
    def _exactly_one_video(self) -> VideoToAudioRequest:
        if (self.video_id is None) == (self.video_url is None):
            given = (
                "both were given"
                if self.video_id is not None
                else "neither was given (an empty string counts as unset)"
            )
            raise RuleViolations(
                [f"video_id, video_url: {given}; exactly one of video_id or video_url must be given"]
            )
        return self


def _one_decimal(value: float) -> float:
    if round(value, 1) != value:
        raise ValueError("must have at most one decimal place (e.g. 6.5)")
    return value


class TextToAudioRequest(ForwardCompatibleRequest):
    """``POST /v1/audio/text-to-audio``: a sound described by ``prompt``, 3.0-10.0 s long."""

    prompt: Prompt = None
    duration: Annotated[
        Annotated[float, Field(ge=3.0, le=10.0, allow_inf_nan=False), AfterValidator(_one_decimal)] | None,
        BeforeValidator(_blank_to_none),
    ] = None

    @model_validator(mode="after")
    def _prompt_and_duration_given(self) -> TextToAudioRequest:
        missing = [name for name in ("prompt", "duration") if getattr(self, name) is None]
        if missing:
            raise RuleViolations([f"{name}: is required" for name in missing])
        return self
