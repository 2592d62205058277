"""The example pipelines end to end with ``dag.test()`` against the emulator, real media included."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from kling_emulator.server import EmulatorServer
from tests.dags.test_example_dags import load_dag

# Runs whole DAGs/processes end to end: its own CI step (`pytest -m e2e`), out of the default suite.
pytestmark = pytest.mark.e2e

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


@pytest.mark.parametrize("default_deferrable", [False, True])
def test_content_pipeline_publishes_a_playable_mp4(
    airflow_db: Path,
    kling_conn: EmulatorServer,
    fast_polls: None,
    tmp_path: Path,
    monkeypatch,
    default_deferrable,
    trigger_runs: list[str],
) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", str(default_deferrable))
    dag = load_dag(airflow_db, "kling_content_pipeline")
    destination = tmp_path / "published"
    run = dag.test(
        run_conf={"prompt": "A red kite over hills", "duration": "10", "destination": str(destination)}
    )
    assert run.state == "success"

    emulator = kling_conn.emulator
    [video_task] = [t for t in emulator.store.tasks.values() if t.kind == "text2video"]
    [audio_task] = [t for t in emulator.store.tasks.values() if t.kind == "video-to-audio"]
    # The DAG passes deferrable=True: both waits ran in their triggers whatever the default says.
    assert trigger_runs == [video_task.task_id, audio_task.task_id]
    assert audio_task.request["video_id"] == video_task.video_ids[0]  # chained through XCom
    video_id, audio_id = video_task.video_ids[0], audio_task.audio_ids[0]

    muxed = destination / f"{video_id}-{audio_id}.mp4"
    assert streams(muxed).keys() == {"video", "audio"}
    assert container_seconds(muxed) == pytest.approx(10.0, abs=0.1)
    assert all(seconds == pytest.approx(10.0, abs=0.1) for seconds in streams(muxed).values())
    assert streams(destination / f"{audio_id}.mp3") == {"audio": pytest.approx(10.0, abs=0.1)}
    assert streams(destination / f"{audio_id}.wav") == {"audio": pytest.approx(10.0, abs=0.1)}
    assert streams(destination / f"{video_id}.mp4") == {"video": pytest.approx(10.0, abs=0.1)}
    # Kling's video-to-audio video is the source WITH the generated sound: not a second silent copy.
    sounded = destination / f"{audio_task.video_ids[0]}.mp4"
    assert streams(sounded) == {"video": pytest.approx(10.0, abs=0.1), "audio": pytest.approx(10.0, abs=0.1)}
    assert sounded.read_bytes() != (destination / f"{video_id}.mp4").read_bytes()
    assert not list(destination.glob(".*")), "no temporary files left behind"
    [event] = published_events(str(destination))
    assert {f["path"] for f in event["files"]} == {f"file://{p}" for p in destination.iterdir()}


def published_events(destination: str) -> list[dict]:
    """``extra`` of the ``kling_published`` asset events recorded for ``destination``."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(AssetEvent.extra).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
        extras = session.scalars(query.where(AssetModel.name == "kling_published")).all()
    return [e for e in extras if e.get("destination") == f"file://{destination}"]


def test_prompt_fanout_publishes_one_file_set_per_prompt(
    airflow_db: Path,
    kling_conn: EmulatorServer,
    fast_polls: None,
    tmp_path: Path,
    monkeypatch,
    trigger_runs: list[str],
) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    dag = load_dag(airflow_db, "kling_prompt_fanout")
    prompts = ["A paper boat in the rain", "A hummingbird at a flower", "A neon skyline"]
    run = dag.test(run_conf={"prompts": prompts, "destination": str(tmp_path)})
    assert run.state == "success"

    tasks = kling_conn.emulator.store.tasks.values()
    assert sorted(trigger_runs) == sorted(t.task_id for t in tasks)  # every mapped wait deferred
    assert sorted(t.request["prompt"] for t in tasks if t.kind == "text2video") == sorted(prompts)
    audio_tasks = [t for t in tasks if t.kind == "video-to-audio"]
    assert len(audio_tasks) == 3
    muxed = sorted(tmp_path.glob("*-*.mp4"))
    assert len(muxed) == 3
    assert {m.name for m in muxed} == {f"{t.video_ids[0]}-{t.audio_ids[0]}.mp4" for t in audio_tasks}
    for path in muxed:
        assert streams(path).keys() == {"video", "audio"}
        assert container_seconds(path) == pytest.approx(5.0, abs=0.1)


def test_a_failed_prompt_fails_only_its_own_chain(
    airflow_db: Path, kling_conn: EmulatorServer, fast_polls: None, tmp_path: Path
) -> None:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    dag = load_dag(airflow_db, "kling_prompt_fanout")
    prompts = ["A paper boat in the rain", "A hummingbird [fail]", "A neon skyline"]
    run = dag.test(run_conf={"prompts": prompts, "destination": str(tmp_path)})
    assert run.state == "failed"
    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state).where(
                TaskInstance.dag_id == "kling_prompt_fanout", TaskInstance.run_id == run.run_id
            )
        ).all()
    states = {(task_id, index): str(state) for task_id, index, state in rows}
    for step in ("make_video", "make_audio", "publish"):
        assert states[(f"prompt.{step}", 0)] == "success"
        assert states[(f"prompt.{step}", 2)] == "success"
    assert states[("prompt.make_video", 1)] == "failed"
    assert states[("prompt.make_audio", 1)] == "upstream_failed"
    assert states[("prompt.publish", 1)] == "upstream_failed"
    assert len(list(tmp_path.glob("*-*.mp4"))) == 2  # the two healthy prompts were published
