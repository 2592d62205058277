"""The chaos run: ``kling_prompt_fanout`` on the production-shaped stack while real processes fail.

Stack: ``scripts/stack.sh`` (PostgreSQL + Redis + CeleryExecutor, two Celery workers, two
triggerers, the Kling emulator at the fault run's rates). Load: N prompts, i.e. N text-to-video
and N video-to-audio Kling tasks plus N publishes, all deferrable. During the run, in order:

1. ``kill -9`` (the process group of) the triggerer holding the most deferred waits, once it
   holds ``--kill-triggerer-at`` of them; measure until the other triggerer has them all;
2. ``kill -9`` a Celery worker while one of its task processes is inside a submit: a scripted
   ``slow`` fault makes the next POST hang, and the worker is the one whose task process holds
   an established connection to the emulator for several seconds (psutil);
3. ``pg_ctl restart`` PostgreSQL under the running stack;
4. a Kling outage: once waits are deferred (``--kill-triggerer-at`` of them, or at least one
   after a bounded wait; none is an error: the outage would prove nothing), the emulator stops
   (saving its tasks), stays down ``--outage-seconds`` (connections refused), then comes back.

Killed parts are brought back by ``stack.sh up`` (idempotent: it starts only what is missing).
Everything reported comes from Airflow's REST API, the emulator's stats and psutil; nothing is
modelled. Run: ``.venv/bin/python benchmarks/chaos_run.py --prompts 60`` (~15-25 min here).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._stack import (
    REPO,
    Stack,
    connections_to,
    parse_time,
    running,
    tree_usage,
    wait_until,
)

DAG_ID = "kling_prompt_fanout"
MAX_PROMPTS_PER_RUN = 50  # the DAG's Param(maxItems=50): more prompts are split over runs
KLING_OPERATORS = ("TextToVideoOperator", "VideoToAudioOperator")
PUBLISH_OPERATOR = "KlingPublishOperator"
TERMINAL_RUN_STATES = ("success", "failed")


def fault_run_rates() -> dict[str, float]:
    """The fault run's rates (benchmarks/fault_run.py), as ``/_emulator/config`` takes them."""
    from benchmarks.fault_run import default_rates

    return dataclasses.asdict(default_rates())


@dataclass
class Settings:
    prompts: int = 60
    kill_triggerer_at: int = 30
    outage_seconds: float = 60.0
    submitted_seconds: float = 10.0
    processing_seconds: float = 100.0
    slow_submit_seconds: float = 45.0  # below the hook's 60 s request timeout
    seed: int = 7
    run_timeout: float = 3000.0
    stack_dir: Path = field(default_factory=lambda: REPO / ".stack")
    keep_stack: bool = False
    clean_stack: bool = (
        False  # delete the stack folder and its database afterwards (a folder made for the run)
    )


# ---------------------------------------------------------------------------- sampling


@dataclass
class TrySample:
    """What the REST API showed of one try of one task instance, accumulated over polls."""

    first_start: float | None = None  # start_date of the try's first execution (before deferral)
    deferred_at: float | None = None  # trigger.created_date: the end of that first execution
    triggerers: list[tuple[float, int | None]] = field(default_factory=list)  # (seen, triggerer_id)


