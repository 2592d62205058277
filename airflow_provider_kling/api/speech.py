"""Request models and answers of Kling's speech endpoints: TTS, voices, identify-face, lip-sync, avatar."""

from __future__ import annotations

import base64
import binascii
import math
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from airflow_provider_kling.api.requests import (
    HttpUrl,
    KlingRequest,
    LongText,
    OptionalText,
    RuleViolations,
    _blank_to_none,
    _check_http_url,
    parse_rendered_json,
)
from airflow_provider_kling.api.tasks import parse_model
from airflow_provider_kling.exceptions import KlingValidationError

TTS_TEXT_MAX_CHARS = 1000
SOUND_FILE_MAX_BYTES = 5 * 1024 * 1024
IMAGE_MAX_BYTES = 10 * 1024 * 1024
MIN_OVERLAP_MS = 2000  # the cropped audio and its overlap with the face: at least 2 s (§10.2)
LIP_SYNC_MAX_AUDIO_MS = 60_000
AVATAR_MAX_AUDIO_MS = 300_000
SESSION_VALID_SECONDS = 24 * 3600  # identify-face session_id lifetime (§10.1, CN copy)


def _one_decimal(value: float) -> float:
    if round(value, 1) != value:
        raise ValueError("must have at most one decimal place (e.g. 1.2)")
    return value


def _check_url_or_base64(value: str | None, max_bytes: int, what: str) -> str | None:
    """An http(s) URL, or raw Base64 of at most ``max_bytes`` (no ``data:`` prefix)."""
    if value is None:
        return None
    if value.startswith("data:"):
        raise ValueError("send raw Base64 or a URL, without a 'data:...;base64,' prefix")
    if value.startswith(("http://", "https://")):
        return _check_http_url(value)
    if "://" in value:
        raise ValueError(f"must be an http(s) URL or raw Base64 {what}")
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"must be an http(s) URL or raw Base64 {what} (not valid Base64)") from None
    if len(decoded) > max_bytes:
        raise ValueError(f"a Base64 {what} must decode to at most {max_bytes // (1024 * 1024)} MB")
    return value


def _sound_file(value: str | None) -> str | None:
    return _check_url_or_base64(value, SOUND_FILE_MAX_BYTES, "mp3/wav/m4a/aac file")


def _exactly_one(given: dict[str, Any]) -> list[str]:
    """``[problem]`` unless exactly one of the named values is set; says which were given."""
    (a, va), (b, vb) = given.items()
    if va is not None and vb is not None:
        return [f"{a}: give exactly one of {a} or {b}, not both (both were given)"]
    if va is None and vb is None:
        return [f"{a}: give exactly one of {a} or {b} (neither was given; an empty string counts as unset)"]
    return []


class _NoTaskIds(KlingRequest):
    """A synchronous call: Kling documents no ``external_task_id`` / ``callback_url`` for it."""

    @model_validator(mode="after")
    def _no_task_ids(self) -> _NoTaskIds:
        problems = [
            f"{name}: {type(self).__name__} takes no {name} (a synchronous call, no task to find or notify)"
            for name in ("external_task_id", "callback_url")
            if getattr(self, name) is not None
        ]
        if problems:
            raise RuleViolations(problems)
        return self


Milliseconds = Annotated[Annotated[int, Field(ge=0, strict=False)] | None, BeforeValidator(_blank_to_none)]
Volume = Annotated[
    Annotated[float, Field(ge=0.0, le=2.0, allow_inf_nan=False)] | None, BeforeValidator(_blank_to_none)
]


TtsText = Annotated[
    Annotated[str, StringConstraints(max_length=TTS_TEXT_MAX_CHARS)] | None, BeforeValidator(_blank_to_none)
]


