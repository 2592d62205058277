"""MP4 files of new-design tasks: the frame follows resolution and aspect ratio, an AAC track when sound.

Frames are the real size scaled down by ``FRAME_SCALE`` (720p 16:9 -> 128x72, 1080p -> 192x108,
4k -> 384x216; 9:16 swaps the sides) so that files stay small and quick to make, like the
legacy path's fixed 160x96 frame. Rendered once per (seconds, size, sound) and cached.
"""

from __future__ import annotations

import functools
import io
import math
import threading
from collections import defaultdict
from fractions import Fraction

FPS = 20  # as av_media: every 0.1 s length is a whole number of frames
FRAME_SCALE = 10
AUDIO_RATE = 48000
AAC_FRAME = 1024  # samples per AAC frame
# Real frame heights (landscape) per settings.resolution.
HEIGHTS = {"720p": 720, "1080p": 1080, "4k": 2160}


def frame_size(resolution: str, aspect_ratio: str) -> tuple[int, int]:
    """(width, height) of the emulator's scaled-down frame (both even, as H.264 4:2:0 needs)."""
    short = HEIGHTS.get(resolution, 720)
    wide, tall = (int(x) for x in aspect_ratio.split(":"))
    if wide >= tall:
        width, height = short * wide // tall, short
    else:
        width, height = short, short * tall // wide
    return _even(width // FRAME_SCALE), _even(height // FRAME_SCALE)


def _even(n: int) -> int:
    return max(2, n - n % 2)


_locks: defaultdict[tuple[float, int, int, bool], threading.Lock] = defaultdict(threading.Lock)


def render_mp4(seconds: float, width: int, height: int, sound: bool) -> bytes:
    """Bytes of an H.264 MP4 of ``seconds``, ``width`` x ``height``, with an AAC tone if ``sound``."""
    with _locks[(seconds, width, height, sound)]:
        return _render(seconds, width, height, sound)


@functools.lru_cache(maxsize=32)
def _render(seconds: float, width: int, height: int, sound: bool) -> bytes:
    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "tune": "zerolatency"}
        audio = container.add_stream("aac", rate=AUDIO_RATE) if sound else None
        if audio is not None:
            audio.layout = "mono"
        x = np.linspace(0, 255, width, dtype=np.float32)
        for i in range(max(1, round(seconds * FPS))):
            shade = (x[None, :] + i * 8) % 256
            rgb = np.repeat(np.repeat(shade[:, :, None], height, axis=0), 3, axis=2).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if audio is not None:  # the muxer interleaves the two streams' packets
            total = round(seconds * AUDIO_RATE)
            for start in range(0, total, AAC_FRAME):
                n = min(AAC_FRAME, total - start)
                t = (np.arange(start, start + n) / AUDIO_RATE).astype(np.float32)
                samples = (0.2 * np.sin(2 * math.pi * 440.0 * t)).astype(np.float32)[None, :]
                chunk = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
                chunk.sample_rate = AUDIO_RATE
                chunk.pts = start
                container.mux(audio.encode(chunk))
            container.mux(audio.encode())
    return buf.getvalue()
