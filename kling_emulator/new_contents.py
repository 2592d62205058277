"""The ``contents[]`` items of new-design creates (§8.3): types per model, fields, counts, frames, URLs."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from kling_emulator.field_checks import choice, invalid, text
from kling_emulator.images import ImageProblem, image_size

if TYPE_CHECKING:
    from kling_emulator.new_rules import NewModel

# First/last frames and reference images (§8.3): jpg/jpeg/png, <= 50 MB, sides >= 300 px, 1:2.5-2.5:1.
MAX_FRAME_BYTES = 50 * 1024**2


def known_keys(
    where: str, value: dict[str, Any], allowed: set[str], model: str, known: set[str] | None = None
) -> None:
    """A field of the design (``known``, default: any) that this place lacks is a 1201 naming it.

    Names the emulator does not know at all pass, as on the legacy paths: Kling adds fields, and
    the provider forwards newer ones (``extra_settings``). ``null`` counts as "not given".
    """
    wrong = sorted(
        k for k, v in value.items() if k not in allowed and v is not None and (known is None or k in known)
    )
    if wrong:
        raise invalid(f"{where}{wrong[0]} is not a field of {model} (allowed: {', '.join(sorted(allowed))})")


_ITEM_FIELDS = {
    "prompt": {"type", "text"},
    "first_frame": {"type", "url", "id"},
    "last_frame": {"type", "url", "id"},
    "refer_image": {"type", "url", "id"},
    "feature_video": {"type", "url", "id"},
    "base_video": {"type", "url", "id"},
    "element": {"type", "element_id", "id"},
    "voice": {"type", "voice_id", "id"},
    "image": {"type", "url"},
    "video": {"type", "url"},
}

ITEM_KEYS = set().union(*_ITEM_FIELDS.values())


def contents(body: dict[str, Any], rules: NewModel, model: str) -> dict[str, list[dict[str, Any]]]:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise invalid("contents is required: a non-empty array of typed items")
    by_type: dict[str, list[dict[str, Any]]] = {}
    ids: set[str] = set()
    for i, item in enumerate(contents):
        where = f"contents[{i}]."
        if not isinstance(item, dict):
            raise invalid(f"contents[{i}] must be an object with a type")
        kind = choice(item, "type", rules.items, where=where)
        if kind is None:
            raise invalid(f"{where}type is required ({', '.join(rules.items)})")
        known_keys(where, item, _ITEM_FIELDS[kind], model, ITEM_KEYS)
        _item(item, kind, where, rules)
        ident = text(item, "id", 64, required=kind == "element", where=where)
        if ident is not None:
            if ident in ids:
                raise invalid(f"{where}id {ident!r} is used twice; ids are unique in a task")
            ids.add(ident)
        by_type.setdefault(kind, []).append(item)
    for kind in ("prompt", "first_frame", "last_frame", "image", "video"):
        if len(by_type.get(kind, [])) > 1:
            raise invalid(f"contents: at most one {kind} item")
    if len(by_type.get("element", [])) > rules.max_elements:
        raise invalid(f"contents: at most {rules.max_elements} element items for {model}")
    if len(by_type.get("voice", [])) > rules.max_voices:
        raise invalid(f"contents: at most {rules.max_voices} voice items for {model}")
    if "last_frame" in by_type and "first_frame" not in by_type:
        raise invalid("contents: a last_frame needs a first_frame (last-frame-only is not supported)")
    if "first_frame" in rules.items and not rules.omni and "first_frame" not in by_type:
        raise invalid(f"contents: a first_frame item is required for image-to-video {model}")
    if rules.orientation:
        for kind in ("image", "video"):
            if kind not in by_type:
                raise invalid(f"contents: an {kind} item is required for motion control")
    return by_type


def _item(item: dict[str, Any], kind: str, where: str, rules: NewModel) -> None:
    if kind == "prompt":
        text(item, "text", rules.prompt_max, required=True, where=where)
    elif kind in ("element", "voice"):
        text(item, f"{kind}_id", 64, required=True, where=where)
    elif kind in ("feature_video", "base_video", "video"):
        http_url(item, "url", where, required=True)  # videos by URL only
    else:
        value = text(item, "url", required=True, where=where) or ""
        if not value.startswith(("http://", "https://")):
            _check_frame(value, where + "url")


def http_url(body: dict[str, Any], name: str, where: str, required: bool = False) -> str | None:
    value = text(body, name, 2048, required=required, where=where)
    if value is not None:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise invalid(f"{where}{name} must be an http(s) URL")
    return value


def _check_frame(value: str, name: str) -> None:
    """A raw Base64 image: jpg/jpeg/png, <= 50 MB, sides >= 300 px, ratio 1:2.5-2.5:1 (§8.3)."""
    if value.startswith("data:"):
        raise invalid(f"{name} must be raw Base64 without a 'data:' prefix, or an http(s) URL")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"{name} must be an http(s) URL or Base64 image data") from None
    if len(data) > MAX_FRAME_BYTES:
        raise invalid(f"{name} is {len(data)} bytes; at most 50 MB is allowed")
    try:
        width, height = image_size(data)
    except ImageProblem as problem:
        raise invalid(f"{name} {problem}") from None
    if min(width, height) < 300:
        raise invalid(f"{name} is {width}x{height} px; each side must be at least 300 px")
    if not 1 / 2.5 <= width / height <= 2.5:
        raise invalid(f"{name} is {width}x{height} px; the aspect ratio must be between 1:2.5 and 2.5:1")