class TextToSpeechRequest(_NoTaskIds):
    """``POST /v1/audio/tts`` (§9.1): ``text`` <= 1000 characters in a preset ``voice_id``."""

    text: Annotated[
        Annotated[str, StringConstraints(max_length=TTS_TEXT_MAX_CHARS)] | None,
        BeforeValidator(_blank_to_none),
    ] = None
    voice_id: OptionalText = None
    voice_language: Literal["zh", "en"] = "zh"
    voice_speed: Annotated[
        Annotated[float, Field(ge=0.8, le=2.0, allow_inf_nan=False), AfterValidator(_one_decimal)] | None,
        BeforeValidator(_blank_to_none),
    ] = None

    @field_validator("voice_language", mode="before")
    @classmethod
    def _default_language(cls, value: Any) -> Any:
        return "zh" if value is None or (isinstance(value, str) and not value.strip()) else value

    @model_validator(mode="after")
    def _text_and_voice_given(self) -> TextToSpeechRequest:
        missing = [f"{name}: is required" for name in ("text", "voice_id") if getattr(self, name) is None]
        if missing:
            raise RuleViolations(missing)
        return self


class IdentifyFaceRequest(_NoTaskIds):
    """``POST /v1/videos/identify-face`` (§10.1): exactly one of ``video_id`` / ``video_url``."""

    video_id: OptionalText = None
    video_url: HttpUrl = None

    @field_validator("video_url")
    @classmethod
    def _video_url_is_http(cls, value: str | None) -> str | None:
        return _check_http_url(value)

    @model_validator(mode="after")
    def _exactly_one_video(self) -> IdentifyFaceRequest:
        problems = _exactly_one({"video_id": self.video_id, "video_url": self.video_url})
        if problems:
            raise RuleViolations(problems)
        return self


class FaceChoice(BaseModel):
    """One ``face_choose[]`` item (§10.2): the face, the audio, its crop (audio clock) and insert point."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)

    face_id: Annotated[str, StringConstraints(min_length=1)]
    audio_id: OptionalText = None
    sound_file: OptionalText = None
    sound_start_time: Milliseconds = None
    sound_end_time: Milliseconds = None
    sound_insert_time: Milliseconds = None
    sound_volume: Volume = None
    original_audio_volume: Volume = None

    @field_validator("face_id", mode="before")
    @classmethod
    def _face_id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("sound_file")
    @classmethod
    def _sound_file_is_url_or_base64(cls, value: str | None) -> str | None:
        return _sound_file(value)

    @model_validator(mode="after")
    def _rules(self) -> FaceChoice:
        problems = _exactly_one({"audio_id": self.audio_id, "sound_file": self.sound_file})
        for name in ("sound_start_time", "sound_end_time", "sound_insert_time"):
            if getattr(self, name) is None:
                problems.append(f"{name}: is required (milliseconds)")
        start, end = self.sound_start_time, self.sound_end_time
        if start is not None and end is not None:
            if end - start < MIN_OVERLAP_MS:
                problems.append(
                    f"sound_end_time: must be at least {MIN_OVERLAP_MS} ms after sound_start_time "
                    f"(the cropped audio is {end - start} ms; Kling needs >= 2 s)"
                )
            elif end - start > LIP_SYNC_MAX_AUDIO_MS:
                problems.append(
                    f"sound_end_time: the cropped audio is {end - start} ms; lip-sync takes at most 60 s"
                )
        if problems:
            raise RuleViolations(problems)
        return self


class AdvancedLipSyncRequest(KlingRequest):
    """``POST /v1/videos/advanced-lip-sync`` (§10.2): one face of an identify-face session."""

    session_id: Annotated[str, StringConstraints(min_length=1)]
    face_choose: Annotated[list[FaceChoice], Field(min_length=1, max_length=1)]
    watermark_info: dict[str, bool] | None = None

    @field_validator("face_choose", "watermark_info", mode="before")
    @classmethod
    def _rendered_structure(cls, value: Any) -> Any:
        return parse_rendered_json(value)


class AvatarRequest(KlingRequest):
    """``POST /v1/videos/avatar/image2video`` (§11): a portrait and a voice make a talking video."""

    image: OptionalText = None
    audio_id: OptionalText = None
    sound_file: OptionalText = None
    prompt: LongText = None
    mode: Literal["std", "pro"] = "std"
    watermark_info: dict[str, bool] | None = None

    @field_validator("mode", mode="before")
    @classmethod
    def _default_mode(cls, value: Any) -> Any:
        return "std" if value is None or (isinstance(value, str) and not value.strip()) else value

    @field_validator("watermark_info", mode="before")
    @classmethod
    def _rendered_structure(cls, value: Any) -> Any:
        return parse_rendered_json(value)

    @field_validator("image")
    @classmethod
    def _image_is_url_or_base64(cls, value: str | None) -> str | None:
        return _check_url_or_base64(value, IMAGE_MAX_BYTES, "jpg/png image")

    @field_validator("sound_file")
    @classmethod
    def _sound_file_is_url_or_base64(cls, value: str | None) -> str | None:
        return _sound_file(value)

    @model_validator(mode="after")
    def _image_and_one_audio(self) -> AvatarRequest:
        problems = [] if self.image is not None else ["image: is required (a URL or raw Base64 portrait)"]
        problems += _exactly_one({"audio_id": self.audio_id, "sound_file": self.sound_file})
        if problems:
            raise RuleViolations(problems)
        return self


# --------------------------------------------------------------------------------------------
# Answers of the synchronous calls (tolerant, as api/tasks.py)


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, defer_build=True)


class Face(_Tolerant):
    """One ``face_data[]`` item: the face's lip-syncable interval in ms of the video."""

    face_id: str
    face_image: str | None = None
    start_time: int
    end_time: int

    @property
    def on_screen_ms(self) -> int:
        return self.end_time - self.start_time


