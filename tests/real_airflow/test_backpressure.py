"""Back-pressure in a real Airflow: a fan-out over the account's parallel-task limit succeeds.

A real scheduler, triggerer and LocalExecutor workers (tests/ui/stack.py) run
``kling_prompt_fanout`` against ``kling-emulator --max-concurrent-tasks``; everything asserted
is read back from Airflow's REST API and the emulator's stats (``benchmarks/backpressure_run.py``
collects them; run it directly for the full-size figures). Marked ``airflow_stack``: its own
``.ci/run`` step.
"""

from __future__ import annotations

import pytest

from benchmarks.backpressure_run import Settings, run

pytestmark = pytest.mark.airflow_stack


def test_fanout_over_the_parallel_task_limit_succeeds_and_pays_once() -> None:
    # 3x the limit: 12 Kling tasks through 2 slots (the full 24-prompt run is the benchmark's).
    report = run(Settings(prompts=6, limit=2, task_seconds=8.0, poll_interval=1.0, run_timeout=600))
    print("\n".join(report.lines()))
    assert report.run_state == "success"
    assert set(report.ti_states) == {"success"}, report.ti_states  # no failed / upstream_failed
    assert report.max_try_number == 1  # waiting for capacity used no Airflow retry
    assert report.kling_submits == report.kling_tasks_expected == report.distinct_external_ids
    assert report.peak_running == 2  # the account was used up to its limit
    assert report.muxed_files == 6
    assert report.refusals_1303 <= 2 * report.kling_submits
    assert report.deferred_peak > 0  # the waits (and the waiting submits) really deferred
