"""KlingPublishOperator with image results: images are copied like videos and audios.

Real files over real HTTP: a PNG and a JPEG served from loopback under the names Kling's CDN
would use; an image-generation result as the operator's XCom carries it.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.kling_capture import serve_app
from tests.publishing.test_publish import every_file, publish


def png_bytes(width: int, height: int) -> bytes:
    """A valid grey PNG of ``width`` x ``height``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def cdn(tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "cdn"
    folder.mkdir()
    (folder / "a.png").write_bytes(png_bytes(640, 360))
    (folder / "b.jpeg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 100 + b"\xff\xd9")
    app = web.Application()
    app.router.add_static("/", folder)
    with serve_app(app) as url:
        yield url


def image_result(cdn: str) -> dict[str, Any]:
    images = [
        {"index": 0, "url": f"{cdn}/a.png", "watermark_url": None, "group_id": None},
        {"index": 1, "url": f"{cdn}/b.jpeg?sig=1", "watermark_url": None, "group_id": None},
    ]
    return {
        "task_id": "img1",
        "status": "succeed",
        "videos": [],
        "audios": [],
        "images": images,
        "credits": 8.0,
    }


def test_images_are_published_as_png_and_jpg_named_by_task_and_index(cdn: str, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    out = publish(image_result(cdn), dest)
    assert every_file(dest) == ["img1-0.png", "img1-1.jpg"]
    assert [(f["kind"], f["kling_id"], f["format"]) for f in out["files"]] == [
        ("image", "img1-0", "png"),
        ("image", "img1-1", "jpg"),
    ]
    assert (dest / "img1-0.png").read_bytes() == png_bytes(640, 360)
    assert out["credits"] == 8.0
    again = publish(image_result(cdn), dest)
    assert [f["downloaded"] for f in again["files"]] == [False, False]


def test_include_images_false_copies_no_image(cdn: str, tmp_path: Path) -> None:
    out = publish(image_result(cdn), tmp_path / "out", include_images=False)
    assert out["files"] == [] and every_file(tmp_path / "out") == []
