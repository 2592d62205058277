"""What KlingPublishOperator is given, checked before anything is downloaded: results, formats, sources."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_kling.publishing.media import BED_MODES
from airflow_provider_kling.utils.rendered import parse_rendered
from airflow_provider_kling.version_compat import AirflowFailException

AUDIO_FORMATS = ("mp3", "wav")


def default_destination() -> str:
    """``$AIRFLOW_HOME/kling_published`` as a ``file://`` URI: works on any machine, no setup."""
    home = os.environ.get("AIRFLOW_HOME") or "~/airflow"
    return as_uri(os.path.join(home, "kling_published"))


def as_uri(destination: str) -> str:
    """Plain local paths become ``file://`` URIs; anything with a scheme is kept as given."""
    if "://" in destination:
        return destination
    return "file://" + os.path.abspath(os.path.expanduser(destination))


def _loads(text: str) -> Any:
    """A rendered template: JSON, or the Python repr Jinja makes of a dict."""
    try:
        return parse_rendered(text)
    except ValueError:
        raise AirflowFailException(f"result is not a Kling task result: {text[:200]!r}") from None


def parse_results(value: Any) -> list[dict[str, Any]]:
    """One Kling result dict, a list of them, or their rendered text -> a list of dicts."""
    if isinstance(value, str):
        value = _loads(value)
    results = list(value) if isinstance(value, list) else [value]
    for item in results:
        if not isinstance(item, dict) or not ({"videos", "audios", "images"} & item.keys()):
            raise AirflowFailException(
                "result must be a Kling task result ({'videos': [...], 'audios': [...], 'images': [...]}), "
                f"e.g. an upstream Kling operator's .output; got {str(item)[:200]!r}"
            )
    return results


def total_credits(results: list[dict[str, Any]]) -> float | None:
    """Sum of the results' ``credits`` (Kling units); None when no result carries a number."""
    known = [
        float(r["credits"])
        for r in results
        if isinstance(r.get("credits"), (int, float)) and not isinstance(r.get("credits"), bool)
    ]
    return round(sum(known), 4) if known else None


