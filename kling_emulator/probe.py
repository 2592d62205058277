"""Fetch a video-to-audio ``video_url`` and read its real duration, as Kling does before accepting it.

The contract (docs/kling-api.md#video-to-audio): MP4/MOV, at most 100 MB, 3.0-20.0 s. The
duration comes from the movie header (``moov/mvhd``) of the ISO base media / QuickTime file,
parsed here with the standard library so the emulator needs no media extra to check uploads.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator

import aiohttp

MAX_VIDEO_BYTES = 100 * 1024 * 1024
FETCH_TIMEOUT_SECONDS = 30.0
# Top-level boxes an MP4 or MOV file may start with (old QuickTime files have no ``ftyp``).
_LEADING_BOXES = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


class ProbeError(Exception):
    """The video is unreachable, too large or not an MP4/MOV with a readable duration."""


async def fetch(url: str, max_bytes: int = MAX_VIDEO_BYTES) -> bytes:
    """Download ``url`` into memory, refusing more than ``max_bytes``."""
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS)
    limit_mb = max_bytes / 1024**2
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
            if response.status != 200:
                raise ProbeError(f"video_url could not be fetched (HTTP {response.status})")
            if response.content_length is not None and response.content_length > max_bytes:
                raise ProbeError(f"video_url file exceeds {limit_mb:g} MB")
            data = bytearray()
            async for chunk in response.content.iter_chunked(256 * 1024):
                data += chunk
                if len(data) > max_bytes:  # a server may send more than it announced
                    raise ProbeError(f"video_url file exceeds {limit_mb:g} MB")
            return bytes(data)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise ProbeError(f"video_url could not be fetched ({type(exc).__name__})") from None


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each box in ``data[start:end]``."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:  # 64-bit size follows the type
            if pos + 16 > end:
                return
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:  # box runs to the end of the file
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind, pos + header, pos + size
        pos += size


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    return next(((s, e) for k, s, e in _boxes(data, start, end) if k == kind), None)


def mp4_seconds(data: bytes) -> float:
    """Duration of an MP4/MOV file with a video track; ProbeError for anything else."""
    boxes = list(_boxes(data))
    if not boxes or boxes[0][0] not in _LEADING_BOXES:
        raise ProbeError("video_url must be an MP4 or MOV file")
    moov = next(((s, e) for k, s, e in boxes if k == b"moov"), None)
    mvhd = moov and _child(data, *moov, b"mvhd")
    if moov is None or mvhd is None:
        raise ProbeError("video_url must be an MP4 or MOV file (no movie header)")
    start, end = mvhd
    # version 1 has 64-bit times; the fields must lie inside the box (a cut file is refused, not a crash)
    layout, offset = (">IQ", 20) if data[start : start + 1] == b"\x01" else (">II", 12)
    if end - start < offset + struct.calcsize(layout):
        raise ProbeError("video_url has no readable duration")
    timescale, duration = struct.unpack_from(layout, data, start + offset)
    if not timescale or not duration:
        raise ProbeError("video_url has no readable duration")
    if not _has_video_track(data, *moov):
        raise ProbeError("video_url has no video track")
    return duration / timescale


def _has_video_track(data: bytes, start: int, end: int) -> bool:
    for kind, s, e in _boxes(data, start, end):
        mdia = _child(data, s, e, b"mdia") if kind == b"trak" else None
        hdlr = mdia and _child(data, *mdia, b"hdlr")
        if hdlr and data[hdlr[0] + 8 : hdlr[0] + 12] == b"vide":
            return True
    return False


async def video_seconds(url: str, max_bytes: int = MAX_VIDEO_BYTES) -> float:
    """Fetch ``url`` and return its duration in seconds (ProbeError says why it cannot)."""
    return mp4_seconds(await fetch(url, max_bytes))
