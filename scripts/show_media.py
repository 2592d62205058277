"""Print what each media file in a folder holds: size, length and streams (PyAV, else ffprobe).

usage: python scripts/show_media.py FOLDER
       python scripts/show_media.py --download FOLDER URL...   (copy the URLs into FOLDER first)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

MEDIA = {".mp4", ".mov", ".mp3", ".wav"}


def describe_with_av(path: Path) -> str:
    import av

    with av.open(str(path)) as container:
        seconds = (container.duration or 0) / 1_000_000
        streams = [f"{s.type} {s.codec_context.name}" for s in container.streams]
    return f"{seconds:6.2f} s  {', '.join(streams)}"


def describe_with_ffprobe(path: Path) -> str:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(out.stdout)
    streams = [f"{s['codec_type']} {s['codec_name']}" for s in info.get("streams", [])]
    return f"{float(info['format'].get('duration', 0)):6.2f} s  {', '.join(streams)}"


def main(folder: str) -> int:
    try:
        import av  # noqa: F401

        describe = describe_with_av
    except ImportError:
        if shutil.which("ffprobe") is None:
            print("(install PyAV or ffprobe to see durations and streams)")
            return 0
        describe = describe_with_ffprobe
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in MEDIA)
    for path in files:
        print(f"  {path}\n      {path.stat().st_size:>9,d} bytes  {describe(path)}")
    if not files:
        print(f"  (no media files in {folder})")
    return 0


def download(folder: str, urls: list[str]) -> None:
    """Copy each URL into ``folder`` under the last part of its path (query strings dropped)."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    for url in urls:
        name = Path(urlsplit(url).path).name or "download"
        with urllib.request.urlopen(url, timeout=60) as answer, open(target / name, "wb") as out:
            shutil.copyfileobj(answer, out)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--download"]:
        download(sys.argv[2], sys.argv[3:])
        sys.exit(main(sys.argv[2]))
    sys.exit(main(sys.argv[1]))
