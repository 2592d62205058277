"""KlingPublishOperator's voice-over: speech laid over a video's own sound, with levels.

Real files over real HTTP: a video with its own 1000 Hz sound track (the "sound effects") and
a "voice" WAV (a 300 Hz tone, shorter or longer than the video) made here and served from
loopback, plus the emulator's silent text2video MP4. The output is probed with PyAV: streams,
duration, and the level of each tone (what a volumedetect per source would show).
"""

from __future__ import annotations

import math
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web
from airflow.sdk.exceptions import AirflowFailException

from kling_emulator.server import EmulatorServer
from tests.kling_capture import serve_app
from tests.publishing.test_publish import every_file, publish
from tests.publishing.test_publish_music_bed import (
    OWN_HZ,
    UPMIX,
    VIDEO_SECONDS,
    probe,
    rms,
    t2v_result,  # noqa: F401  (fixture)
    tone_level,
    write_voiced_mp4,
)

VOICE_HZ = 300.0
VOICE_LEVEL = 0.5
OWN_LEVEL = 0.25  # write_voiced_mp4's tone
MUSIC_HZ, MUSIC_LEVEL = 550.0, 0.4


def write_voice_wav(
    path: Path, seconds: float, rate: int = 24000, hz: float = VOICE_HZ, level: float = VOICE_LEVEL
) -> None:
    """A mono 16-bit WAV: by default a 300 Hz tone at amplitude 0.5 (a stand-in for speech)."""
    t = np.arange(round(seconds * rate)) / rate
    pcm = (level * np.sin(2 * math.pi * hz * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "served"
    folder.mkdir()
    write_voiced_mp4(folder / "clip.mp4")
    write_voice_wav(folder / "speech.wav", 3.0)
    write_voice_wav(folder / "long-speech.wav", 7.0)
    write_voice_wav(folder / "music.wav", 5.0, hz=MUSIC_HZ, level=MUSIC_LEVEL)
    app = web.Application()
    app.router.add_static("/", folder)
    with serve_app(app) as url:
        yield url


def tts_result(url: str, audio_id: str = "tts-1") -> dict[str, Any]:
    """A text-to-speech XCom result as the normalised result carries it: ``url`` and ``duration``."""
    audio = {"id": audio_id, "url": url, "duration": "3.0", "url_mp3": None, "url_wav": None}
    return {
        "task_id": "t1",
        "status": "succeed",
        "videos": [],
        "audios": [audio],
        "images": [],
        "credits": 0.05,
    }


def clip_result(url: str) -> dict[str, Any]:
    video = {"id": "clip", "url": url, "duration": "5"}
    return {
        "task_id": "v1",
        "status": "succeed",
        "videos": [video],
        "audios": [],
        "images": [],
        "credits": 35.0,
    }


def test_voice_over_mixes_the_voice_over_the_videos_own_sound_at_the_given_levels(
    served: str, tmp_path: Path
) -> None:
    out_dir = tmp_path / "out"
    out = publish(
        clip_result(f"{served}/clip.mp4"),
        out_dir,
        voice_over=tts_result(f"{served}/speech.wav"),
        voice_volume=0.8,
        bed_volume=0.5,
    )
    [laid] = [f for f in out["files"] if f["kind"] == "voice_over"]
    assert Path(laid["path"]).name == "clip-voice-tts-1.mp4"
    assert every_file(out_dir) == ["clip-voice-tts-1.mp4", "clip.mp4", "tts-1.wav"]
    assert out["credits"] == 35.0  # the clip's units (the voice result was not published as a result)
    types, seconds, audio_seconds, samples, rate = probe(laid["path"])
    assert types == {"video", "audio"}
    assert seconds == pytest.approx(VIDEO_SECONDS, abs=0.1)
    assert audio_seconds == pytest.approx(VIDEO_SECONDS, abs=0.1)
    while_speaking = samples[int(0.5 * rate) : int(2.5 * rate)]
    after = samples[int(3.5 * rate) : int(4.5 * rate)]
    # Two inputs mixed, each at its level (mono sources reach stereo at -3 dB).
    assert tone_level(while_speaking, rate, VOICE_HZ) == pytest.approx(VOICE_LEVEL * 0.8 * UPMIX, rel=0.1)
    assert tone_level(while_speaking, rate, OWN_HZ) == pytest.approx(OWN_LEVEL * 0.5 * UPMIX, rel=0.1)
    assert tone_level(after, rate, VOICE_HZ) < 0.01  # the voice ended at 3 s
    assert tone_level(after, rate, OWN_HZ) == pytest.approx(OWN_LEVEL * 0.5 * UPMIX, rel=0.1)
    assert rms(after) == pytest.approx(OWN_LEVEL * 0.5 * UPMIX / math.sqrt(2), rel=0.1)


def test_bed_volume_zero_keeps_the_voice_alone_and_a_longer_voice_is_cut_at_the_videos_end(
    served: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = publish(
        clip_result(f"{served}/clip.mp4"),
        tmp_path / "out",
        voice_over=f"{served}/long-speech.wav",  # a plain URL works too
        bed_volume="0",  # rendered template text
    )
    [laid] = [f for f in out["files"] if f["kind"] == "voice_over"]
    assert Path(laid["path"]).name == "clip-voice-long-speech.mp4"
    _, seconds, audio_seconds, samples, rate = probe(laid["path"])
    assert seconds == pytest.approx(VIDEO_SECONDS, abs=0.1)
    assert audio_seconds == pytest.approx(VIDEO_SECONDS, abs=0.1)
    middle = samples[int(1 * rate) : int(4 * rate)]
    assert tone_level(middle, rate, VOICE_HZ) == pytest.approx(VOICE_LEVEL * UPMIX, rel=0.1)
    assert tone_level(middle, rate, OWN_HZ) < 0.005
    assert "The voice (7.00 s) is longer than the video (5.00 s)" in capsys.readouterr().out


def test_voice_over_a_silent_emulator_video_and_a_rerun_makes_nothing_again(
    t2v_result: dict[str, Any],  # noqa: F811
    served: str,
    kling_conn: EmulatorServer,
    tmp_path: Path,
) -> None:
    kwargs: dict[str, Any] = {"voice_over": tts_result(f"{served}/speech.wav"), "voice_volume": 1.5}
    first = publish(t2v_result, tmp_path, **kwargs)
    again = publish(t2v_result, tmp_path, **kwargs)
    [laid] = [f for f in first["files"] if f["kind"] == "voice_over"]
    assert laid["downloaded"] is True
    assert [f["downloaded"] for f in again["files"]] == [False] * len(again["files"])
    types, seconds, _, samples, rate = probe(laid["path"])
    assert types == {"video", "audio"} and seconds == pytest.approx(VIDEO_SECONDS, abs=0.1)
    assert tone_level(samples[: int(2.5 * rate)], rate, VOICE_HZ) == pytest.approx(
        VOICE_LEVEL * 1.5 * UPMIX, rel=0.1
    )
    assert rms(samples[int(3.5 * rate) :]) < 0.005  # a silent video: after the voice, silence


def test_with_a_music_bed_too_the_voice_goes_over_music_and_effects(served: str, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out = publish(
        clip_result(f"{served}/clip.mp4"),
        out_dir,
        music_bed=f"{served}/music.wav",
        music_bed_volume=0.5,
        voice_over=tts_result(f"{served}/speech.wav"),
        bed_volume=0.5,
    )
    [bedded] = [f for f in out["files"] if f["kind"] == "music_bed"]
    [laid] = [f for f in out["files"] if f["kind"] == "voice_over"]
    assert Path(bedded["path"]).name == "clip-mix-music.mp4"
    assert Path(laid["path"]).name == "clip-mix-music-voice-tts-1.mp4"
    _, seconds, _, samples, rate = probe(laid["path"])
    assert seconds == pytest.approx(VIDEO_SECONDS, abs=0.1)
    speaking = samples[int(0.5 * rate) : int(2.5 * rate)]
    # Three sources: the voice at 1.0; the effects (1.0 in the bed mix) and the music (0.5) both
    # under it at bed_volume 0.5.
    assert tone_level(speaking, rate, VOICE_HZ) == pytest.approx(VOICE_LEVEL * UPMIX, rel=0.1)
    assert tone_level(speaking, rate, OWN_HZ) == pytest.approx(OWN_LEVEL * 0.5 * UPMIX, rel=0.1)
    assert tone_level(speaking, rate, MUSIC_HZ) == pytest.approx(MUSIC_LEVEL * 0.25 * UPMIX, rel=0.1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"voice_volume": 3}, "voice_volume: must be a number from 0 to 2, not 3"),
        ({"bed_volume": "loud"}, "bed_volume: must be a number from 0 to 2, not 'loud'"),
        ({"voice_over": {"audios": []}}, "voice_over must be a text-to-speech result"),
    ],
)
def test_bad_voice_over_options_fail_before_any_download(
    served: str, tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    options = {"voice_over": f"{served}/speech.wav", **kwargs}
    with pytest.raises(AirflowFailException, match=message):
        publish(clip_result(f"{served}/clip.mp4"), tmp_path / "out", **options)
    assert not (tmp_path / "out").exists()
