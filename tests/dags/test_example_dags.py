"""Example DAGs run for real with ``dag.test()`` (SQLite metadata DB) against the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from kling_emulator.server import EmulatorServer


def load_dag(dags_folder: Path, dag_id: str):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dags_folder))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]


@pytest.mark.parametrize("deferrable", [False, True])
def test_kling_video_to_audio_dag(
    airflow_db: Path, kling_conn: EmulatorServer, monkeypatch, deferrable, trigger_runs: list[str]
) -> None:
    # Set after the operator module was imported (conftest, other tests): read when the DAG is parsed.
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", str(deferrable))
    dag = load_dag(airflow_db, "kling_video_to_audio")
    run = dag.test(run_conf={"sound_effect_prompt": "Waves on a pebble beach", "asmr_mode": True})
    assert run.state == "success"
    [task] = kling_conn.emulator.store.tasks.values()
    # The deferrable run waited in its trigger; the blocking one never deferred.
    assert trigger_runs == ([task.task_id] if deferrable else [])
    assert task.request["sound_effect_prompt"] == "Waves on a pebble beach"
    assert task.request["asmr_mode"] is True
    assert kling_conn.emulator.stats.by_route["GET /results/{task_id}/{name}"] == 0
