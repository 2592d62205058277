"""Kling's answers: the envelope and the task object, read tolerantly into pydantic models.

Responses are tolerant: optional fields may be missing, new fields are ignored, and a
value Kling documents loosely (units as text, timestamps) is read without failing the task.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from airflow_provider_kling.exceptions import KlingResponseError

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
    """An audio result: t2a/v2a give MP3 + WAV; TTS gives one file as ``url`` + ``duration``."""

    id: str
    url: str | None = None
    duration: str | None = None
    url_mp3: str | None = None
    url_wav: str | None = None
    duration_mp3: str | None = None
    duration_wav: str | None = None

    def to_xcom(self) -> dict[str, Any]:
        """Every audio has the same seven keys; ``url``/``duration`` name the first file there is."""
        entry = self.model_dump()
        entry["url"] = self.url or self.url_mp3 or self.url_wav
        entry["duration"] = self.duration or self.duration_mp3 or self.duration_wav
        return entry


class KlingImage(_Tolerant):
    """An image result; new-design images have no index: their position in ``outputs[]`` is used."""

    index: int | None = None
    url: str | None = None
    watermark_url: str | None = None
    group_id: str | None = None

    def to_xcom(self) -> dict[str, Any]:
        return self.model_dump()


class TaskResult(_Tolerant):
    videos: list[KlingVideo] = Field(default_factory=list)
    audios: list[KlingAudio] = Field(default_factory=list)
    images: list[KlingImage] = Field(default_factory=list)
    # An omni-image series (docs/kling-api.md#omni-image) answers in series_images[]: its images.
    series_images: list[KlingImage] = Field(default_factory=list, exclude=True)

    @model_validator(mode="after")
    def _series_are_the_images(self) -> TaskResult:
        if not self.images and self.series_images:
            self.images = list(self.series_images)
        return self


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


def is_new_design(data: Any) -> bool:
    """Whether a raw task object is a new-design one (``id``, ``status``), as parsing reads it."""
    return isinstance(data, dict) and "task_id" not in data and "id" in data and "status" in data


def raw_status(entry: dict[str, Any]) -> Any:
    """A raw task entry's status (either design) as ``KlingTask.task_status.value`` would read it
    (no parsing): the new design's ``succeeded`` reads ``succeed``."""
    return _normalize_status(entry.get("status") if is_new_design(entry) else entry.get("task_status"))


def raw_task_ids(entry: Any) -> tuple[str | None, str | None]:
    """A raw task entry's (Kling task id, external task id), either design, without parsing it."""
    if not isinstance(entry, dict):
        return None, None
    if is_new_design(entry):
        task_id, external = entry.get("id"), entry.get("external_id")
    else:
        info = entry.get("task_info")
        task_id, external = (
            entry.get("task_id"),
            info.get("external_task_id") if isinstance(info, dict) else None,
        )
    return _id_text(task_id), _id_text(external)


def _id_text(value: Any) -> str | None:
    # As the model reads ids (numbers coerced to text); anything else is no id.
    return (
        str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "" else None
    )


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
    """A task as returned by submit, query, list and callbacks, in either API design.

    A new-design task object (``id``, ``status``, ``outputs[]``, ``billing[]``) is read into
    the same fields as a legacy one (see ``from_new_design``), so everything after parsing
    (XCom, publishing, templates) is the same for both; ``api_design`` says which it was.
    """

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, defer_build=True)

    api_design: str = "legacy"
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

    @model_validator(mode="before")
    @classmethod
    def _read_new_design(cls, data: Any) -> Any:
        if is_new_design(data):
            return from_new_design(data)
        return data

    @property
    def external_task_id(self) -> str | None:
        return self.task_info.external_task_id or None

    @property
    def is_terminal(self) -> bool:
        return self.task_status.is_terminal

    def to_xcom(self) -> dict[str, Any]:
        """The JSON-serializable dict an operator returns (and pushes to XCom).

        ``task_id`` is Kling's id (templates use it); ``kling_task_id`` is the same, named plainly.
        """
        return {
            "task_id": self.task_id,
            "kling_task_id": self.task_id,
            "external_task_id": self.external_task_id,
            "status": self.task_status.value,
            "status_message": self.task_status_msg or "",
            "api_design": self.api_design,
            "videos": [v.to_xcom() for v in self.task_result.videos],
            "audios": [a.to_xcom() for a in self.task_result.audios],
            "images": [i.to_xcom() for i in self.task_result.images],
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "credits": units_from_text(self.final_unit_deduction),
            "balance_deduction": (
                self.final_balance_deduction.model_dump() if self.final_balance_deduction else None
            ),
            # v2a: the source video {id, url, duration}; None when Kling does not send it.
            "parent_video": self.task_info.parent_video.to_xcom() if self.task_info.parent_video else None,
        }


# New design -> legacy names (docs/kling-api.md#new-design): outputs[] are typed items.
_NEW_AUDIO_KEYS = {
    "mp3_url": "url_mp3",
    "wav_url": "url_wav",
    "mp3_duration": "duration_mp3",
    "wav_duration": "duration_wav",
}


def _decimal_sum(amounts: list[Any]) -> str | None:
    """Kling's decimal strings added up; one amount is passed through as Kling wrote it."""
    present = [a for a in amounts if a is not None]
    if len(present) == 1 and units_from_text(str(present[0])) is not None:
        return str(present[0])
    total = 0.0
    seen = False
    for amount in amounts:
        value = units_from_text(str(amount)) if amount is not None else None
        if value is not None:
            total += value
            seen = True
    return f"{total:g}" if seen else None


def from_new_design(data: dict[str, Any]) -> dict[str, Any]:
    """A new-design task object as the legacy field names the models read.

    Units: the sum of ``billing[charge_type=unit].amount``; cash: ``billing[charge_type=cash]``'s
    ``amount`` (discounted) and ``list_price`` as ``final_balance_deduction{quota,list_price}``.
    """
    outputs = data.get("outputs") or []
    videos: list[dict[str, Any]] = []
    audios: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    for item in outputs if isinstance(outputs, list) else []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "video":
            videos.append(item)
        elif kind == "audio":
            audios.append({_NEW_AUDIO_KEYS.get(str(k), str(k)): v for k, v in item.items()})
        elif kind == "image":
            images.append({"index": len(images), **item})
    billing = [b for b in data.get("billing") or [] if isinstance(b, dict)]
    units = [b.get("amount") for b in billing if b.get("charge_type") == "unit"]
    cash = [b for b in billing if b.get("charge_type") == "cash"]
    return {
        "api_design": "new",
        "task_id": data.get("id"),
        "task_status": data.get("status"),
        "task_status_msg": data.get("message"),
        "task_info": {"external_task_id": data.get("external_id")},
        "task_result": {"videos": videos, "audios": audios, "images": images},
        "created_at": data.get("create_time"),
        "updated_at": data.get("update_time"),
        "final_unit_deduction": _decimal_sum(units),
        "final_balance_deduction": (
            {
                "quota": _decimal_sum([b.get("amount") for b in cash]),
                "list_price": _decimal_sum([b.get("list_price") for b in cash]),
            }
            if cash
            else None
        ),
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
