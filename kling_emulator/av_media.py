"""Real MP4 (H.264) and MP3 files made with PyAV: synthetic frames and a sine tone."""

from __future__ import annotations

import io
import math
from fractions import Fraction

# 20 fps: every duration on Kling's 0.1 s grid is a whole number of frames, so lengths are exact.
FPS = 20
WIDTH, HEIGHT = 160, 96
AUDIO_RATE = 22050


def render_mp4(seconds: float) -> bytes:
    """A silent H.264 MP4 of ``seconds`` (frames: a moving gradient, so it is visibly video)."""
    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
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
    return buf.getvalue()


def render_mp3(seconds: float) -> bytes:
    """An MP3 sine tone of ``seconds``."""
    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=AUDIO_RATE)
        stream.layout = "mono"
        total = round(seconds * AUDIO_RATE)
        chunk = 1152
        for start in range(0, total, chunk):
            n = min(chunk, total - start)
            t = (np.arange(start, start + n) / AUDIO_RATE).astype(np.float32)
            samples = (0.2 * np.sin(2 * math.pi * 330.0 * t)).astype(np.float32)[None, :]
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = AUDIO_RATE
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buf.getvalue()
