"""Pydantic models for Kling requests and responses.

Requests are strict (unknown fields and contract violations are refused before anything is
sent); responses are tolerant (optional fields may be missing, new fields are ignored).
"""

from __future__ import annotations

import ast
import json
import math
from enum import Enum
from typing import Annotated, Any, TypeVar
from urllib.parse import urlparse

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

from airflow_provider_kling.exceptions import KlingResponseError, KlingValidationError

PROMPT_MAX_CHARS = 200


def _blank_to_none(value: Any) -> Any:
    """The seed sends ``""`` for fields it does not use: an empty string means "not given"."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _check_http_url(value: str | None) -> str | None:
    if value is None:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return value


OptionalText = Annotated[str | None, BeforeValidator(_blank_to_none)]
HttpUrl = OptionalText  # checked by field validators: http(s) scheme and a host
Prompt = Annotated[
    Annotated[str, StringConstraints(max_length=PROMPT_MAX_CHARS)] | None, BeforeValidator(_blank_to_none)
]
LongText = Annotated[
    Annotated[str, StringConstraints(max_length=2500)] | None, BeforeValidator(_blank_to_none)
]
ExternalId = Annotated[
    Annotated[str, StringConstraints(max_length=128)] | None, BeforeValidator(_blank_to_none)
]


class KlingRequest(BaseModel):
    """Base of every submit payload."""

    # defer_build: validators are built on first use, not at import (keeps operator imports cheap).
    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, validate_default=True, defer_build=True
    )

    external_task_id: ExternalId = Field(
        default=None, description="Caller's own id; unique within the account."
    )
    callback_url: HttpUrl = Field(default=None, description="Kling POSTs the task there on every change.")

    @field_validator("callback_url")
    @classmethod
    def _callback_is_http(cls, value: str | None) -> str | None:
        return _check_http_url(value)

    @field_validator("external_task_id")
    @classmethod
    def _external_id_is_addressable(cls, value: str | None) -> str | None:
        # A retry looks the task up at .../{external_task_id}: "." and ".." would name another path.
        if value is not None and set(value) <= {"."}:
            raise ValueError("must not consist of dots only (tasks are looked up by it in a URL path)")
        return value

    def to_payload(self) -> dict[str, Any]:
        """JSON body: fields that were not given are left out."""
        return self.model_dump(exclude_none=True, mode="json")

    @classmethod
    def build(cls, **fields: Any) -> KlingRequest:
        """Validate ``fields`` and raise :class:`KlingValidationError` naming each broken rule."""
        try:
            return cls(**fields)
        except ValidationError as exc:
            raise KlingValidationError(describe_validation_error(cls.__name__, exc)) from None


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
            raise ValueError(
                "exactly one of video_id or video_url must be given (an empty string counts as unset)"
            )
        return self


class RuleViolations(ValueError):
    """Cross-field rules a model validator found broken, each already worded ``field: rule``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_rendered_json(value: Any) -> Any:
    """A template renders a dict or list to text: JSON (or the repr Jinja makes of it) is parsed back."""
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except ValueError:
            try:
                return ast.literal_eval(value)
            except (ValueError, SyntaxError):
                raise ValueError("must be JSON; the rendered text is not valid JSON") from None
    return value


