"""The kling_music_bed example DAG end to end with ``dag.test()`` against the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from kling_emulator.server import EmulatorServer
from tests.dags.test_example_dags import load_dag
from tests.dags.test_pipeline import container_seconds, streams

# Runs whole DAGs/processes end to end: its own CI step (`pytest -m e2e`), out of the default suite.
pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("mode", ["mix", "replace"])
def test_music_bed_dag_publishes_the_video_with_the_music(
    airflow_db: Path, kling_conn: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("AIRFLOW__KLING__POLL_INTERVAL", "0.2")
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    dag = load_dag(airflow_db, "kling_music_bed")
    run = dag.test(
        run_conf={
            "music_prompt": "Harp arpeggios",
            "music_seconds": 4.5,
            "music_mode": mode,
            "destination": str(tmp_path),
        }
    )
    assert run.state == "success"
    tasks = kling_conn.emulator.store.tasks.values()
    [video] = [t for t in tasks if t.kind == "text2video"]
    [music] = [t for t in tasks if t.kind == "text-to-audio"]
    assert video.request["model_name"] == "kling-v3"
    assert music.request["prompt"] == "Harp arpeggios" and music.request["duration"] == 4.5
    video_id, audio_id = video.video_ids[0], music.audio_ids[0]
    bedded = tmp_path / f"{video_id}-{mode}-{audio_id}.mp4"
    assert streams(bedded).keys() == {"video", "audio"}
    assert container_seconds(bedded) == pytest.approx(5.0, abs=0.1)  # the video's length, not the music's
    assert (tmp_path / f"{audio_id}.wav").is_file() and (tmp_path / f"{video_id}.mp4").is_file()
