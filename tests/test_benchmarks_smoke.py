"""Every benchmark script runs end to end with its smallest settings and prints its table rows.

No timing assertions (shared machines are noisy; the benchmarks measure, the tests do not).
The scripts run concurrently as subprocesses, each against its own emulator process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Runs whole DAGs/processes end to end: its own CI step (`pytest -m e2e`), out of the default suite.
pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = {
    "triggerer_scale": ["--n", "20", "--task-seconds", "3", "--poll", "1"],
    # "script:variant": the same script again with other arguments.
    "triggerer_scale:new-design": [
        "--kind",
        "text-to-video",
        "--n",
        "20",
        "--task-seconds",
        "3",
        "--poll",
        "1",
    ],
    "triggerer_capacity": ["--n", "20", "--task-seconds", "3", "--poll", "1"],
    "worker_slot": ["--task-seconds", "2.5", "--poll", "0.5"],
    "import_cost": ["--runs", "1", "--modules", "airflow_provider_kling.sensors.kling"],
    "emulator_throughput": ["--seconds", "0.5", "--tasks", "20", "--concurrency", "4"],
}


@pytest.fixture(scope="module")
def outputs() -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    procs = {
        name: subprocess.Popen(
            [sys.executable, str(REPO / "benchmarks" / f"{name.split(':')[0]}.py"), *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, args in SCRIPTS.items()
    }
    results: dict[str, str] = {}
    try:
        for name, proc in procs.items():
            out, _ = proc.communicate(timeout=240)
            assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{out[-3000:]}"
            results[name] = out
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    yield results


def rows(output: str, first_cell: str) -> list[list[str]]:
    """Cells of the markdown table rows whose first cell is ``first_cell``."""
    found = []
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            found.append(cells)
    return found


def test_every_script_names_the_machine(outputs: dict[str, str]) -> None:
    for name, out in outputs.items():
        assert out.startswith("machine: "), name
        assert "apache-airflow 3." in out.splitlines()[0], name


def test_triggerer_scale_compares_both_triggers(outputs: dict[str, str]) -> None:
    out = outputs["triggerer_scale"]
    (ours,) = rows(out, "KlingTaskTrigger (ours)")
    (stock,) = rows(out, "HttpEventTrigger (stock)")
    assert ours[1] == stock[1] == "20"
    assert ours[2] == stock[2] == "20/20"  # every trigger fired a success event
    # The stock trigger opens a connection per poll; ours shares one pooled session.
    assert int(stock[5]) > int(ours[5]) > 0
    figures = [r[1] for r in rows(out, "20")]
    assert figures[:3] == ["CPU: stock / ours", "TCP connects: stock / ours", "RSS: ours - stock"]
    assert "detection max: ours" in figures


def test_triggerer_scale_waits_for_new_design_tasks_through_get_tasks(outputs: dict[str, str]) -> None:
    out = outputs["triggerer_scale:new-design"]
    assert "text-to-video tasks finish" in out
    (ours,) = rows(out, "KlingTaskTrigger (ours)")
    (stock,) = rows(out, "HttpEventTrigger (stock)")
    assert ours[2] == stock[2] == "20/20"  # both read new-design answers (status "succeeded")
    # Both sides poll the new design's query route only: ours batched, the stock one id by id.
    routes = [line for line in out.splitlines() if "requests by route" in line]
    assert len(routes) == 2 and all(
        line.endswith(f"GET /tasks: {n}") for line, n in zip(routes, (ours[7], stock[7]), strict=True)
    )
    assert int(ours[7]) < int(stock[7])


def test_triggerer_capacity_runs_both_triggers_in_the_trigger_runner(outputs: dict[str, str]) -> None:
    out = outputs["triggerer_capacity"]
    assert "waits in Airflow's TriggerRunner" in out
    (ours,) = rows(out, "KlingTaskTrigger (ours)")
    (stock,) = rows(out, "HttpEventTrigger (stock)")
    assert ours[1] == stock[1] == "20"
    assert ours[2] == stock[2] == "20/20"  # every trigger fired a success event through the runner
    # 20 waits fit one list page per round; the stock trigger queries each task every poll.
    assert int(stock[8]) > int(ours[8]) > 0
    figures = [r[0] for r in rows(out, "RSS growth: ours") + rows(out, "Kling requests per round: ours")]
    assert figures == ["RSS growth: ours", "Kling requests per round: ours"]
    assert rows(out, "detection max: ours") and rows(out, "CPU: stock / ours")
    (floor,) = rows(out, "DateTimeTrigger (runner floor)")
    assert floor[2] == "20/20"
    assert rows(out, "CPU: ours - runner floor")


def test_worker_slot_measures_all_four_modes(outputs: dict[str, str]) -> None:
    out = outputs["worker_slot"]
    for mode in (
        "VideoToAudioOperator(deferrable=True)",
        "VideoToAudioOperator(deferrable=False)",
        'HttpOperator + HttpSensor(mode="poke")',
        "PythonOperator polling loop (requests)",
    ):
        (row,) = rows(out, mode)
        assert row[5] == "succeed", row
        assert float(row[1]) > 0
    assert rows(out, "deferrable slot time") and rows(out, "poke slot / deferrable slot")


def test_import_cost_compares_with_the_http_operator(outputs: dict[str, str]) -> None:
    out = outputs["import_cost"]
    (ours,) = rows(out, "airflow_provider_kling.sensors.kling")
    (http,) = rows(out, "airflow.providers.http.operators.http")
    assert ours[1] == "ours" and http[1] == "http provider"
    assert ours[6] in ("PASS", "MISS")
    assert rows(out, "airflow_provider_kling.operators.video_to_audio")  # the chain breakdown


def test_emulator_throughput_serves_every_scenario(outputs: dict[str, str]) -> None:
    out = outputs["emulator_throughput"]
    for scenario in (
        "GET query one task, keep-alive",
        "GET query one task, new TCP connection each",
        "GET list pageSize=500, keep-alive",
    ):
        (row,) = rows(out, scenario)
        assert int(row[1]) > 0 and row[2] == "0", row
