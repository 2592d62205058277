"""Worker-slot seconds per Kling task: deferrable vs blocking vs HttpOperator+HttpSensor vs a polling loop.

Every mode submits one video-to-audio task to a ``kling-emulator`` process (the task takes
``--task-seconds`` there) and waits for it. Each mode runs in a FRESH Python process that has
imported the DAG's modules (as a worker that parsed the DAG has), then calls the operators'
``execute()`` directly with a minimal context (a TaskInstance stand-in with ids and
``xcom_push``, as tests/operators/test_operator.py does). The slot time is the wall time spent inside
``execute()`` (+ ``execute_complete()`` for the deferrable mode; the trigger's wait runs in
between, on the "triggerer", and is not slot time). Airflow's own per-try overhead (process
start, DAG parse, API calls) is NOT included: it is the same for every mode, and the
deferrable mode pays it twice (defer, then resume).

    python benchmarks/worker_slot.py                # T = 30 s, poll every 5 s
    python benchmarks/worker_slot.py --quick        # T = 5 s, poll every 1 s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (
    API_KEY,
    SAMPLE_VIDEO_ID,
    V2A_PATH,
    Emulator,
    airflow_env,
    emulator,
    machine,
    table,
    verdict,
)

SUBMITTED_SECONDS = 1.0
KLING_CONN_ID = "kling_bench"
HTTP_CONN_ID = "kling_http_bench"
MODES = {
    "deferrable": "VideoToAudioOperator(deferrable=True)",
    "blocking": "VideoToAudioOperator(deferrable=False)",
    "http_poke": 'HttpOperator + HttpSensor(mode="poke")',
    "python_loop": "PythonOperator polling loop (requests)",
}


# ---------------------------------------------------------------------------- child: the modes


@dataclass
class StandInTI:
    """The slice of a TaskInstance the operators use: ids (for the external id) and xcom_push."""

    dag_id: str = "worker_slot_bench"
    run_id: str = field(default_factory=lambda: f"bench-{time.time_ns()}")
    task_id: str = "v2a"
    map_index: int = -1
    xcom: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def _context() -> Any:
    """A minimal stand-in for Airflow's ``Context`` (typed Any: it is not the full TypedDict)."""
    return {"ti": StandInTI()}


