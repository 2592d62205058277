"""The kling_video_effects example DAG end to end with ``dag.test()`` against the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from kling_emulator.server import EmulatorServer
from tests.dags.test_example_dags import load_dag
from tests.dags.test_pipeline import streams

# Runs whole DAGs/processes end to end: its own CI step (`pytest -m e2e`), out of the default suite.
pytestmark = pytest.mark.e2e


def test_two_generated_portraits_go_into_one_dual_image_effect(
    airflow_db: Path,
    kling_conn: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    trigger_runs: list[str],
) -> None:
    monkeypatch.setenv("AIRFLOW__KLING__POLL_INTERVAL", "0.2")
    run = load_dag(airflow_db, "kling_video_effects").test(
        run_conf={"effect_scene": "hug_pro", "destination": str(tmp_path)}
    )
    assert run.state == "success"
    tasks = list(kling_conn.emulator.store.tasks.values())
    [gen] = [t for t in tasks if t.kind == "omni-image"]
    [effect] = [t for t in tasks if t.kind == "effects"]
    assert gen.request["n"] == 2 and gen.request["model_name"] == "kling-image-o1"
    assert trigger_runs == [gen.task_id, effect.task_id]  # both waited on the triggerer
    # The effect got the two generated images, in order (left, right).
    base = kling_conn.url
    images = effect.request["input"]["images"]
    assert len(images) == 2 and all(url.startswith(base) and url.endswith(".png") for url in images)
    assert images[0] != images[1] and all(gen.task_id in url for url in images)
    assert effect.request["effect_scene"] == "hug_pro"
    [clip] = tmp_path.glob("*.mp4")
    assert streams(clip)["video"] > 0
