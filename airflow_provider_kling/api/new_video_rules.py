"""What each new-design video path model accepts (docs/kling-api.md#new-design), one row per family and model.

A path model not listed gets its family's generic row: every value some listed model of the
family accepts (Kling decides on the rest), so a model newer than this provider works at once.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL_RESOLUTIONS = ("720p", "1080p", "4k")
HD = ("720p", "1080p")
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
SECONDS_3_15 = tuple(range(3, 16))
SECONDS_5_10 = (5, 10)
NATIVE_OFF = ("native", "off")


@dataclass(frozen=True)
class NewModelRules:
    """One path model's settings and contents; an empty tuple / 0 / False means the field is absent."""

    prompt_max: int = 3072
    resolutions: tuple[str, ...] = ALL_RESOLUTIONS
    audios: tuple[str, ...] = ()
    aspect_ratio: bool = True
    durations: tuple[int, ...] = SECONDS_3_15  # () = no duration setting (motion control)
    multi_shot: bool = False
    last_frame: bool = True
    elements: int = 0
    voices: int = 0
    native_needs_1080p: bool = False  # kling-2.6: native audio is 1080p only
    first_last_needs_1080p: bool = False  # kling-2.5-turbo / 2.6 i2v: first+last frame is 1080p only
    first_frame_alone_durations: tuple[int, ...] = ()  # kling-o1: a first frame alone => 5 | 10 s
    shot_prompts: bool = False  # 3.0 / 3.0-turbo / 3.0-omni read "shot n, m, words; ..." prompts


_T2V_25_TURBO = NewModelRules(prompt_max=2500, resolutions=HD, durations=SECONDS_5_10)
NEW_MODEL_RULES: dict[tuple[str, str], NewModelRules] = {
    ("text-to-video", "kling-2.5-turbo"): _T2V_25_TURBO,
    ("text-to-video", "kling-2.6"): NewModelRules(
        prompt_max=2500, resolutions=HD, audios=NATIVE_OFF, durations=SECONDS_5_10, native_needs_1080p=True
    ),
    ("text-to-video", "kling-3.0"): NewModelRules(audios=NATIVE_OFF, multi_shot=True, shot_prompts=True),
    ("text-to-video", "kling-3.0-turbo"): NewModelRules(resolutions=HD, shot_prompts=True),
    ("image-to-video", "kling-2.5-turbo"): NewModelRules(
        prompt_max=2500,
        resolutions=HD,
        aspect_ratio=False,
        durations=SECONDS_5_10,
        first_last_needs_1080p=True,
    ),
    ("image-to-video", "kling-2.6"): NewModelRules(
        prompt_max=2500,
        resolutions=HD,
        audios=NATIVE_OFF,
        aspect_ratio=False,
        durations=SECONDS_5_10,
        voices=2,
        native_needs_1080p=True,
        first_last_needs_1080p=True,
    ),
    ("image-to-video", "kling-3.0"): NewModelRules(
        audios=NATIVE_OFF, aspect_ratio=False, multi_shot=True, elements=3, shot_prompts=True
    ),
    ("image-to-video", "kling-3.0-turbo"): NewModelRules(
        prompt_max=2500, resolutions=HD, aspect_ratio=False, last_frame=False, shot_prompts=True
    ),
    ("omni-video", "kling-3.0-omni"): NewModelRules(
        audios=("native", "original", "off"), multi_shot=True, elements=3, shot_prompts=True
    ),
    ("omni-video", "kling-o1"): NewModelRules(
        resolutions=HD,
        audios=("original", "off"),
        durations=tuple(range(3, 11)),
        elements=3,
        first_frame_alone_durations=SECONDS_5_10,
    ),
    ("motion-control", "kling-2.6"): NewModelRules(
        prompt_max=2500, resolutions=HD, audios=("original", "off"), aspect_ratio=False, durations=()
    ),
    ("motion-control", "kling-3.0"): NewModelRules(
        prompt_max=2500,
        resolutions=HD,
        audios=("original", "off"),
        aspect_ratio=False,
        durations=(),
        elements=1,
    ),
}

# Unknown path models: the union of the family's rows, none of the per-model couplings.
GENERIC_RULES: dict[str, NewModelRules] = {
    "text-to-video": NewModelRules(audios=NATIVE_OFF, multi_shot=True),
    "image-to-video": NewModelRules(
        audios=NATIVE_OFF, aspect_ratio=False, multi_shot=True, elements=3, voices=2
    ),
    "omni-video": NewModelRules(audios=("native", "original", "off"), multi_shot=True, elements=3),
    "motion-control": NewModelRules(
        prompt_max=2500,
        resolutions=HD,
        audios=("original", "off"),
        aspect_ratio=False,
        durations=(),
        elements=1,
    ),
}


def rules_for(family: str, model_name: str) -> tuple[NewModelRules, bool]:
    """``(rules, known)``: the model's row, or the family's generic row and False."""
    known = NEW_MODEL_RULES.get((family, model_name))
    if known is not None:
        return known, True
    return GENERIC_RULES[family], False


def choices(values: tuple[object, ...]) -> str:
    if len(values) > 3 and all(isinstance(v, int) for v in values):
        return f"{values[0]}..{values[-1]} (int)"
    return " / ".join(repr(v) for v in values)
