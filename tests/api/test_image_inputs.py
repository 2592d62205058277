"""Image inputs checked before anything is sent (docs/kling-api.md#image-generation): the real bytes.

JPEGs are encoded here with PyAV's MJPEG encoder, PNGs written by hand: the sizes are read from
the pictures' own headers.
"""

from __future__ import annotations

import base64
import re
from fractions import Fraction

import av
import numpy as np
import pytest

from airflow_provider_kling.api.image_input import check_image_input
from tests.publishing.test_publish_images import png_bytes


def jpeg_bytes(width: int, height: int) -> bytes:
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuvj420p"
    codec.time_base = Fraction(1, 25)
    frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 90, dtype=np.uint8), format="rgb24")
    packets = codec.encode(frame.reformat(format="yuvj420p")) + codec.encode(None)
    data = b"".join(bytes(p) for p in packets)
    assert data.startswith(b"\xff\xd8")
    return data


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("make", [png_bytes, jpeg_bytes])
def test_pictures_within_the_rules_pass_unchanged(make: object) -> None:
    for width, height in ((300, 300), (750, 300), (300, 750), (1024, 576)):
        value = b64(make(width, height))  # type: ignore[operator]
        assert check_image_input(value) == value


@pytest.mark.parametrize("make", [png_bytes, jpeg_bytes])
@pytest.mark.parametrize(
    ("size", "message"),
    [
        ((299, 400), "image is 299x400 px; each side must be >= 300 px"),
        ((760, 300), "image is 760x300 px; its aspect ratio must be within 1:2.5 to 2.5:1"),
        ((300, 760), "image is 300x760 px; its aspect ratio must be within 1:2.5 to 2.5:1"),
    ],
)
def test_pictures_outside_the_rules_are_refused_with_their_size(
    make: object, size: tuple[int, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        check_image_input(b64(make(*size)))  # type: ignore[operator]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b64(b"GIF89a" + b"\x00" * 40), "must be a JPEG or PNG picture"),
        ("data:image/png;base64," + b64(png_bytes(400, 400)), "without a 'data:...;base64,' prefix"),
        ("https://", "must be an http(s) URL with a host"),
        ("s3://bucket/a.png", "must be an http:// or https:// URL, or raw Base64"),
        ("@@@@", "valid raw Base64"),
    ],
)
def test_other_values_are_refused(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check_image_input(value)


def test_an_http_url_is_kling_s_to_fetch() -> None:
    assert check_image_input("https://cdn.example/a.webp?x=1") == "https://cdn.example/a.webp?x=1"
    assert check_image_input(None) is None