class Sampler(threading.Thread):
    """Polls the REST API and the triggerers' processes every ``interval`` s until stopped."""

    def __init__(self, stack: Stack, run_ids: list[str], interval: float = 2.0) -> None:
        super().__init__(name="chaos-sampler", daemon=True)
        self.stack = stack
        self.run_ids = run_ids
        self.interval = interval
        self.lock = threading.Lock()
        self.latest: dict[tuple[str, str, int], dict[str, Any]] = {}
        self.tries: dict[tuple[str, str, int, int], TrySample] = defaultdict(TrySample)
        self.usage: dict[tuple[str, int], tuple[float, int]] = {}  # (component, pid) -> (cpu s, peak rss)
        self.api_errors = 0
        self.polls = 0
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        self.join(30)

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self._sample_processes()
            try:
                fetched = {run_id: self.stack.task_instances(DAG_ID, run_id) for run_id in self.run_ids}
            except (OSError, urllib.error.URLError, ValueError, KeyError):
                self.api_errors += 1  # e.g. during the PostgreSQL restart
                continue
            with self.lock:
                self.polls += 1
                for run_id, tis in fetched.items():
                    for ti in tis:
                        self._record(run_id, ti)

    def _record(self, run_id: str, ti: dict[str, Any]) -> None:
        key = (run_id, ti["task_id"], ti["map_index"])
        self.latest[key] = ti
        sample = self.tries[(*key, ti["try_number"])]
        if (
            ti["state"] in ("running", "deferred")
            and sample.deferred_at is None
            and sample.first_start is None
        ):
            sample.first_start = parse_time(ti.get("start_date"))
        trigger = ti.get("trigger") or {}
        if ti["state"] == "deferred" and trigger:
            if sample.deferred_at is None:
                sample.deferred_at = parse_time(trigger.get("created_date"))
            sample.triggerers.append((time.time(), trigger.get("triggerer_id")))

    def _sample_processes(self) -> None:
        for name in self.stack.components("triggerer"):
            pid = self.stack.pid(name)
            if pid is None:
                continue
            cpu, rss = tree_usage(pid)
            if cpu or rss:
                _, peak = self.usage.get((name, pid), (0.0, 0))
                self.usage[(name, pid)] = (cpu, max(peak, rss))

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.latest.values())


# ---------------------------------------------------------------------------- disruptions


def triggerer_of_job(stack: Stack) -> dict[int, str]:
    """Triggerer job id -> stack component (``stack.sh`` writes ``pids/triggerer-N.job``)."""
    out: dict[int, str] = {}
    for name in stack.components("triggerer"):
        with contextlib.suppress(FileNotFoundError, ValueError):
            out[int((stack.directory / "pids" / f"{name}.job").read_text())] = name
    return out


