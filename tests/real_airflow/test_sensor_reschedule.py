"""A KlingTaskSensor in reschedule mode fails after 5 failed status checks in a row, in a real Airflow.

Each rescheduled poke is a new worker process with a new sensor instance: the count of failed
checks can only carry over through Airflow (the task state store). The emulator answers every
status check with 5000; the sensor's connection sends each check once (``max_retries`` 0), so
each poke is one request. Asserted through Airflow's REST API: the task instance failed on its
first try, went ``up_for_reschedule`` in between, its log shows 4 reschedules; and through the
emulator's stats: exactly 5 status checks reached Kling. Marked ``airflow_stack``.

Airflow 3.3.2 itself sometimes fails a reschedule-mode sensor early (apache/airflow#71172: the
executor's late event for one poke is read after the next poke was queued); the DAG pokes 10 s
apart to stay clear of it, and a run the scheduler log shows failed that way is run once more.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_kling.execution.poll_errors import MAX_CONSECUTIVE_ERRORS
from airflow_provider_kling.sensors.kling import POLL_ERRORS_KEY
from kling_emulator.state import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
from tests.ui.stack import REPO, Stack, running_stack

pytestmark = pytest.mark.airflow_stack

DAG_ID = "kling_sensor_reschedule"
RUN_TIMEOUT = 240.0  # 5 pokes 10 s apart, each a new process, on a shared 2-core machine
QUERY = "GET /v1/audio/video-to-audio/{ident}"
RESCHEDULED = "Rescheduling task, marking task as UP_FOR_RESCHEDULE"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(dags_folder=REPO / "tests" / "dag_files") as s:
        s.api_send(
            "POST",
            "connections",
            {
                "connection_id": "kling_one_try",
                "conn_type": "kling",
                "host": s.emulator_url,
                "login": DEFAULT_ACCESS_KEY,
                "password": DEFAULT_SECRET_KEY,
                "extra": json.dumps({"max_retries": 0}),
            },
        )
        yield s


def watch(stack: Stack, run_id: str) -> tuple[str, list[str], list[Any]]:
    """Until the run ends: its state, every task-instance state seen, every stored count seen."""
    ti_path = f"dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/wait"
    states: list[str] = []
    counts: list[Any] = []
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        stack.check_alive()
        try:
            run = stack.api(f"dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}")
            state = stack.api(ti_path)["state"]
            stored = stack.api(f"{ti_path}/state-store")["task_state_store"]
        except OSError:  # a slow answer from a busy api-server (SQLite): look again
            continue
        if not states or states[-1] != state:
            states.append(state)
        for entry in stored:
            if entry["key"] == POLL_ERRORS_KEY and (not counts or counts[-1] != entry["value"]):
                counts.append(entry["value"])
        if run["state"] in ("success", "failed"):
            return run["state"], states, counts
        time.sleep(0.3)
    raise TimeoutError(f"run {run_id} did not end within {RUN_TIMEOUT:.0f}s; states seen {states}")


def hit_the_scheduler_race(stack: Stack, run_id: str) -> bool:
    """Whether Airflow's own race failed the sensor: the executor's late event for one poke, seen
    after the next poke was queued, makes the scheduler fail the task (apache/airflow#71172)."""
    log = stack.log("scheduler").read_text(errors="replace")
    return any(
        f"{DAG_ID}.wait {run_id}" in line
        and "finished with state success, but the task instance's state" in line
        for line in log.splitlines()
    )


def run_until_the_sensor_gives_up(stack: Stack) -> dict[str, Any]:
    """One run with every status check failing; what Airflow and the emulator recorded."""
    stack.emulator("config", {"faults": [{"action": "error", "code": 5000, "method": "GET", "times": 1000}]})
    try:
        before = stack.emulator("stats")
        run_id = stack.trigger(DAG_ID)
        run_state, states, counts = watch(stack, run_id)
        after = stack.emulator("stats")
    finally:
        stack.emulator("config", {"faults": []})
    return {
        "run_id": run_id,
        "run_state": run_state,
        "states": states,
        "counts": counts,
        "checks": after["by_route"].get(QUERY, 0) - before["by_route"].get(QUERY, 0),
        "faults": after["faults"] - before["faults"],
        "ti": stack.task_instances(DAG_ID, run_id)[0],
        "log": task_log(stack, run_id, 1),
    }


def test_five_failed_checks_in_a_row_fail_a_rescheduled_sensor(stack: Stack) -> None:
    seen = run_until_the_sensor_gives_up(stack)
    if hit_the_scheduler_race(stack, seen["run_id"]):  # not the sensor's doing: one more run
        print(f"\nAirflow's scheduler race failed run {seen['run_id']} early; running again")
        seen = run_until_the_sensor_gives_up(stack)
    ti, log, counts = seen["ti"], seen["log"], seen["counts"]
    print(
        f"\nrun {seen['run_state']}; TI {ti['state']} try {ti['try_number']}; states seen {seen['states']}; "
        f"stored counts seen {counts}; status checks at Kling {seen['checks']}; reschedules in the log "
        f"{log.count(RESCHEDULED)}"
    )
    assert seen["run_state"] == "failed"
    assert (ti["state"], ti["try_number"]) == ("failed", 1)  # no Airflow retry: one try, 5 pokes
    assert "up_for_reschedule" in seen["states"]  # the worker slot was given back between pokes
    assert log.count(RESCHEDULED) == MAX_CONSECUTIVE_ERRORS - 1  # 5 pokes: 4 reschedules, then failed
    assert seen["checks"] == MAX_CONSECUTIVE_ERRORS  # exactly 5 failed checks, one per poke
    assert seen["faults"] == MAX_CONSECUTIVE_ERRORS
    assert "Task failed with exception" in log and "KlingWaitError" in log and "5000" in log
    # The count grew from poke to poke (each a new process), as seen between pokes; dropped at the end.
    assert [c["in_a_row"] for c in counts] == sorted({c["in_a_row"] for c in counts})
    assert counts and counts[-1] == {"try": 1, "in_a_row": MAX_CONSECUTIVE_ERRORS - 1, "told_unknown": False}
    run_path = f"dags/{DAG_ID}/dagRuns/{urllib.parse.quote(seen['run_id'], safe='')}"
    assert stack.api(f"{run_path}/taskInstances/wait/state-store")["task_state_store"] == []


def task_log(stack: Stack, run_id: str, try_number: int) -> str:
    """The task's log for one try, as the UI shows it (the REST API's JSON form)."""
    path = f"dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/wait/logs/{try_number}"
    content = stack.api(path)["content"]
    return "\n".join(json.dumps(line) if not isinstance(line, str) else line for line in content)
