"""Two triggerers sharing one Kling account: a fan-out at the account's limit on the production stack.

Starts ``scripts/stack.sh`` (PostgreSQL + Redis + CeleryExecutor, two Celery workers, two
triggerers) in a fresh folder, sets the stack's emulator to ``--max-concurrent-tasks L`` with
Kling tasks of T seconds, triggers ``kling_prompt_fanout`` with N prompts (each prompt: a video,
then its audio: 2 Kling tasks; split over runs of at most 50 prompts, the DAG's limit) and reads
every figure back from Airflow's REST API and the emulator's ``/_emulator/stats``:

- run states, task-instance states and try numbers;
- wall time (first run's start to last run's end, from Airflow) against the Kling-bound ideal
  ``2 * N / L * T`` (``benchmarks/backpressure_run.py``'s definition; target <= 1.2x);
- 1303 answers per Kling task (target <= 1), submits against distinct external ids (no
  duplicate paid task), peak parallel Kling tasks (never above L);
- which triggerer ran each trigger: every deferred task instance's ``trigger.triggerer_id``
  (the TriggererJob id; ``stack.sh`` maps it to ``triggerer-1`` / ``triggerer-2``), sampled every
  second, counted per trigger class (deferred submits waiting for a slot, plain waits).

    python -m benchmarks.shared_account_run                        # N=60, L=5, T=20 s (~10 min here)
    python -m benchmarks.shared_account_run --submit-on-triggerer  # [kling] submit_on_triggerer = True

Not a CI step (it runs minutes); nothing here is a timed assertion.

Measured here (2 shared cores, other jobs running; N=60, L=5, T=20 s, ideal 480 s; each run
~10 min with the stack's start-up):

==============================  ======  ================  ==========  ======  ========
code                            wall    1303 per task     triggers    paid    peak
                                /ideal  (worker + trig.)  (1 / 2)     twice   parallel
==============================  ======  ================  ==========  ======  ========
main (2b3fe1f)                  1.09x   1.48 (111 + 66)   59 / 61     0       5
account view (default)          1.09x   0.92 (108 + 2)    62 / 58     0       5
+ submit_on_triggerer = True    1.10x   0.04 (0 + 5)      37 / 83     0       5
probe after probe_max_seconds   1.06x   0.94 (104 + 9)    34 / 86     0       5
+ slow probe (current code)     1.09x   0.96 (109 + 6)    38 / 82     0       5
  + submit_on_triggerer         1.09x   0.15 (0 + 18)     70 / 50     0       5
==============================  ======  ================  ==========  ======  ========

The last two rows are the current code, by default and with submit_on_triggerer
(benchmarks/README.md has every run).

On main 111 of the 120 Kling tasks met 1303 on the worker's first submit (the account is full
when the task starts: that refusal is what defers it) and the two triggerers' gates, each blind
to the other's tasks, added 66 more (probes, and slots both refilled). With the account view
(``execution/account_view.py``) the gates find the slots freed elsewhere in Kling's list: 2
refusals on the triggerers; what is left are the workers' first submits, which
``[kling] submit_on_triggerer`` moves into the triggerers' line. Worker refusals are counted
from the deferrals to ``KlingSubmitTrigger`` (one per refused first submit).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import urllib.error
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._stack import Stack, parse_time, running, wait_until
from benchmarks.chaos_run import (
    DAG_ID,
    KLING_OPERATORS,
    TERMINAL_RUN_STATES,
    split_prompts,
    triggerer_of_job,
    wait_for_dag,
)

WAIT_TARGET = 1.2  # x the Kling-bound ideal
REFUSALS_TARGET = 1.0  # 1303 answers per Kling task


@dataclass
class Settings:
    prompts: int = 60
    limit: int = 5
    task_seconds: float = 20.0
    poll_interval: float = 2.0
    submit_on_triggerer: bool = False  # [kling] submit_on_triggerer on every Airflow component
    run_timeout: float = 1800.0
    stack_dir: Path | None = None  # None: a fresh temp folder, deleted afterwards
    keep_stack: bool = False

    @property
    def ideal_seconds(self) -> float:
        return 2 * self.prompts / self.limit * self.task_seconds


class TriggerSampler(threading.Thread):
    """Every second: which triggerer holds each deferred task instance's trigger (REST API)."""

    def __init__(self, stack: Stack, run_ids: list[str], interval: float = 1.0) -> None:
        super().__init__(name="trigger-sampler", daemon=True)
        self.stack = stack
        self.run_ids = run_ids
        self.interval = interval
        # trigger id -> (class name, triggerer job ids seen running it)
        self.triggers: dict[int, tuple[str, set[int]]] = {}
        self.unassigned_seen: set[int] = set()
        self.deferred_peak = 0
        self.api_errors = 0
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        self.join(30)

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            try:
                tis = [ti for r in self.run_ids for ti in self.stack.task_instances(DAG_ID, r)]
            except (OSError, urllib.error.URLError, ValueError, KeyError):
                self.api_errors += 1
                continue
            deferred = 0
            for ti in tis:
                trigger = ti.get("trigger") or {}
                if ti["state"] != "deferred" or not trigger.get("id"):
                    continue
                deferred += 1
                name = str(trigger.get("classpath", "?")).rsplit(".", 1)[-1]
                _, jobs = self.triggers.setdefault(int(trigger["id"]), (name, set()))
                if trigger.get("triggerer_id") is not None:
                    jobs.add(int(trigger["triggerer_id"]))
                else:
                    self.unassigned_seen.add(int(trigger["id"]))
            self.deferred_peak = max(self.deferred_peak, deferred)