class FaceSession(_Tolerant):
    """The identify-face answer: ``session_id`` (valid 24 h) and the faces found."""

    session_id: str = Field(min_length=1)
    face_data: list[Face] = Field(default_factory=list)
    final_unit_deduction: str | None = None

    def choose(self, face_id: str | None) -> Face:
        """The face named ``face_id``; by default the one on screen longest (the first of equals)."""
        if not self.face_data:
            raise KlingValidationError(
                "face_id: Kling found no face in the video (identify-face session "
                f"{self.session_id}): lip-sync needs a visible face"
            )
        if face_id is None or not str(face_id).strip():  # a template rendered empty: the default
            return max(self.face_data, key=lambda face: face.on_screen_ms)  # max keeps the first of equals
        for face in self.face_data:
            if face.face_id == str(face_id):
                return face
        raise KlingValidationError(
            f"face_id: no face {face_id!r} in the video; Kling found {[f.face_id for f in self.face_data]}"
        )


def parse_face_session(data: Any) -> FaceSession:
    return parse_model(FaceSession, data, "identify-face answer")


class Voice(_Tolerant):
    voice_id: str
    voice_name: str | None = None
    trial_url: str | None = None
    owned_by: str | None = None


def parse_voices(data: Any) -> list[Voice]:
    """``data[]{task_result.voices[]}`` of ``GET /v1/general/presets-voices`` (§9.2), flattened."""
    entries = data if isinstance(data, list) else [data]
    voices: list[Voice] = []
    for entry in entries:
        result = entry.get("task_result") if isinstance(entry, dict) else None
        for item in (result or {}).get("voices") or []:
            voices.append(parse_model(Voice, item, "preset voice"))
    return voices


def check_face_window(face: Face, choice: FaceChoice) -> None:
    """The inserted audio must overlap the face's interval by >= 2 s (§10.2), checked before paying."""
    assert choice.sound_start_time is not None and choice.sound_end_time is not None
    assert choice.sound_insert_time is not None
    length = choice.sound_end_time - choice.sound_start_time
    begin, end = choice.sound_insert_time, choice.sound_insert_time + length
    overlap = min(end, face.end_time) - max(begin, face.start_time)
    if overlap < MIN_OVERLAP_MS:
        raise KlingValidationError(
            f"sound_insert_time: the audio plays {begin}-{end} ms of the video but face {face.face_id} is "
            f"on screen {face.start_time}-{face.end_time} ms: they overlap {max(overlap, 0)} ms, "
            f"Kling needs >= {MIN_OVERLAP_MS} ms"
        )


def seconds_to_ms(value: Any, field: str) -> int | None:
    """An audio duration in seconds (TTS's ``"3.276"``) as whole milliseconds; None when not given."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise KlingValidationError(f"{field}: must be a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise KlingValidationError(f"{field}: must be a positive number of seconds, got {value!r}")
    return int(seconds * 1000)


def is_http_url(value: str) -> bool:
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)
