"""Real MP4 (H.264, with or without an AAC sound track) and MP3 files made with PyAV."""

from __future__ import annotations

import io
import math
from fractions import Fraction
from typing import Any

# 20 fps: every duration on Kling's 0.1 s grid is a whole number of frames, so lengths are exact.
FPS = 20
WIDTH, HEIGHT = 160, 96
AUDIO_RATE = 22050
# The generated sound of a video-to-audio task: its MP3 and the sound track of its result video.
TONE_HZ, TONE_LEVEL = 330.0, 0.2


def tone_samples(start: int, count: int) -> Any:
    """Float32 mono samples ``start`` .. ``start + count`` of the generated sound (a sine tone)."""
    import numpy as np

    t = (np.arange(start, start + count) / AUDIO_RATE).astype(np.float32)
    return (TONE_LEVEL * np.sin(2 * math.pi * TONE_HZ * t)).astype(np.float32)


def _video_stream(container: Any) -> Any:
    stream = container.add_stream("libx264", rate=FPS)
    stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
    return stream


def _mux_frames(stream: Any, container: Any, seconds: float) -> None:
    """Encode ``seconds`` of a moving gradient into H.264 ``stream`` (so it is visibly video)."""
    import av
    import numpy as np

    frames = max(1, round(seconds * FPS))
    x = np.linspace(0, 255, WIDTH, dtype=np.float32)
    for i in range(frames):
        shade = (x[None, :] + i * 8) % 256
        rgb = np.repeat(np.repeat(shade[:, :, None], HEIGHT, axis=0), 3, axis=2).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = i
        frame.time_base = Fraction(1, FPS)
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


def _mux_tone(stream: Any, container: Any, seconds: float) -> None:
    """Encode ``seconds`` of the generated sound into audio ``stream``, in the encoder's frame size."""
    import av

    total = round(seconds * AUDIO_RATE)
    chunk = stream.codec_context.frame_size or 1152
    for start in range(0, total, chunk):
        n = min(chunk, total - start)
        frame = av.AudioFrame.from_ndarray(tone_samples(start, n)[None, :], format="fltp", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


def render_mp4(seconds: float) -> bytes:
    """A silent H.264 MP4 of ``seconds`` (frames: a moving gradient, so it is visibly video)."""
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        _mux_frames(_video_stream(container), container, seconds)
    return buf.getvalue()


def render_sound_mp4(seconds: float) -> bytes:
    """The :func:`render_mp4` video with the generated sound (AAC) of the same length: v2a's result."""
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        video = _video_stream(container)
        audio = container.add_stream("aac", rate=AUDIO_RATE)
        audio.layout = "mono"
        _mux_frames(video, container, seconds)
        _mux_tone(audio, container, seconds)
    return buf.getvalue()


def render_mp3(seconds: float) -> bytes:
    """An MP3 of ``seconds`` of the generated sound."""
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=AUDIO_RATE)
        stream.layout = "mono"
        _mux_tone(stream, container, seconds)
    return buf.getvalue()
