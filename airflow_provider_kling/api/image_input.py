"""Image inputs (URL or raw Base64) checked before anything is sent: format, size, sides, ratio.

Contract: docs/kling-api.md#image-generation and #video-effects (jpg/jpeg/png, <= 10 MB,
sides >= 300 px, ratio 1:2.5-2.5:1, raw Base64 without a ``data:`` prefix). A URL is only
checked to be http(s): its file is Kling's to fetch.
"""

from __future__ import annotations

import base64
import binascii
import struct
from urllib.parse import urlparse

IMAGE_MAX_BYTES = 10 * 1024**2
MIN_IMAGE_SIDE = 300
MAX_IMAGE_RATIO = 2.5
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8"
# JPEG start-of-frame markers (they carry the picture size): C0-CF except C4, C8, CC.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def check_image_input(value: str | None) -> str | None:
    """``value`` unchanged when it is an http(s) URL or a valid raw Base64 jpg/png; else ValueError."""
    if value is None:
        return None
    if value.startswith(("http://", "https://")):
        if not urlparse(value).netloc:
            raise ValueError("must be an http(s) URL with a host, or raw Base64")
        return value
    if value.startswith("data:"):
        raise ValueError("send raw Base64 or a URL, without a 'data:...;base64,' prefix")
    if "://" in value:
        raise ValueError("must be an http:// or https:// URL, or raw Base64")
    if len(value) * 3 // 4 > IMAGE_MAX_BYTES:
        raise ValueError("a Base64 image must decode to at most 10 MB")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be an http(s) URL or valid raw Base64 (jpg/jpeg/png)") from None
    size = _picture_size(raw)
    if size is None:
        raise ValueError("a Base64 image must be a JPEG or PNG picture")
    width, height = size
    if min(width, height) < MIN_IMAGE_SIDE:
        raise ValueError(f"image is {width}x{height} px; each side must be >= {MIN_IMAGE_SIDE} px")
    if max(width, height) / min(width, height) > MAX_IMAGE_RATIO:
        raise ValueError(f"image is {width}x{height} px; its aspect ratio must be within 1:2.5 to 2.5:1")
    return value


def _picture_size(raw: bytes) -> tuple[int, int] | None:
    if raw.startswith(_PNG) and len(raw) >= 24 and raw[12:16] == b"IHDR":
        width, height = struct.unpack(">II", raw[16:24])
        return int(width), int(height)
    if raw.startswith(_JPEG):
        return _jpeg_size(raw)
    return None


def _jpeg_size(raw: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 9 <= len(raw):
        if raw[at] != 0xFF:
            return None
        marker = raw[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        (length,) = struct.unpack(">H", raw[at + 2 : at + 4])
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", raw[at + 5 : at + 9])
            return int(width), int(height)
        at += 2 + length
    return None
