"""N concurrent waits in ONE event loop: ``KlingTaskTrigger`` vs the stock ``HttpEventTrigger``.

For every (N, implementation) the parent starts a fresh ``kling-emulator`` process, creates N
tasks of ``--kind`` through its API (``video-to-audio``: legacy design; ``text-to-video``: new
design, created through ``POST /text-to-video/kling-3.0-turbo``, the stock trigger then polling
``GET /tasks?task_ids=<id>`` per task) (all finish ``--task-seconds`` after creation), then runs a
child process that waits for all of them with N triggers on one asyncio loop, exactly as a
triggerer does. The child measures itself (CPU seconds, peak RSS growth, TCP connects via the
loop's ``create_connection``, when each trigger fired); the emulator counts HTTP requests and
distinct client ports. Emulator CPU is not counted.

    python benchmarks/triggerer_scale.py                  # N = 100, 1000
    python benchmarks/triggerer_scale.py --large          # also N = 5000
    python benchmarks/triggerer_scale.py --n 20 --task-seconds 4 --poll 1   # smoke
    python benchmarks/triggerer_scale.py --kind text-to-video   # new-design waits (GET /tasks)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import contextlib

from benchmarks._common import (
    BENCH_KINDS,
    Emulator,
    airflow_env,
    create_tasks,
    emulator,
    machine,
    median,
    percentile,
    query_endpoint,
    table,
    verdict,
)

SUBMITTED_SECONDS = 1.0
KLING_CONN_ID = "kling_bench"
HTTP_CONN_ID = "kling_http_bench"
TARGET_N = 1000
IMPLS = {
    "kling": "KlingTaskTrigger (ours)",
    "http": "HttpEventTrigger (stock)",
}


# ---------------------------------------------------------------------------- parent


def run_one(
    impl: str, n: int, task_seconds: float, poll: float, profile: str | None, kind: str = BENCH_KINDS[0]
) -> dict[str, Any]:
    """One fresh emulator, n tasks of ``kind``, one child process waiting for them with ``impl`` triggers."""
    processing = task_seconds - SUBMITTED_SECONDS
    timeout = task_seconds + 4 * poll + 60
    with emulator(SUBMITTED_SECONDS, processing) as emu, tempfile.TemporaryDirectory() as tmp:
        tasks_file, ready_file = Path(tmp) / "tasks.json", Path(tmp) / "ready"
        child = _start_child(emu, impl, tasks_file, ready_file, poll, timeout, profile, kind)
        try:
            # The child imports Airflow first (seconds); the tasks' clock starts only once it is ready.
            _wait_for(ready_file, child, 120)
            tasks = asyncio.run(create_tasks(emu.url, n, f"bench-{os.getpid()}-{time.time_ns()}", kind))
            for task in tasks:
                task["finish_at"] = task["created"] + task_seconds
            before = emu.stats()
            tmp_file = tasks_file.with_suffix(".tmp")
            tmp_file.write_text(json.dumps(tasks))
            tmp_file.rename(tasks_file)
            out, err = child.communicate(timeout=timeout + 60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        after = emu.stats()
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if child.returncode != 0 or not lines:
        raise RuntimeError(f"{impl} child failed ({child.returncode}):\n{err[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    requests = after["requests"] - before["requests"] - 1  # minus the stats read itself
    peers = after["connections"] - before["connections"] - 1
    latencies = result["latencies"]
    return {
        "impl": impl,
        "n": n,
        "done": result["done"],
        "cpu_s": result["cpu_s"],
        "rss_mb": result["rss_peak_growth_mb"],
        "connects": result["connects"],
        "peer_ports": peers,
        "requests": requests,
        "req_per_task": requests / n,
        "by_route": {
            k: after["by_route"].get(k, 0) - before["by_route"].get(k, 0)
            for k in after["by_route"]
            if k.startswith("GET ") and "_emulator" not in k
        },
        "lat_p50": median(latencies),
        "lat_p95": percentile(latencies, 0.95),
        "lat_max": max(latencies) if latencies else float("nan"),
        "wall_s": result["wall_s"],
        "start_lag_s": result["start_lag_s"],
        "gc_s": result["gc_s"],
    }


def _start_child(
    emu: Emulator,
    impl: str,
    tasks_file: Path,
    ready_file: Path,
    poll: float,
    timeout: float,
    profile: str | None,
    kind: str,
) -> subprocess.Popen[str]:
    env = airflow_env(
        {
            f"AIRFLOW_CONN_{KLING_CONN_ID.upper()}": emu.kling_conn(),
            f"AIRFLOW_CONN_{HTTP_CONN_ID.upper()}": emu.http_conn(),
        }
    )
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", impl, "--tasks-file", str(tasks_file)]
    cmd += ["--ready-file", str(ready_file), "--poll", str(poll), "--timeout", str(timeout), "--kind", kind]
    if profile:
        cmd += ["--profile", profile]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, child: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if child.poll() is not None or time.monotonic() > deadline:
            err = child.stderr.read() if child.stderr else ""
            raise RuntimeError(f"benchmark child did not get ready:\n{err[-3000:]}")
        time.sleep(0.05)


# ---------------------------------------------------------------------------- child


def _make_triggers(
    impl: str, tasks: list[dict[str, Any]], poll: float, timeout: float, kind: str = BENCH_KINDS[0]
) -> list[Any]:
    if impl == "kling":
        from airflow_provider_kling.triggers.kling import KlingTaskTrigger

        deadline = time.time() + timeout
        return [
            KlingTaskTrigger(
                kling_task_id=t["id"],
                task_kind=kind,
                kling_conn_id=KLING_CONN_ID,
                poll_interval=poll,
                deadline=deadline,
                last_status="submitted",
            )
            for t in tasks
        ]
    from airflow.providers.http.triggers.http import HttpEventTrigger

    check = "kling_new_task_done" if kind == "text-to-video" else "kling_task_done"
    return [
        HttpEventTrigger(
            response_check_path=f"benchmarks._http_check.{check}",
            http_conn_id=HTTP_CONN_ID,
            method="GET",
            endpoint=query_endpoint(kind, t["id"]),
            poll_interval=poll,
        )
        for t in tasks
    ]


async def _child(
    impl: str, tasks: list[dict[str, Any]], poll: float, timeout: float, kind: str
) -> dict[str, Any]:
    import psutil

    loop = asyncio.get_running_loop()
    connects = 0
    create_connection = loop.create_connection

    async def counting_create_connection(*args: Any, **kwargs: Any) -> Any:
        nonlocal connects
        connects += 1
        return await create_connection(*args, **kwargs)

    loop.create_connection = counting_create_connection  # type: ignore[method-assign]

    process = psutil.Process()
    triggers = _make_triggers(impl, tasks, poll, timeout, kind)
    gc.collect()
    rss0 = peak = process.memory_info().rss
    fired: dict[int, float] = {}
    statuses: dict[int, str] = {}

    async def sample_rss() -> None:
        nonlocal peak
        while True:
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.2)

    async def wait(i: int, trigger: Any) -> None:
        events = trigger.run()
        try:
            async for event in events:
                fired[i] = time.time()
                statuses[i] = str(event.payload.get("status"))
                return
        finally:
            await events.aclose()

    gc_time = [0.0, 0.0, 0.0]  # seconds spent in collections of generation 0, 1, 2
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[0] = time.process_time()
        else:
            gc_time[info["generation"]] += time.process_time() - gc_started[0]

    gc.callbacks.append(on_gc)
    sampler = loop.create_task(sample_rss())
    cpu0, wall0, started = time.process_time(), time.monotonic(), time.time()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(
            asyncio.gather(*(wait(i, t) for i, t in enumerate(triggers)), return_exceptions=True), timeout
        )
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    gc.callbacks.remove(on_gc)
    sampler.cancel()
    peak = max(peak, process.memory_info().rss)
    if impl == "kling":
        from airflow_provider_kling.hooks.transport import close_shared_session

        await close_shared_session()
    latencies = [fired[i] - tasks[i]["finish_at"] for i in fired]
    return {
        "done": sum(1 for s in statuses.values() if s == "success"),
        "cpu_s": cpu,
        "wall_s": wall,
        # How long after the last task was created the waits began: the waiting phase is shorter by that.
        "start_lag_s": started - max((t["created"] for t in tasks), default=started),
        "rss_peak_growth_mb": (peak - rss0) / 1024**2,
        "connects": connects,
        "latencies": latencies,
        "gc_s": gc_time,
    }


def _warm_up(impl: str) -> None:
    """Import what the first poll would import lazily: one-time module cost, not per-wait cost."""
    import aiohttp  # noqa: F401
    import requests  # noqa: F401
    import tenacity  # noqa: F401

    if impl == "kling":
        import airflow_provider_kling.triggers.kling  # noqa: F401
    else:
        import airflow.providers.http.triggers.http  # noqa: F401

        import benchmarks._http_check  # noqa: F401


def child_main(args: argparse.Namespace) -> None:
    _warm_up(args.child)
    Path(args.ready_file).touch()
    tasks_file = Path(args.tasks_file)
    deadline = time.monotonic() + 120
    while not tasks_file.exists():
        if time.monotonic() > deadline:
            raise SystemExit("no tasks file")
        time.sleep(0.02)
    tasks = json.loads(tasks_file.read_text())
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        result = profiler.runcall(asyncio.run, _child(args.child, tasks, args.poll, args.timeout, args.kind))
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(str(Path(args.profile) / f"{args.child}-{len(tasks)}.prof"))
    else:
        result = asyncio.run(_child(args.child, tasks, args.poll, args.timeout, args.kind))
    print(json.dumps(result), flush=True)


# ---------------------------------------------------------------------------- report


def report(results: list[dict[str, Any]], poll: float, task_seconds: float) -> None:
    rows = [
        [
            IMPLS[r["impl"]],
            r["n"],
            f"{r['done']}/{r['n']}",
            r["cpu_s"],
            r["rss_mb"],
            r["connects"],
            r["peer_ports"],
            r["requests"],
            r["req_per_task"],
            r["lat_p50"],
            r["lat_p95"],
            r["lat_max"],
        ]
        for r in results
    ]
    print(
        table(
            [
                "trigger",
                "N",
                "fired ok",
                "CPU s",
                "RSS +MB (peak)",
                "TCP connects",
                "client ports seen",
                "HTTP requests",
                "req/task",
                "detect p50 s",
                "detect p95 s",
                "detect max s",
            ],
            rows,
        )
    )
    print()
    ratio_rows = []
    by_key = {(r["impl"], r["n"]): r for r in results}
    for n in sorted({r["n"] for r in results}):
        ours, stock = by_key.get(("kling", n)), by_key.get(("http", n))
        if ours is None or stock is None:
            continue
        cpu_ratio = stock["cpu_s"] / max(ours["cpu_s"], 1e-9)
        conn_ratio = stock["connects"] / max(ours["connects"], 1)
        mem_delta = ours["rss_mb"] - stock["rss_mb"]
        limit = poll + 1.0
        # Short tasks show the fixed cost per wait (>= 10x); long ones the cost per round (>= 25x).
        cpu_target = 25 if task_seconds >= 60 else 10
        rss_limit = 30 if n >= 5000 else 50  # 5,000 waits in 30 MB: about 6 KB per wait
        req_limit = task_seconds / poll + 2

        def judged(ok: bool, n: int = n) -> str:
            # The targets are set for N = 1,000 (and up); smaller N is shown for the trend.
            return verdict(ok) if n >= TARGET_N else f"({verdict(ok).lower()}; target at N>={TARGET_N})"

        ratio_rows += [
            [
                n,
                "CPU: stock / ours",
                f"{cpu_ratio:.1f}x",
                f">= {cpu_target}x",
                judged(cpu_ratio >= cpu_target),
            ],
            [n, "TCP connects: stock / ours", f"{conn_ratio:.0f}x", ">= 50x", judged(conn_ratio >= 50)],
            [n, "RSS: ours - stock", f"{mem_delta:+.1f} MB", "<= +20 MB", judged(mem_delta <= 20)],
            [
                n,
                "RSS growth: ours",
                f"{ours['rss_mb']:.1f} MB",
                f"<= {rss_limit} MB",
                judged(ours["rss_mb"] <= rss_limit),
            ],
            [
                n,
                "req/task: ours",
                f"{ours['req_per_task']:.2f}",
                f"<= {req_limit:.1f}",
                verdict(ours["req_per_task"] <= req_limit),
            ],
            [
                n,
                "detection max: ours",
                f"{ours['lat_max']:.2f} s",
                f"<= {limit:.1f} s",
                verdict(ours["lat_max"] <= limit and ours["done"] == n),
            ],
        ]
    if ratio_rows:
        print(table(["N", "figure", "measured", "target", "verdict"], ratio_rows))
    print()
    for r in results:
        routes = ", ".join(f"{k}: {v}" for k, v in sorted(r["by_route"].items()) if v)
        gcs = "/".join(f"{g:.3f}" for g in r["gc_s"])
        print(
            f"{IMPLS[r['impl']]} N={r['n']}: wall {r['wall_s']:.1f}s (from {r['start_lag_s']:.1f}s after "
            "the last task was created); CPU in garbage collection "
            f"(generation 0/1/2) {gcs}s; requests by route: {routes}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n", default="100,1000", help="comma-separated trigger counts")
    parser.add_argument("--large", action="store_true", help="add N=5000")
    parser.add_argument("--task-seconds", type=float, default=25.0, help="emulated task duration")
    parser.add_argument("--poll", type=float, default=5.0, help="poll interval of both triggers")
    parser.add_argument("--impl", default="kling,http", help="which implementations to run")
    parser.add_argument(
        "--kind", default=BENCH_KINDS[0], choices=BENCH_KINDS, help="task kind: legacy or new design"
    )
    parser.add_argument("--json", default=None, help="also write the raw results here")
    parser.add_argument(
        "--profile", default=None, help="directory for cProfile dumps of the waiting phase (skews CPU)"
    )
    parser.add_argument("--child", choices=sorted(IMPLS), help=argparse.SUPPRESS)
    parser.add_argument("--tasks-file", help=argparse.SUPPRESS)
    parser.add_argument("--ready-file", help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=300.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    sizes = [int(x) for x in args.n.split(",") if x]
    if args.large and 5000 not in sizes:
        sizes.append(5000)
    if args.task_seconds <= SUBMITTED_SECONDS:
        parser.error(f"--task-seconds must be > {SUBMITTED_SECONDS}")
    print(machine())
    print(
        f"triggerer scale: {args.kind} tasks finish {args.task_seconds:.0f}s after creation, poll interval "
        f"{args.poll:.1f}s, every run in a fresh emulator process and a fresh client process"
    )
    print()
    results = []
    for n in sizes:
        for impl in args.impl.split(","):
            results.append(run_one(impl, n, args.task_seconds, args.poll, args.profile, args.kind))
            r = results[-1]
            print(
                f"  ran {IMPLS[impl]} N={n}: {r['done']}/{n} fired, CPU {r['cpu_s']:.2f}s, "
                f"{r['connects']} connects",
                flush=True,
            )
    print()
    report(results, args.poll, args.task_seconds)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
