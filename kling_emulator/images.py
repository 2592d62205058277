"""What the emulator can tell about an ``image`` / ``image_tail`` sent as raw Base64.

Contract: docs/kling-api.md#video-requests (jpg/jpeg/png, <= 10 MB, sides >= 300 px, ratio 1:2.5-2.5:1,
raw Base64 without a ``data:`` prefix).
"""

from __future__ import annotations

import base64
import binascii
import struct

# image / image_tail limits (docs/kling-api.md#video-requests).
MAX_IMAGE_BYTES = 10 * 1024**2
MIN_IMAGE_SIDE = 300
MAX_ASPECT = 2.5
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8"
# JPEG start-of-frame markers (the ones that carry the picture size): C0-CF but C4, C8, CC.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class ImageProblem(ValueError):
    """Why an image would be refused; the caller puts the field name in front."""


def decode_base64_image(value: str) -> bytes:
    if value.startswith("data:"):
        raise ImageProblem("must be raw Base64 without a 'data:' prefix, or an http(s) URL")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ImageProblem("must be an http(s) URL or Base64 image data") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageProblem(f"is {len(data)} bytes; at most 10 MB is allowed")
    return data


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG or JPEG; anything else is refused (Kling takes jpg/jpeg/png)."""
    if data.startswith(PNG_MAGIC) and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data.startswith(JPEG_MAGIC):
        i = 2
        while i + 9 <= len(data) and data[i] == 0xFF:
            marker = data[i + 1]
            if marker in _JPEG_SOF:
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return width, height
            (length,) = struct.unpack(">H", data[i + 2 : i + 4])
            i += 2 + length
        raise ImageProblem("is a JPEG without a readable size")
    raise ImageProblem("must be a jpg/jpeg/png image")


def check_image(value: str) -> None:
    """Raise :class:`ImageProblem` unless ``value`` is raw Base64 of an image Kling accepts."""
    width, height = image_size(decode_base64_image(value))
    if min(width, height) < MIN_IMAGE_SIDE:
        raise ImageProblem(f"is {width}x{height} px; each side must be at least {MIN_IMAGE_SIDE} px")
    if not 1 / MAX_ASPECT <= width / height <= MAX_ASPECT:
        raise ImageProblem(f"is {width}x{height} px; the aspect ratio must be between 1:2.5 and 2.5:1")
