"""Request rules of the new-design create paths (``/text-to-video/{model}`` ...): body, settings, contents[].

Contract: KLING_API §8.1 (paths and path models), §8.2 (body per create path), §8.3 (``contents[]``
item types). Every violation is Kling's 1201 (HTTP 400) with a message naming the field.

Written on its own, like the legacy rules: it shares no code with the provider's request models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kling_emulator.field_checks import choice, invalid, obj, text
from kling_emulator.new_contents import contents, http_url, known_keys

# The four create families and their documented path models (§8.1).
FAMILIES = ("text-to-video", "image-to-video", "omni-video", "motion-control")
FIFTEEN = tuple(range(3, 16))
FIVE_TEN = (5, 10)
RESOLUTIONS = ("720p", "1080p", "4k")
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
# Motion control has no duration: the output follows the usable motion (>= 3 s). The emulator's
# made-up but plausible fixed length.
MOTION_SECONDS = 5.0
MAX_EXTERNAL_ID = 128  # Kling states no maximum; the emulator's, as on the legacy paths
# Fields of the design refused where a path model lacks them; the legacy body's fields too (a client
# mixing the designs up). Names unknown here pass (see new_contents.known_keys).
SETTINGS_KEYS = {"resolution", "audio", "duration", "aspect_ratio", "multi_shot", "character_orientation"}
LEGACY_KEYS = {"model_name", "callback_url", "external_task_id", "watermark_info", "negative_prompt", "mode"}
TOP_KEYS = {"prompt", "contents", "settings", "options", *SETTINGS_KEYS, *LEGACY_KEYS, "sound", "image"}


@dataclass(frozen=True)
class NewModel:
    """What one path model accepts (§8.2); ``None``/empty means "no such field"."""

    prompt_max: int = 2500
    items: tuple[str, ...] = ()  # contents[] item types; () = the body has a top-level ``prompt``
    audio: tuple[str, ...] = ()
    audio_default: str = "off"
    resolutions: tuple[str, ...] = ("720p", "1080p")
    durations: tuple[int, ...] = FIVE_TEN
    aspect_ratio: bool = False
    multi_shot: bool = False
    native_needs_1080p: bool = False
    first_last_needs_1080p: bool = False
    max_elements: int = 0
    max_voices: int = 0
    always_sound: bool = False  # 3.0 Turbo: priced "with native audio" only, no switch (§8.5)
    orientation: bool = False  # motion control: character_orientation required, no duration
    omni: bool = False
    aspect_required: bool = False  # 3.0 Omni: without a first frame and without a reference video
    first_alone_five_ten: bool = False  # O1: a first frame alone => 5 or 10 s


_T2V_26 = NewModel(audio=("native", "off"), aspect_ratio=True, native_needs_1080p=True)
_I2V = ("prompt", "first_frame", "last_frame")
_OMNI_ITEMS = ("prompt", "first_frame", "last_frame", "refer_image", "feature_video", "base_video", "element")
MODELS: dict[str, dict[str, NewModel]] = {
    "text-to-video": {
        "kling-2.5-turbo": NewModel(aspect_ratio=True),
        "kling-2.6": _T2V_26,
        "kling-3.0": NewModel(
            prompt_max=3072,
            audio=("native", "off"),
            resolutions=RESOLUTIONS,
            durations=FIFTEEN,
            aspect_ratio=True,
            multi_shot=True,
        ),
        "kling-3.0-turbo": NewModel(prompt_max=3072, durations=FIFTEEN, aspect_ratio=True, always_sound=True),
    },
    "image-to-video": {
        "kling-2.5-turbo": NewModel(items=_I2V, first_last_needs_1080p=True),
        "kling-2.6": NewModel(
            items=(*_I2V, "voice"),
            audio=("native", "off"),
            native_needs_1080p=True,
            first_last_needs_1080p=True,
            max_voices=2,
        ),
        "kling-3.0": NewModel(
            prompt_max=3072,
            items=(*_I2V, "element"),
            audio=("native", "off"),
            resolutions=RESOLUTIONS,
            durations=FIFTEEN,
            multi_shot=True,
            max_elements=3,
        ),
        "kling-3.0-turbo": NewModel(items=("prompt", "first_frame"), durations=FIFTEEN, always_sound=True),
    },
    "omni-video": {
        "kling-3.0-omni": NewModel(
            prompt_max=3072,
            items=_OMNI_ITEMS,
            audio=("native", "original", "off"),
            resolutions=RESOLUTIONS,
            durations=FIFTEEN,
            aspect_ratio=True,
            multi_shot=True,
            max_elements=3,
            omni=True,
            aspect_required=True,
        ),
        "kling-o1": NewModel(
            prompt_max=3072,
            items=_OMNI_ITEMS,
            audio=("original", "off"),
            durations=tuple(range(3, 11)),
            aspect_ratio=True,
            max_elements=3,
            omni=True,
            first_alone_five_ten=True,
        ),
    },
    "motion-control": {
        "kling-2.6": NewModel(
            items=("prompt", "image", "video"),
            audio=("original", "off"),
            audio_default="original",
            durations=(),
            orientation=True,
        ),
        "kling-3.0": NewModel(
            items=("prompt", "image", "video", "element"),
            audio=("original", "off"),
            audio_default="original",
            durations=(),
            orientation=True,
            max_elements=1,
        ),
    },
}
# A path model under a known family that the table does not know: the union of the family's rows
# (every value some documented model takes), none of the per-model couplings.
GENERIC: dict[str, NewModel] = {
    "text-to-video": NewModel(
        prompt_max=3072,
        audio=("native", "off"),
        resolutions=RESOLUTIONS,
        durations=FIFTEEN,
        aspect_ratio=True,
        multi_shot=True,
    ),
    "image-to-video": NewModel(
        prompt_max=3072,
        items=(*_I2V, "element", "voice"),
        audio=("native", "off"),
        resolutions=RESOLUTIONS,
        durations=FIFTEEN,
        multi_shot=True,
        max_elements=3,
        max_voices=2,
    ),
    "omni-video": NewModel(
        prompt_max=3072,
        items=_OMNI_ITEMS,
        audio=("native", "original", "off"),
        resolutions=RESOLUTIONS,
        durations=FIFTEEN,
        aspect_ratio=True,
        multi_shot=True,
        max_elements=3,
        omni=True,
    ),
    "motion-control": NewModel(
        items=("prompt", "image", "video", "element"),
        audio=("original", "off"),
        audio_default="original",
        durations=(),
        orientation=True,
        max_elements=1,
    ),
}


def model_rules(family: str, model: str) -> NewModel:
    return MODELS[family].get(model) or GENERIC[family]


@dataclass(frozen=True)
class NewSpec:
    """What the task will produce, read from a checked body (defaults filled in)."""

    seconds: float
    resolution: str
    aspect_ratio: str
    sound: bool
    prompt: str


def _settings_keys(rules: NewModel) -> set[str]:
    keys = {"resolution"}
    for name, present in (
        ("audio", bool(rules.audio)),
        ("duration", bool(rules.durations)),
        ("aspect_ratio", rules.aspect_ratio),
        ("multi_shot", rules.multi_shot),
        ("character_orientation", rules.orientation),
    ):
        if present:
            keys.add(name)
    return keys


def check_options(body: dict[str, Any], model: str) -> tuple[str, str | None]:
    """``options{callback_url, external_task_id, watermark_info{enabled}}``: (external id, callback url)."""
    options = obj(body, "options") or {}
    external = text(options, "external_task_id", MAX_EXTERNAL_ID, where="options.") or ""
    callback = http_url(options, "callback_url", "options.")
    watermark = obj(options, "watermark_info")
    if watermark is not None:
        known_keys("options.watermark_info.", watermark, {"enabled"}, model)
        if not isinstance(watermark.get("enabled"), bool):
            raise invalid("options.watermark_info.enabled must be a boolean")
    return external, callback


def validate_new(family: str, model: str, body: dict[str, Any]) -> NewSpec:
    """Check a create body for ``/{family}/{model}``; what the task will make."""
    rules = model_rules(family, model)
    top = {"settings", "options", "prompt" if not rules.items else "contents"}
    known_keys("", body, top, f"{family}/{model}", TOP_KEYS)
    settings = obj(body, "settings") or {}
    known_keys("settings.", settings, _settings_keys(rules), f"{family}/{model}", SETTINGS_KEYS)
    if rules.items:
        items = contents(body, rules, model)
        prompt = items.get("prompt", [{}])[0].get("text") or ""
    else:
        items = {}
        prompt = text(body, "prompt", rules.prompt_max, required=True) or ""
    return _settings(settings, rules, model, items, prompt)


def _settings(
    settings: dict[str, Any], rules: NewModel, model: str, items: dict[str, list[dict[str, Any]]], prompt: str
) -> NewSpec:
    resolution = choice(settings, "resolution", rules.resolutions, "720p", where="settings.") or "720p"
    audio = ""
    if rules.audio:
        audio = choice(settings, "audio", rules.audio, rules.audio_default, where="settings.") or ""
    aspect = "16:9"
    if rules.aspect_ratio:
        aspect = choice(settings, "aspect_ratio", ASPECT_RATIOS, where="settings.") or ""
        first_or_video = any(k in items for k in ("first_frame", "feature_video", "base_video"))
        if not aspect and rules.aspect_required and not first_or_video:
            raise invalid(
                "settings.aspect_ratio is required when there is no first_frame and no reference video"
            )
        aspect = aspect or "16:9"
    multi_shot = settings.get("multi_shot")
    if multi_shot is not None and not isinstance(multi_shot, bool):
        raise invalid("settings.multi_shot must be a boolean")
    seconds = _duration(settings, rules, model, items)
    if rules.orientation:
        orientation = choice(settings, "character_orientation", ("image", "video"), where="settings.")
        if orientation is None:
            raise invalid("settings.character_orientation is required (image or video)")
        if "element" in items and orientation != "video":
            raise invalid("settings.character_orientation must be video when an element is given")
    both_frames = "first_frame" in items and "last_frame" in items
    if rules.native_needs_1080p and audio == "native" and resolution != "1080p":
        raise invalid(f"settings.audio native with {model} needs settings.resolution 1080p")
    if rules.first_last_needs_1080p and both_frames and resolution != "1080p":
        raise invalid(f"first_frame and last_frame together with {model} need settings.resolution 1080p")
    if "voice" in items and audio == "off":
        raise invalid("contents: a voice item needs settings.audio other than off")
    if rules.omni:
        _omni(items, audio, multi_shot)
    return NewSpec(seconds, resolution, aspect, rules.always_sound or audio in ("native", "original"), prompt)


def _duration(
    settings: dict[str, Any], rules: NewModel, model: str, items: dict[str, list[dict[str, Any]]]
) -> float:
    if not rules.durations:
        return MOTION_SECONDS
    value = settings.get("duration")
    if value is None:
        return 5.0
    allowed = rules.durations
    alone = "first_frame" in items and not set(items) - {"first_frame", "prompt"}
    if rules.first_alone_five_ten and alone:
        allowed = FIVE_TEN
    wanted = " or ".join(map(str, allowed)) if len(allowed) < 3 else f"{allowed[0]} to {allowed[-1]}"
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise invalid(f"settings.duration must be an integer {wanted} for {model} (got {value!r})")
    return float(value)


def _omni(items: dict[str, list[dict[str, Any]]], audio: str | None, multi_shot: bool | None) -> None:
    videos = len(items.get("feature_video", [])) + len(items.get("base_video", []))
    if videos > 1:
        raise invalid("contents: at most one feature_video or base_video")
    images = len(items.get("refer_image", []))
    limit = 4 if videos else 7
    if images > limit:
        with_video = "with" if videos else "without"
        raise invalid(f"contents: at most {limit} refer_image items {with_video} a video")
    if "feature_video" in items and audio != "off":
        raise invalid("settings.audio must be off with a feature_video")
    if "base_video" in items:
        if "first_frame" in items or "last_frame" in items:
            raise invalid("contents: base_video cannot be combined with first_frame or last_frame")
        if multi_shot:
            raise invalid("settings.multi_shot must be false with a base_video")
        if audio == "native":
            raise invalid("settings.audio cannot be native with a base_video")
