"""scripts/demo.sh's output: result files copied out of the emulator before it stops, then described.

The demo of a DAG that publishes nothing (kling_video_to_audio) used to print the emulator's
URLs, dead once the demo had stopped it; it now copies the files with show_media.py --download.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kling_emulator.server import EmulatorServer

REPO = Path(__file__).resolve().parent.parent


def test_show_media_downloads_then_describes_the_copies(emulator: EmulatorServer, tmp_path: Path) -> None:
    urls = [f"{emulator.url}/samples/sample-5s.wav", f"{emulator.url}/samples/sample-5s.mp3?sig=secret"]
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "show_media.py"), "--download", str(tmp_path), *urls],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sample-5s.mp3", "sample-5s.wav"]
    for name in ("sample-5s.mp3", "sample-5s.wav"):
        assert str(tmp_path / name) in out  # the local copy is shown, not the emulator's URL
    assert out.count("  5.00 s  audio") == 2, out  # described with PyAV: length and stream
    assert emulator.url not in out and "secret" not in out
