"""The back-pressure run: a fan-out bigger than the account's parallel-task limit, in a real Airflow.

Starts a real Airflow 3 stack (api-server, scheduler, dag-processor, triggerer; LocalExecutor,
SQLite; deferrable on) and ``kling-emulator --max-concurrent-tasks L`` whose tasks take T
seconds, triggers ``kling_prompt_fanout`` with N prompts through the REST API, and reads every
figure back from Airflow's REST API and the emulator's ``/_emulator/stats``:

- the run's state and every task instance's state and try number;
- Kling tasks created (``submits``) against distinct external ids (no duplicate paid task);
- 1303 answers (refusals by the limit) per Kling task, and the peak of parallel Kling tasks;
- wall time (the run's start to end, from Airflow) against the Kling-bound ideal
  ``2 * N / L * T`` (every slot busy all the time, nothing else counted);
- worker-slot seconds per Kling task: the time the make_video / make_audio task instances spent
  in state ``running`` (sampled from the REST API every 0.5 s: the time they held a worker
  slot; ``deferred`` and ``scheduled`` do not count).

    python -m benchmarks.backpressure_run                  # N=24, L=3, T=20 s (~6 min)
    python -m benchmarks.backpressure_run --rate-limit 5   # the same under a 1302 limit of 5 req/s
    python -m benchmarks.backpressure_run --prompts 6 --limit 2 --task-seconds 8   # the CI size
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.ui.stack import Stack, running_stack

DAG_ID = "kling_prompt_fanout"
KLING_TASKS = ("prompt.make_video", "prompt.make_audio")
MUXED = re.compile(r"^\d+-\d+\.mp4$")  # <video_id>-<audio_id>.mp4, see operators/publish.py
SAMPLE_SECONDS = 0.5


@dataclass
class Settings:
    prompts: int = 24
    limit: int = 3
    task_seconds: float = 20.0
    rate_limit: float | None = None  # requests/s per key before the emulator answers 1302
    poll_interval: float = 2.0
    parallelism: int = 8
    run_timeout: float = 1800.0

    @property
    def ideal_seconds(self) -> float:
        return 2 * self.prompts / self.limit * self.task_seconds


@dataclass
class Report:
    settings: Settings
    run_state: str = "unknown"
    wall_seconds: float = 0.0
    ti_states: Counter[str] = field(default_factory=Counter)
    max_try_number: int = 0
    kling_submits: int = 0
    distinct_external_ids: int = 0
    refusals_1303: int = 0
    refusals_1302: int = 0
    peak_running: int = 0
    muxed_files: int = 0
    slot_seconds: dict[str, float] = field(default_factory=dict)  # per Kling task instance
    deferred_peak: int = 0

    @property
    def kling_tasks_expected(self) -> int:
        return 2 * self.settings.prompts

    def lines(self) -> list[str]:
        s = self.settings
        per_task = self.refusals_1303 / max(1, self.kling_submits)
        slot = sorted(self.slot_seconds.values())
        mean_slot = sum(slot) / max(1, len(slot))
        rate = f", 1302 limit {s.rate_limit:g} req/s" if s.rate_limit else ""
        states = dict(sorted(self.ti_states.items()))
        return [
            f"Back-pressure run: {s.prompts} prompts, account limit {s.limit} parallel tasks, "
            f"Kling tasks of {s.task_seconds:g} s{rate}, poll {s.poll_interval:g} s, "
            f"parallelism {s.parallelism}",
            f"  run state                  {self.run_state}",
            f"  task instances             {states} (max try_number {self.max_try_number})",
            f"  Kling tasks created        {self.kling_submits} for {self.distinct_external_ids} "
            f"external ids (expected {self.kling_tasks_expected})",
            f"  muxed MP4s published       {self.muxed_files}",
            f"  wall time                  {self.wall_seconds:.0f} s vs Kling-bound ideal "
            f"{s.ideal_seconds:.0f} s = {self.wall_seconds / s.ideal_seconds:.2f}x (target <= 1.3x)",
            f"  1303 answers               {self.refusals_1303} = {per_task:.2f} per Kling task "
            "(target <= 2)",
            f"  1302 answers               {self.refusals_1302}",
            f"  peak parallel Kling tasks  {self.peak_running} (limit {s.limit})",
            f"  peak deferred tasks        {self.deferred_peak}",
            f"  worker-slot s per Kling task  mean {mean_slot:.2f}, max {slot[-1] if slot else 0:.2f} "
            f"(time in state running, sampled every {SAMPLE_SECONDS:g} s from the REST API: "
            "Airflow's task start-up included)",
        ]


class StateSampler:
    """Polls the run's task instances and adds up, per task instance, the time spent ``running``."""

    def __init__(self, stack: Stack, run_id: str) -> None:
        self.stack = stack
        self.run_id = run_id
        self.running_seconds: dict[str, float] = {}
        self.deferred_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ti-sampler", daemon=True)

    def __enter__(self) -> StateSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(SAMPLE_SECONDS):
            try:
                tis = self.stack.task_instances(DAG_ID, self.run_id)
            except Exception:  # a slow answer under load: skip this sample
                continue
            now = time.monotonic()
            elapsed, last = now - last, now
            deferred = 0
            for ti in tis:
                if ti["task_id"] not in KLING_TASKS:
                    continue
                key = f"{ti['task_id']}[{ti['map_index']}]"
                self.running_seconds.setdefault(key, 0.0)
                if ti["state"] == "running":
                    self.running_seconds[key] += elapsed
                deferred += ti["state"] == "deferred"
            self.deferred_peak = max(self.deferred_peak, deferred)