def source_result(source: Any, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``source_video`` as an extra result whose units count, when it is another task's result."""
    if isinstance(source, str) and source.strip().startswith("{"):
        source = _loads(source)
    if not isinstance(source, dict) or "videos" not in source:
        return []
    if source.get("task_id") in {r.get("task_id") for r in results}:
        return []
    return [source]


def parse_formats(value: str | Sequence[str]) -> list[str]:
    """``"mp3"``, ``"mp3,wav"`` or ``["mp3", "wav"]`` -> a checked list."""
    names = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    unknown = [n for n in names if n not in AUDIO_FORMATS]
    if unknown:
        raise AirflowFailException(f"audio_formats: unknown {unknown}; choose from {list(AUDIO_FORMATS)}")
    return list(dict.fromkeys(names))


def source_video_entry(source: Any, result: dict[str, Any]) -> tuple[str, str]:
    """(id, url) of the video to mux onto: ``source`` if given, else the result's first video."""
    if isinstance(source, str) and source.strip().startswith(("{", "[")):
        source = _loads(source)
    if isinstance(source, str) and source:
        stem = Path(urlsplit(source).path).stem
        return stem or "source", source
    if isinstance(source, dict) and "videos" in source:
        source = (source.get("videos") or [None])[0]
    if source in (None, ""):
        source = (result.get("videos") or [None])[0]
    if not isinstance(source, dict) or not source.get("url"):
        raise AirflowFailException("mux=True needs a source video: pass source_video or a result with videos")
    return str(source.get("id") or Path(urlsplit(str(source["url"])).path).stem), str(source["url"])


def check_music_bed_options(mode: Any, volume: Any) -> float:
    """The bed's gain as a number; a rendered template's text counts."""
    if mode not in BED_MODES:
        raise AirflowFailException(f"music_bed_mode: must be one of {list(BED_MODES)}, not {mode!r}")
    try:
        gain = float("nan") if isinstance(volume, bool) else float(volume)
    except (TypeError, ValueError):
        gain = float("nan")
    if not 0 <= gain <= 2:
        raise AirflowFailException(f"music_bed_volume: must be a number from 0 to 2, not {volume!r}")
    return gain


def music_bed_entry(bed: Any) -> tuple[str, str, str]:
    """(id, format, url) of the audio to lay under a video: a result, one audio entry, or a URL."""
    if isinstance(bed, str) and bed.strip().startswith(("{", "[")):
        bed = _loads(bed)
    if isinstance(bed, str):
        path = Path(urlsplit(bed).path)
        fmt = path.suffix.lstrip(".").lower()
        return path.stem or "music_bed", fmt if fmt.isalnum() else "audio", bed
    if isinstance(bed, dict) and "audios" in bed:
        bed = (bed.get("audios") or [None])[0]
    if isinstance(bed, dict):
        for fmt in ("wav", "mp3"):  # lossless first: the track is re-encoded anyway
            if bed.get(f"url_{fmt}"):
                return str(bed.get("id") or "music_bed"), fmt, str(bed[f"url_{fmt}"])
    raise AirflowFailException(
        "music_bed must be a text-to-audio result (its .output), one of its audios, or an http(s) URL; "
        f"got {str(bed)[:200]!r}"
    )


IMAGE_FORMATS = ("png", "jpg", "jpeg")


def image_entry(result: dict[str, Any], image: dict[str, Any]) -> tuple[str, str, str]:
    """(name, format, url) of one result image: ``<task_id>-<index>``, format from the URL (png default)."""
    url = str(image.get("url") or "")
    suffix = Path(urlsplit(url).path).suffix.lstrip(".").lower()
    fmt = "jpg" if suffix == "jpeg" else suffix if suffix in IMAGE_FORMATS else "png"
    return f"{result.get('task_id') or 'image'}-{image.get('index', 0)}", fmt, url


def check_voice_over_levels(voice_volume: Any, bed_volume: Any) -> tuple[float, float]:
    """The voice's and the video's own sound's gains, each 0..2 (a rendered template's text counts)."""
    gains = []
    for name, value in (("voice_volume", voice_volume), ("bed_volume", bed_volume)):
        try:
            gain = float("nan") if isinstance(value, bool) else float(value)
        except (TypeError, ValueError):
            gain = float("nan")
        if not 0 <= gain <= 2:
            raise AirflowFailException(f"{name}: must be a number from 0 to 2, not {value!r}")
        gains.append(gain)
    return gains[0], gains[1]


def voice_over_entry(voice: Any) -> tuple[str, str, str]:
    """(id, format, url) of the speech to lay over a video: a text-to-speech (or any audio) result,
    one of its audios (``url_wav`` / ``url_mp3`` / ``url``), or an http(s) URL."""
    if isinstance(voice, str) and voice.strip().startswith(("{", "[")):
        voice = _loads(voice)
    if isinstance(voice, str) and voice.strip():
        path = Path(urlsplit(voice).path)
        fmt = path.suffix.lstrip(".").lower()
        return path.stem or "voice", fmt if fmt.isalnum() else "audio", voice
    if isinstance(voice, dict) and "audios" in voice:
        voice = (voice.get("audios") or [None])[0]
    if isinstance(voice, dict):
        ident = str(voice.get("id") or "voice")
        for fmt in ("wav", "mp3"):  # lossless first: the track is re-encoded anyway
            if voice.get(f"url_{fmt}"):
                return ident, fmt, str(voice[f"url_{fmt}"])
        if voice.get("url"):
            suffix = Path(urlsplit(str(voice["url"])).path).suffix.lstrip(".").lower()
            return ident, suffix if suffix.isalnum() and suffix else "mp3", str(voice["url"])
    raise AirflowFailException(
        "voice_over must be a text-to-speech result (its .output), one of its audios, or an http(s) URL; "
        f"got {str(voice)[:200]!r}"
    )
