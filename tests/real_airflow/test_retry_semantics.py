"""Which Kling errors use up an Airflow task's retries, in a real Airflow.

A real scheduler, dag-processor, triggerer and LocalExecutor workers (``tests/ui/stack.py``, one
stack for this module) run the DAGs of ``tests/dag_files/kling_retry_semantics.py``; every
task has ``retries=3`` and ``retry_delay=1s``. What is asserted is Airflow's own record (state and
``try_number`` from the REST API) and what reached Kling (the emulator's ``/_emulator/stats``).
Waits are deferrable (the stack's default). Marked ``airflow_stack``: its own ``.ci/run`` step.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_kling.execution.idempotency import derive_external_task_id
from kling_emulator.state import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
from tests.ui.stack import REPO, Stack, running_stack

pytestmark = pytest.mark.airflow_stack

RUN_TIMEOUT = 300.0  # one run on a cold, shared 2-core machine
SUBMITS = "POST /v1/audio/video-to-audio"
# The hook tries each request twice, 0.1 s apart, on this connection (tests/dag_files: FLAKY_CONN_ID).
FLAKY_EXTRA = {"max_retries": 1, "retry_min_wait": 0.1, "retry_max_wait": 0.1}
NOT_FOUND = '{"code": 1203, "message": "Task not found", "request_id": "r-404", "data": null}'
SERVER_ERRORS: dict[str, list[dict[str, Any]]] = {
    # Kling created nothing: both POSTs of the first try answer 5000.
    "nothing created": [{"action": "error", "code": 5000, "method": "POST", "times": 2}],
    # Created, but the answer was 5000 and every look-up that would find it failed too (2 attempts
    # x 2 GETs): only the next Airflow try finds it by its external_task_id, and re-attaches.
    "created, unconfirmed": [
        {"action": "body", "body": NOT_FOUND, "http_status": 404, "method": "GET"},
        {"action": "error", "code": 5000, "method": "POST", "after": True},
        {"action": "error", "code": 5000, "method": "GET", "times": 4},
    ],
}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(
        dags_folder=REPO / "tests" / "dag_files",
        emulator_args=("--submitted-seconds", "0.5", "--processing-seconds", "1.5"),
        extra_env={"AIRFLOW__KLING__POLL_INTERVAL": "0.5"},
    ) as s:
        # The short-retry connection, added as a user would (its host is the emulator's free port).
        s.api_send(
            "POST",
            "connections",
            {
                "connection_id": "kling_flaky",
                "conn_type": "kling",
                "host": s.emulator_url,
                "login": DEFAULT_ACCESS_KEY,
                "password": DEFAULT_SECRET_KEY,
                "extra": json.dumps(FLAKY_EXTRA),
            },
        )
        yield s


def run_dag(stack: Stack, dag_id: str, conf: dict[str, Any] | None = None) -> tuple[str, str, dict]:
    """Trigger, wait; the run id, its state and the change in the emulator's stats meanwhile."""
    before = stack.emulator("stats")
    run_id = stack.trigger(dag_id, conf)
    state = stack.wait_for_run(dag_id, run_id, RUN_TIMEOUT)
    after = stack.emulator("stats")
    delta = {
        "submits": after["submits"] - before["submits"],
        "submit_requests": after["by_route"].get(SUBMITS, 0) - before["by_route"].get(SUBMITS, 0),
        "distinct_external_ids": after["distinct_external_ids"] - before["distinct_external_ids"],
    }
    return run_id, state, delta


def tries(stack: Stack, dag_id: str, run_id: str) -> dict[str, tuple[str, int]]:
    return {ti["task_id"]: (ti["state"], ti["try_number"]) for ti in stack.task_instances(dag_id, run_id)}


def test_a_refused_request_makes_exactly_one_try(stack: Stack) -> None:
    run_id, state, sent = run_dag(stack, "kling_refused_request")  # 1201: unknown video id
    assert state == "failed"
    assert tries(stack, "kling_refused_request", run_id) == {"refused": ("failed", 1)}
    assert sent == {"submits": 0, "submit_requests": 1, "distinct_external_ids": 0}


@pytest.mark.parametrize("scenario", list(SERVER_ERRORS))
def test_server_errors_past_the_hook_make_more_tries_and_one_kling_task(
    stack: Stack, scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.emulator("config", {"faults": SERVER_ERRORS[scenario]})
    run_id, state, sent = run_dag(stack, "kling_server_errors")
    assert state == "success"
    assert tries(stack, "kling_server_errors", run_id) == {"flaky": ("success", 2)}
    assert sent["submits"] == 1 and sent["distinct_external_ids"] == 1
    # The one task carries the id derived for this task instance: no "-2", the retry re-attached
    # (or, with nothing created, submitted the first time).
    ident = derive_external_task_id("kling_server_errors", run_id, "flaky", -1)
    assert stack_task(stack, ident, monkeypatch)["status"] == "succeed"


def test_a_kling_task_that_keeps_failing_is_resubmitted_on_every_retry(stack: Stack) -> None:
    run_id, state, sent = run_dag(stack, "kling_server_errors", {"prompt": "[fail] every time"})
    assert state == "failed"
    assert tries(stack, "kling_server_errors", run_id) == {"flaky": ("failed", 4)}
    assert sent["submits"] == 4 and sent["distinct_external_ids"] == 4  # <id>, -2, -3, -4


def stack_task(stack: Stack, external_id: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The task as Kling reports it, looked up by its external_task_id over HTTP."""
    from airflow_provider_kling.hooks.kling import KlingHook

    conn = {"conn_type": "kling", "host": stack.emulator_url, "login": DEFAULT_ACCESS_KEY}
    monkeypatch.setenv("AIRFLOW_CONN_KLING_STACK", json.dumps({**conn, "password": DEFAULT_SECRET_KEY}))
    return KlingHook("kling_stack").get_task("video-to-audio", external_id).to_xcom()
