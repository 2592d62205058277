"""Content items of new-design video requests (frames, videos, elements, voices) and their parsing."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from airflow_provider_kling.api.requests import parse_rendered_json

FRAME_MAX_BYTES = 50 * 1024**2


def blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def whole_seconds(value: Any) -> Any:
    """``duration`` is an int in the new design; a rendered ``"5"`` or ``5.0`` becomes 5."""
    value = blank_to_none(value)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ValueError(f"must be a whole number of seconds (an int in the new design), not {value!r}")


def parsed(value: Any) -> Any:
    return parse_rendered_json(blank_to_none(value))


def _check_frame(value: str) -> str:
    if value.startswith("data:"):
        raise ValueError("send raw Base64 or a URL, without a 'data:...;base64,' prefix")
    if not value.startswith(("http://", "https://")) and len(value) * 3 // 4 > FRAME_MAX_BYTES:
        raise ValueError("a Base64 image must decode to at most 50 MB")
    return value


def _check_video_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("a video is sent as an http(s) URL only")
    return value


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


def _structured(value: Any) -> Any:
    """Rendered JSON (``{...}`` / ``[...]``) is parsed back; any other text (a URL, Base64) stays."""
    value = blank_to_none(value)
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        return parse_rendered_json(value)
    return value


def url_item(value: Any) -> Any:
    """A bare URL (or Base64) is shorthand for ``{"url": ...}``."""
    value = _structured(value)
    return {"url": value} if isinstance(value, str) else value


ItemId = Annotated[str, Field(min_length=1, max_length=64)]


class Frame(Item):
    """A first/last frame or reference image: URL or raw Base64, optional ``id`` for ``@id`` in the prompt."""

    url: Annotated[str, Field(min_length=1)]
    id: ItemId | None = None

    @field_validator("url")
    @classmethod
    def _url_or_base64(cls, value: str) -> str:
        return _check_frame(value)


class VideoRef(Item):
    """A feature/base/motion video: URL only (mp4/mov)."""

    url: Annotated[str, Field(min_length=1)]
    id: ItemId | None = None

    @field_validator("url")
    @classmethod
    def _http_only(cls, value: str) -> str:
        return _check_video_url(value)


class NewElement(Item):
    """An element (subject) and the ``id`` the prompt calls it by (required, unique in the task)."""

    element_id: Annotated[int, Field(ge=0)] | Annotated[str, Field(min_length=1)]
    id: ItemId


class NewVoice(Item):
    voice_id: Annotated[str, Field(min_length=1)]
    id: ItemId


FrameArg = Annotated[Frame | None, BeforeValidator(url_item)]
VideoArg = Annotated[VideoRef | None, BeforeValidator(url_item)]


def list_of(value: Any) -> Any:
    value = parsed(value)
    return None if value == [] else value


def list_of_urls(value: Any) -> Any:
    value = _structured(value)
    value = None if value == [] else value
    if isinstance(value, str):  # one URL given where a list is expected
        value = [value]
    if isinstance(value, list):
        return [{"url": v} if isinstance(v, str) else v for v in value]
    return value


def contents(prompt: str | None, *items: tuple[str, BaseModel | None]) -> list[dict[str, Any]]:
    """``contents[]``: the prompt item first, then each given item as ``{"type": kind, **fields}``."""
    found: list[dict[str, Any]] = [{"type": "prompt", "text": prompt}] if prompt is not None else []
    for kind, item in items:
        if item is not None:
            found.append({"type": kind, **item.model_dump(mode="json", exclude_none=True)})
    return found