class Clock:
    """Sums wall and CPU seconds over the sections that hold the worker slot."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0
        self._start = (0.0, 0.0)

    def __enter__(self) -> Clock:
        self._start = (time.perf_counter(), time.process_time())
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._start[0]
        self.cpu += time.process_time() - self._start[1]


def mode_deferrable(poll: float) -> dict[str, Any]:
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator

    op = VideoToAudioOperator(
        task_id="v2a",
        video_id=SAMPLE_VIDEO_ID,
        kling_conn_id=KLING_CONN_ID,
        deferrable=True,
        poll_interval=poll,
    )
    ctx = _context()
    slot = Clock()
    with slot:
        try:
            op.execute(ctx)
            raise RuntimeError("the task finished without deferring: raise --task-seconds")
        except TaskDeferred as deferred:
            trigger = deferred.trigger
            method = deferred.method_name
    defer_s = slot.wall

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise RuntimeError("trigger ended without an event")

    waited = time.perf_counter()
    event = asyncio.run(first_event())  # on the triggerer in real life: not slot time
    waited = time.perf_counter() - waited
    with slot:
        result = getattr(op, method)(ctx, event)
    return {
        "slot_s": slot.wall,
        "cpu_s": slot.cpu,
        "detail": f"execute() until TaskDeferred {defer_s:.3f}s, execute_complete() "
        f"{slot.wall - defer_s:.3f}s; trigger waited {waited:.1f}s off-slot",
        "status": result["status"],
    }


def mode_blocking(poll: float) -> dict[str, Any]:
    from airflow_provider_kling.operators.video_to_audio import VideoToAudioOperator

    op = VideoToAudioOperator(
        task_id="v2a",
        video_id=SAMPLE_VIDEO_ID,
        kling_conn_id=KLING_CONN_ID,
        deferrable=False,
        poll_interval=poll,
    )
    slot = Clock()
    with slot:
        result = op.execute(_context())
    return {
        "slot_s": slot.wall,
        "cpu_s": slot.cpu,
        "detail": "execute() polls in the slot",
        "status": result["status"],
    }


def mode_http_poke(poll: float) -> dict[str, Any]:
    from airflow.providers.http.operators.http import HttpOperator
    from airflow.providers.http.sensors.http import HttpSensor

    from benchmarks._http_check import kling_task_done_sync

    submit = HttpOperator(
        task_id="submit",
        http_conn_id=HTTP_CONN_ID,
        endpoint=V2A_PATH,
        method="POST",
        data=json.dumps({"video_id": SAMPLE_VIDEO_ID}),
        headers={"Content-Type": "application/json"},
        response_filter=lambda response: response.json()["data"]["task_id"],
    )
    slot = Clock()
    with slot:
        task_id = submit.execute(_context())
    submit_s = slot.wall
    observed: list[str] = []  # the task status of every answer the sensor checked

    def done(response: Any) -> bool:
        observed.append(str((response.json().get("data") or {}).get("task_status")))
        return kling_task_done_sync(response)

    sensor = HttpSensor(
        task_id="wait",
        http_conn_id=HTTP_CONN_ID,
        endpoint=f"{V2A_PATH}/{task_id}",
        method="GET",
        response_check=done,
        poke_interval=poll,
        mode="poke",
        timeout=600,
    )
    with slot:
        sensor.execute(_context())
    return {
        "slot_s": slot.wall,
        "cpu_s": slot.cpu,
        "detail": f"HttpOperator {submit_s:.3f}s, HttpSensor {slot.wall - submit_s:.1f}s",
        # What the sensor's last check saw: it returns on "succeed" and on "failed" alike.
        "status": observed[-1] if observed else "never checked",
    }


def poll_kling(base_url: str, api_key: str, poll: float) -> str:
    """What a user writes without a provider: submit, then poll in the task with requests."""
    import requests

    headers = {"Authorization": f"Bearer {api_key}"}
    with requests.Session() as session:
        answer = session.post(
            f"{base_url}{V2A_PATH}", json={"video_id": SAMPLE_VIDEO_ID}, headers=headers, timeout=30
        )
        task_id = answer.json()["data"]["task_id"]
        for _ in range(10_000):
            time.sleep(poll)
            status = session.get(f"{base_url}{V2A_PATH}/{task_id}", headers=headers, timeout=30).json()
            if status["data"]["task_status"] in ("succeed", "failed"):
                return str(status["data"]["task_status"])
    raise RuntimeError("gave up polling")


def mode_python_loop(poll: float) -> dict[str, Any]:
    from airflow.providers.standard.operators.python import PythonOperator

    op = PythonOperator(
        task_id="poll",
        python_callable=poll_kling,
        op_kwargs={"base_url": os.environ["BENCH_EMULATOR_URL"], "api_key": API_KEY, "poll": poll},
    )
    slot = Clock()
    with slot:
        status = op.execute(_context())
    return {
        "slot_s": slot.wall,
        "cpu_s": slot.cpu,
        "detail": "the callable sleeps in the slot",
        "status": status,
    }


def _import_dag_modules(mode: str) -> None:
    """What the worker already imported by parsing the DAG file (not slot time)."""
    if mode in ("deferrable", "blocking"):
        import airflow_provider_kling.operators.video_to_audio  # noqa: F401
    elif mode == "http_poke":
        import airflow.providers.http.operators.http
        import airflow.providers.http.sensors.http
    else:
        import airflow.providers.standard.operators.python  # noqa: F401


def child_main(mode: str, poll: float) -> None:
    _import_dag_modules(mode)
    run = {
        "deferrable": mode_deferrable,
        "blocking": mode_blocking,
        "http_poke": mode_http_poke,
        "python_loop": mode_python_loop,
    }[mode]
    print(json.dumps(run(poll)), flush=True)


# ---------------------------------------------------------------------------- parent


def run_mode(mode: str, emu: Emulator, poll: float, timeout: float) -> dict[str, Any]:
    env = airflow_env(
        {
            f"AIRFLOW_CONN_{KLING_CONN_ID.upper()}": emu.kling_conn(),
            f"AIRFLOW_CONN_{HTTP_CONN_ID.upper()}": emu.http_conn(),
            "BENCH_EMULATOR_URL": emu.url,
        }
    )
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--poll", str(poll)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"mode {mode} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--task-seconds", type=float, default=30.0, help="emulated task duration T")
    parser.add_argument("--poll", type=float, default=5.0, help="poll / poke interval of every mode")
    parser.add_argument("--quick", action="store_true", help="T = 5 s, poll every 1 s")
    parser.add_argument(
        "--modes", default=",".join(MODES), help="comma-separated subset of " + ",".join(MODES)
    )
    parser.add_argument("--child", choices=sorted(MODES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.task_seconds, args.poll = 5.0, 1.0
    if args.child:
        child_main(args.child, args.poll)
        return
    if args.task_seconds <= SUBMITTED_SECONDS + 1:
        parser.error(f"--task-seconds must be > {SUBMITTED_SECONDS + 1}")
    print(machine())
    print(
        f"worker slot: each Kling task takes {args.task_seconds:.0f}s in the emulator, poll interval "
        f"{args.poll:.1f}s; each mode in a fresh process, execute() called directly with a stand-in TI"
    )
    print()
    results: dict[str, dict[str, Any]] = {}
    with emulator(SUBMITTED_SECONDS, args.task_seconds - SUBMITTED_SECONDS) as emu:
        for mode in args.modes.split(","):
            before = emu.stats()
            results[mode] = run_mode(mode, emu, args.poll, timeout=args.task_seconds * 3 + 120)
            after = emu.stats()
            results[mode]["requests"] = after["requests"] - before["requests"] - 1
            results[mode]["connects"] = after["connections"] - before["connections"] - 1
            print(f"  ran {MODES[mode]}: slot {results[mode]['slot_s']:.3f}s", flush=True)
    print()
    rows = [
        [MODES[m], r["slot_s"], r["cpu_s"], r["requests"], r["connects"], r["status"], r["detail"]]
        for m, r in results.items()
    ]
    print(
        table(
            [
                "mode",
                "slot s",
                "slot CPU s",
                "HTTP requests",
                "TCP conns",
                "Kling status",
                "where the time went",
            ],
            rows,
        )
    )
    ours = results.get("deferrable")
    poke = results.get("http_poke")
    if ours is not None:
        checks = [
            ["deferrable slot time", f"{ours['slot_s']:.3f} s", "<= 0.5 s", verdict(ours["slot_s"] <= 0.5)]
        ]
        if poke is not None:
            ratio = poke["slot_s"] / max(ours["slot_s"], 1e-9)
            checks.append(["poke slot / deferrable slot", f"{ratio:.0f}x", ">= 50x", verdict(ratio >= 50)])
        print()
        print(table(["figure", "measured", "target", "verdict"], checks))


if __name__ == "__main__":
    main()
