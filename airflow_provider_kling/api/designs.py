"""Which Kling API design a video model speaks: one table, read by the request models and operators.

Kling's rule (docs/kling-api.md#api-designs): a model in the path is the new design, a
``model_name`` body value the legacy one. Pure Python (no pydantic): operators read it at execute
time, and their modules stay cheap to import.
"""

from __future__ import annotations

import re
from typing import Literal

Design = Literal["legacy", "new"]

# Family (the new-design task kind) -> path models the contract lists (docs/kling-api.md#new-design).
NEW_DESIGN_MODELS: dict[str, tuple[str, ...]] = {
    "text-to-video": ("kling-2.5-turbo", "kling-2.6", "kling-3.0", "kling-3.0-turbo"),
    "image-to-video": ("kling-2.5-turbo", "kling-2.6", "kling-3.0", "kling-3.0-turbo"),
    "omni-video": ("kling-3.0-omni", "kling-o1"),
    "motion-control": ("kling-2.6", "kling-3.0"),
}
# Legacy model names are ``kling-v...`` (kling-v1, kling-v2-6, kling-v3, ...):
# docs/kling-api.md#video-requests.
LEGACY_PREFIX = "kling-v"
# A name in neither list that looks like a path model (kling-3.5, kling-4.0-turbo) is the new design.
_PATH_STYLE = re.compile(r"^kling-\d+\.\d+")
# A path model becomes one path segment: nothing that could leave it or add a query.
_PATH_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

# Legacy kind -> the new-design kind of the same family.
NEW_KIND_OF = {"text2video": "text-to-video", "image2video": "image-to-video"}
DEFAULT_OMNI_MODEL = "kling-3.0-omni"
DEFAULT_MOTION_MODEL = "kling-3.0"

_KNOWN_NEW = frozenset(m for models in NEW_DESIGN_MODELS.values() for m in models)


def design_of(model_name: str | None) -> Design:
    """The design a text/image-to-video model speaks; no model (Kling's default kling-v1) is legacy.

    Known path models are new; ``kling-v...`` is legacy; any other name is new when it looks
    like ``kling-<digit>.<digit>...`` (path style), else legacy (Kling decides on it).
    """
    name = (model_name or "").strip()
    if not name or name.startswith(LEGACY_PREFIX):
        return "legacy"
    if name in _KNOWN_NEW or _PATH_STYLE.match(name):
        return "new"
    return "legacy"


def is_known_model(kind: str, model_name: str) -> bool:
    return model_name in NEW_DESIGN_MODELS.get(kind, ())


def path_model_problem(model_name: str) -> str | None:
    """Why ``model_name`` cannot be a path segment, or None."""
    if _PATH_SEGMENT.match(model_name) and set(model_name) != {"."}:
        return None
    return "must be one path segment (letters, digits, '.', '_', '-'), it goes into the URL path"


# Operator arguments only one design has, with what to use instead
# (docs/kling-api.md#video-requests vs docs/kling-api.md#new-design).
LEGACY_ONLY_ARGUMENTS: dict[str, str] = {
    "mode": "use resolution (720p, 1080p, 4k)",
    "negative_prompt": "write what to avoid in the prompt",
    "cfg_scale": "no equivalent",
    "sound": "use audio ('native' or 'off')",
    "camera_control": "no equivalent",
    "shot_type": "use multi_shot and the 'shot n, m, words; ...' prompt syntax",
    "multi_prompt": "use multi_shot and the 'shot n, m, words; ...' prompt syntax",
    "static_mask": "no equivalent",
    "dynamic_masks": "no equivalent",
}
NEW_ONLY_ARGUMENTS: dict[str, str] = {
    "resolution": "use mode ('std' = 720p, 'pro' = 1080p, '4k')",
    "audio": "use sound ('on' or 'off')",
    "extra_settings": "use extra_body",
}


def misplaced_arguments(design: Design, model_name: str | None, given: dict[str, object]) -> list[str]:
    """``field: rule`` for each argument given that ``design`` does not have."""
    model = model_name or "the default model kling-v1"
    problems = []
    wrong = LEGACY_ONLY_ARGUMENTS if design == "new" else NEW_ONLY_ARGUMENTS
    other = (
        "legacy design (kling-v... models)" if design == "new" else "new design (kling-2.6, kling-3.0, ...)"
    )
    for name, instead in wrong.items():
        if is_given(given.get(name)):
            problems.append(
                f"{name}: only the {other} has {name}; {model} uses the {design} design ({instead})"
            )
    return problems


def is_given(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())
