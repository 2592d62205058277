"""New-design waits deferred in a real Airflow: one batched ``GET /tasks`` per round, counted at Kling.

A real scheduler, dag-processor, triggerer and LocalExecutor workers (``tests/ui/stack.py``) run
``kling_new_design_batched`` (``tests/dag_files``): six ``kling-3.0-turbo`` text-to-video tasks
submit to ``/text-to-video/kling-3.0-turbo`` and defer. While they wait, the test samples the
emulator's ``/_emulator/stats`` every 0.1 s: the triggerer's polls arrive in rounds (bursts about
one poll interval apart) and each round must be one ``GET /tasks`` for all six waits, not six.
Marked ``airflow_stack``: its own ``.ci/run`` step.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from typing import Any

import pytest

from kling_emulator.state import DEFAULT_API_KEY
from tests.ui.stack import REPO, free_port, running_stack

pytestmark = pytest.mark.airflow_stack

DAG_ID = "kling_new_design_batched"
WAITS = 6
TASKS = "GET /tasks"
CREATE = "POST /text-to-video/{model}"
SAMPLE_EVERY = 0.1
POLL_INTERVAL = 1.0  # the DAG's poll_interval (tests/dag_files/kling_new_design_batched.py)


def bursts(samples: list[tuple[float, int]]) -> list[int]:
    """GET /tasks calls per round: consecutive samples that saw new calls form one round."""
    found: list[int] = []
    previous, open_burst = samples[0][1], False
    for _, count in samples[1:]:
        delta, previous = count - previous, count
        if delta and open_burst:
            found[-1] += delta
        elif delta:
            found.append(delta)
        open_burst = bool(delta)
    return found


def test_deferred_new_design_waits_share_one_get_tasks_per_round() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    connection = {"conn_type": "kling", "host": url, "password": DEFAULT_API_KEY}  # the new design: API key
    with running_stack(
        dags_folder=REPO / "tests" / "dag_files",
        emulator_args=("--port", str(port), "--submitted-seconds", "1", "--processing-seconds", "12"),
        extra_env={"AIRFLOW_CONN_KLING_DEFAULT": json.dumps(connection)},
        parallelism=8,
    ) as stack:
        assert stack.emulator_url == url
        run_id = stack.trigger(DAG_ID)
        samples: list[tuple[float, int]] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                stats = stack.emulator("stats")
                # Only once every task has submitted: from then on only the triggerer polls.
                if stats["by_route"].get(CREATE, 0) == WAITS:
                    samples.append((time.monotonic(), int(stats["by_route"].get(TASKS, 0))))
                time.sleep(SAMPLE_EVERY)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            state = stack.wait_for_run(DAG_ID, run_id, 150)
        finally:
            done.set()
            sampler.join(10)
        tis = {ti["task_id"]: ti["state"] for ti in stack.task_instances(DAG_ID, run_id)}
        stats = stack.emulator("stats")
        quoted = urllib.parse.quote(run_id, safe="")
        result: dict[str, Any] = stack.api(
            f"dags/{DAG_ID}/dagRuns/{quoted}/taskInstances/clip_0/xcomEntries/return_value"
        )
    assert state == "success", tis
    assert set(tis.values()) == {"success"} and len(tis) == WAITS
    assert stats["submits"] == WAITS and stats["distinct_external_ids"] == WAITS  # paid once each
    value = result["value"] if isinstance(result["value"], dict) else json.loads(result["value"])
    assert value["api_design"] == "new" and value["videos"] and value["status"] == "succeed"
    rounds = bursts(samples)
    print(f"\nGET /tasks per round while {WAITS} waits were deferred: {rounds}")
    assert len(rounds) >= 4  # a 12 s task polled every second: many rounds
    assert max(rounds) < WAITS  # one request per round for all waits, not one per wait
    assert sum(rounds) <= 2 * len(rounds)
    # Over the whole window: about one GET /tasks per poll interval (1 s) for all six waits;
    # six waits polling on their own, even out of step, would send about six per second.
    window = samples[-1][0] - samples[0][0]
    polled = samples[-1][1] - samples[0][1]
    assert polled <= 1.5 * window / POLL_INTERVAL + 2, (polled, window)
