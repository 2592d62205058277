"""Checks of a submit body, per endpoint; a violation is 1201 naming the field.

Contract: docs/kling-api.md#video-to-audio, docs/kling-api.md#text-to-audio and
docs/kling-api.md#video-requests; the fields of every create in docs/kling-api.md#endpoints.

The emulator deliberately shares no validation code with the client: it checks requests on its
own, so a client bug is caught rather than mirrored.
"""

from __future__ import annotations

from typing import Any

from kling_emulator.field_checks import invalid, number, text, url
from kling_emulator.state import EmulatorConfig, TaskStore
from kling_emulator.video_rules import validate_video


def validate(kind: str, body: dict[str, Any], store: TaskStore, config: EmulatorConfig) -> float | None:
    """Check a submit body; return the duration (s) of the media the task will produce.

    ``None`` for a ``video_url``: only its file knows its duration, so ``submit`` fetches it.
    """
    # docs/kling-api.md#endpoints; Kling states no maximum length for external_task_id (128 is ours).
    text(body, "external_task_id", 128)
    url(body, "callback_url")
    if kind == "video-to-audio":
        return _video_to_audio(body, store, config)
    if kind in ("text2video", "image2video"):
        return validate_video(kind, body, config.extra_models)
    return _text_to_audio(body)


def _video_to_audio(body: dict[str, Any], store: TaskStore, config: EmulatorConfig) -> float | None:
    """docs/kling-api.md#video-to-audio: exactly one of video_id / video_url; prompts <= 200 chars."""
    video_id = text(body, "video_id")
    video_url = url(body, "video_url")
    if (video_id is None) == (video_url is None):
        raise invalid("Either video_id or video_url must be provided, but not both")
    text(body, "sound_effect_prompt", 200)
    text(body, "bgm_prompt", 200)
    if "asmr_mode" in body and not isinstance(body["asmr_mode"], bool):
        raise invalid("asmr_mode must be a boolean")
    if video_id is None:
        return None
    seconds = store.videos.get(video_id)
    if seconds is None:
        raise invalid(f"video_id {video_id} not found (or older than 30 days)")
    return check_video_seconds(seconds, config)


def _text_to_audio(body: dict[str, Any]) -> float:
    """``prompt`` required, <= 200 chars; ``duration`` required, 3.0-10.0 s with one decimal place.

    Contract: docs/kling-api.md#text-to-audio.
    """
    text(body, "prompt", 200, required=True)
    if body.get("duration") is None:
        raise invalid("duration is required (3.0 to 10.0 seconds)")
    seconds = number(body["duration"], "duration", 3.0, 10.0)
    if abs(seconds * 10 - round(seconds * 10)) > 1e-6:
        raise invalid(f"duration must have at most one decimal place (got {seconds})")
    return round(seconds, 1)


def check_video_seconds(seconds: float, config: EmulatorConfig, source: str = "") -> float:
    """A video-to-audio source must last ``min_video_seconds``..``max_video_seconds`` (3.0-20.0 s).

    Contract: docs/kling-api.md#video-to-audio.
    """
    low, high = config.min_video_seconds, config.max_video_seconds
    if not low <= seconds <= high:
        raise invalid(f"Video duration must be between {low} and {high} seconds{source}")
    return seconds
