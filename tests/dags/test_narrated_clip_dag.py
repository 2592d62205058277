"""The kling_narrated_clip example DAG end to end with ``dag.test()`` against the emulator.

A prompt with a face takes the lip-sync branch, a landscape the voice-over branch; either way
the published MP4 carries the speech with the sound effects (the emulator's 440 Hz WAV) under
it at ``effects_volume``, measured on the file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from kling_emulator.server import EmulatorServer
from tests.dags.test_example_dags import load_dag
from tests.dags.test_pipeline import container_seconds, streams
from tests.publishing.test_publish_music_bed import BED_HZ, BED_LEVEL, UPMIX, probe, rms, tone_level

# Runs whole DAGs/processes end to end: its own CI step (`pytest -m e2e`), out of the default suite.
pytestmark = pytest.mark.e2e

EFFECTS_VOLUME = 0.4


def run_dag(airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prompt: str) -> Any:
    monkeypatch.setenv("AIRFLOW__KLING__POLL_INTERVAL", "0.2")
    dag = load_dag(airflow_db, "kling_narrated_clip")
    return dag.test(
        run_conf={
            "prompt": prompt,
            "script": "Welcome aboard, the tide is turning.",  # 36 characters: 2.4 s on the emulator
            "effects_volume": EFFECTS_VOLUME,
            "destination": str(tmp_path),
        }
    )


def tasks_by_kind(server: EmulatorServer) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for task in server.emulator.store.tasks.values():
        found.setdefault(task.kind, []).append(task)
    return found


def assert_voice_over_effects(path: Path, speech_seconds: float) -> None:
    assert streams(path).keys() == {"video", "audio"}
    assert container_seconds(path) == pytest.approx(5.0, abs=0.15)
    _, _, _, samples, rate = probe(str(path))
    effects = BED_LEVEL * UPMIX * EFFECTS_VOLUME
    after_speech = samples[int((speech_seconds + 0.5) * rate) : int(4.8 * rate)]
    # After the speech: the effects alone, at effects_volume (a 440 Hz tone's RMS is level / sqrt 2).
    assert tone_level(after_speech, rate, BED_HZ) == pytest.approx(effects, rel=0.15)
    assert rms(after_speech) == pytest.approx(effects / math.sqrt(2), rel=0.2)
    # While speaking: louder than the effects alone (the voice is on top of them).
    speaking = samples[int(0.3 * rate) : int((speech_seconds - 0.3) * rate)]
    assert rms(speaking) > 1.5 * rms(after_speech)


def test_a_face_is_lip_synced_and_the_effects_laid_under_the_voice(
    airflow_db: Path, kling_conn: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = run_dag(airflow_db, tmp_path, monkeypatch, "A fisherman talks to the camera")
    assert run.state == "success"
    kinds = tasks_by_kind(kling_conn)
    [tts], [fx], [lip] = kinds["tts"], kinds["video-to-audio"], kinds["advanced-lip-sync"]
    assert len(kinds["identify-face"]) == 1  # identify_face paid once; lip_sync used its session
    speech_seconds = float(tts.duration)
    talking_id, fx_id = lip.video_ids[0], fx.audio_ids[0]
    final = tmp_path / f"{talking_id}-mix-{fx_id}.mp4"
    assert_voice_over_effects(final, speech_seconds)
    assert not list(tmp_path.glob("*-voice-*.mp4"))  # the voice-over branch was skipped


def test_no_face_takes_the_voice_over_over_video_and_effects(
    airflow_db: Path, kling_conn: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = run_dag(airflow_db, tmp_path, monkeypatch, "A misty mountain landscape at dawn")
    assert run.state == "success"
    kinds = tasks_by_kind(kling_conn)
    assert "advanced-lip-sync" not in kinds and len(kinds["identify-face"]) == 1
    [video], [tts], [fx] = kinds["text2video"], kinds["tts"], kinds["video-to-audio"]
    video_id, tts_id, fx_id = video.video_ids[0], tts.audio_ids[0], fx.audio_ids[0]
    final = tmp_path / f"{video_id}-mix-{fx_id}-voice-{tts_id}.mp4"
    assert_voice_over_effects(final, float(tts.duration))
    assert (tmp_path / f"{tts_id}.mp3").is_file() and (tmp_path / f"{video_id}.mp4").is_file()