@dataclass
class Report:
    settings: Settings
    runs: dict[str, str] = field(default_factory=dict)
    wall_seconds: float = 0.0
    ti_states: Counter[str] = field(default_factory=Counter)
    tries: Counter[int] = field(default_factory=Counter)  # try_number of Kling task instances
    kling_tis: int = 0
    submits: int = 0
    distinct_external_ids: int = 0
    refusals_1303: int = 0
    refusals_1302: int = 0
    peak_running: int = 0
    # component -> trigger class -> triggers it ran
    per_triggerer: dict[str, Counter[str]] = field(default_factory=dict)
    triggers_seen: int = 0
    triggers_never_assigned_seen: int = 0
    deferred_peak: int = 0
    api_errors: int = 0

    @property
    def wall_ratio(self) -> float:
        return self.wall_seconds / self.settings.ideal_seconds

    @property
    def refusals_per_task(self) -> float:
        return self.refusals_1303 / max(1, self.kling_tis)

    @property
    def spread(self) -> bool:
        return len([c for c in self.per_triggerer.values() if sum(c.values())]) >= 2

    @property
    def ok(self) -> bool:
        return (
            all(s == "success" for s in self.runs.values())
            and self.submits == self.distinct_external_ids == 2 * self.settings.prompts
            and self.peak_running <= self.settings.limit
            and self.wall_ratio <= WAIT_TARGET
            and self.refusals_per_task <= REFUSALS_TARGET
            and self.spread
        )

    def lines(self) -> list[str]:
        s = self.settings
        mark = {True: "ok", False: "MISSED"}
        out = [
            f"Shared-account run: {s.prompts} prompts ({2 * s.prompts} Kling tasks) in {len(self.runs)} "
            f"run(s) of {DAG_ID}; account limit {s.limit} parallel tasks; Kling tasks of "
            f"{s.task_seconds:g} s; poll {s.poll_interval:g} s; [kling] submit_on_triggerer = "
            f"{s.submit_on_triggerer}; PostgreSQL + Redis + CeleryExecutor, 2 workers, 2 triggerers",
            "  runs                       " + ", ".join(f"{r}: {st}" for r, st in self.runs.items()),
            f"  task instances             {dict(sorted(self.ti_states.items()))}",
            f"  Kling task tries           {dict(sorted(self.tries.items()))} (try_number: count)",
            f"  wall time                  {self.wall_seconds:.0f} s vs Kling-bound ideal "
            f"{s.ideal_seconds:.0f} s = {self.wall_ratio:.2f}x (target <= {WAIT_TARGET:g}x: "
            f"{mark[self.wall_ratio <= WAIT_TARGET]})",
            f"  1303 answers               {self.refusals_1303} = {self.refusals_per_task:.2f} "
            "per Kling task "
            f"(target <= {REFUSALS_TARGET:g}: {mark[self.refusals_per_task <= REFUSALS_TARGET]})",
            f"  1302 answers               {self.refusals_1302}",
            f"  Kling tasks created        {self.submits} for {self.distinct_external_ids} distinct "
            f"external ids ({self.kling_tis} Kling task instances; expected {2 * s.prompts})",
            f"  peak parallel Kling tasks  {self.peak_running} (limit {s.limit})",
            f"  peak deferred tasks        {self.deferred_peak}",
            f"  triggers seen              {self.triggers_seen} ({self.triggers_never_assigned_seen} seen "
            "before a triggerer took them)",
        ]
        for component, classes in sorted(self.per_triggerer.items()):
            detail = ", ".join(f"{n} {c}" for c, n in sorted(classes.items()))
            out.append(f"  {component:<26} {sum(classes.values())} triggers ({detail})")
        out.append(f"  spread over both triggerers: {mark[self.spread]}")
        out.append(f"  REST polls that failed     {self.api_errors}")
        return out


def trigger_runs(stack: Stack, settings: Settings, stack_dir: Path) -> list[str]:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    run_ids = []
    for i, prompts in enumerate(split_prompts(settings.prompts)):
        run_id = f"shared__{stamp}_{i + 1}"
        stack.api(
            "POST",
            f"dags/{DAG_ID}/dagRuns",
            {
                "dag_run_id": run_id,
                "logical_date": None,
                "conf": {
                    "prompts": prompts,
                    "destination": f"file://{stack_dir.resolve()}/published/{run_id}",
                },
            },
        )
        run_ids.append(run_id)
    return run_ids


