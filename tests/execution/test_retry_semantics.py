"""Which errors use up an Airflow task's retries, seen in Airflow's own records (``dag.test()``).

``dag.test()`` runs each try through Airflow's real task runner and reschedules a failed task
after its ``retry_delay``, so the try numbers read back from the metadata DB are Airflow's
verdict. The same DAGs run on a real multi-process Airflow in ``tests/stack/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_kling.execution.idempotency import derive_external_task_id
from kling_emulator.server import EmulatorServer
from kling_emulator.state import Fault
from tests.conftest import conn_json
from tests.dags.test_example_dags import load_dag

# The hook tries each request twice (one retry, 0.1 s apart) on this connection.
FLAKY_EXTRA = {"max_retries": 1, "retry_min_wait": 0.1, "retry_max_wait": 0.1}
NOT_FOUND = '{"code": 1203, "message": "Task not found", "request_id": "r-404", "data": null}'

# How a submit can fail past the hook's own retries:
SERVER_ERRORS = {
    # Kling created nothing: both POSTs of the first try answer 5000.
    "nothing created": [Fault("error", code=5000, method="POST", times=2)],
    # Kling created the task but the answer was 5000 and the look-up that would have found it
    # failed too: only the next Airflow try can find it (by its external_task_id) and re-attach.
    "created, unconfirmed": [
        Fault("body", body=NOT_FOUND, http_status=404, method="GET"),  # the look-up before submitting
        Fault("error", code=5000, method="POST", after=True),
        # The look-ups after the unknown outcome, and after the retried POST was refused as a
        # duplicate: 2 attempts x 2 GETs each.
        Fault("error", code=5000, method="GET", times=4),
    ],
}


def flaky_conn(emulator: EmulatorServer) -> str:
    conn = json.loads(conn_json(emulator.url))
    return json.dumps({**conn, "extra": FLAKY_EXTRA})


def tries(dag_id: str, run_id: str) -> dict[str, tuple[str, int]]:
    """task id -> (state, try_number) as Airflow recorded them."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.state, TaskInstance.try_number).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id
            )
        ).all()
    return {task_id: (str(state), try_number) for task_id, state, try_number in rows}


@pytest.fixture
def flaky(kling_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    monkeypatch.setenv("AIRFLOW_CONN_KLING_FLAKY", flaky_conn(kling_conn))
    return kling_conn


@pytest.mark.parametrize("deferrable", [False, True])
def test_a_refused_request_fails_at_once_without_its_retries(
    airflow_db: Path, kling_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch, deferrable: bool
) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", str(deferrable))
    dag = load_dag(airflow_db, "kling_refused_request")
    assert dag.get_task("refused").retries == 3
    run = dag.test()
    assert run.state == "failed"
    assert tries(dag.dag_id, run.run_id) == {"refused": ("failed", 1)}
    stats = kling_conn.emulator.stats
    assert stats.by_route["POST /v1/audio/video-to-audio"] == 1  # refused once, never sent again
    assert stats.submits == 0


@pytest.mark.parametrize("scenario", sorted(SERVER_ERRORS))
def test_server_errors_past_the_hook_use_airflow_retries_and_create_one_task(
    airflow_db: Path, flaky: EmulatorServer, scenario: str
) -> None:
    flaky.config.inject(*SERVER_ERRORS[scenario])
    dag = load_dag(airflow_db, "kling_server_errors")
    run = dag.test()
    assert run.state == "success"
    assert tries(dag.dag_id, run.run_id) == {"flaky": ("success", 2)}
    assert not flaky.config.faults, "every scripted fault was used"
    [task] = flaky.emulator.store.tasks.values()
    # The second try found (or created) the task under the id derived for this task instance.
    assert task.external_task_id == derive_external_task_id(dag.dag_id, run.run_id, "flaky", -1)


def test_a_failed_kling_task_is_retried_and_resubmitted_under_a_new_id(
    airflow_db: Path, flaky: EmulatorServer
) -> None:
    """Kling's own ``failed`` is not permanent: each Airflow retry submits a new task (``<id>-N``)."""
    dag = load_dag(airflow_db, "kling_server_errors")
    run = dag.test(run_conf={"prompt": "[fail] every time"})
    assert run.state == "failed"
    assert tries(dag.dag_id, run.run_id) == {"flaky": ("failed", 4)}
    base = derive_external_task_id(dag.dag_id, run.run_id, "flaky", -1)
    created = sorted(t.external_task_id for t in flaky.emulator.store.tasks.values())
    assert created == sorted([base, f"{base}-2", f"{base}-3", f"{base}-4"])
