"""Example DAGs run for real with ``dag.test()`` (SQLite metadata DB) against the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

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
