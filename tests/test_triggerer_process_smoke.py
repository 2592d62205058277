"""benchmarks/triggerer_process.py runs a real ``airflow triggerer`` end to end at its smallest settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Starts real airflow processes (db migrate, triggerer): its own CI step (`pytest -m e2e`).
pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]


def test_triggerer_process_fires_every_deferred_task_instance() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    # Our row only (the floor row doubles the time; the script runs both by default).
    args = ["--n", "5", "--task-seconds", "2", "--poll", "0.5", "--impl", "kling"]
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "triggerer_process.py"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert out.startswith("machine: ") and "`airflow triggerer --capacity 5`" in out
    rows = {
        cells[0]: cells
        for line in out.splitlines()
        if line.startswith("|") and (cells := [c.strip() for c in line.strip().strip("|").split("|")])
    }
    ours = rows["KlingTaskTrigger (ours)"]
    # Every deferred task instance left `deferred` for `scheduled` with a success event.
    assert ours[1] == "5" and ours[2] == "5/5"
    # The runner polled Kling through the list route (5 waits: one page per round).
    assert int(ours[8]) > 0
    assert '"GET /v1/audio/video-to-audio"' in out
    # Each trigger's log file showed its start and its event.
    assert "(5 start and 5 fired lines in the trigger logs)" in out
