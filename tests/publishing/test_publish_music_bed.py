"""KlingPublishOperator with a text-to-audio result: publishing it, and laying it under a video.

Real files over real HTTP: the emulator's text-to-audio WAV (a 440 Hz tone) and its silent
text2video MP4, plus a video with its own 1000 Hz sound track made here with PyAV and served
from loopback. The output is probed with PyAV: streams, duration, and which tones it holds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from aiohttp import web
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_kling.operators.text_to_audio import TextToAudioOperator
from airflow_provider_kling.operators.video import TextToVideoOperator
from kling_emulator.server import EmulatorServer
from tests.kling_capture import serve_app
from tests.operators.test_operator import RecordingTI
from tests.publishing.test_publish import RESULTS_ROUTE, every_file, publish

BED_HZ = 440.0  # the emulator's WAV tone
OWN_HZ = 1000.0  # the sound track of the voiced video below
VIDEO_SECONDS = 5.0
BED_SECONDS = 3.0
BED_LEVEL = 8000 / 32768  # the emulator's WAV amplitude
# Mono sources reach each stereo channel at -3 dB (FFmpeg's default upmix).
UPMIX = 1 / math.sqrt(2)


@pytest.fixture
def t2a_result(kling_conn: EmulatorServer) -> dict[str, Any]:
    op = TextToAudioOperator(task_id="t2a", prompt="soft piano", duration=BED_SECONDS, poll_interval=0.1)
    return op.execute({"ti": RecordingTI(task_id="t2a")})


@pytest.fixture
def t2v_result(kling_conn: EmulatorServer) -> dict[str, Any]:
    op = TextToVideoOperator(task_id="t2v", prompt="harbour", duration="5", poll_interval=0.1)
    return op.execute({"ti": RecordingTI(task_id="t2v")})


def write_voiced_mp4(path: Path, seconds: float = VIDEO_SECONDS, rate: int = 44100) -> None:
    """A small H.264 video with a mono AAC track: a 1000 Hz tone at amplitude 0.25."""
    with av.open(str(path), mode="w", format="mp4") as out:
        video = out.add_stream("libx264", rate=20)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("aac", rate=rate)
        audio.layout, audio.format = "mono", "fltp"
        for i in range(round(seconds * 20)):
            frame = av.VideoFrame.from_ndarray(
                np.full((48, 64, 3), i * 5 % 256, dtype=np.uint8), format="rgb24"
            )
            frame.pts, frame.time_base = i, Fraction(1, 20)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        total = round(seconds * rate)
        for start in range(0, total, 1024):
            t = np.arange(start, min(total, start + 1024)) / rate
            samples = (0.25 * np.sin(2 * math.pi * OWN_HZ * t)).astype(np.float32)[None, :]
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))


@pytest.fixture
def voiced_video_url(tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "served"
    folder.mkdir()
    write_voiced_mp4(folder / "voiced.mp4")
    app = web.Application()
    app.router.add_static("/", folder)
    with serve_app(app) as url:
        yield f"{url}/voiced.mp4"


def probe(path: str) -> tuple[set[str], float, float, np.ndarray, int]:
    """(stream types, container seconds, audio seconds, mono samples, sample rate)."""
    with av.open(path.removeprefix("file://")) as container:
        types = {s.type for s in container.streams}
        stream = container.streams.audio[0]
        chunks = [
            f.to_ndarray().reshape(len(f.layout.channels), -1).mean(axis=0) for f in container.decode(stream)
        ]
        samples = np.concatenate(chunks)
        audio_seconds = float(stream.duration * stream.time_base)
        return types, container.duration / 1e6, audio_seconds, samples, stream.rate


def tone_level(samples: np.ndarray, rate: int, hz: float) -> float:
    """Amplitude of the ``hz`` component (a Goertzel-like projection on sine and cosine)."""
    t = np.arange(len(samples)) / rate
    return float(
        2
        * np.hypot(
            np.mean(samples * np.sin(2 * np.pi * hz * t)), np.mean(samples * np.cos(2 * np.pi * hz * t))
        )
    )


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples)))) if len(samples) else 0.0


def bed_files(out: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in out["files"] if f["kind"] == "music_bed"]


def test_a_text_to_audio_result_publishes_its_audio_only(t2a_result: dict[str, Any], tmp_path: Path) -> None:
    [audio] = t2a_result["audios"]
    out = publish(t2a_result, tmp_path)
    assert every_file(tmp_path) == sorted([f"{audio['id']}.mp3", f"{audio['id']}.wav"])
    assert {f["kind"] for f in out["files"]} == {"audio"}


def test_mix_keeps_the_videos_sound_and_adds_the_bed(
    t2a_result: dict[str, Any], voiced_video_url: str, tmp_path: Path
) -> None:
    out = publish(
        t2a_result,
        tmp_path / "out",
        source_video=voiced_video_url,
        music_bed=t2a_result,
        music_bed_volume=0.5,
    )
    [bed] = bed_files(out)
    assert Path(bed["path"]).name == f"voiced-mix-{t2a_result['audios'][0]['id']}.mp4"
    types, seconds, audio_seconds, samples, rate = probe(bed["path"])
    assert types == {"video", "audio"}
    assert seconds == pytest.approx(VIDEO_SECONDS, abs=0.1)
    assert audio_seconds == pytest.approx(VIDEO_SECONDS, abs=0.1)  # as long as the video, not the bed
    head = samples[: int(2.5 * rate)]  # where both play
    own, music = tone_level(head, rate, OWN_HZ), tone_level(head, rate, BED_HZ)
    assert own == pytest.approx(0.25 * UPMIX, rel=0.2)  # the video's own (mono) tone
    assert music == pytest.approx(0.5 * BED_LEVEL * UPMIX, rel=0.2)  # the bed at volume 0.5
    tail = samples[int(3.3 * rate) : int(4.8 * rate)]  # the bed is over: only the video's sound
    assert tone_level(tail, rate, BED_HZ) < 0.01 and tone_level(tail, rate, OWN_HZ) > 0.08


def test_replace_drops_the_videos_sound(
    t2a_result: dict[str, Any], voiced_video_url: str, tmp_path: Path
) -> None:
    out = publish(
        t2a_result, tmp_path, source_video=voiced_video_url, music_bed=t2a_result, music_bed_mode="replace"
    )
    [bed] = bed_files(out)
    types, seconds, _, samples, rate = probe(bed["path"])
    assert types == {"video", "audio"} and seconds == pytest.approx(VIDEO_SECONDS, abs=0.1)
    head = samples[: int(2.5 * rate)]
    assert tone_level(head, rate, BED_HZ) == pytest.approx(BED_LEVEL * UPMIX, rel=0.2)  # full level
    assert tone_level(head, rate, OWN_HZ) < 0.01
    assert rms(samples[int(3.3 * rate) : int(4.8 * rate)]) < 0.005  # a shorter bed ends in silence


def test_a_bed_under_a_silent_kling_video_and_a_rerun(
    t2v_result: dict[str, Any], t2a_result: dict[str, Any], kling_conn: EmulatorServer, tmp_path: Path
) -> None:
    """The t2v result is published with the t2a result as its bed (given as a rendered URL)."""
    [video], [audio] = t2v_result["videos"], t2a_result["audios"]
    out = publish(t2v_result, tmp_path, music_bed=audio["url_wav"], music_bed_volume=0.3)
    names = every_file(tmp_path)
    assert f"{video['id']}.mp4" in names and f"{audio['id']}.wav" in names  # the bed is kept too
    [bed] = bed_files(out)
    types, seconds, _, samples, rate = probe(bed["path"])
    assert types == {"video", "audio"} and seconds == pytest.approx(VIDEO_SECONDS, abs=0.1)
    assert tone_level(samples[: int(2.5 * rate)], rate, BED_HZ) == pytest.approx(
        0.3 * BED_LEVEL * UPMIX, rel=0.2
    )

    downloads = kling_conn.emulator.stats.by_route[RESULTS_ROUTE]
    again = publish(t2v_result, tmp_path, music_bed=audio["url_wav"], music_bed_volume=0.3)
    assert not any(f["downloaded"] for f in again["files"])
    assert kling_conn.emulator.stats.by_route[RESULTS_ROUTE] == downloads


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"music_bed_mode": "duck"}, "music_bed_mode: must be one of"),
        ({"music_bed_volume": 3}, "music_bed_volume: must be a number from 0 to 2"),
        ({"music_bed_volume": "loud"}, "music_bed_volume: must be a number from 0 to 2"),
        ({"music_bed": {"videos": []}}, "music_bed must be a text-to-audio result"),
    ],
)
def test_bad_music_bed_options_fail_before_any_download(
    t2v_result: dict[str, Any],
    t2a_result: dict[str, Any],
    kling_conn: EmulatorServer,
    tmp_path: Path,
    kwargs: dict[str, Any],
    message: str,
) -> None:
    kwargs.setdefault("music_bed", t2a_result)
    with pytest.raises(AirflowFailException, match=message):
        publish(t2v_result, tmp_path, **kwargs)
    assert kling_conn.emulator.stats.by_route[RESULTS_ROUTE] == 0