def _seconds(start: str | None, end: str | None) -> float:
    if not start or not end:
        return 0.0
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def run(settings: Settings) -> Report:
    processing = max(0.5, settings.task_seconds - 1.0)
    emulator_args = [
        "--max-concurrent-tasks",
        str(settings.limit),
        "--submitted-seconds",
        str(settings.task_seconds - processing),
        "--processing-seconds",
        str(processing),
    ]
    if settings.rate_limit:
        emulator_args += ["--max-requests-per-second", str(settings.rate_limit)]
    report = Report(settings)
    with running_stack(
        emulator_args=tuple(emulator_args),
        parallelism=settings.parallelism,
        extra_env={"AIRFLOW__KLING__POLL_INTERVAL": str(settings.poll_interval)},
    ) as stack:
        published = stack.home / "published"
        prompts = [f"Prompt {i}: a lighthouse at dawn, take {i}" for i in range(settings.prompts)]
        run_id = stack.trigger(DAG_ID, {"prompts": prompts, "destination": str(published)})
        with StateSampler(stack, run_id) as sampler:
            report.run_state = stack.wait_for_run(DAG_ID, run_id, settings.run_timeout)
        run = stack.api(f"dags/{DAG_ID}/dagRuns/{run_id}")
        report.wall_seconds = _seconds(run.get("start_date"), run.get("end_date"))
        tis = stack.task_instances(DAG_ID, run_id)
        report.ti_states = Counter(str(ti["state"]) for ti in tis)
        report.max_try_number = max((int(ti["try_number"]) for ti in tis), default=0)
        stats = stack.emulator("stats")
        report.kling_submits = int(stats["submits"])
        report.distinct_external_ids = int(stats.get("distinct_external_ids", -1))
        refusals = {int(k): int(v) for k, v in stats["limit_refusals"].items()}
        report.refusals_1303 = refusals.get(1303, 0)
        report.refusals_1302 = refusals.get(1302, 0)
        report.peak_running = int(stats["peak_running"])
        report.muxed_files = sum(1 for p in published.rglob("*.mp4") if MUXED.match(p.name))
        report.slot_seconds = dict(sampler.running_seconds)
        report.deferred_peak = sampler.deferred_peak
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=24)
    parser.add_argument("--limit", type=int, default=3)
    parser.add_argument("--task-seconds", type=float, default=20.0)
    parser.add_argument("--rate-limit", type=float, default=None, help="emulator 1302 limit, requests/s")
    parser.add_argument("--poll-interval", type=float, default=2.0)
    args = parser.parse_args(argv)
    report = run(
        Settings(
            prompts=args.prompts,
            limit=args.limit,
            task_seconds=args.task_seconds,
            rate_limit=args.rate_limit,
            poll_interval=args.poll_interval,
        )
    )
    print("\n".join(report.lines()), flush=True)
    return 0 if report.run_state == "success" else 1


if __name__ == "__main__":
    raise SystemExit(main())
