"""LipSyncOperator in a real task run (``dag.test()``): Airflow's task state store keeps the session."""

from __future__ import annotations

from pathlib import Path

import pytest

from kling_emulator.server import EmulatorServer
from tests.dags.test_example_dags import load_dag
from tests.hooks.test_speech_hook import IDENTIFY, by_route

# Runs whole DAGs/processes end to end: its own CI step (`pytest -m e2e`), out of the default suite.
pytestmark = pytest.mark.e2e


def lip_sync_tasks(emulator: EmulatorServer) -> list:  # type: ignore[type-arg]
    return [t for t in emulator.emulator.store.tasks.values() if t.kind == "advanced-lip-sync"]


def test_a_real_run_identifies_once_and_lip_syncs(airflow_db: Path, kling_conn: EmulatorServer) -> None:
    run = load_dag(airflow_db, "kling_lip_sync_retry").test(
        run_conf={"sound_file": f"{kling_conn.url}/samples/sample-3s.mp3"}
    )
    assert run.state == "success"
    assert by_route(kling_conn)[IDENTIFY] == 1 and len(lip_sync_tasks(kling_conn)) == 1


def test_an_airflow_retry_does_not_pay_for_identify_face_again(
    airflow_db: Path, kling_conn: EmulatorServer
) -> None:
    kling_conn.config.fault_rates.task_failure = 1.0  # every lip-sync task Kling makes ends failed
    run = load_dag(airflow_db, "kling_lip_sync_retry").test(
        run_conf={"sound_file": f"{kling_conn.url}/samples/sample-3s.mp3"}
    )
    assert run.state == "failed"
    assert run.get_task_instance("lip_sync").try_number == 2
    first, second = lip_sync_tasks(kling_conn)  # the retry replaced the failed task ("-2") ...
    assert second.external_task_id == first.external_task_id + "-2"
    assert second.request["session_id"] == first.request["session_id"]  # ... with the same session
    assert by_route(kling_conn)[IDENTIFY] == 1