def collect(stack: Stack, settings: Settings, run_ids: list[str], sampler: TriggerSampler) -> Report:
    report = Report(settings)
    runs = {r: stack.api("GET", f"dags/{DAG_ID}/dagRuns/{r}") for r in run_ids}
    report.runs = {r: str(info["state"]) for r, info in runs.items()}
    starts = [t for t in (parse_time(r.get("start_date")) for r in runs.values()) if t]
    ends = [t for t in (parse_time(r.get("end_date")) for r in runs.values()) if t]
    report.wall_seconds = (max(ends) - min(starts)) if starts and ends else 0.0
    for run_id in run_ids:
        for ti in stack.task_instances(DAG_ID, run_id):
            report.ti_states[str(ti["state"])] += 1
            if ti["operator"] in KLING_OPERATORS:
                report.kling_tis += 1
                report.tries[int(ti["try_number"])] += 1
    stats = stack.emulator("GET", "/_emulator/stats")
    report.submits = int(stats["submits"])
    report.distinct_external_ids = int(stats.get("distinct_external_ids", -1))
    refusals = {int(k): int(v) for k, v in stats["limit_refusals"].items()}
    report.refusals_1303 = refusals.get(1303, 0)
    report.refusals_1302 = refusals.get(1302, 0)
    report.peak_running = int(stats["peak_running"])
    names = triggerer_of_job(stack)
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for name in names.values():
        per[name] = Counter()
    for cls, jobs in sampler.triggers.values():
        for job in jobs:  # a trigger moved between triggerers counts on both
            per[names.get(job, f"triggerer job {job}")][cls] += 1
    report.per_triggerer = dict(per)
    report.triggers_seen = len(sampler.triggers)
    report.triggers_never_assigned_seen = len(sampler.unassigned_seen)
    report.deferred_peak = sampler.deferred_peak
    report.api_errors = sampler.api_errors
    return report


def run(settings: Settings, say: Any = print) -> Report:
    stack_dir = settings.stack_dir or Path(tempfile.mkdtemp(prefix="kling-shared-"))
    # stack.sh reads these from the caller's environment (the poll interval of every Kling wait).
    os.environ["KLING_STACK_POLL_INTERVAL"] = f"{settings.poll_interval:g}"
    os.environ["KLING_STACK_SUBMIT_ON_TRIGGERER"] = str(settings.submit_on_triggerer)
    with running(
        stack_dir, keep=settings.keep_stack, pass_kling_conn=False, clean=settings.stack_dir is None
    ) as stack:
        say(f"stack up: api={stack.api_url} emulator={stack.emulator_url}")
        processing = max(0.5, settings.task_seconds - 1.0)
        stack.emulator(
            "POST",
            "/_emulator/config",
            {
                "max_concurrent_tasks": settings.limit,
                "submitted_seconds": settings.task_seconds - processing,
                "processing_seconds": processing,
            },
        )
        wait_for_dag(stack)
        run_ids = trigger_runs(stack, settings, stack_dir)
        say(f"triggered {run_ids}")
        sampler = TriggerSampler(stack, run_ids)
        sampler.start()
        try:

            def finished() -> bool:
                states = [stack.api("GET", f"dags/{DAG_ID}/dagRuns/{r}")["state"] for r in run_ids]
                return all(s in TERMINAL_RUN_STATES for s in states)

            wait_until("the runs to finish", finished, timeout=settings.run_timeout, interval=3)
        finally:
            sampler.stop()
        return collect(stack, settings, run_ids, sampler)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prompts", type=int, default=60)
    p.add_argument("--limit", type=int, default=5)
    p.add_argument("--task-seconds", type=float, default=20.0)
    p.add_argument("--poll-interval", type=float, default=2.0)
    p.add_argument(
        "--submit-on-triggerer", action="store_true", help="set [kling] submit_on_triggerer = True"
    )
    p.add_argument("--stack-dir", type=Path, default=None, help="default: a fresh temp dir, deleted after")
    p.add_argument("--keep-stack", action="store_true", help="leave the stack running afterwards")
    args = p.parse_args(argv)
    settings = Settings(
        prompts=args.prompts,
        limit=args.limit,
        task_seconds=args.task_seconds,
        poll_interval=args.poll_interval,
        submit_on_triggerer=args.submit_on_triggerer,
        stack_dir=args.stack_dir,
        keep_stack=args.keep_stack,
    )
    t0 = time.monotonic()
    report = run(settings, say=lambda s: print(f"[{time.monotonic() - t0:6.0f}s] {s}", flush=True))
    print("\n".join(report.lines()), flush=True)
    print(f"(the whole run took {time.monotonic() - t0:.0f} s, stack start-up included)")
    print("OK" if report.ok else "NOT OK")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
