"""The multi-shot prompt syntax of Kling 3.0 models (``shot n, m, words; …``), checked before sending.

Kling's 3.0 / 3.0-turbo / 3.0-omni models read a prompt written as ``shot 1, 3, a kite rises;
shot 2, 2, it dives`` as shots: shot number, seconds, words. The docs set 1 to 6 shots, each at
least 1 s, words of at most 512 characters, and seconds adding up to the task's ``duration``
(docs/kling-api.md#new-design). A prompt that does not start like ``shot 1, <seconds>,`` is free
text and is not read here: only prompts that use the syntax are held to its rules. With
``multi_shot`` off Kling reads the prompt as plain text, and without a ``duration`` the sum is
not checked (the request leaves the length to Kling).
"""

from __future__ import annotations

import re

MAX_SHOTS = 6
SHOT_WORDS_MAX_CHARS = 512
MIN_SHOT_SECONDS = 1.0

# "shot 1, <seconds>," then a space: "Shot 1, 35mm lens, ..." or "shot 1, 1,000 birds" stay free text.
_STARTS = re.compile(r"^\s*shot\s*1\s*,\s*\d+(?:\.\d+)?\s*s?\s*,(?:\s|$)", re.IGNORECASE)
# A new shot starts after ";" only where "shot <n>," follows: words may hold semicolons themselves.
_BOUNDARY = re.compile(r";\s*(?=shot\s*\d+\s*,)", re.IGNORECASE)
_SHOT = re.compile(r"^\s*shot\s*(\d+)\s*,\s*(\d+(?:\.\d+)?)\s*s?\s*,(.*)$", re.IGNORECASE | re.DOTALL)


def shot_prompt_problems(prompt: str | None, duration: int | None, field: str = "prompt") -> list[str]:
    """What is wrong with a prompt written in the multi-shot syntax; ``[]`` for free text."""
    if not prompt or not _STARTS.match(prompt):
        return []
    segments = _BOUNDARY.split(prompt.strip().rstrip(";"))
    problems: list[str] = []
    total = 0.0
    for position, segment in enumerate(segments, start=1):
        match = _SHOT.match(segment)
        if match is None:
            snippet = segment.strip()[:40]
            problems.append(
                f"{field}: shot {position} does not read 'shot <n>, <seconds>, <words>' ({snippet!r})"
            )
            continue
        number, seconds, words = int(match[1]), float(match[2]), match[3].strip()
        if number != position:
            problems.append(
                f"{field}: shot {number} is shot {position} of the prompt (number the shots 1, 2, 3, …)"
            )
        if seconds < MIN_SHOT_SECONDS:
            problems.append(f"{field}: shot {position} lasts {match[2]} s (each shot lasts at least 1 s)")
        if not words:
            problems.append(f"{field}: shot {position} has no words")
        elif len(words) > SHOT_WORDS_MAX_CHARS:
            problems.append(
                f"{field}: shot {position} has {len(words)} characters of words "
                f"(at most {SHOT_WORDS_MAX_CHARS})"
            )
        total += seconds
    if len(segments) > MAX_SHOTS:
        problems.append(f"{field}: {len(segments)} shots (a multi-shot prompt takes 1 to {MAX_SHOTS})")
    if duration is not None and not problems and abs(total - duration) > 1e-6:
        problems.append(
            f"{field}: the shots last {total:g} s in all, but duration is {duration} "
            "(the shots' seconds add up to the duration)"
        )
    return problems