def deferred_by_triggerer(tis: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for ti in tis:
        trigger = ti.get("trigger") or {}
        if ti["state"] == "deferred" and trigger.get("triggerer_id") is not None:
            out[int(trigger["triggerer_id"])].append(ti)
    return out


def kill_busy_triggerer(stack: Stack, sampler: Sampler, at: int, say: Any) -> dict[str, Any]:
    def busy() -> tuple[int, int] | None:
        counts = {job: len(tis) for job, tis in deferred_by_triggerer(sampler.snapshot()).items()}
        job = max(counts, key=lambda j: counts[j], default=None)
        return (job, counts[job]) if job is not None and counts[job] >= at else None

    job_id, held = wait_until(f"{at} waits deferred on one triggerer", busy, timeout=900, interval=1)
    component = triggerer_of_job(stack)[job_id]
    keys = {
        (ti["dag_run_id"], ti["task_id"], ti["map_index"])
        for ti in deferred_by_triggerer(sampler.snapshot())[job_id]
    }
    pid = stack.kill9(component)
    killed_at = time.time()
    say(f"kill -9 {component} (pid {pid}, triggerer job {job_id}) holding {held} deferred waits")

    def taken_over() -> bool:
        moved = 0
        for ti in sampler.snapshot():
            if (ti["dag_run_id"], ti["task_id"], ti["map_index"]) not in keys:
                continue
            owner = (ti.get("trigger") or {}).get("triggerer_id")
            if ti["state"] == "deferred" and owner == job_id:
                return False
            moved += ti["state"] == "deferred"
        return True

    wait_until("the surviving triggerer to take the waits over", taken_over, timeout=600, interval=0.5)
    takeover = time.time() - killed_at
    still_deferred = sum(
        1
        for ti in sampler.snapshot()
        if (ti["dag_run_id"], ti["task_id"], ti["map_index"]) in keys and ti["state"] == "deferred"
    )
    say(f"  the other triggerer holds them after {takeover:.1f}s ({still_deferred} still deferred)")
    stack.up()  # back to two triggerers
    return {
        "component": component,
        "job_id": job_id,
        "held": held,
        "takeover_s": takeover,
        "still_deferred_at_takeover": still_deferred,
    }


def kill_worker_in_submit(stack: Stack, sampler: Sampler, slow_seconds: float, say: Any) -> dict[str, Any]:
    port = int(stack.emulator_url.rsplit(":", 1)[1])
    before = stack.emulator("GET", "/_emulator/stats")["faults_by_kind"].get("slow", 0)
    # The next submit (POST) hangs for slow_seconds, then creates its task: the worker cannot know.
    stack.emulator(
        "POST",
        "/_emulator/config",
        {"faults": [{"action": "slow", "delay": slow_seconds, "method": "POST", "times": 1}]},
    )
    seen: dict[tuple[str, int, int], float] = {}  # (worker, pid, local port) -> first seen

    def hanging() -> tuple[str, int] | None:
        if stack.emulator("GET", "/_emulator/stats")["faults_by_kind"].get("slow", 0) <= before:
            return None
        now = time.time()
        for worker in stack.components("worker"):
            for pid, lport in connections_to(stack.pid(worker) or -1, port):
                first = seen.setdefault((worker, pid, lport), now)
                # Every other answer takes milliseconds (a random slow one 1.2 s).
                if now - first >= 6:
                    return worker, pid
        return None

    worker, task_pid = wait_until("a worker inside the slow submit", hanging, timeout=600, interval=0.5)
    tis = [ti for ti in sampler.snapshot() if ti.get("pid") == task_pid and ti["state"] == "running"]
    victim = f"{tis[0]['task_id']}[{tis[0]['map_index']}] of {tis[0]['dag_run_id']}" if tis else "?"
    pid = stack.kill9(worker)
    say(f"kill -9 {worker} (pid {pid}) while its task process {task_pid} ({victim}) was inside a submit")
    stack.up()  # a replacement worker
    return {"component": worker, "task_pid": task_pid, "task": victim}


def down_components(stack: Stack) -> list[str]:
    return [line.split()[0] for line in stack._run("status", 30).splitlines() if line.endswith(" down")]


def restart_postgres(stack: Stack, say: Any, checks: int = 4) -> dict[str, Any]:
    """Restart PostgreSQL; components that exit on the lost connections are started again, as a
    process supervisor (systemd ``Restart=always``, Kubernetes) would, until they stay up: one
    started while PostgreSQL still recovers may exit again."""
    t0 = time.time()
    stack.pg_restart()
    took = time.time() - t0
    time.sleep(10)
    down = down_components(stack)
    say(f"pg_ctl restart took {took:.1f}s; components down 10 s later: {down or 'none'}")
    restarted = list(down)
    for _ in range(checks):
        if not down:
            break
        stack.up()
        time.sleep(10)
        down = down_components(stack)
        if down:
            say(f"  down again 10 s after the restart: {down}")
            restarted += down
    return {"restart_s": took, "components_down_after": restarted, "still_down": down}


def deferred_count(stack: Stack, run_ids: list[str]) -> int:
    """Task instances deferred right now, read fresh from the REST API (not the sampler's last poll)."""
    return sum(1 for r in run_ids for ti in stack.task_instances(DAG_ID, r) if ti["state"] == "deferred")


def wait_for_deferred_waits(
    count: Callable[[], int], want: int, timeout: float, interval: float = 1.0
) -> int:
    """The moment for the outage: until ``want`` waits are deferred, bounded by ``timeout``; fewer
    will do, but at least one: an outage that hits no deferred wait proves nothing about them.

    Returns the last count read; raises RuntimeError when none was deferred by the deadline.
    """
    deadline = time.monotonic() + timeout
    last, error = 0, None
    while True:
        try:
            last = count()
            if last >= want:
                return last
        except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:  # e.g. PostgreSQL restarting
            error = exc
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    if last >= 1:
        return last
    raise RuntimeError(
        f"Kling outage not started: no task instance was deferred within {timeout:.0f}s "
        f"(wanted {want}; last API error: {error!r}); the outage must hit deferred waits to prove "
        "anything, so the run is too small or too fast for it (more prompts, longer processing)"
    )


def kling_outage(
    stack: Stack, seconds: float, run_ids: list[str], waits: int, say: Any, wait_timeout: float = 900.0
) -> dict[str, Any]:
    # Down while waits are in flight (the audio stage starts once every video is done).
    deferred = wait_for_deferred_waits(lambda: deferred_count(stack, run_ids), waits, wait_timeout)
    tasks_before = stack.emulator("GET", "/_emulator/health")["tasks"]
    stack.stop("emulator-1")
    say(f"Kling outage: emulator stopped with {tasks_before} tasks ({deferred} waits deferred)")
    time.sleep(seconds)
    stack.up()
    tasks_after = stack.emulator("GET", "/_emulator/health")["tasks"]
    say(f"  emulator back after {seconds:.0f}s with {tasks_after} tasks")
    return {
        "seconds": seconds,
        "tasks_before": tasks_before,
        "tasks_after": tasks_after,
        "deferred_at_start": deferred,
    }


# ---------------------------------------------------------------------------- checks


def kling_tasks(stack: Stack) -> list[dict[str, Any]]:
    """Every task the emulator holds (all kinds), through Kling's own list API."""
    import jwt

    from kling_emulator.app import KINDS
    from kling_emulator.state import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

    now = int(time.time())
    token = jwt.encode({"iss": DEFAULT_ACCESS_KEY, "exp": now + 600, "nbf": now - 5}, DEFAULT_SECRET_KEY)
    out = []
    import urllib.request

    for path in KINDS.values():
        for page in range(1, 50):
            request = urllib.request.Request(f"{stack.emulator_url}{path}?pageNum={page}&pageSize=500")
            request.add_header("Authorization", f"Bearer {token}")
            with urllib.request.urlopen(request, timeout=30) as resp:
                entries = json.loads(resp.read())["data"]
            out.extend(entries)
            if len(entries) < 500:
                break
    return out


def playable(path: str) -> str | None:
    """None if PyAV demuxes and decodes every stream of the file to the end, else why not."""
    import av

    try:
        with av.open(path) as container:
            if not container.streams:
                return "no streams"
            frames = sum(1 for _ in container.decode(*container.streams))
            return None if frames else "no frames"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def published_paths(stack: Stack, run_id: str, publishes: list[dict[str, Any]]) -> list[str]:
    """The files each publish task says it wrote (``files[].path`` of its XCom, via the REST API)."""
    paths: list[str] = []
    for ti in publishes:
        entry = stack.api(
            "GET",
            f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/xcomEntries/return_value"
            f"?map_index={ti['map_index']}&deserialize=true",
        )
        value = entry["value"]
        if isinstance(value, str):
            value = json.loads(value)
        paths.extend(str(f["path"]).removeprefix("file://") for f in value["files"])
    return paths


# ---------------------------------------------------------------------------- the run


@dataclass
class Report:
    prompts: int
    runs: dict[str, str]
    wall_s: float
    ideal_s: float
    outage_s: float
    tis: int
    failed_tis: list[str]
    unfinished_tis: list[str]
    tries: dict[str, dict[int, int]]
    kling_tis: int
    submits: int
    kling_tasks_listed: int
    kling_failed: int  # tasks the emulator made end "failed" (fault rate): each one is replaced on retry
    distinct_external_ids: int
    external_bases_missing: int
    kling_requests: int
    results_downloads: int
    slot_seconds: list[float]
    published: int
    unplayable: list[str]
    triggerer_usage: dict[str, tuple[float, int]]
    disruptions: dict[str, dict[str, Any]]
    faults: dict[str, int]
    api_errors: int

    @property
    def ok(self) -> bool:
        return (
            all(state == "success" for state in self.runs.values())
            and not self.failed_tis
            and not self.unfinished_tis
            and self.submits == self.distinct_external_ids == self.kling_tasks_listed
            and self.submits == self.kling_tis + self.kling_failed
            and self.external_bases_missing == 0
            and self.published > 0
            and not self.unplayable
            and len(self.disruptions) == 4
        )

    def lines(self) -> list[str]:
        slots = self.slot_seconds or [0.0]
        tries = "; ".join(
            f"{suffix}: "
            + ", ".join(f"{n} in {t} {'try' if t == 1 else 'tries'}" for t, n in sorted(c.items()))
            for suffix, c in sorted(self.tries.items())
        )
        t = self.disruptions.get("triggerer_kill", {})
        lines = [
            f"Chaos run: {self.prompts} prompts in {len(self.runs)} run(s) of {DAG_ID} on PostgreSQL + "
            "CeleryExecutor + Redis, 2 workers, 2 triggerers",
            "  runs: " + ", ".join(f"{r}: {s}" for r, s in self.runs.items()),
            f"  wall time: {self.wall_s:.0f}s; ideal (Kling's own time, 2 chained tasks) "
            f"{self.ideal_s:.0f}s, "
            f"+ the {self.outage_s:.0f}s outage = {self.ideal_s + self.outage_s:.0f}s "
            f"(x{self.wall_s / (self.ideal_s + self.outage_s):.2f})",
            f"  task instances: {self.tis}; failed: {len(self.failed_tis)}; "
            f"not finished: {len(self.unfinished_tis)}",
            f"  tries: {tries}",
            f"  Kling tasks: {self.kling_tis} Airflow tasks, {self.submits} submits, "
            f"{self.kling_tasks_listed} tasks listed by Kling, "
            f"{self.distinct_external_ids} distinct external ids, "
            f"{self.external_bases_missing} Airflow tasks without one; {self.kling_failed} ended failed "
            "on Kling's side and were replaced on retry",
            f"  Kling API requests per Kling task: {self.kling_requests / max(1, self.kling_tis):.1f} "
            f"({self.kling_requests} requests; + {self.results_downloads} result downloads)",
            f"  worker-slot seconds per Kling task: mean {statistics.mean(slots):.1f}, "
            f"median {statistics.median(slots):.1f}, max {max(slots):.1f}",
            f"  published files: {self.published}, not playable: {len(self.unplayable)}",
            f"  triggerer takeover: {t.get('takeover_s', math.nan):.1f}s for {t.get('held', 0)} waits "
            f"of {t.get('component', '?')}",
        ]
        for name, (cpu, rss) in sorted(self.triggerer_usage.items()):
            lines.append(f"  {name}: {cpu:.1f} CPU s, peak RSS {rss / 2**20:.0f} MiB (process tree)")
        for name, info in self.disruptions.items():
            lines.append(f"  disruption {name}: {json.dumps(info, default=str)}")
        lines.append(
            f"  emulator faults injected: {sum(self.faults.values())} "
            + json.dumps(dict(sorted(self.faults.items())))
        )
        lines.append(f"  REST polls that failed (PostgreSQL restart, restarts): {self.api_errors}")
        lines.extend(f"  FAILED TI: {x}" for x in self.failed_tis[:20])
        lines.extend(f"  NOT FINISHED: {x}" for x in self.unfinished_tis[:20])
        lines.extend(f"  NOT PLAYABLE: {x}" for x in self.unplayable[:20])
        return lines


def split_prompts(n: int) -> list[list[str]]:
    prompts = [f"Chaos prompt {i:03d}: a lighthouse in a storm, take {i}" for i in range(n)]
    runs = math.ceil(n / MAX_PROMPTS_PER_RUN)
    return [prompts[i::runs] for i in range(runs)]


def suffix(task_id: str) -> str:
    """``prompt_chain.make_video`` and ``make_video`` alike: the part after the last dot."""
    return task_id.rsplit(".", 1)[-1]


def wait_for_dag(stack: Stack) -> None:
    def parsed() -> bool:
        dag = stack.api("GET", f"dags/{DAG_ID}")
        return not dag.get("is_paused") and not dag.get("has_import_errors")

    wait_until(f"{DAG_ID} to be parsed", parsed, timeout=300, interval=2)


def chaos_run(settings: Settings, say: Any = print) -> Report:
    # The run counts Kling's side through the stack's own emulator: no connection pass-through.
    with running(
        settings.stack_dir, keep=settings.keep_stack, pass_kling_conn=False, clean=settings.clean_stack
    ) as stack:
        say(f"stack up: api={stack.api_url} emulator={stack.emulator_url}")
        stack.emulator(
            "POST",
            "/_emulator/config",
            {
                "fault_rates": fault_run_rates(),
                "seed": settings.seed,
                "submitted_seconds": settings.submitted_seconds,
                "processing_seconds": settings.processing_seconds,
            },
        )
        wait_for_dag(stack)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        run_ids = []
        for i, prompts in enumerate(split_prompts(settings.prompts)):
            run_id = f"chaos__{stamp}_{i + 1}"
            destination = f"file://{settings.stack_dir.resolve()}/published/{run_id}"
            stack.api(
                "POST",
                f"dags/{DAG_ID}/dagRuns",
                {
                    "dag_run_id": run_id,
                    "logical_date": None,
                    "conf": {"prompts": prompts, "destination": destination},
                },
            )
            run_ids.append(run_id)
        say(f"triggered {run_ids} ({settings.prompts} prompts)")
        sampler = Sampler(stack, run_ids)
        sampler.start()
        disruptions: dict[str, dict[str, Any]] = {}
        try:
            disruptions["triggerer_kill"] = kill_busy_triggerer(
                stack, sampler, settings.kill_triggerer_at, say
            )
            disruptions["worker_kill"] = kill_worker_in_submit(
                stack, sampler, settings.slow_submit_seconds, say
            )
            disruptions["postgres_restart"] = restart_postgres(stack, say)
            disruptions["kling_outage"] = kling_outage(
                stack, settings.outage_seconds, run_ids, settings.kill_triggerer_at, say
            )

            def finished() -> bool:
                states = [stack.api("GET", f"dags/{DAG_ID}/dagRuns/{r}")["state"] for r in run_ids]
                return all(s in TERMINAL_RUN_STATES for s in states)

            wait_until("the runs to finish", finished, timeout=settings.run_timeout, interval=5)
        finally:
            sampler.stop()
        return collect(stack, settings, run_ids, sampler, disruptions)


def collect(
    stack: Stack,
    settings: Settings,
    run_ids: list[str],
    sampler: Sampler,
    disruptions: dict[str, dict[str, Any]],
) -> Report:
    stack.emulator("POST", "/_emulator/config", {"fault_rates": {}})  # read back undisturbed
    stats = stack.emulator("GET", "/_emulator/stats")
    tasks = kling_tasks(stack)
    runs = {r: stack.api("GET", f"dags/{DAG_ID}/dagRuns/{r}") for r in run_ids}
    starts = [parse_time(r["start_date"]) for r in runs.values()]
    ends = [parse_time(r["end_date"]) for r in runs.values()]
    wall = max(e for e in ends if e) - min(s for s in starts if s)

    from airflow_provider_kling.execution.idempotency import derive_external_task_id

    all_tis: list[tuple[str, dict[str, Any]]] = [
        (r, ti) for r in run_ids for ti in stack.task_instances(DAG_ID, r)
    ]
    tries: dict[str, Counter[int]] = defaultdict(Counter)
    failed, unfinished, slots, publishes = [], [], [], defaultdict(list)
    external_ids = {str((t.get("task_info") or {}).get("external_task_id") or "") for t in tasks}
    bases_missing = 0
    for run_id, ti in all_tis:
        name = f"{ti['task_id']}[{ti['map_index']}] of {run_id}: {ti['state']}"
        tries[suffix(ti["task_id"])][ti["try_number"]] += 1
        if ti["state"] in ("failed", "upstream_failed"):
            failed.append(name)
        elif ti["state"] not in ("success", "skipped"):
            unfinished.append(name)
        if ti["operator"] == PUBLISH_OPERATOR:
            publishes[run_id].append(ti)
        if ti["operator"] in KLING_OPERATORS:
            base = derive_external_task_id(DAG_ID, run_id, ti["task_id"], ti["map_index"])
            bases_missing += not any(e == base or e.startswith(base + "-") for e in external_ids)
            slots.append(slot_seconds(stack, sampler, run_id, ti))
    paths = [p for run_id in run_ids for p in published_paths(stack, run_id, publishes[run_id])]
    unplayable = [f"{p}: {why}" for p in paths if (why := playable(p))]
    kling_routes = {
        k: v
        for k, v in stats["by_route"].items()
        if not k.split(" ", 1)[1].startswith(("/_emulator", "/results", "/samples"))
    }
    downloads = sum(v for k, v in stats["by_route"].items() if k.split(" ", 1)[1].startswith("/results"))
    usage = {f"{name} (pid {pid})": value for (name, pid), value in sampler.usage.items()}
    return Report(
        prompts=settings.prompts,
        runs={r: info["state"] for r, info in runs.items()},
        wall_s=wall,
        ideal_s=2 * (settings.submitted_seconds + settings.processing_seconds),
        outage_s=settings.outage_seconds,
        tis=len(all_tis),
        failed_tis=failed,
        unfinished_tis=unfinished,
        tries={k: dict(v) for k, v in tries.items()},
        kling_tis=len(slots),
        submits=int(stats["submits"]),
        kling_tasks_listed=len(tasks),
        kling_failed=int(stats["tasks_failed_by_rate"]),
        distinct_external_ids=len(external_ids - {""}),
        external_bases_missing=bases_missing,
        kling_requests=sum(kling_routes.values()),
        results_downloads=downloads,
        slot_seconds=slots,
        published=len(paths),
        unplayable=unplayable,
        triggerer_usage=usage,
        disruptions=disruptions,
        faults=dict(stats["faults_by_kind"]),
        api_errors=sampler.api_errors,
    )


def slot_seconds(stack: Stack, sampler: Sampler, run_id: str, ti: dict[str, Any]) -> float:
    """Seconds this Kling task held a worker slot, over all its tries (REST API dates).

    A try that deferred ran twice on a worker: from ``start_date`` to the trigger's
    ``created_date`` (seen while it was deferred), and from ``queued_when`` of the resume
    (Airflow 3.3 keeps ``start_date`` across the deferral; a later start wins if set) to
    ``end_date``. Earlier tries come from the ``/tries`` endpoint (start to end of each).
    """
    key = (run_id, ti["task_id"], ti["map_index"])
    start, end = parse_time(ti.get("start_date")), parse_time(ti.get("end_date"))
    queued = parse_time(ti.get("queued_when"))
    with sampler.lock:
        sample = sampler.tries.get((*key, ti["try_number"]))
    total = 0.0
    if start and end:
        if sample and sample.first_start and sample.deferred_at and queued and queued > sample.deferred_at:
            total += (sample.deferred_at - sample.first_start) + (end - max(start, queued))
        else:
            total += end - start
    if ti["try_number"] > 1:
        history = stack.api(
            "GET", f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/{ti['map_index']}/tries"
        )["task_instances"]
        for past in history:
            p_start, p_end = parse_time(past.get("start_date")), parse_time(past.get("end_date"))
            if past["try_number"] < ti["try_number"] and p_start and p_end:
                total += p_end - p_start
    return total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prompts", type=int, default=60)
    p.add_argument("--kill-triggerer-at", type=int, default=30, help="deferred waits on one triggerer")
    p.add_argument("--outage-seconds", type=float, default=60.0)
    p.add_argument("--processing-seconds", type=float, default=100.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--stack-dir", type=Path, default=None, help="default: a fresh temp dir")
    p.add_argument("--keep-stack", action="store_true", help="leave the stack running afterwards")
    args = p.parse_args(argv)
    settings = Settings(
        prompts=args.prompts,
        kill_triggerer_at=args.kill_triggerer_at,
        outage_seconds=args.outage_seconds,
        processing_seconds=args.processing_seconds,
        seed=args.seed,
        stack_dir=args.stack_dir or Path(tempfile.mkdtemp(prefix="kling-chaos-")),
        keep_stack=args.keep_stack,
        clean_stack=args.stack_dir is None,  # our own temp folder: leave nothing behind
    )
    t0 = time.monotonic()
    report = chaos_run(settings, say=lambda s: print(f"[{time.monotonic() - t0:6.0f}s] {s}", flush=True))
    print("\n".join(report.lines()))
    print("OK" if report.ok else "NOT OK")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
