"""The example pipelines end to end with ``dag.test()`` against the emulator, real media included."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from airflow_provider_kling.emulator.server import EmulatorServer
from tests.test_example_dags import load_dag

RESULTS_ROUTE = "GET /results/{task_id}/{name}"


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example DAGs poll every 5 s by default; the fast emulator finishes in half a second."""
    monkeypatch.setenv("AIRFLOW__KLING__POLL_INTERVAL", "0.2")


def streams(path: Path) -> dict[str, float]:
    """Stream type -> duration (s) as PyAV reads the file."""
    with av.open(str(path)) as container:
        return {s.type: float(s.duration * s.time_base) for s in container.streams if s.duration}


def container_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        assert container.duration is not None
        return container.duration / 1_000_000


@pytest.mark.parametrize("deferrable", [False, True])
def test_content_pipeline_publishes_a_playable_mp4(
    airflow_db: Path, kling_conn: EmulatorServer, fast_polls: None, tmp_path: Path, monkeypatch, deferrable
) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", str(deferrable))
    dag = load_dag(airflow_db, "kling_content_pipeline")
    destination = tmp_path / "published"
    run = dag.test(
        run_conf={"prompt": "A red kite over hills", "duration": "10", "destination": str(destination)}
    )
    assert run.state == "success"

    emulator = kling_conn.emulator
    [video_task] = [t for t in emulator.store.tasks.values() if t.kind == "text2video"]
    [audio_task] = [t for t in emulator.store.tasks.values() if t.kind == "video-to-audio"]
    assert audio_task.request["video_id"] == video_task.video_ids[0]  # chained through XCom
    video_id, audio_id = video_task.video_ids[0], audio_task.audio_ids[0]

    muxed = destination / f"{video_id}-{audio_id}.mp4"
    assert streams(muxed).keys() == {"video", "audio"}
    assert container_seconds(muxed) == pytest.approx(10.0, abs=0.1)
    assert all(seconds == pytest.approx(10.0, abs=0.1) for seconds in streams(muxed).values())
    assert streams(destination / f"{audio_id}.mp3") == {"audio": pytest.approx(10.0, abs=0.1)}
    assert streams(destination / f"{audio_id}.wav") == {"audio": pytest.approx(10.0, abs=0.1)}
    assert streams(destination / f"{video_id}.mp4") == {"video": pytest.approx(10.0, abs=0.1)}
    assert not list(destination.glob(".*")), "no temporary files left behind"