class ForwardCompatibleRequest(KlingRequest):
    """A request that can carry parameters newer than this provider in ``extra_body``.

    ``extra_body`` must be a JSON object; its keys are sent as given, next to the provider's
    fields, and may not name a field this model sets itself (that would bypass its rules).
    """

    extra_body: Annotated[dict[str, Any] | None, BeforeValidator(parse_rendered_json)] = Field(
        default=None, exclude=True, description="Parameters newer than this provider, sent as given."
    )

    @model_validator(mode="after")
    def _extra_body_is_new_json(self) -> ForwardCompatibleRequest:
        if not self.extra_body:
            return self
        own = sorted(set(self.extra_body) & set(type(self).model_fields))
        if own:
            raise RuleViolations(
                [f"extra_body.{key}: {key} is set by the provider (use the {key} argument)" for key in own]
            )
        try:
            json.dumps(self.extra_body, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise RuleViolations([f"extra_body: must be valid JSON ({exc})"]) from None
        return self

    def to_payload(self) -> dict[str, Any]:
        return {**(self.extra_body or {}), **super().to_payload()}


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


def describe_validation_error(model_name: str, exc: ValidationError) -> str:
    """One line per broken rule, each naming the field: ``video_url: must be an http(s) URL``."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, RuleViolations):  # already worded "field: rule", one per problem
            prefix = ".".join(str(p) for p in err["loc"])
            lines += [f"{prefix}.{p}" if prefix else p for p in cause.problems]
            continue
        field = ".".join(str(p) for p in err["loc"]) or "request"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{field}: {msg}")
    return f"Invalid {model_name}: " + "; ".join(lines)


# --------------------------------------------------------------------------------------------
# Responses


class TaskStatus(str, Enum):
    SUBMITTED = "submitted"
    PROCESSING = "processing"
    SUCCEED = "succeed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in (TaskStatus.SUCCEED, TaskStatus.FAILED)


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, defer_build=True)


class KlingVideo(_Tolerant):
    id: str
    url: str | None = None
    duration: str | None = None
    watermark_url: str | None = None  # only when the request enabled watermark_info

    def to_xcom(self) -> dict[str, Any]:
        entry = self.model_dump()
        if entry["watermark_url"] is None:  # keep entries of unwatermarked videos as they were
            del entry["watermark_url"]
        return entry


class KlingAudio(_Tolerant):
    id: str
    url_mp3: str | None = None
    url_wav: str | None = None
    duration_mp3: str | None = None
    duration_wav: str | None = None


class TaskResult(_Tolerant):
    videos: list[KlingVideo] = Field(default_factory=list)
    audios: list[KlingAudio] = Field(default_factory=list)


class TaskInfo(_Tolerant):
    external_task_id: str | None = None
    # Informational: a parent_video without an id must not make the task unreadable.
    parent_video: Annotated[KlingVideo | None, WrapValidator(_none_if_invalid)] = None


class BalanceDeduction(_Tolerant):
    """``final_balance_deduction``: the cash a task cost, after discount (``quota``) and at list price."""

    quota: str | None = None
    list_price: str | None = None


def units_from_text(value: str | None) -> float | None:
    """``final_unit_deduction`` ("1.5") as a number; None when absent or not a finite number."""
    if value is None:
        return None
    try:
        units = float(value)
    except ValueError:
        return None
    return units if math.isfinite(units) else None


# The newer callback format says "succeeded"; the query API says "succeed".
_STATUS_ALIASES = {"succeeded": "succeed"}


def _normalize_status(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip().lower()
        return _STATUS_ALIASES.get(value, value)
    return value


def _none_to_empty(value: Any) -> Any:
    return {} if value is None else value


def _none_if_invalid(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError:
        return None


# Epoch milliseconds as documented. Informational only: another server's ISO date string
# becomes None instead of making the whole task (and so the wait for it) unreadable.
Timestamp = Annotated[int | None, WrapValidator(_none_if_invalid)]


class KlingTask(_Tolerant):
    """A task as returned by submit, query, list and the legacy callback."""

    task_id: str = Field(min_length=1)
    task_status: Annotated[TaskStatus, BeforeValidator(_normalize_status)]
    task_status_msg: str | None = None
    task_info: Annotated[TaskInfo, BeforeValidator(_none_to_empty)] = Field(default_factory=TaskInfo)
    task_result: Annotated[TaskResult, BeforeValidator(_none_to_empty)] = Field(default_factory=TaskResult)
    created_at: Timestamp = None
    updated_at: Timestamp = None
    # Informational, like the timestamps: a malformed deduction must not make the task unreadable.
    final_unit_deduction: Annotated[str | None, WrapValidator(_none_if_invalid)] = None
    final_balance_deduction: Annotated[BalanceDeduction | None, WrapValidator(_none_if_invalid)] = None

    @property
    def external_task_id(self) -> str | None:
        return self.task_info.external_task_id or None

    @property
    def is_terminal(self) -> bool:
        return self.task_status.is_terminal

    def to_xcom(self) -> dict[str, Any]:
        """The JSON-serializable dict an operator returns (and pushes to XCom)."""
        return {
            "task_id": self.task_id,
            "external_task_id": self.external_task_id,
            "status": self.task_status.value,
            "status_message": self.task_status_msg or "",
            "videos": [v.to_xcom() for v in self.task_result.videos],
            "audios": [a.model_dump() for a in self.task_result.audios],
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "credits": units_from_text(self.final_unit_deduction),
            "balance_deduction": (
                self.final_balance_deduction.model_dump() if self.final_balance_deduction else None
            ),
            # v2a: the source video {id, url, duration}; None when Kling does not send it.
            "parent_video": self.task_info.parent_video.to_xcom() if self.task_info.parent_video else None,
        }


class Envelope(_Tolerant):
    """``{"code", "message", "request_id", "data"}`` around every answer."""

    code: int
    message: str | None = None
    request_id: str | None = None
    data: Any = None


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_model(model: type[ModelT], payload: Any, what: str) -> ModelT:
    """Parse ``payload`` into ``model``; a thin or broken body names what is missing."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False, include_input=False):
            field = ".".join(str(p) for p in err["loc"]) or "body"
            problems.append(f"{field} {'is missing' if err['type'] == 'missing' else err['msg']}")
        raise KlingResponseError(f"Kling's {what} could not be understood: " + "; ".join(problems)) from None


def parse_task(data: Any, what: str = "task") -> KlingTask:
    if not isinstance(data, dict):
        raise KlingResponseError(
            f"Kling's {what} has no task object in 'data' (got {type(data).__name__}); "
            "expected data.task_id and data.task_status"
        )
    return parse_model(KlingTask, data, what)


def parse_task_list(data: Any) -> list[KlingTask]:
    if not isinstance(data, list):
        raise KlingResponseError(f"Kling's task list has no list in 'data' (got {type(data).__name__})")
    return [parse_task(item, "task list entry") for item in data]


_MOVED_TO_VIDEO_REQUESTS = ("TextToVideoRequest", "ImageToVideoRequest")


def __getattr__(name: str) -> Any:
    """``from airflow_provider_kling.models import TextToVideoRequest`` keeps working.

    The video request models live in ``video_requests`` (which imports this module), so they
    are looked up on first access instead of imported here.
    """
    if name in _MOVED_TO_VIDEO_REQUESTS:
        from airflow_provider_kling import video_requests

        return getattr(video_requests, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
