"""The new-design example DAGs end to end with ``dag.test()`` against the emulator, deferrable, real media."""

from __future__ import annotations

from pathlib import Path

import pytest

from kling_emulator.server import EmulatorServer
from tests.dags.test_example_dags import load_dag
from tests.dags.test_pipeline import streams

# Runs whole DAGs/processes end to end: its own CI step (`pytest -m e2e`), out of the default suite.
pytestmark = pytest.mark.e2e


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__KLING__POLL_INTERVAL", "0.2")


def run_turbo(airflow_db: Path, destination: Path) -> None:
    dag = load_dag(airflow_db, "kling_turbo_daily")
    run = dag.test(
        run_conf={
            "prompt": "A paper boat on a pond",
            "duration": 4,
            "resolution": "1080p",
            "destination": str(destination),
        }
    )
    assert run.state == "success"


def test_turbo_daily_publishes_the_clip_with_its_native_sound(
    airflow_db: Path,
    kling_key_conn: EmulatorServer,
    fast_polls: None,
    tmp_path: Path,
    trigger_runs: list[str],
) -> None:
    destination = tmp_path / "published"
    run_turbo(airflow_db, destination)
    emulator = kling_key_conn.emulator
    [task] = emulator.store.tasks.values()
    assert emulator.stats.by_route["POST /text-to-video/{model}"] == 1
    assert emulator.stats.by_route["POST /v1/videos/text2video"] == 0
    assert trigger_runs == [task.task_id]  # waited on the triggerer
    assert task.request["settings"] == {"duration": 4, "resolution": "1080p", "aspect_ratio": "9:16"}
    assert task.request["prompt"].startswith("A paper boat on a pond (clip of ")  # templated with ds
    # Published as Kling made it: one MP4 (no muxed copy), with a sound track as long as the video.
    [clip] = destination.glob("*.mp4")
    assert clip.name == f"{task.video_ids[0]}.mp4"
    tracks = streams(clip)
    assert set(tracks) == {"video", "audio"}
    assert tracks["video"] == pytest.approx(4, abs=0.2) and tracks["audio"] == pytest.approx(4, abs=0.2)


@pytest.mark.parametrize("action", ["edit", "extend"])
def test_omni_edit_edits_or_extends_a_published_clip(
    airflow_db: Path,
    kling_key_conn: EmulatorServer,
    fast_polls: None,
    tmp_path: Path,
    trigger_runs: list[str],
    action: str,
) -> None:
    run_turbo(airflow_db, tmp_path / "daily")
    emulator = kling_key_conn.emulator
    [clip_task] = emulator.store.tasks.values()
    clip_url = f"{kling_key_conn.url}/results/{clip_task.task_id}/{clip_task.video_ids[0]}.mp4"

    destination = tmp_path / "edited"
    run = load_dag(airflow_db, "kling_omni_edit").test(
        run_conf={"clip_url": clip_url, "action": action, "duration": 6, "destination": str(destination)}
    )
    assert run.state == "success"
    [omni] = [t for t in emulator.store.tasks.values() if t.task_id != clip_task.task_id]
    assert emulator.stats.by_route["POST /omni-video/{model}"] == 1
    assert trigger_runs[-1] == omni.task_id
    video_item = {
        "type": "base_video" if action == "edit" else "feature_video",
        "url": clip_url,
        "id": "clip",
    }
    assert omni.request["contents"][1:] == [video_item]
    expected = {"audio": "original", "multi_shot": False}
    if action == "extend":
        expected = {"audio": "off", "multi_shot": False, "duration": 6}
    assert omni.request["settings"] == expected
    assert [p.name for p in destination.glob("*.mp4")] == [f"{omni.video_ids[0]}.mp4"]


def test_turbo_daily_waits_to_be_unpaused(airflow_db: Path) -> None:
    """A paid daily job: it must not start on its own where DAGs are unpaused at creation (demo stack)."""
    dag = load_dag(airflow_db, "kling_turbo_daily")
    assert dag.is_paused_upon_creation is True
    assert dag.timetable.expression == "0 0 * * *"  # @daily


def test_motion_control_moves_the_picture_as_the_reference_video(
    airflow_db: Path,
    kling_key_conn: EmulatorServer,
    fast_polls: None,
    tmp_path: Path,
    trigger_runs: list[str],
) -> None:
    destination = tmp_path / "moved"
    motion_video = f"{kling_key_conn.url}/samples/sample-5s.mp4"
    image = "https://example.com/characters/presenter.png"
    run = load_dag(airflow_db, "kling_motion_control").test(
        run_conf={"image": image, "motion_video": motion_video, "destination": str(destination)}
    )
    assert run.state == "success"
    emulator = kling_key_conn.emulator
    [task] = emulator.store.tasks.values()
    assert emulator.stats.by_route["POST /motion-control/{model}"] == 1
    assert trigger_runs == [task.task_id]  # waited on the triggerer
    assert task.request["settings"] == {
        "character_orientation": "image",
        "audio": "original",
        "resolution": "1080p",
    }
    assert {item["type"] for item in task.request["contents"]} == {"prompt", "image", "video"}
    [clip] = destination.glob("*.mp4")
    assert clip.name == f"{task.video_ids[0]}.mp4"
    assert streams(clip)["video"] > 0
