"""Media files the emulator serves: task results, and sample source videos for ``video_url``.

WAV is written with the standard library; MP4 and MP3 need PyAV (``pip install
airflow-provider-kling[media]``) and are cached per (format, duration). A video-to-audio result
video is the MP4 with the generated sound as its audio track: format ``SOUND_MP4``, its own
cache entry, and served as a sample under ``sample-<seconds>s-sound.mp4``.
"""

from __future__ import annotations

import asyncio
import functools
import io
import math
import re
import struct
import threading
import wave
from collections import defaultdict

from aiohttp import web

SAMPLE_RATE = 22050


def _tone_samples(seconds: float, freq: float = 440.0) -> bytes:
    count = round(seconds * SAMPLE_RATE)
    return b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * i / SAMPLE_RATE))) for i in range(count)
    )


# One lock per file: requests that arrive together for a file not yet cached wait for one render.
_render_locks: defaultdict[tuple[str, float], threading.Lock] = defaultdict(threading.Lock)


# The silent MP4 with the generated sound (the MP3's) muxed in: H.264 + AAC, both ``seconds`` long.
SOUND_MP4 = "sound-mp4"


def render(fmt: str, seconds: float) -> bytes:
    """Bytes of a playable ``fmt`` ("wav", "mp3", "mp4", SOUND_MP4) file of ``seconds`` (rendered once)."""
    with _render_locks[(fmt, seconds)]:
        return _render(fmt, seconds)


@functools.lru_cache(maxsize=64)
def _render(fmt: str, seconds: float) -> bytes:
    if fmt == "wav":
        buf = io.BytesIO()
        with wave.open(buf, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            out.writeframes(_tone_samples(seconds))
        return buf.getvalue()
    from kling_emulator import av_media

    if fmt == "mp3":
        return av_media.render_mp3(seconds)
    if fmt == "mp4":
        return av_media.render_mp4(seconds)
    if fmt == SOUND_MP4:
        return av_media.render_sound_mp4(seconds)
    raise ValueError(f"unknown media format {fmt!r}")


# ``watermark_info.enabled``: each video also has a watermarked copy, served under this name.
WATERMARK_SUFFIX = "-watermark"


def watermarked(request: dict[str, object]) -> bool:
    info = request.get("watermark_info")
    return isinstance(info, dict) and info.get("enabled") is True


def watermark_name(url: str) -> str:
    """``…/<id>.mp4`` -> ``…/<id>-watermark.mp4``."""
    stem, dot, ext = url.rpartition(".")
    return stem + WATERMARK_SUFFIX + dot + ext


CONTENT_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "mp4": "video/mp4"}


def result_format(kind: str, ext: str) -> str:
    """What a legacy task's result file ``<id>.<ext>`` is rendered as.

    Video-to-audio returns, besides the audio files, the source video WITH the generated sound
    (KLING_API §3: v2a returns videos and audios; issue 22), so its MP4 has a sound track; every
    other video stays silent.
    """
    return SOUND_MP4 if kind == "video-to-audio" and ext == "mp4" else ext


# ``sample-5s.mp4``, ``sample-2.5s.mp4``, ``sample-25s.mp4``, ``sample-5s.wav``: any length, so
# tests can feed video-to-audio sources that Kling must accept or reject (3.0-20.0 s, MP4/MOV).
# ``sample-5s-sound.mp4``: the same video with a sound track (what a video-to-audio task returns).
SAMPLE_NAME = re.compile(
    r"sample-(?P<seconds>\d{1,2}(?:\.\d)?)s(?:(?P<sound>-sound)\.mp4|\.(?P<ext>mp4|mp3|wav))"
)
MAX_SAMPLE_SECONDS = 60.0


async def sample_file(request: web.Request) -> web.Response:
    """``GET {prefix}/samples/sample-<seconds>s.<ext>``: a source file to point ``video_url`` at."""
    match = SAMPLE_NAME.fullmatch(request.match_info["name"])
    if match is None or not 0 < float(match["seconds"]) <= MAX_SAMPLE_SECONDS:
        raise web.HTTPNotFound()
    ext = match["ext"] or "mp4"
    fmt = SOUND_MP4 if match["sound"] else ext
    body = await asyncio.get_running_loop().run_in_executor(None, render, fmt, float(match["seconds"]))
    return web.Response(body=body, content_type=CONTENT_TYPES[ext])
