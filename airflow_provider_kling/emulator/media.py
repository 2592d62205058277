"""Media files the emulator serves as task results.

WAV is written with the standard library; MP4 and MP3 need PyAV (``pip install
airflow-provider-kling[media]``) and are cached per (format, duration).
"""

from __future__ import annotations

import functools
import io
import math
import struct
import wave

SAMPLE_RATE = 22050


def _tone_samples(seconds: float, freq: float = 440.0) -> bytes:
    count = round(seconds * SAMPLE_RATE)
    return b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * i / SAMPLE_RATE))) for i in range(count)
    )


@functools.lru_cache(maxsize=64)
def render(fmt: str, seconds: float) -> bytes:
    """Bytes of a playable ``fmt`` ("wav", "mp3", "mp4") file lasting ``seconds``."""
    if fmt == "wav":
        buf = io.BytesIO()
        with wave.open(buf, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            out.writeframes(_tone_samples(seconds))
        return buf.getvalue()
    from airflow_provider_kling.emulator import av_media

    if fmt == "mp3":
        return av_media.render_mp3(seconds)
    if fmt == "mp4":
        return av_media.render_mp4(seconds)
    raise ValueError(f"unknown media format {fmt!r}")


CONTENT_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "mp4": "video/mp4"}
