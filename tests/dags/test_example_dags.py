"""Example DAGs run for real with ``dag.test()`` (SQLite metadata DB) against the emulator."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import av
import pytest
import requests

from kling_emulator.server import EmulatorServer

# Runs whole DAGs/processes end to end: its own CI step (`pytest -m e2e`), out of the default suite.
pytestmark = pytest.mark.e2e


def load_dag(dags_folder: Path, dag_id: str):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dags_folder))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]


@pytest.mark.parametrize("default_deferrable", [False, True])
def test_kling_video_to_audio_dag(
    airflow_db: Path, kling_conn: EmulatorServer, monkeypatch, default_deferrable, trigger_runs: list[str]
) -> None:
    # Set after the operator module was imported (conftest, other tests): read when the DAG is parsed.
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", str(default_deferrable))
    dag = load_dag(airflow_db, "kling_video_to_audio")
    run = dag.test(run_conf={"sound_effect_prompt": "Waves on a pebble beach", "asmr_mode": True})
    assert run.state == "success"
    [task] = kling_conn.emulator.store.tasks.values()
    # The DAG passes deferrable=True: it waits in its trigger whatever [operators] default_deferrable says.
    assert trigger_runs == [task.task_id]
    assert task.request["sound_effect_prompt"] == "Waves on a pebble beach"
    assert task.request["asmr_mode"] is True
    assert kling_conn.emulator.stats.by_route["GET /results/{task_id}/{name}"] == 0
    # What the report printed: the audio files, then Kling's video with the generated sound in it.
    urls = return_value("kling_video_to_audio", run.run_id, "report")
    assert [url.rpartition("/")[2] for url in urls] == [
        f"{task.audio_ids[0]}.mp3",
        f"{task.audio_ids[0]}.wav",
        f"{task.video_ids[0]}.mp4",
    ]
    with av.open(io.BytesIO(requests.get(urls[2], timeout=30).content)) as container:
        assert {s.type for s in container.streams} == {"video", "audio"}


def return_value(dag_id: str, run_id: str, task_id: str) -> Any:
    """The XCom a task of ``dag_id`` returned in run ``run_id``."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        value = session.scalar(
            select(XComModel.value).where(
                XComModel.dag_id == dag_id,
                XComModel.run_id == run_id,
                XComModel.task_id == task_id,
                XComModel.key == "return_value",
            )
        )
    return json.loads(value) if isinstance(value, str) else value


EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_every_kling_operator_in_the_example_dags_defers(airflow_db: Path) -> None:
    """Each example DAG's Kling waits run on the triggerer, not only when the deployment's default says so."""
    from airflow.dag_processing.dagbag import DagBag

    from airflow_provider_kling.operators.base import KlingSubmitTaskOperator

    bag = DagBag(dag_folder=str(EXAMPLE_DAGS))
    assert not bag.import_errors, bag.import_errors
    kling_tasks = {
        (dag_id, task.task_id): task.deferrable
        for dag_id, dag in bag.dags.items()
        for task in dag.tasks
        if isinstance(task, KlingSubmitTaskOperator)
    }
    assert len({dag_id for dag_id, _ in kling_tasks}) == len(bag.dags) >= 4, sorted(bag.dags)
    assert all(kling_tasks.values()), sorted(k for k, deferrable in kling_tasks.items() if not deferrable)
