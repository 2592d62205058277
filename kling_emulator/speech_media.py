"""Speech-like audio (MP3), talking videos (H.264 + AAC MP4), PNG images, and reading sound files.

Speech-like: a voiced tone whose pitch drifts around 150 Hz (five harmonics), cut into syllables
(4 per second) and words (a 0.25 s pause every 1.5 s), so it sounds like talking and not like a
test tone. MP3 and MP4 need PyAV (``airflow-provider-kling[media]``); PNG uses the standard library.
"""

from __future__ import annotations

import io
import math
import struct
import wave
import zlib
from fractions import Fraction
from typing import Any

from kling_emulator.av_media import AUDIO_RATE, FPS, HEIGHT, WIDTH

# Sound files a lip-sync or avatar task takes (KLING_API §10.2, §11): mp3/wav/m4a/aac, <= 5 MB.
MAX_SOUND_BYTES = 5 * 1024**2
_SOUND_FORMATS = ("mp3", "wav", "mov", "mp4", "m4a", "aac")


class SoundProblem(ValueError):
    """Why a sound file would be refused; the caller puts the field name in front."""


def speech_samples(seconds: float, start: float = 0.0) -> Any:
    """Float32 mono samples in [-0.35, 0.35] of speech-like sound from ``start`` for ``seconds``."""
    import numpy as np

    t = start + np.arange(round(seconds * AUDIO_RATE), dtype=np.float64) / AUDIO_RATE
    pitch = 150.0 + 30.0 * np.sin(2 * math.pi * 0.7 * t) + 12.0 * np.sin(2 * math.pi * 3.1 * t)
    phase = 2 * math.pi * np.cumsum(pitch) / AUDIO_RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 6))
    syllables = np.clip(np.sin(2 * math.pi * 4.0 * t), 0.0, 1.0) ** 0.5
    words = (np.mod(t, 1.5) < 1.25).astype(np.float64)
    return (0.2 * voice * syllables * words).astype(np.float32)


def _audio_frames(samples: Any, stream: Any) -> Any:
    """AudioFrames of the encoder's frame size (AAC needs exactly 1024 samples a frame)."""
    import av
    import numpy as np

    size = stream.codec_context.frame_size or 1152
    for start in range(0, len(samples), size):
        chunk = samples[start : start + size]
        if len(chunk) < size and stream.codec_context.codec.name == "aac":
            chunk = np.pad(chunk, (0, size - len(chunk)))
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        yield frame


def render_speech_mp3(seconds: float) -> bytes:
    """An MP3 of ``seconds`` of speech-like sound."""
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=AUDIO_RATE)
        stream.layout = "mono"
        for frame in _audio_frames(speech_samples(seconds), stream):
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buf.getvalue()


def render_talking_mp4(seconds: float, speech: list[list[float]]) -> bytes:
    """An H.264 + AAC MP4 of ``seconds``; speech plays in each ``[start, length]`` span, else silence."""
    import av
    import numpy as np

    total = round(seconds * AUDIO_RATE)
    track = np.zeros(total, dtype=np.float32)
    for start, length in speech:
        first = min(total, round(start * AUDIO_RATE))
        last = min(total, first + round(length * AUDIO_RATE))
        track[first:last] = speech_samples((last - first) / AUDIO_RATE)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.options = {"preset": "ultrafast", "tune": "zerolatency"}
        audio = container.add_stream("aac", rate=AUDIO_RATE)
        audio.layout = "mono"
        x = np.linspace(0, 255, WIDTH, dtype=np.float32)
        for i in range(max(1, round(seconds * FPS))):
            shade = (x[None, :] + i * 8) % 256
            rgb = np.repeat(np.repeat(shade[:, :, None], HEIGHT, axis=0), 3, axis=2).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        for audio_frame in _audio_frames(track, audio):
            container.mux(audio.encode(audio_frame))
        container.mux(audio.encode())
    return buf.getvalue()


def render_png(width: int, height: int, shade: int = 0) -> bytes:
    """An RGB PNG of ``width`` x ``height``: a diagonal gradient tinted by ``shade`` (images differ)."""
    tint = (shade * 67) % 256
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        g = y * 255 // max(1, height - 1)
        for x in range(width):
            rows += bytes((x * 255 // max(1, width - 1), g, tint))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 6))
        + chunk(b"IEND", b"")
    )


def sound_seconds(data: bytes) -> float:
    """Length of an mp3/wav/m4a/aac file; :class:`SoundProblem` when it is none of them."""
    if len(data) > MAX_SOUND_BYTES:
        raise SoundProblem(f"is {len(data)} bytes; at most 5 MB is allowed")
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        try:
            with wave.open(io.BytesIO(data)) as wav:
                return wav.getnframes() / wav.getframerate()
        except (wave.Error, EOFError, ZeroDivisionError):
            raise SoundProblem("is a WAV file without a readable length") from None
    try:
        import av
    except ImportError:  # pragma: no cover - the [media] extra is part of the test install
        raise SoundProblem("must be a WAV file (the emulator reads mp3/m4a/aac only with PyAV)") from None
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            formats = set(container.format.name.split(","))
            if not formats & set(_SOUND_FORMATS) or not container.streams.audio:
                raise SoundProblem("must be an mp3, wav, m4a or aac audio file")
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / 1_000_000
            raise SoundProblem("has no readable length")
    except (av.error.FFmpegError, ValueError) as exc:  # ValueError covers SoundProblem too
        if isinstance(exc, SoundProblem):
            raise
        raise SoundProblem("must be an mp3, wav, m4a or aac audio file") from None
