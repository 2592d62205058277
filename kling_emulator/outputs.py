"""Result files and ``task_result`` URLs of speech, lip-sync, avatar, image and effect tasks.

Such a task keeps its ``task_result`` with file names where URLs go (made absolute when rendered)
and, per file name, a spec of how the file is made (``EmulatedTask.files``); files are rendered
on first request and cached per spec.
"""

from __future__ import annotations

import functools
import json
import threading
from collections import defaultdict
from typing import Any

from kling_emulator import media, speech_media

URL_KEYS = frozenset({"url", "watermark_url", "face_image"})
CONTENT_TYPES = {**media.CONTENT_TYPES, "png": "image/png"}


def absolute(result: Any, base: str) -> Any:
    """A copy of ``result`` whose URL fields (file names under ``base``) are absolute URLs."""
    if isinstance(result, dict):
        return {
            key: f"{base}/{value}" if key in URL_KEYS and isinstance(value, str) else absolute(value, base)
            for key, value in result.items()
        }
    if isinstance(result, list):
        return [absolute(item, base) for item in result]
    return result


def speech_file(seconds: float) -> dict[str, Any]:
    return {"type": "speech-mp3", "seconds": round(seconds, 3)}


def talking_video(seconds: float, speech: list[list[float]]) -> dict[str, Any]:
    """An MP4 of ``seconds`` whose audio track speaks in each ``[start, length]`` span (seconds)."""
    spans = [[round(start, 3), round(length, 3)] for start, length in speech]
    return {"type": "talking-mp4", "seconds": round(seconds, 3), "speech": spans}


def silent_video(seconds: float) -> dict[str, Any]:
    return {"type": "mp4", "seconds": round(seconds, 1)}


def png(width: int, height: int, shade: int = 0) -> dict[str, Any]:
    return {"type": "png", "width": width, "height": height, "shade": shade}


_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


def render(spec: dict[str, Any]) -> bytes:
    """The bytes of the file ``spec`` describes (rendered once per spec)."""
    key = json.dumps(spec, sort_keys=True)
    with _locks[key]:
        return _render(key)


@functools.lru_cache(maxsize=64)
def _render(key: str) -> bytes:
    spec = json.loads(key)
    kind = spec["type"]
    if kind == "speech-mp3":
        return speech_media.render_speech_mp3(spec["seconds"])
    if kind == "talking-mp4":
        return speech_media.render_talking_mp4(spec["seconds"], spec["speech"])
    if kind == "png":
        return speech_media.render_png(spec["width"], spec["height"], spec["shade"])
    if kind == "mp4":
        return media.render("mp4", spec["seconds"])
    raise ValueError(f"unknown result file type {kind!r}")


def file_spec(files: dict[str, dict[str, Any]], name: str, watermarked: bool) -> dict[str, Any] | None:
    """The spec of result file ``name`` (a ``-watermark`` copy is the same file when watermarked)."""
    if name in files:
        return files[name]
    stem, dot, ext = name.rpartition(".")
    if watermarked and stem.endswith(media.WATERMARK_SUFFIX):
        return files.get(stem.removesuffix(media.WATERMARK_SUFFIX) + dot + ext)
    return None
