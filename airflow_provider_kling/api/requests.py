"""What every Kling request model shares: strict fields, URL and prompt rules, readable errors.

Requests are strict: unknown fields and contract violations are refused before anything is
sent (and before anything is paid for).
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlparse

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.utils.rendered import parse_rendered

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
            return parse_rendered(value)
        except ValueError:
            raise ValueError("must be JSON (or a Python literal); the rendered text is neither") from None
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
